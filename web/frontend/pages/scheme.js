// The scheme editor page (/admin/procedures/drafts/<id>/scheme): parts → groups → indicators as one table with
// running totals, member units, veto items, a "try it" box per indicator (the server scores with the engine's
// rules), Excel import/export. Logic: web/frontend/lib/schemetable.js; saving: lib/filesave.js.
import "./scheme.css";
import * as table from "../lib/schemetable.js";
import { csrfToken, lang, saveFile } from "../lib/filesave.js";

const EN = lang() === "en";
const T = EN ? {
  part: "Part", group: "Group", code: "Code", name: "Indicator", points: "Points", unit: "Responsible body",
  rule: "Scoring rule", direct: "scored directly", edit: "Rule and try it", remove: "Remove", up: "Move up", down: "Move down",
  addIndicator: "Add an indicator to {part}", subtotal: "{part}: {sum} of {points} points", total: "Parts {parts} of the scale {scale}; indicators {sum}",
  measured: "Measured value", tryIt: "Try it", gives: "{points} of {maximum} points", saved: "Saved (revision {n}).",
  saving: "Saving…", stale: "Someone else saved this draft meanwhile: {message}", reload: "Reload",
  imported: "Imported {n} indicators from the workbook. Not saved yet: check and save.", unplaced: "Indicators of no part",
  partName: "Name", unitName: "Name", vetoName: "Veto item", domain: "Field", addPart: "Add a part", addUnit: "Add a body",
  addVeto: "Add a veto item", kinds: { "": "scored directly", shortfall: "shortfall", interpolate: "interpolate", per_occurrence: "per occurrence", bonus: "bonus" },
  keys: { target: "target", per: "per", deduct: "deduct", cap: "at most", add: "add each", low: "low value/points", high: "high value/points" },
  unsaved: "Unsaved changes", problem: "Problem",
} : {
  part: "一级指标", group: "二级指标", code: "代码", name: "指标", points: "分值", unit: "责任单位",
  rule: "评分规则", direct: "直接评分", edit: "规则与试算", remove: "删除", up: "上移", down: "下移",
  addIndicator: "在「{part}」下添加指标", subtotal: "{part}：{sum} / {points} 分", total: "一级指标合计 {parts}，满分 {scale}；指标合计 {sum}",
  measured: "实测值", tryIt: "试算", gives: "得 {points} 分（满分 {maximum}）", saved: "已保存（第 {n} 次修订）。",
  saving: "正在保存…", stale: "草稿已被他人保存：{message}", reload: "重新载入",
  imported: "已从工作簿导入 {n} 个指标，尚未保存：请核对后保存。", unplaced: "未归属一级指标的指标",
  partName: "名称", unitName: "名称", vetoName: "否决项", domain: "领域", addPart: "添加一级指标", addUnit: "添加责任单位",
  addVeto: "添加否决项", kinds: { "": "直接评分", shortfall: "差额扣分", interpolate: "插值", per_occurrence: "按次扣分", bonus: "加分" },
  keys: { target: "目标值", per: "每低", deduct: "扣分", cap: "最多扣", add: "每项加", low: "低点 数值/分", high: "高点 数值/分" },
  unsaved: "有未保存的修改", problem: "问题",
};
const say = (text, values = {}) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
const $ = (id) => document.getElementById(id);
const data = JSON.parse($("scheme-data").textContent);
const state = { scheme: data.scheme, revision: data.revision, open: null, findings: data.findings || [], text: data.text };
for (const list of ["parts", "units", "indicators"]) state.scheme[list] = state.scheme[list] || [];
// A new row never takes the code of one deleted meanwhile: english.yaml and past results name that one.
const loaded = [...state.scheme.indicators, ...(state.scheme.veto || [])].map((i) => String(i.code));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const asNumber = (text) => {
  const value = String(text).trim();
  return value !== "" && Number.isFinite(Number(value)) ? Number(value) : value;
};

function cell(item, key, label, attrs = {}) {
  const control = el("input", { value: item[key] ?? "", "aria-label": label, "data-key": key, size: attrs.size || 8,
    inputmode: attrs.number ? "decimal" : undefined });
  control.addEventListener("change", () => {
    const value = attrs.number ? asNumber(control.value) : control.value.trim();
    if (value === "" && attrs.optional) delete item[key]; else item[key] = value;
    if (attrs.full) changed(); else refresh();
  });
  return el("td", {}, control);
}

function picker(item, key, options, label) {
  const control = el("select", { "aria-label": label, "data-key": key },
    ...options.map(([value, text]) => el("option", { value, selected: String(item[key]) === String(value) }, text)));
  control.addEventListener("change", () => { item[key] = control.value; changed(); });
  return el("td", {}, control);
}

function buttons(label, onUp, onDown, onRemove) {
  return el("td", { class: "row-buttons" },
    onUp ? el("button", { type: "button", "aria-label": `${T.up} ${label}`, onclick: onUp }, "↑") : null,
    onDown ? el("button", { type: "button", "aria-label": `${T.down} ${label}`, onclick: onDown }, "↓") : null,
    el("button", { type: "button", "aria-label": `${T.remove} ${label}`, onclick: onRemove }, "✕"));
}

function problemsAt(list, index) {
  return state.findings.filter((f) => {
    const place = table.placeOf(f, state.scheme, state.text);
    return place && place.list === list && place.index === index;
  });
}

function markRow(row, list, index, columns) {
  const found = problemsAt(list, index);
  if (!found.length) return [row];
  row.classList.add("has-error");
  return [row, el("tr", { class: "row-problem" }, el("td", { colspan: columns },
    ...found.map((f) => el("p", { class: "field-error" }, f.reason))))];
}

// -- the indicator table ------------------------------------------------------------------------------------------
function ruleText(indicator) {
  const rule = indicator.rule;
  if (!rule) return T.direct;
  const keys = Object.keys(rule).filter((k) => k !== "kind").map((k) => `${T.keys[k] || k} ${Array.isArray(rule[k]) ? rule[k].join("/") : rule[k]}`);
  return `${T.kinds[rule.kind] || rule.kind}：${keys.join("，")}`;
}

function rulePanel(indicator) {
  const box = el("div", { class: "rule-panel" });
  const kind = el("select", { "aria-label": T.rule, id: "rule-kind" },
    ...Object.entries(T.kinds).map(([value, text]) => el("option", { value, selected: (indicator.rule?.kind || "") === value }, text)));
  kind.addEventListener("change", () => { table.startRule(indicator, kind.value); changed(); $("rule-kind")?.focus(); });
  box.append(el("label", {}, `${T.rule} `, kind));
  if (indicator.rule) {
    for (const key of table.RULES[indicator.rule.kind]?.keys || []) {
      const value = indicator.rule[key];
      const control = el("input", { value: Array.isArray(value) ? value.join("/") : value ?? "", size: 8, "data-rule": key,
        "aria-label": T.keys[key] });
      control.addEventListener("change", () => {
        const text = control.value.trim();
        if (text === "") delete indicator.rule[key];
        else indicator.rule[key] = key === "low" || key === "high" ? text.split("/").map(asNumber) : asNumber(text);
        changed();
      });
      box.append(el("label", {}, ` ${T.keys[key]} `, control));
    }
  }
  const measured = el("input", { id: "try-measured", size: 8, inputmode: "decimal", "aria-label": T.measured });
  const answer = el("output", { id: "try-result", "aria-live": "polite" });
  const run = async () => {
    const response = await fetch(data.tryUrl, { method: "POST", headers: { "Content-Type": "application/json",
      "X-CSRF-Token": csrfToken() }, body: JSON.stringify({ indicator, measured: measured.value.trim() }) });
    const body = await response.json().catch(() => ({}));
    answer.textContent = response.ok ? say(T.gives, body) + (body.words ? `（${body.words}）` : "") : body.message;
    answer.className = response.ok ? "try-ok" : "field-error";
  };
  measured.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); run(); } });
  box.append(el("div", { class: "try" }, el("label", {}, `${T.measured} `, measured), " ",
    el("button", { type: "button", id: "try-run", onclick: run }, T.tryIt), " ", answer));
  return box;
}

function renderIndicators() {
  const body = $("indicators");
  body.replaceChildren();
  const { scheme } = state;
  const sums = table.totals(scheme, data.scale);
  const parts = scheme.parts.map((p) => [p.code, `${p.name}`]);
  const units = scheme.units.map((u) => [u.code, u.name]);
  const head = el("tr", {}, ...[T.group, T.code, T.name, T.points, T.unit, T.part, T.rule, ""].map((h) => el("th", {}, h)));
  const groups = [...scheme.parts.map((p) => String(p.code)), null];
  for (const partCode of groups) {
    const indexes = scheme.indicators.map((_, n) => n).filter((n) => (partCode === null
      ? !scheme.parts.some((p) => String(p.code) === String(scheme.indicators[n].part))
      : String(scheme.indicators[n].part) === partCode));
    if (partCode === null && !indexes.length) continue;
    const part = sums.parts.find((p) => String(p.code) === partCode);
    body.append(el("tr", { class: `part-row${part && !part.ok ? " off" : ""}`, "data-part": partCode ?? "" },
      el("th", { colspan: 8 }, part ? say(T.subtotal, { part: part.name, sum: part.sum, points: part.points }) : T.unplaced)));
    body.append(head.cloneNode(true));
    for (const n of indexes) {
      const indicator = scheme.indicators[n];
      const label = `${indicator.code} ${indicator.name || ""}`;
      const row = el("tr", { "data-indicator": indicator.code },
        cell(indicator, "group", T.group, { size: 12, optional: true }), cell(indicator, "code", T.code, { size: 5, full: true }),
        cell(indicator, "name", T.name, { size: 26 }), cell(indicator, "points", T.points, { number: true, size: 5 }),
        picker(indicator, "unit", units, T.unit), picker(indicator, "part", parts, T.part),
        el("td", {}, el("button", { type: "button", class: "link", "aria-expanded": String(state.open === n),
          "aria-label": `${T.edit} ${label}`, onclick: () => { state.open = state.open === n ? null : n; render(); $("rule-kind")?.focus(); } },
        ruleText(indicator))),
        buttons(label, () => { state.open = null; table.moveInPart(scheme.indicators, n, -1); changed(); },
          () => { state.open = null; table.moveInPart(scheme.indicators, n, 1); changed(); },
          () => { state.open = null; scheme.indicators.splice(n, 1); changed(); }));
      body.append(...markRow(row, "indicators", n, 8));
      if (state.open === n) body.append(el("tr", { class: "rule-row" }, el("td", { colspan: 8 }, rulePanel(indicator))));
    }
    if (part) {
      body.append(el("tr", {}, el("td", { colspan: 8 }, el("button", { type: "button", "data-add": partCode, onclick: () => {
        const at = table.addIndicator(scheme, { part: partCode, points: 1 }, loaded);
        state.open = null;
        changed();
        document.querySelector(`tr[data-indicator="${CSS.escape(String(scheme.indicators[at].code))}"] input[data-key=name]`)?.focus();
      } }, say(T.addIndicator, { part: part.name })))));
    }
  }
}

// -- parts, bodies, veto items -----------------------------------------------------------------------------------
function renderList(id, list, columns, addLabel, make) {
  const body = $(id);
  const items = state.scheme[list] || [];
  body.replaceChildren(el("tr", {}, ...columns.map(([, label]) => el("th", {}, label)), el("th", {})));
  items.forEach((item, n) => {
    const row = el("tr", { "data-code": item.code },
      ...columns.map(([key, label, attrs]) => cell(item, key, label, attrs || {})),
      buttons(`${item.code} ${item.name || ""}`, null, null, () => { items.splice(n, 1); changed(); }));
    body.append(...markRow(row, list, n, columns.length + 1));
  });
  body.append(el("tr", {}, el("td", { colspan: columns.length + 1 }, el("button", { type: "button", id: `add-${list}`, onclick: () => {
    state.scheme[list] = state.scheme[list] || [];
    state.scheme[list].push(make());
    changed();
  } }, addLabel))));
}

function renderTotals() {
  const sums = table.totals(state.scheme, data.scale);
  $("totals").className = sums.ok ? "totals ok" : "totals off";
  $("totals").replaceChildren(say(T.total, { parts: sums.partsTotal, scale: sums.scale, sum: sums.indicatorsTotal }), " · ",
    ...sums.parts.map((p) => el("span", { class: p.ok ? "ok" : "off", "data-part-total": p.code },
      `${say(T.subtotal, { part: p.name, sum: p.sum, points: p.points })} `)));
}

function renderFindings() {
  const loose = state.findings.filter((f) => !table.placeOf(f, state.scheme, state.text));
  $("scheme-findings").replaceChildren(...loose.map((f) => el("li", { class: `finding ${f.severity}` },
    `${f.line ? `${f.file}:${f.line} ` : ""}${f.reason}`)));
}

function render() {
  renderTotals();
  renderFindings();
  renderIndicators();
  renderList("parts", "parts", [["code", T.code, { size: 8, full: true }], ["name", T.partName, { size: 16, full: true }],
    ["points", T.points, { number: true, size: 5 }]],
    T.addPart, () => ({ code: table.freeCode({ indicators: state.scheme.parts }, "P"), name: "", points: 0 }));
  renderList("units", "units", [["code", T.code, { size: 10, full: true }], ["name", T.unitName, { size: 18, full: true }]], T.addUnit,
    () => ({ code: table.freeCode({ indicators: state.scheme.units }, "U"), name: "" }));
  renderList("veto", "veto", [["code", T.code, { size: 5 }], ["name", T.vetoName, { size: 30 }], ["domain", T.domain, { size: 6, optional: true }]],
    T.addVeto, () => ({ code: table.freeCode(state.scheme, "V", loaded), name: "" }));
}

/** After a typed value: the totals and the part headers again, the table left as it is (focus stays put). */
function refresh() {
  renderTotals();
  const sums = table.totals(state.scheme, data.scale);
  for (const part of sums.parts) {
    const header = document.querySelector(`#indicators tr.part-row[data-part="${CSS.escape(String(part.code))}"]`);
    if (!header) continue;
    header.classList.toggle("off", !part.ok);
    header.firstChild.textContent = say(T.subtotal, { part: part.name, sum: part.sum, points: part.points });
  }
  $("dirty").textContent = T.unsaved;
}

function changed() {
  const active = document.activeElement;
  const where = active && active.closest("tr") ? [active.closest("tr").dataset.indicator, active.dataset.key] : null;
  render();
  $("dirty").textContent = T.unsaved;
  if (where && where[0]) document.querySelector(`tr[data-indicator="${CSS.escape(where[0])}"] [data-key="${CSS.escape(String(where[1]))}"]`)?.focus();
}

// -- saving, importing -------------------------------------------------------------------------------------------
function status(message, kind = "flash") {
  $("status").replaceChildren(el("p", { class: kind }, message));
}

async function save() {
  status(T.saving);
  const scheme = { ...state.scheme };
  if (!scheme.veto || !scheme.veto.length) delete scheme.veto;
  const made = await fetch(data.textUrl, { method: "POST", headers: { "Content-Type": "application/json",
    "X-CSRF-Token": csrfToken() }, body: JSON.stringify({ scheme }) });
  const body = await made.json().catch(() => ({}));
  if (!made.ok) return status(body.message || String(made.status), "error");
  const result = await saveFile(data.fileUrl, body.text, state.revision);
  if (result.stale) {
    return $("status").replaceChildren(el("p", { class: "error", id: "stale" }, say(T.stale, result.body), " ",
      el("button", { type: "button", onclick: () => window.location.reload() }, T.reload)));
  }
  if (!result.ok) return status(result.body.message || String(result.status), "error");
  state.revision = result.body.revision;
  state.text = body.text;
  let problems = result.body.problems || [];
  if (body.english) { // the English of what was deleted goes too, else the draft could not be published
    const english = await saveFile(data.englishUrl, body.english, state.revision);
    if (!english.ok) return status(english.body.message || String(english.status), "error");
    state.revision = english.body.revision;
    problems = english.body.problems || [];
  }
  state.findings = problems.filter((f) => f.file === data.file);
  render();
  $("dirty").textContent = "";
  status(say(T.saved, { n: state.revision }), "flash success");
}

async function importWorkbook(event) {
  event.preventDefault();
  const form = new FormData($("import-form"));
  const response = await fetch(data.importUrl, { method: "POST", headers: { "X-CSRF-Token": csrfToken() }, body: form });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("status").replaceChildren(el("div", { class: "error", id: "import-errors" }, el("p", {}, body.message || String(response.status)),
      el("ul", {}, ...(body.errors || []).map((e) => el("li", {}, e.message)))));
    return;
  }
  state.scheme = { ...state.scheme, ...body.scheme };
  if (!body.scheme.veto) delete state.scheme.veto;
  state.findings = [];
  state.open = null;
  changed();
  status(say(T.imported, { n: body.indicators }), "flash success");
}

if (data.problem === null) render();
if (data.published) {
  for (const control of document.querySelectorAll("main input, main select, main button")) control.disabled = true;
}
$("save").addEventListener("click", save);
$("import-form").addEventListener("submit", importWorkbook);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "s") {
    event.preventDefault();
    save();
  }
});
document.body.dataset.schemeReady = "true";
