// Two versions of a procedure side by side (issue 10, diff): two bpmn-js NavigatedViewers, compared by
// bpmn-js-differ, added / removed / changed elements coloured with markers, both views moving together.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { diff } from "bpmn-js-differ";
import { markerClass, markers } from "../lib/diffmarks.js";

const box = document.getElementById("diff-diagrams");

// One side's diagram; null, said in its place, when that side has none or it cannot be drawn (a draft's
// broken XML): the other side is still drawn.
async function open(container) {
  const response = await fetch(container.dataset.src, { credentials: "same-origin" });
  const xml = response.ok ? await response.text() : "";
  if (!xml.trim()) {
    container.textContent = box.dataset.empty;
    return null;
  }
  const viewer = new NavigatedViewer({ container });
  try {
    await viewer.importXML(xml);
  } catch (error) {
    viewer.destroy();
    container.textContent = `${box.dataset.broken} ${error.message || error}`;
    return null;
  }
  return viewer;
}

function colour(viewer, marks) {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  for (const [id, kind] of marks) {
    const element = registry.get(id);
    if (!element) { continue; }
    // A renamed lane or pool is outlined, not filled: filled, it would colour everything inside it.
    const container = element.type === "bpmn:Lane" || element.type === "bpmn:Participant";
    canvas.addMarker(id, markerClass(kind) + (container ? "-container" : ""));
  }
}

// Both canvases show the same part of the plane: moving or zooming one moves the other. Returns a function
// that runs its argument with the two apart (to centre each on its own copy of an element).
function couple(viewers) {
  let busy = false;
  viewers.forEach((viewer, i) => {
    viewer.get("eventBus").on("canvas.viewbox.changed", ({ viewbox }) => {
      if (busy) { return; }
      busy = true;
      const other = viewers[1 - i].get("canvas");
      other.viewbox({ x: viewbox.x, y: viewbox.y, width: viewbox.width, height: viewbox.height });
      busy = false;
    });
  });
  return (apart) => { busy = true; try { apart(); } finally { busy = false; } };
}

// Centre a viewer on an element at full size (scale 1); false when it does not draw it.
function centre(viewer, id) {
  const shape = viewer.get("elementRegistry").get(id);
  if (!shape) { return false; }
  const canvas = viewer.get("canvas");
  const { outer } = canvas.viewbox();
  const points = shape.waypoints || [{ x: shape.x + shape.width / 2, y: shape.y + shape.height / 2 }];
  const x = points.reduce((sum, p) => sum + p.x, 0) / points.length;
  const y = points.reduce((sum, p) => sum + p.y, 0) / points.length;
  canvas.viewbox({ x: x - outer.width / 2, y: y - outer.height / 2, width: outer.width, height: outer.height });
  return true;
}

// A row of the table shows its element in each diagram that has it (the two are laid out differently when
// steps were added or removed), and the other follows the one that has it.
function follow(viewers, apart) {
  document.querySelectorAll(".diff-table[data-section=bpmn] .diff-row, .diff-table[data-section=lanes] .diff-row")
    .forEach((row) => row.addEventListener("click", () => {
      const id = row.dataset.element;
      const drawn = viewers.filter((v) => v.get("elementRegistry").get(id));
      if (drawn.length === 2) { apart(() => drawn.forEach((v) => centre(v, id))); }
      else if (drawn.length === 1) { centre(drawn[0], id); }
      else { return; }
      box.scrollIntoView({ block: "start" });
    }));
}

async function main() {
  const [before, after] = await Promise.all(
    [document.getElementById("diff-before"), document.getElementById("diff-after")].map(open));
  const table = JSON.parse(box.dataset.marks || "[]");
  const differ = before && after ? diff(before.getDefinitions(), after.getDefinitions()) : {};
  const drawn = (viewer) => new Set(viewer ? viewer.get("elementRegistry").getAll().map((e) => e.id) : []);
  const marks = markers(differ, table, { before: drawn(before), after: drawn(after) });
  if (before) { colour(before, marks.before); before.get("canvas").zoom("fit-viewport"); }
  if (after) { colour(after, marks.after); }
  if (before && after) {
    const apart = couple([before, after]);
    after.get("canvas").viewbox(before.get("canvas").viewbox());
    follow([before, after], apart);
  } else if (after) {
    after.get("canvas").zoom("fit-viewport");
  }
  box.dataset.ready = "true";
}

if (box) {
  main().catch((error) => {
    box.dataset.ready = "error";
    box.append(document.createTextNode(String(error)));
  });
}
