// The grade table editor of a draft (issue 11): bands as rows, a strip over the scale that colours each score by
// its grade, and dmn-js's decision table below for the raw table. The XML is the one source: a change in the
// bands rewrites its rules (lib/dmntable.js) and re-imports it into dmn-js; a change in dmn-js is read back
// into bands, or, if it no longer reads as bands, the plain editor steps aside and says why.
import "dmn-js/dist/assets/diagram-js.css";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-decision-table-controls.css";
import "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css";
import "./editors.css";
import DmnModeler from "dmn-js/lib/Modeler";

import {
  bandsToRules, describe, itemChoice, itemRows, num, problems, strip, tableToBands,
} from "../lib/bands.js";
import { open, plain, ruleLines, ruleOf, withRules } from "../lib/dmntable.js";
import { TranslateZh } from "../lib/dmn-zh.js";
import { History, putFile } from "../lib/editing.js";

const data = JSON.parse(document.getElementById("grade-data").textContent);
const words = JSON.parse(document.getElementById("grade-words").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
};
const scale = Number(data.scale);
const state = { xml: data.text, revision: data.revision, model: null, findings: data.findings, dirty: false };
const history = new History();
const chinese = document.documentElement.lang.startsWith("zh");
const modeler = new DmnModeler({ container: $("raw"),
  decisionTable: { additionalModules: chinese ? [TranslateZh] : [] } });
let importing = false;

async function showRaw(xml) {
  importing = true;
  try {
    await modeler.importXML(xml);
    const view = modeler.getViews().find((v) => v.type === "decisionTable" && v.element.id === data.decision)
      || modeler.getViews().find((v) => v.type === "decisionTable");
    if (view) await modeler.open(view);
    const viewer = modeler.getActiveViewer();
    if (viewer && !viewer.__kaohe) {
      viewer.__kaohe = true;
      viewer.on("elements.changed", () => { if (!importing) rawChanged(); });
    }
  } finally {
    importing = false;
  }
  markRaw();
}

async function rawChanged() {
  const { xml } = await modeler.saveXML({ format: true });
  state.xml = xml;
  history.clear(); // the bands' undo would write over the table's change; dmn-js's own undo still has it
  setDirty(true);
  await readBands();
  renderPlain();
}

async function readBands() {
  try {
    const { table } = await open(state.xml, data.decision);
    const read = tableToBands(plain(table));
    state.model = read.ok ? read : null;
    state.reason = read.ok ? null : read.reason;
  } catch (error) {
    state.model = null;
    state.reason = `${words.invalid}: ${error.message}`;
  }
}

// A change made in the plain editor (``change`` runs it): remembered for undo, written into the XML, shown in dmn-js.
const change = (fn) => async () => {
  history.push(snapshot());
  fn();
  await plainChanged();
};

// One rewrite of the XML at a time, in the order of the changes: each starts from the one before.
let pending = Promise.resolve();
function plainChanged() {
  const rules = bandsToRules(state.model);
  setDirty(true);
  renderPlain();
  pending = pending.then(async () => {
    state.xml = await withRules(state.xml, data.decision, rules);
    renderPlain();
    await showRaw(state.xml);
  });
  return pending;
}

const snapshot = () => JSON.stringify({ bands: state.model.bands, veto: state.model.veto, items: state.model.items,
  itemsIndex: state.model.itemsIndex });

async function restore(shot) {
  if (!shot || !state.model) return;
  Object.assign(state.model, JSON.parse(shot));
  await plainChanged();
}

function renderPlain() {
  $("plain-on").hidden = !state.model;
  $("plain-off").hidden = !!state.model;
  if (!state.model) {
    $("plain-off").textContent = `${state.reason} — ${words.raw}`;
    renderFindings();
    return;
  }
  const { bands } = state.model;
  const focused = document.activeElement?.dataset?.focus;
  const rowsOf = rowFindings();
  const body = $("bands").tBodies[0];
  body.replaceChildren(...bands.map((band, i) => bandRow(band, i, rowsOf)));
  if (focused) document.querySelector(`[data-focus="${focused}"]`)?.focus();
  $("scale").textContent = num(scale);
  renderStrip();
  const veto = $("veto-grade");
  veto.replaceChildren(el("option", { value: "", textContent: words.none }),
    ...[...new Set([...data.grades, state.model.veto?.grade].filter(Boolean))]
      .map((g) => el("option", { value: g, textContent: g, selected: state.model.veto?.grade === g })));
  renderVetoItems();
  if (focused && document.activeElement?.dataset?.focus !== focused) document.querySelector(`[data-focus="${focused}"]`)?.focus();
  const byItem = state.model.items.length > 0;
  $("veto-items").replaceChildren(...(data.veto.length && !byItem ? [el("li", { textContent: words.items })] : []),
    ...(byItem ? [] : data.veto.map((v) => el("li", { textContent: `${v.code} ${v.name}` }))),
    ...(data.veto.length && !state.model.veto && !byItem ? [el("li", { className: "danger", textContent: words.noveto })] : []));
  $("undo").disabled = !history.canUndo();
  $("redo").disabled = !history.canRedo();
  renderFindings();
}

// The veto: one row for any veto item, or a grade for each item of the scheme (bands.js: veto-item rows).
const vetoCodes = () => [...new Set([...data.veto.map((v) => v.code), ...state.model.items.flatMap((r) => r.codes)])];

function renderVetoItems() {
  const byItem = state.model.items.length > 0;
  $("veto-mode-all").checked = !byItem;
  $("veto-mode-items").checked = byItem;
  $("veto-mode-items").disabled = !data.veto.length && !byItem;
  $("veto-mode-items").title = data.veto.length ? "" : words.noItems;
  $("veto-all").hidden = byItem;
  $("veto-by-item").hidden = !byItem;
  if (!byItem) return;
  const choice = itemChoice(state.model.items);
  const names = Object.fromEntries(data.veto.map((v) => [v.code, v.name]));
  $("veto-table").tBodies[0].replaceChildren(...vetoCodes().map((code) => {
    const select = el("select", { ariaLabel: `${words.vetoItem} ${code}` },
      ...(code in choice ? [] : [el("option", { value: "", textContent: "—", selected: true })]),
      ...[...new Set([...data.grades, choice[code]].filter(Boolean))]
        .map((g) => el("option", { value: g, textContent: g, selected: choice[code] === g })));
    select.dataset.focus = `veto-item-${code}`;
    select.addEventListener("change", change(() => {
      setItems({ ...itemChoice(state.model.items), [code]: select.value });
    }));
    const row = el("tr", { id: `veto-item-${code}` }, el("td", {}, `${code} ${names[code] ?? ""}`), el("td", {}, select));
    if (!(code in choice)) {
      row.classList.add("has-error");
      row.cells[1].append(el("p", { className: "field-error", textContent: words.unassigned.replace("{code}", code) }));
    }
    return row;
  }));
}

function setItems(choice) {
  const order = vetoCodes();
  const given = Object.fromEntries(Object.entries(choice).filter(([, grade]) => grade));
  state.model.items = itemRows(given, data.grades, order, state.model.items);
  if (state.model.itemsIndex < 0) state.model.itemsIndex = 2; // the veto_hits column dmntable.js adds
  state.model.veto = null;
}

function vetoMode(byItem) {
  if (byItem === state.model.items.length > 0) return;
  if (byItem) {
    const grade = state.model.veto?.grade ?? data.grades[data.grades.length - 1];
    setItems(Object.fromEntries(data.veto.map((v) => [v.code, grade])));
  } else {
    const given = state.model.items.map((r) => r.grade);
    state.model.veto = given.length ? { grade: given[0], note: null } : null; // the worst, first
    state.model.items = [];
  }
}

function bandRow(band, i, rowsOf) {
  const id = (what) => `band-${i}-${what}`;
  const grade = el("select", { id: id("grade"), ariaLabel: `${words.grade} ${i + 1}` },
    ...[...new Set([...data.grades, band.grade])].map((g) => el("option", { value: g, textContent: g, selected: g === band.grade })));
  grade.dataset.focus = id("grade");
  grade.addEventListener("change", change(() => { band.grade = grade.value; band.note = null; }));
  const bound = (key, inclKey, label) => {
    const input = el("input", { type: "number", step: "any", value: band[key] ?? "", placeholder: words.nobound,
      ariaLabel: `${band.grade} ${label}`, className: "bound" });
    input.dataset.focus = id(key);
    input.addEventListener("change", change(() => {
      band[key] = input.value === "" ? null : Number(input.value);
      band.note = null;
    }));
    const incl = el("input", { type: "checkbox", checked: band[inclKey], ariaLabel: `${band.grade} ${label} ${words.incl}` });
    incl.dataset.focus = id(inclKey);
    incl.addEventListener("change", change(() => { band[inclKey] = incl.checked; band.note = null; }));
    return el("td", {}, input, " ", el("label", {}, incl, ` ${words.incl}`));
  };
  const note = el("input", { type: "text", value: band.note ?? describe(band), ariaLabel: `${band.grade} description`,
    className: "note" });
  note.dataset.focus = id("note");
  note.addEventListener("change", change(() => { band.note = note.value.trim() || null; }));
  const move = (by, label) => {
    const button = el("button", { type: "button", textContent: label, disabled: i + by < 0 || i + by >= state.model.bands.length });
    button.dataset.focus = id(label);
    button.addEventListener("click", change(() => {
      const [moved] = state.model.bands.splice(i, 1);
      state.model.bands.splice(i + by, 0, moved);
    }));
    return button;
  };
  const remove = el("button", { type: "button", textContent: words.delete });
  remove.addEventListener("click", change(() => state.model.bands.splice(i, 1)));
  const row = el("tr", { id: `band-${i}` }, el("td", {}, grade), bound("from", "fromIncl", words.lower),
    bound("to", "toIncl", words.upper), el("td", {}, note), el("td", { className: "actions" }, move(-1, words.up),
      move(1, words.down), remove));
  row.dataset.grade = band.grade;
  row.style.setProperty("--grade", colour(band.grade));
  const found = [...(rowsOf.get(band.id) || []), ...localProblems().filter((p) => p.bands.includes(i))];
  if (found.length) {
    row.classList.add("has-error");
    row.cells[3].append(...found.map((f) => el("p", { className: "field-error", textContent: f.reason ?? f.text })));
  }
  return row;
}

function colour(grade) {
  const palette = ["#15803d", "#2563eb", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f", "#9a3412"];
  const at = data.grades.indexOf(grade);
  return palette[(at < 0 ? data.grades.length : at) % palette.length];
}

function renderStrip() {
  const { bands } = state.model;
  const segments = strip(bands, scale);
  const width = (s) => (scale ? ((s.to - s.from) / scale) * 100 : 0);
  const label = (s) => {
    const range = s.from === s.to ? num(s.from) : `${s.fromIncl ? "[" : "("}${num(s.from)}, ${num(s.to)}${s.toIncl ? "]" : ")"}`;
    const what = s.kind === "gap" ? words.gap : s.kind === "overlap" ? `${words.overlap}: ${s.grades.map((g) => bands[g].grade).join("、")}` : bands[s.grades[0]].grade;
    return `${range} ${what}`;
  };
  $("strip").replaceChildren(...segments.map((s) => {
    const part = el("div", { className: `segment ${s.kind}${s.from === s.to ? " point" : ""}`, title: label(s) });
    part.style.flexGrow = String(width(s));
    if (s.kind === "ok") part.style.background = colour(bands[s.grades[0]].grade);
    if (s.kind === "ok" && width(s) > 4) part.textContent = bands[s.grades[0]].grade;
    part.dataset.kind = s.kind;
    part.dataset.from = num(s.from);
    part.dataset.to = num(s.to);
    return part;
  }));
  $("strip").ariaLabel = segments.map(label).join("; ");
  // Each edge once, and not two labels on top of each other (85 and 86 of a one-point gap): the first is kept.
  const marks = [...new Set(segments.flatMap((s) => [s.from, s.to]))].filter((m, i, all) =>
    i === 0 || m === scale || (m - all[i - 1]) / scale > 0.03);
  $("strip-axis").replaceChildren(...marks.map((m) => {
    const tick = el("span", { textContent: num(m) });
    tick.style.left = `${scale ? (m / scale) * 100 : 0}%`;
    return tick;
  }));
  const found = problems(bands, scale);
  $("strip-legend").replaceChildren(...(found.length ? found.map((p) => el("li", { className: `danger ${p.kind}`, textContent: p.text }))
    : [el("li", { className: "ok", textContent: words.ok })]));
}

const localProblems = () => (state.model ? problems(state.model.bands, scale) : []);

// Findings of the server (on load and on each save) put on the rule they concern: its band row and its DMN row.
function rowFindings() {
  const lines = ruleLines(state.xml);
  const rows = new Map();
  for (const finding of state.findings) {
    const rule = ruleOf(finding, lines);
    if (rule) rows.set(rule, [...(rows.get(rule) || []), finding]);
  }
  return rows;
}

function renderFindings() {
  const lines = ruleLines(state.xml);
  const items = state.findings.map((f) => {
    const rule = ruleOf(f, lines);
    const item = el("li", { className: f.severity === "error" ? "error" : "warning" },
      `${words.server}${f.line ? ` (${data.file}:${f.line})` : ""}: ${f.reason} `);
    if (rule) {
      const jump = el("button", { type: "button", className: "link", textContent: words.jump });
      jump.addEventListener("click", () => jumpTo(rule));
      item.append(jump);
    }
    return item;
  });
  $("findings").replaceChildren(...items);
}

function jumpTo(rule) {
  const index = state.model?.bands.findIndex((b) => b.id === rule) ?? -1;
  const target = index >= 0 ? document.querySelector(`#band-${index} select`) : document.querySelector(`#raw [data-row-id="${rule}"]`);
  target?.scrollIntoView({ block: "center" });
  target?.focus();
}

function markRaw() {
  const rows = rowFindings();
  document.querySelectorAll("#raw .finding").forEach((cell) => cell.classList.remove("finding"));
  for (const [rule, found] of rows) {
    document.querySelectorAll(`#raw [data-row-id="${CSS.escape(rule)}"]`).forEach((cell) => {
      cell.classList.add("finding");
      cell.title = found.map((f) => f.reason).join("\n");
    });
  }
}

function setDirty(dirty) {
  state.dirty = dirty;
  $("status").textContent = dirty ? words.unsaved : "";
}

async function save() {
  if (!data.editable) return;
  $("status").textContent = words.saving;
  await pending; // the last change written into the XML first
  const answer = await putFile(data.api, state.xml, state.revision, data.csrf);
  if (answer.stale) {
    $("conflict").hidden = false;
    $("conflict-text").textContent = answer.message
      || words.stale.replace("{who}", answer.savedBy ?? "?").replace("{at}", answer.savedAt ?? "?");
    $("status").textContent = words.failed;
    return;
  }
  if (!answer.ok) {
    $("status").textContent = `${words.failed}: ${answer.message}`;
    return;
  }
  state.revision = answer.revision;
  state.findings = answer.problems.filter((f) => f.file === data.file);
  setDirty(false);
  $("status").textContent = words.saved.replace("{n}", answer.revision);
  renderPlain();
  markRaw();
}

$("save").addEventListener("click", save);
$("reload").addEventListener("click", () => window.location.reload());
$("undo").addEventListener("click", () => restore(history.undo(snapshot())));
$("redo").addEventListener("click", () => restore(history.redo(snapshot())));
$("add-band").addEventListener("click", async () => {
  await change(() => {
    const grade = data.grades.find((g) => !state.model.bands.some((b) => b.grade === g)) ?? data.grades[0] ?? "A";
    state.model.bands.push({ grade, from: null, fromIncl: true, to: null, toIncl: false, note: null });
  })();
  document.querySelector(`#band-${state.model.bands.length - 1} select`)?.focus();
});
$("veto-mode-all").addEventListener("change", change(() => vetoMode(false)));
$("veto-mode-items").addEventListener("change", change(() => vetoMode(true)));
$("veto-grade").addEventListener("change", change(() => {
  const grade = $("veto-grade").value;
  state.model.veto = grade ? { ...(state.model.veto || {}), grade, note: null } : null;
}));
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  const key = event.key.toLowerCase();
  if (key === "s") {
    event.preventDefault();
    save();
  } else if ($("raw").contains(event.target)) {
    // dmn-js keeps its own undo for the raw table
  } else if (key === "z" && !event.shiftKey && state.model) {
    event.preventDefault();
    restore(history.undo(snapshot()));
  } else if ((key === "y" || (key === "z" && event.shiftKey)) && state.model) {
    event.preventDefault();
    restore(history.redo(snapshot()));
  }
});
window.addEventListener("beforeunload", (event) => { if (state.dirty) event.preventDefault(); });

await readBands();
renderPlain();
await showRaw(state.xml);
document.body.dataset.ready = "true";
