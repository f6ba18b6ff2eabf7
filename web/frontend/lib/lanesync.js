// bundle.yaml's lanes: section as the modeler's diagram holds it (issue 11). A renamed lane renames its key in
// place, a key no lane of the diagram was written under is kept, new lanes come last. ``written`` maps each lane
// id to the name bundle.yaml has it under; the section comes back with the names it was made from, and those are
// what bundle.yaml has once it is saved — not the names the lanes have by then: a lane renamed while the save was
// under way is still to be written, under the name it was saved with.

/** The lanes: section: ``order`` its keys as written, ``saved`` the section as written, ``lanes`` [{id, name, body}]. */
export function lanesSection(order, saved, lanes, written) {
  const section = {};
  const put = (lane) => { if (lane.body && lane.name && !(lane.name in section)) section[lane.name] = lane.body; };
  for (const name of order) {
    const mine = lanes.filter((lane) => written[lane.id] === name);
    if (mine.length) mine.forEach(put);
    else if (name in saved) section[name] = saved[name];
  }
  lanes.forEach(put);
  return { lanes: section, names: Object.fromEntries(lanes.map((lane) => [lane.id, lane.name])) };
}
