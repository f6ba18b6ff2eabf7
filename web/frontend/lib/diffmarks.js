// Which elements of the two diagrams to colour, and how: bpmn-js-differ's answer (what the diagrams show)
// merged with the server's table (what it reads from extensions the differ does not compare, such as a
// task's instructions, form or due date). Added and removed win over changed; "layout" is moved only.

const RANK = { layout: 1, changed: 2, added: 3, removed: 3 };

function put(map, id, kind) {
  if (!id) { return; }
  const was = map.get(id);
  if (!was || RANK[kind] > RANK[was]) { map.set(id, kind); }
}

/**
 * @param {object} differ - bpmn-js-differ's result: {_added, _removed, _changed, _layoutChanged}
 * @param {Array<{element: string, change: string}>} table - the server's changes of the diagram and lanes
 * @param {{before: Set<string>, after: Set<string>}} [present] - the ids each diagram draws: an element drawn
 *   on both sides is changed, not added or removed (the differ calls a pool added and removed when the process
 *   it holds is renamed, national_region → ziyang_region)
 * @returns {{before: Map<string, string>, after: Map<string, string>}} element id -> marker kind, per side
 */
export function markers(differ, table = [], present = null) {
  const before = new Map();
  const after = new Map();
  const result = differ || {};
  Object.keys(result._removed || {}).forEach((id) => put(before, id, "removed"));
  Object.keys(result._added || {}).forEach((id) => put(after, id, "added"));
  Object.keys(result._changed || {}).forEach((id) => { put(before, id, "changed"); put(after, id, "changed"); });
  Object.keys(result._layoutChanged || {}).forEach((id) => { put(before, id, "layout"); put(after, id, "layout"); });
  table.forEach(({ element, change }) => {
    if (change === "removed") { put(before, element, "removed"); }
    else if (change === "added") { put(after, element, "added"); }
    else if (change === "changed") { put(before, element, "changed"); put(after, element, "changed"); }
  });
  if (present) {
    for (const [id, kind] of before) { if (kind === "removed" && present.after.has(id)) { before.set(id, "changed"); } }
    for (const [id, kind] of after) { if (kind === "added" && present.before.has(id)) { after.set(id, "changed"); } }
  }
  return { before, after };
}

/** The CSS class of a marker kind on a diagram element. */
export function markerClass(kind) {
  return `diff-${kind}`;
}
