// Which elements of a diagram have new words since english.yaml was last kept in step with it (issue 11): the
// modeler sends them to the server, which takes their English out, so that English mode shows the new Chinese
// words rather than the English of the old ones.

/** ``before`` and ``now``: {id: {name, instructions}}; the ids renamed, and the ids whose instructions changed. */
export function changedWords(before, now) {
  const renamed = [];
  const reworded = [];
  for (const [id, was] of Object.entries(before)) {
    const is = now[id];
    if (!is) continue; // deleted: the check names its English, as it names any English of nothing
    if ((is.name ?? "") !== (was.name ?? "")) renamed.push(id);
    if ((is.instructions ?? "") !== (was.instructions ?? "")) reworded.push(id);
  }
  return { renamed, reworded };
}
