// The regions and bodies editor of a draft (issue 11): the rows of regions.yaml and of bundle.yaml's bodies:,
// edited in place with undo, imported from Excel or CSV (read by the server, shown here, saved when saved), and
// written back by lib/regions.js through the draft file API. Rows that the server would refuse are refused here
// first, each named by its row number, and nothing is saved.
import "./editors.css";
import { History, putFile } from "../lib/editing.js";
import {
  bodyProblems, POWERS, PRESETS, regionLines, regionProblems, regionsYaml, withBodies, withRegionsFile,
} from "../lib/regions.js";

const data = JSON.parse(document.getElementById("regions-data").textContent);
const words = JSON.parse(document.getElementById("regions-words").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
};
const state = { rows: data.rows, bodies: data.bodies, columns: data.columns, findings: data.findings,
  regionsText: data.regionsText, bundleText: data.bundleText, revision: data.revision, problems: [] };
const history = new History();
const snapshot = () => JSON.stringify({ rows: state.rows, bodies: state.bodies, columns: state.columns });

function changed(fn) {
  return () => {
    history.push(snapshot());
    fn();
    $("status").textContent = words.unsaved;
    state.dirty = true;
    render();
  };
}

function restore(shot) {
  if (!shot) return;
  Object.assign(state, JSON.parse(shot));
  state.dirty = true;
  $("status").textContent = words.unsaved;
  render();
}

function render() {
  const focused = document.activeElement?.dataset?.focus;
  state.problems = [...regionProblems(state.rows).map((p) => ({ ...p, table: "regions" })),
    ...bodyProblems(state.bodies).map((p) => ({ ...p, table: "bodies" }))];
  const server = serverRows();
  $("regions").tHead.rows[0].replaceChildren(el("th", { scope: "col", textContent: "#" }),
    ...state.columns.map((c) => el("th", { scope: "col", textContent: words[c] ?? c })), el("th"));
  $("regions").tBodies[0].replaceChildren(...state.rows.map((row, i) => regionRow(row, i, server.regions.get(i) || [])));
  $("bodies").tBodies[0].replaceChildren(...state.bodies.map((body, i) => bodyRow(body, i, server.bodies.get(i) || [])));
  $("findings").replaceChildren(...server.rest.map((f) => el("li", { className: "error" },
    `${words.server} (${f.file}${f.line ? `:${f.line}` : ""}): ${f.reason}`)));
  $("undo").disabled = !history.canUndo();
  $("redo").disabled = !history.canRedo();
  if (focused) document.querySelector(`[data-focus="${focused}"]`)?.focus();
}

function input(value, focus, label, onChange, props = {}) {
  const field = el("input", { type: "text", value: value ?? "", ariaLabel: label, disabled: !data.editable, ...props });
  field.dataset.focus = focus;
  field.addEventListener("change", changed(() => onChange(field.value)));
  return field;
}

function errorsOf(table, i, field, server) {
  const own = state.problems.filter((p) => p.table === table && p.row === i + 1 && (!field || p.field === field));
  return [...own.map((p) => p.text), ...(field ? [] : server.map((f) => f.reason))];
}

function remove(list, i, label) {
  const button = el("button", { type: "button", textContent: words.delete, ariaLabel: `${words.delete} ${label}`,
    disabled: !data.editable });
  button.addEventListener("click", changed(() => list.splice(i, 1)));
  return button;
}

function regionRow(row, i, server) {
  const label = words.regionRow.replace("{n}", i + 1);
  const cells = state.columns.map((column) => {
    const cell = el("td", {}, input(row[column], `r${i}-${column}`, `${label} ${words[column] ?? column}`,
      (value) => { row[column] = value.trim(); }, column === "code" ? { className: "code", maxLength: 12 } : {}));
    if (errorsOf("regions", i, column, []).length) cell.classList.add("has-error");
    return cell;
  });
  const messages = errorsOf("regions", i, null, server);
  const tr = el("tr", { id: `region-${i + 1}` }, el("th", { scope: "row", textContent: String(i + 1) }), ...cells,
    el("td", {}, remove(state.rows, i, label), ...messages.map((m) => el("p", { className: "field-error", textContent: m }))));
  if (messages.length) tr.classList.add("has-error");
  return tr;
}

function bodyRow(body, i, server) {
  const label = words.bodyRow.replace("{n}", i + 1);
  const like = el("select", { ariaLabel: `${label} like`, disabled: !data.editable },
    el("option", { value: "", textContent: words.listed }),
    ...PRESETS.map((r) => el("option", { value: r, textContent: `${words.roles[r] ?? r} (${r})`, selected: body.like === r })));
  like.dataset.focus = `b${i}-like`;
  like.addEventListener("change", changed(() => {
    if (like.value) {
      body.like = like.value;
      delete body.powers;
    } else {
      delete body.like;
      body.powers = body.powers || [];
    }
  }));
  const powers = el("fieldset", { className: "powers", disabled: !!body.like || !data.editable },
    el("legend", { className: "visually-hidden", textContent: `${label} powers` }),
    ...POWERS.map((p) => {
      const box = el("input", { type: "checkbox", checked: (body.powers || []).includes(p) });
      box.dataset.focus = `b${i}-${p}`;
      box.addEventListener("change", changed(() => {
        body.powers = POWERS.filter((q) => (q === p ? box.checked : (body.powers || []).includes(q)));
      }));
      return el("label", {}, box, ` ${words.powers[p] ?? p}`);
    }));
  const messages = errorsOf("bodies", i, null, server);
  const tr = el("tr", { id: `body-${i + 1}` },
    el("td", {}, input(body.code, `b${i}-code`, `${label} ${words.code}`, (v) => { body.code = v.trim(); }, { className: "code" })),
    el("td", {}, input(body.name, `b${i}-name`, `${label} ${words.name}`, (v) => { body.name = v.trim(); })),
    el("td", {}, like), el("td", {}, powers),
    el("td", {}, remove(state.bodies, i, label), ...messages.map((m) => el("p", { className: "field-error", textContent: m }))));
  if (messages.length) tr.classList.add("has-error");
  return tr;
}

// The server's findings on the rows they concern: a line of the regions file, a body named in bundle.yaml.
function serverRows() {
  const regions = new Map();
  const bodies = new Map();
  const rest = [];
  const lines = regionLines(state.regionsText);
  for (const f of state.findings) {
    const region = f.file === data.file && f.line ? lines.indexOf(f.line) : -1;
    const body = f.file === "bundle.yaml" ? state.bodies.findIndex((b) => b.code && f.reason.includes(`bodies: ${b.code}`)) : -1;
    if (region >= 0) regions.set(region, [...(regions.get(region) || []), f]);
    else if (body >= 0) bodies.set(body, [...(bodies.get(body) || []), f]);
    else rest.push(f);
  }
  return { regions, bodies, rest };
}

function refuse(text, items) {
  $("refused").hidden = false;
  $("refused-text").textContent = text;
  $("refused-rows").replaceChildren(...items.map((item) => el("li", { textContent: item })));
}

async function save() {
  $("refused").hidden = true;
  if (!data.editable) return;
  if (state.problems.length) {
    refuse(words.refused, state.problems.map((p) => `${(p.table === "regions" ? words.regionRow : words.bodyRow)
      .replace("{n}", p.row)}: ${p.text}`));
    $("status").textContent = words.failed;
    return;
  }
  const regionsText = regionsYaml(state.regionsText, state.rows, state.columns);
  let bundleText = withBodies(state.bundleText, state.bodies);
  if (!data.named) bundleText = withRegionsFile(bundleText, data.file);
  const writes = [[data.file, regionsText, state.regionsText], ["bundle.yaml", bundleText, state.bundleText]]
    .filter(([, text, before]) => text !== before);
  if (!writes.length) {
    $("status").textContent = words.nothing;
    return;
  }
  $("status").textContent = words.saving;
  for (const [name, text] of writes) {
    const answer = await putFile(data.api + name.split("/").map(encodeURIComponent).join("/"), text, state.revision, data.csrf);
    if (answer.stale) {
      $("conflict").hidden = false;
      $("conflict-text").textContent = answer.message;
      $("status").textContent = words.failed;
      return;
    }
    if (!answer.ok) {
      refuse(`${words.failed}: ${answer.message}`, (answer.errors || []).map((e) => `${e.field}: ${e.message}`));
      $("status").textContent = words.failed;
      return;
    }
    state.revision = answer.revision;
    state.findings = answer.problems.filter((f) => f.file === data.file || f.file === "bundle.yaml");
    if (name === data.file) state.regionsText = text;
    else {
      state.bundleText = text;
      data.named = true;
    }
  }
  state.dirty = false;
  $("status").textContent = words.saved.replace("{n}", state.revision);
  render();
}

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("refused").hidden = true;
  const file = $("import-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  const response = await fetch(data.import, { method: "POST", body: form, credentials: "same-origin",
    headers: { "X-CSRF-Token": data.csrf } });
  const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
  if (!response.ok) {
    refuse(`${words.importRefused}: ${body.message}`, (body.errors || []).map((e) => `${e.field}: ${e.message}`));
    return;
  }
  changed(() => {
    state.rows = body.rows;
    if (body.bodies) state.bodies = body.bodies;
  })();
  $("status").textContent = words.imported.replace("{n}", body.rows.length);
});
$("add-region").addEventListener("click", () => {
  changed(() => state.rows.push(Object.fromEntries(state.columns.map((c) => [c, ""]))))();
  document.querySelector(`#region-${state.rows.length} input`)?.focus();
});
$("add-body").addEventListener("click", () => {
  changed(() => state.bodies.push({ code: "", name: "", like: "approver" }))();
  document.querySelector(`#body-${state.bodies.length} input`)?.focus();
});
$("save").addEventListener("click", save);
$("reload").addEventListener("click", () => window.location.reload());
$("undo").addEventListener("click", () => restore(history.undo(snapshot())));
$("redo").addEventListener("click", () => restore(history.redo(snapshot())));
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  const key = event.key.toLowerCase();
  if (key === "s") {
    event.preventDefault();
    save();
  } else if (key === "z" && !event.shiftKey && event.target.type !== "text") {
    event.preventDefault();
    restore(history.undo(snapshot()));
  } else if (key === "y" || (key === "z" && event.shiftKey)) {
    event.preventDefault();
    restore(history.redo(snapshot()));
  }
});
window.addEventListener("beforeunload", (event) => { if (state.dirty) event.preventDefault(); });
render();
document.body.dataset.ready = "true";
