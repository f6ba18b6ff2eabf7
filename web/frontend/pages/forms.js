// The form builder page (/admin/procedures/drafts/<id>/forms/<name>): the fields of a form as a list, each
// edited in a small panel, a raw JSON mode, and a preview the server draws with the task page's renderer.
// The logic (schema ⇄ fields) is web/frontend/lib/formspec.js; this file only wires the page.
import "./forms.css";
import * as spec from "../lib/formspec.js";
import { csrfToken, lang, saveFile } from "../lib/filesave.js";

const EN = lang() === "en";
const T = EN ? {
  label: "Label", key: "Key", description: "Description", help: "Hint for the person filling it in", type: "Type",
  required: "Required", decimals: "Decimals", any: "any", minimum: "Lowest", maximum: "Highest", maxLength: "At most characters",
  options: "Options, one a line: value=label", display: "Shown as", radio: "buttons", select: "a menu",
  rows: "One row per", indicator: "indicator", veto: "veto item", columns: "Columns", addColumn: "Add a column",
  add: "Add field", up: "Move up", down: "Move down", edit: "Edit", remove: "Remove", formTitle: "Form title",
  formDescription: "Form description", saved: "Saved (revision {n}).", saving: "Saving…", copied: "Copied into this procedure: it can be changed now.",
  stale: "Someone else saved this draft meanwhile: {message}", reload: "Reload", badJson: "Not valid JSON: {message}",
  readOnly: "Shared form: copy it into this procedure to change it.", fixFirst: "Fix the fields marked first.",
  previewFailed: "The preview could not be drawn: {message}", rowsOf: "rows", noFields: "No fields yet: add one below.",
  editing: "Editing field {label}", problems: "Problems of this form's files",
} : {
  label: "标题", key: "字段名", description: "说明", help: "填写提示", type: "类型", required: "必填",
  decimals: "小数位数", any: "不限", minimum: "下限", maximum: "上限", maxLength: "最多字数",
  options: "选项，每行一个：值=显示文字", display: "显示为", radio: "按钮", select: "下拉菜单",
  rows: "每行一个", indicator: "指标", veto: "否决项", columns: "列", addColumn: "添加列",
  add: "添加字段", up: "上移", down: "下移", edit: "编辑", remove: "删除", formTitle: "表单标题",
  formDescription: "表单说明", saved: "已保存（第 {n} 次修订）。", saving: "正在保存…", copied: "已复制到本办法，现在可以修改。",
  stale: "草稿已被他人保存：{message}", reload: "重新载入", badJson: "JSON 格式有误：{message}",
  readOnly: "共享表单：复制到本办法后才能修改。", fixFirst: "请先改正标出的字段。",
  previewFailed: "无法预览：{message}", rowsOf: "行", noFields: "还没有字段：请在下方添加。",
  editing: "正在编辑字段「{label}」", problems: "本表单文件的问题",
};
const say = (text, values = {}) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
const typeName = (type) => (spec.TYPES.find((t) => t.type === type) || { zh: "其他（见 JSON）", en: "Other (see JSON)" })[EN ? "en" : "zh"];

const data = JSON.parse(document.getElementById("form-data").textContent);
const $ = (id) => document.getElementById(id);
const state = {
  revision: data.revision,
  editable: data.status !== "shared" && !data.published,
  model: null,
  selected: null, // index of the field whose panel is open
  raw: false,
  findings: data.findings || [],
  savedSchema: data.schema, // the schema file as last saved: a finding's line is a line of it
};

function parse(text, fallback) {
  if (!text) return fallback;
  return JSON.parse(text);
}

function load() {
  const schema = parse(data.schema, { $schema: spec.META_SCHEMA, title: data.name, type: "object", properties: {},
    additionalProperties: false });
  state.model = spec.read(schema, parse(data.ui, {}));
}

function texts() {
  if (state.raw) {
    return { schema: $("raw-schema").value, ui: $("raw-ui").value };
  }
  const { schema, ui } = spec.write(state.model);
  return { schema: `${JSON.stringify(schema, null, 2)}\n`, ui: `${JSON.stringify(ui, null, 2)}\n` };
}

// -- the list --------------------------------------------------------------------------------------------------
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

/** The field a finding concerns: by its element (a field's path), else by its line in the saved schema. */
function fieldOf(finding) {
  if (finding.element) return String(finding.element).split("/")[0];
  if (finding.line && String(finding.file).endsWith(".schema.json")) return spec.fieldAtLine(state.savedSchema, finding.line);
  return null;
}

function findingsOf(key) {
  return state.findings.filter((f) => fieldOf(f) === key);
}

function renderList() {
  const list = $("field-list");
  list.replaceChildren();
  const problems = spec.problems(state.model.fields);
  if (!state.model.fields.length) list.append(el("li", { class: "muted" }, T.noFields));
  state.model.fields.forEach((field, index) => {
    const mine = problems.filter((p) => p.index === index).map((p) => p.message)
      .concat(findingsOf(field.key).map((f) => f.reason));
    const label = field.prop.title || field.key;
    const item = el("li", { class: `fb-item${index === state.selected ? " selected" : ""}${mine.length ? " has-error" : ""}`,
      "data-key": field.key },
      el("span", { class: "fb-label" }, label, field.required ? el("span", { class: "req" }, " *") : null),
      el("span", { class: "muted fb-type" }, ` ${typeName(field.type)} · `, el("code", {}, field.key)),
      el("span", { class: "fb-buttons" },
        el("button", { type: "button", "aria-label": `${T.edit} ${label}`, onclick: () => select(index) }, T.edit),
        el("button", { type: "button", "aria-label": `${T.up} ${label}`, disabled: !state.editable || index === 0,
          onclick: () => shift(index, -1) }, "↑"),
        el("button", { type: "button", "aria-label": `${T.down} ${label}`,
          disabled: !state.editable || index === state.model.fields.length - 1, onclick: () => shift(index, 1) }, "↓"),
        el("button", { type: "button", "aria-label": `${T.remove} ${label}`, disabled: !state.editable,
          onclick: () => removeField(index) }, "✕")),
      ...mine.map((m) => el("p", { class: "field-error" }, m)));
    item.addEventListener("keydown", (event) => {
      if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
        event.preventDefault();
        shift(index, event.key === "ArrowUp" ? -1 : 1);
      }
    });
    list.append(item);
  });
}

function shift(index, delta) {
  if (!state.editable) return;
  const to = spec.move(state.model.fields, index, delta);
  if (state.selected === index) state.selected = to;
  changed();
  $("field-list").children[to]?.querySelector(`button[aria-label^="${delta < 0 ? T.up : T.down}"]`)?.focus();
}

function removeField(index) {
  state.model.fields.splice(index, 1);
  state.selected = null;
  changed();
}

function select(index) {
  state.selected = index;
  render();
  $("field-editor").querySelector("input, select, textarea")?.focus();
}

// -- one field's panel --------------------------------------------------------------------------------------
let serial = 0;
function input(labelText, value, onchange, attrs = {}) {
  serial += 1;
  const id = `control-${serial}`;
  const control = attrs.tag === "textarea"
    ? el("textarea", { id, rows: attrs.rows || 3, disabled: !state.editable }, value ?? "")
    : el("input", { id, value: value ?? "", type: attrs.type || "text", disabled: !state.editable,
      inputmode: attrs.inputmode, "data-prop": attrs.prop });
  control.addEventListener("change", () => onchange(control.value));
  return el("label", { class: "fb-control", for: id }, el("span", {}, labelText), control);
}

function numberOrEmpty(text) {
  const value = String(text).trim();
  return value === "" || Number.isNaN(Number(value)) ? "" : Number(value);
}

// ``onchange(true)`` when the panel itself must be drawn again (a new type, a column added), else only the list.
function fieldPanel(field, types, onchange, prefix = "f") {
  const controls = [
    input(T.label, field.prop.title, (v) => { spec.setProp(field, "title", v); onchange(); }, { prop: "title" }),
    input(T.key, field.key, (v) => { field.key = v.trim(); onchange(); }, { prop: "key" }),
  ];
  const typeSelect = el("select", { id: `${prefix}-type`, disabled: !state.editable || field.type === "other",
    onchange: (e) => { spec.retype(field, e.target.value); onchange(true); } },
  ...types.map((t) => el("option", { value: t, selected: t === field.type }, typeName(t))),
  field.type === "other" ? el("option", { value: "other", selected: true }, typeName("other")) : null);
  controls.push(el("label", { class: "fb-control", for: `${prefix}-type` }, el("span", {}, T.type), typeSelect));
  controls.push(el("label", { class: "fb-control fb-check" },
    el("input", { type: "checkbox", id: `${prefix}-required`, checked: field.required, disabled: !state.editable,
      onchange: (e) => { field.required = e.target.checked; onchange(); } }), ` ${T.required}`));
  controls.push(input(T.description, field.prop.description, (v) => { spec.setProp(field, "description", v); onchange(); },
    { tag: "textarea", rows: 2 }));
  controls.push(input(T.help, field.ui["ui:help"], (v) => { spec.setUi(field, "ui:help", v); onchange(); }));
  if (field.type === "number") {
    const places = spec.decimals(field);
    controls.push(el("label", { class: "fb-control", for: `${prefix}-decimals` }, el("span", {}, T.decimals),
      el("select", { id: `${prefix}-decimals`, disabled: !state.editable,
        onchange: (e) => { spec.setDecimals(field, e.target.value); onchange(); } },
      el("option", { value: "", selected: places === null }, T.any),
      ...[0, 1, 2, 3, 4].map((n) => el("option", { value: String(n), selected: places === n }, String(n))))));
    controls.push(input(T.minimum, field.prop.minimum, (v) => { spec.setProp(field, "minimum", numberOrEmpty(v)); onchange(); },
      { inputmode: "decimal", prop: "minimum" }));
    controls.push(input(T.maximum, field.prop.maximum, (v) => { spec.setProp(field, "maximum", numberOrEmpty(v)); onchange(); },
      { inputmode: "decimal", prop: "maximum" }));
  }
  if (field.type === "text" || field.type === "textarea") {
    controls.push(input(T.maxLength, field.prop.maxLength, (v) => { spec.setProp(field, "maxLength", numberOrEmpty(v)); onchange(); },
      { inputmode: "numeric" }));
  }
  if (field.type === "choice") {
    const lines = spec.options(field).map((o) => `${o.value}=${o.label}`).join("\n");
    controls.push(input(T.options, lines, (v) => {
      spec.setOptions(field, v.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
        const [value, ...label] = line.split("=");
        return { value: value.trim(), label: label.join("=").trim() || value.trim() };
      }));
      onchange();
    }, { tag: "textarea", rows: 4 }));
    controls.push(el("label", { class: "fb-control", for: `${prefix}-display` }, el("span", {}, T.display),
      el("select", { id: `${prefix}-display`, disabled: !state.editable,
        onchange: (e) => { spec.setUi(field, "ui:widget", e.target.value === "radio" ? "radio" : ""); onchange(); } },
      el("option", { value: "radio", selected: field.ui["ui:widget"] === "radio" }, T.radio),
      el("option", { value: "select", selected: field.ui["ui:widget"] !== "radio" }, T.select))));
  }
  if (field.type === "table") controls.push(tablePanel(field, onchange));
  return controls;
}

function tablePanel(field, onchange) {
  const box = el("fieldset", { class: "fb-columns" }, el("legend", {}, T.columns));
  box.append(el("label", { class: "fb-control", for: "f-rows" }, el("span", {}, T.rows),
    el("select", { id: "f-rows", disabled: !state.editable, onchange: (e) => {
      field.rows = e.target.value;
      field.rowField = undefined;
      onchange(true);
    } }, ...["indicator", "veto"].map((r) => el("option", { value: r, selected: field.rows === r }, T[r])))));
  field.columns.forEach((column, n) => {
    const part = el("div", { class: "fb-column", "data-column": column.key },
      ...fieldPanel(column, spec.COLUMN_TYPES, onchange, `c${n}`),
      el("button", { type: "button", disabled: !state.editable, onclick: () => { field.columns.splice(n, 1); onchange(true); } },
        `${T.remove} ${column.prop.title || column.key}`));
    box.append(part);
  });
  box.append(el("button", { type: "button", disabled: !state.editable, onclick: () => {
    const column = spec.newField("text", field.columns, "");
    column.key = `column_${field.columns.length + 1}`;
    field.columns.push(column);
    onchange(true);
  } }, T.addColumn));
  return box;
}

function renderEditor() {
  const box = $("field-editor");
  box.replaceChildren();
  const field = state.model.fields[state.selected];
  if (!field) return;
  box.append(el("h3", {}, say(T.editing, { label: field.prop.title || field.key })),
    ...fieldPanel(field, spec.TYPES.map((t) => t.type), (full) => changed(full ? "editor" : "list")));
}

function renderFormProps() {
  const box = $("form-props");
  box.replaceChildren(
    input(T.formTitle, state.model.form.title, (v) => { state.model.form.title = v; changed("list"); }, { prop: "form-title" }),
    input(T.formDescription, state.model.form.description, (v) => {
      if (v) state.model.form.description = v; else delete state.model.form.description;
      changed("list");
    }, { tag: "textarea", rows: 2 }));
}

function renderAdd() {
  const box = $("add-field");
  const kind = el("select", { id: "new-type", "aria-label": T.type, disabled: !state.editable },
    ...spec.TYPES.map((t) => el("option", { value: t.type }, typeName(t.type))));
  box.replaceChildren(kind, el("button", { type: "button", id: "add", disabled: !state.editable, onclick: () => {
    const field = spec.newField(kind.value, state.model.fields, typeName(kind.value));
    state.model.fields.push(field);
    state.selected = state.model.fields.length - 1;
    changed();
    $("field-editor").querySelector("input")?.select();
  } }, T.add));
}

function renderFindings() {
  const list = $("file-findings");
  const keys = new Set(state.model.fields.map((f) => f.key));
  const loose = state.findings.filter((f) => !keys.has(fieldOf(f)));
  list.replaceChildren(...loose.map((f) => el("li", { class: `finding ${f.severity}` },
    `${f.file}${f.line ? `:${f.line}` : ""} ${f.reason}`)));
  list.setAttribute("aria-label", T.problems);
}

function render() {
  renderFormProps();
  renderList();
  renderEditor();
  renderAdd();
  renderFindings();
  $("builder").classList.toggle("readonly", !state.editable);
}

// -- preview --------------------------------------------------------------------------------------------------
let timer = null;
// ``list``: a value typed in the panel (the panel stays, and the focus in it); ``editor``: the panel too.
function changed(scope = "all") {
  if (scope === "all") {
    render();
  } else {
    renderList();
    renderFindings();
    if (scope === "editor") {
      const active = document.activeElement?.id;
      renderEditor();
      if (active) document.getElementById(active)?.focus();
    }
  }
  clearTimeout(timer);
  timer = setTimeout(() => preview(false), 300);
}

async function preview(check) {
  let schema;
  let ui;
  try {
    ({ schema, ui } = JSON.parse(`{"schema": ${texts().schema}, "ui": ${texts().ui}}`));
  } catch (error) {
    $("raw-error").textContent = say(T.badJson, { message: error.message });
    return;
  }
  $("raw-error").textContent = "";
  const form = $("preview").querySelector("form");
  const posted = form ? [...new FormData(form).entries()].filter(([, v]) => typeof v === "string") : null;
  const fields = state.raw ? [] : state.model.fields;
  const response = await fetch(data.previewUrl, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify({ name: data.name, schema, ui, data: spec.sample(fields), posted: posted && posted.length ? posted : null, check }),
  });
  if (response.ok) {
    $("preview").innerHTML = `<form id="preview-form-el" novalidate>${await response.text()}</form>`;
    $("preview").querySelector("form").addEventListener("submit", (e) => e.preventDefault());
    $("preview").dataset.ready = "true";
  } else {
    const body = await response.json().catch(() => ({ message: response.statusText }));
    $("preview").replaceChildren(el("p", { class: "error", id: "preview-error" }, say(T.previewFailed, body)));
  }
}

// -- saving ---------------------------------------------------------------------------------------------------
function status(message, kind = "flash") {
  $("status").replaceChildren(el("p", { class: kind }, message));
}

function staleNotice(body) {
  $("status").replaceChildren(el("p", { class: "error", id: "stale" }, say(T.stale, body), " ",
    el("button", { type: "button", onclick: () => window.location.reload() }, T.reload)));
}

async function save() {
  if (!state.editable) return status(T.readOnly, "error");
  if (!state.raw && spec.problems(state.model.fields).length) {
    render();
    return status(T.fixFirst, "error");
  }
  let files;
  try {
    files = texts();
    JSON.parse(files.schema);
    JSON.parse(files.ui);
  } catch (error) {
    return status(say(T.badJson, { message: error.message }), "error");
  }
  status(T.saving);
  const findings = [];
  for (const [part, text] of [["schema", files.schema], ["uischema", files.ui]]) {
    const name = `forms/${data.name}.${part}.json`;
    const result = await saveFile(data.fileUrl + name.replace(/^forms\//, ""), text, state.revision);
    if (result.stale) return staleNotice(result.body);
    if (!result.ok) return status(result.body.message || String(result.status), "error");
    state.revision = result.body.revision;
    if (part === "schema") state.savedSchema = text;
    findings.push(...(result.body.problems || []).filter((f) => f.file === name));
  }
  state.findings = findings;
  render();
  $("revision").textContent = say(T.saved, { n: state.revision });
  status(say(T.saved, { n: state.revision }), "flash success");
}

async function copy() {
  if (!data.in_draft) {
    for (const [part, text] of [["schema", data.library.schema], ["uischema", data.library.ui]]) {
      if (text === null || text === undefined) continue;
      const result = await saveFile(`${data.fileUrl}${data.name}.${part}.json`, text, state.revision);
      if (result.stale) return staleNotice(result.body);
      if (!result.ok) return status(result.body.message || String(result.status), "error");
      state.revision = result.body.revision;
    }
  }
  state.editable = true;
  $("shared-note")?.remove();
  status(T.copied, "flash success");
  render();
}

function toggleRaw() {
  if (!state.raw) {
    const { schema, ui } = texts();
    $("raw-schema").value = schema;
    $("raw-ui").value = ui;
    state.raw = true;
  } else {
    try {
      state.model = spec.read(JSON.parse($("raw-schema").value), JSON.parse($("raw-ui").value || "{}"));
    } catch (error) {
      $("raw-error").textContent = say(T.badJson, { message: error.message });
      return;
    }
    state.raw = false;
    state.selected = null;
  }
  $("raw").hidden = !state.raw;
  for (const id of ["form-props", "field-list", "add-field", "field-editor"]) $(id).hidden = state.raw;
  $("mode").setAttribute("aria-pressed", String(state.raw));
  for (const area of [$("raw-schema"), $("raw-ui")]) area.readOnly = !state.editable;
  render();
  preview(false);
}

load();
render();
for (const area of [$("raw-schema"), $("raw-ui")]) {
  area.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => preview(false), 500); });
}
$("save").addEventListener("click", save);
$("mode").addEventListener("click", toggleRaw);
$("check-sample").addEventListener("click", () => preview(true));
$("copy-form")?.addEventListener("click", copy);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "s") {
    event.preventDefault();
    save();
  }
});
preview(false);
