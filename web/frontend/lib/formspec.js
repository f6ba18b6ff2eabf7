// The form builder's model: a form's fields as a list, read from and written to JSON Schema 2020-12 and the
// UI schema in the shape the bundles use (forms/*.schema.json, *.uischema.json; rendered by web/formview.py).
// Each field keeps its whole schema property and UI entry, and an edit changes only the keys it is about, so a
// form read and written again without an edit is the same form (tests: every library form round-trips).

export const META_SCHEMA = "https://json-schema.org/draft/2020-12/schema";

/** The field types the builder offers, in menu order, with their names. */
export const TYPES = [
  { type: "text", zh: "单行文本", en: "Text" },
  { type: "textarea", zh: "多行文本", en: "Long text" },
  { type: "number", zh: "数字", en: "Number" },
  { type: "date", zh: "日期", en: "Date" },
  { type: "choice", zh: "单选", en: "Choice" },
  { type: "yesno", zh: "是/否", en: "Yes/no" },
  { type: "table", zh: "指标表格", en: "Table of indicator rows" },
  { type: "file", zh: "附件上传", en: "File upload" },
];
/** Types a table's column may have. */
export const COLUMN_TYPES = ["text", "textarea", "number", "date", "choice", "yesno"];
/** The key the task page stores uploads under (web/tasks.py: ``evidence``). */
export const FILE_KEY = "evidence";
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TEXT_LIMIT = { text: 500, textarea: 5000 };
const CODE = { type: "string", minLength: 1, maxLength: 32, pattern: "^[A-Za-z0-9_.-]+$" };
const ROW_COLUMNS = { indicator: "考核指标", veto: "否决项" };

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** The builder's type of a schema property (mirrors ``_kind`` of web/formview.py); "other" is kept as it is. */
export function typeOf(prop, ui = {}, key = "") {
  if (!isObject(prop)) return "other";
  const widget = ui["ui:widget"];
  if (prop.type === "array") {
    if (prop["x-kaohe-choices"]) return "other";
    const columns = (prop.items && prop.items.properties) || {};
    if (key === FILE_KEY || "sha256" in columns) return "file";
    return "indicator" in columns || "veto" in columns ? "table" : "other";
  }
  if (prop.type === "boolean") return prop.const === true ? "other" : "yesno";
  if (prop.type === "number" || prop.type === "integer") return "number";
  if (prop.type !== "string") return "other";
  if (options({ prop }).length) return "choice";
  if (prop.format === "date" || widget === "date") return "date";
  return widget === "textarea" ? "textarea" : "text";
}

/** A form's schema and UI schema as ``{form, fields}``; ``form`` keeps the schema's own keys (title, allOf…). */
export function read(schema, ui = {}) {
  schema = isObject(schema) ? clone(schema) : {};
  ui = isObject(ui) ? clone(ui) : {};
  const props = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const order = (ui["ui:order"] || []).filter((k) => k in props);
  const keys = [...order, ...Object.keys(props).filter((k) => !order.includes(k))];
  const fields = keys.map((key) => readField(key, props[key], ui[key] || {}, required.has(key)));
  const form = { ...schema };
  delete form.properties;
  const formUi = { ...ui };
  for (const key of [...keys, "ui:order"]) delete formUi[key];
  return { form, formUi, fields };
}

function readField(key, prop, ui, required) {
  const field = { key, type: typeOf(prop, ui, key), required, prop: clone(prop), ui: clone(ui) };
  if (field.type === "table") {
    const items = prop.items || {};
    const inner = read({ ...items, properties: items.properties || {} }, ui.items || {});
    field.rows = "indicator" in (items.properties || {}) ? "indicator" : "veto";
    field.columns = inner.fields.filter((c) => c.key !== field.rows);
    field.rowField = inner.fields.find((c) => c.key === field.rows);
  }
  return field;
}

/** ``{schema, ui}`` of ``model`` (as ``read`` returns it). */
export function write(model, withOrder = true) {
  const schema = { ...clone(model.form) };
  if (!schema.$schema) schema.$schema = META_SCHEMA;
  if (!schema.type) schema.type = "object";
  schema.properties = {};
  const ui = { ...clone(model.formUi || {}) };
  if (withOrder) ui["ui:order"] = model.fields.map((f) => f.key);
  for (const field of model.fields) {
    const [prop, fieldUi] = writeField(field);
    schema.properties[field.key] = prop;
    if (Object.keys(fieldUi).length) ui[field.key] = fieldUi;
  }
  // required keeps the order it had (a diff shows only what changed), new ones after
  const was = Array.isArray(model.form.required) ? model.form.required : [];
  const wanted = model.fields.filter((f) => f.required).map((f) => f.key);
  const required = [...was.filter((k) => wanted.includes(k)), ...wanted.filter((k) => !was.includes(k))];
  if (required.length || model.form.required !== undefined) schema.required = required;
  else delete schema.required;
  if (schema.additionalProperties === undefined) schema.additionalProperties = false;
  return { schema, ui };
}

function writeField(field) {
  const prop = clone(field.prop) || {};
  const ui = clone(field.ui) || {};
  if (field.type === "table") {
    const rowField = field.rowField || { key: field.rows, type: "text", required: true,
      prop: { ...CODE, title: ROW_COLUMNS[field.rows] }, ui: {} };
    const inner = write({ form: { ...(prop.items || {}), type: "object" }, formUi: {},
      fields: [rowField, ...field.columns] }, "ui:order" in (ui.items || {}));
    delete inner.schema.$schema;
    prop.items = inner.schema;
    if (Object.keys(inner.ui).length || ui.items) ui.items = inner.ui;
  }
  return [prop, ui];
}

/** A new field of ``type`` with a key not used in ``fields``. */
export function newField(type, fields = [], label = "") {
  const used = new Set(fields.map((f) => f.key));
  let key = type === "file" ? FILE_KEY : `field_${fields.length + 1}`;
  for (let n = fields.length + 1; used.has(key); n += 1) key = `field_${n}`;
  const field = { key, type, required: false, prop: {}, ui: {} };
  retype(field, type);
  if (label) field.prop.title = label;
  return field;
}

/** Change ``field``'s type: the label and help text stay, what belongs to the old type goes. */
export function retype(field, type) {
  const { title, description } = field.prop || {};
  const help = field.ui && field.ui["ui:help"];
  field.type = type;
  field.ui = help ? { "ui:help": help } : {};
  field.prop = { type: "string" };
  if (type === "text" || type === "textarea") field.prop.maxLength = TEXT_LIMIT[type];
  if (type === "textarea") field.ui = { ...field.ui, "ui:widget": "textarea", "ui:options": { rows: 4 } };
  if (type === "number") field.prop = { type: "number" };
  if (type === "date") field.prop.format = "date";
  if (type === "choice") field.prop.oneOf = [{ const: "yes", title: "是" }, { const: "no", title: "否" }];
  if (type === "yesno") {
    field.prop = { type: "boolean" };
    field.ui = { ...field.ui, "ui:widget": "radio" };
  }
  if (type === "file") {
    field.prop = { type: "array", maxItems: 200, items: { type: "object", title: "附件", properties: {
      name: { type: "string", title: "文件名", minLength: 1, maxLength: 255 },
      sha256: { type: "string", title: "SHA-256 摘要", pattern: "^[0-9a-f]{64}$" },
    }, required: ["name", "sha256"], additionalProperties: false } };
    field.ui = { ...field.ui, items: { "ui:order": ["name", "sha256"], sha256: { "ui:readonly": true } } };
  }
  if (type === "table") {
    field.prop = { type: "array", minItems: 1, maxItems: 200, items: { type: "object", title: "指标" } };
    field.rows = "indicator";
    field.rowField = undefined;
    field.columns = [newField("number", [], "得分")];
    field.columns[0].key = "score";
    field.columns[0].required = true;
    field.columns[0].prop.minimum = 0;
  } else {
    delete field.rows;
    delete field.columns;
    delete field.rowField;
  }
  if (title !== undefined) field.prop.title = title;
  if (description !== undefined) field.prop.description = description;
  return field;
}

// -- reading and setting what the list shows --------------------------------------------------------------
/** The options of a choice field: ``[{value, label}]`` (from ``oneOf``/``anyOf`` consts or ``enum``). */
export function options(field) {
  const prop = field.prop || {};
  const consts = (prop.oneOf || prop.anyOf || []).filter((c) => isObject(c) && "const" in c);
  if (consts.length) return consts.map((c) => ({ value: c.const, label: c.title ?? String(c.const) }));
  return (prop.enum || []).map((v) => ({ value: v, label: String(v) }));
}

export function setOptions(field, list) {
  delete field.prop.enum;
  delete field.prop.anyOf;
  field.prop.oneOf = list.map(({ value, label }) => ({ const: value, title: label || String(value) }));
}

/** How many decimal places a number field takes (``multipleOf`` 10^-n; 0: a whole number), or null: any. */
export function decimals(field) {
  if (field.prop.type === "integer") return 0;
  const step = field.prop.multipleOf;
  if (typeof step !== "number") return null;
  const places = Math.round(-Math.log10(step));
  return Math.abs(10 ** -places - step) < 1e-12 ? places : null;
}

export function setDecimals(field, places) {
  delete field.prop.multipleOf;
  if (places === null || places === undefined || places === "") {
    field.prop.type = "number";
    return;
  }
  places = Number(places);
  field.prop.type = places === 0 ? "integer" : "number";
  if (places > 0) field.prop.multipleOf = Number(`1e-${places}`);
}

/** Set (or, given null or "", remove) one key of the field's schema property. */
export function setProp(field, name, value) {
  if (value === null || value === undefined || value === "") delete field.prop[name];
  else field.prop[name] = value;
}

/** Set (or remove) one key of the field's UI entry. */
export function setUi(field, name, value) {
  if (value === null || value === undefined || value === "") delete field.ui[name];
  else field.ui[name] = value;
}

// -- list edits ----------------------------------------------------------------------------------------------
/** ``fields`` with the one at ``index`` moved by ``delta`` places (kept in bounds); the new index. */
export function move(fields, index, delta) {
  const to = Math.min(fields.length - 1, Math.max(0, index + delta));
  const [field] = fields.splice(index, 1);
  fields.splice(to, 0, field);
  return to;
}

// -- checks ---------------------------------------------------------------------------------------------------
/** What is wrong with the fields, each ``{index, column?, key, message}`` in Chinese with English. */
export function problems(fields) {
  const found = [];
  const seen = new Map();
  fields.forEach((field, index) => {
    for (const message of fieldProblems(field, index === 0 ? [] : fields.slice(0, index))) {
      found.push({ index, key: field.key, message });
    }
    if (seen.has(field.key)) found.push({ index, key: field.key, message: `字段名 ${field.key} 重复 (duplicate key)` });
    seen.set(field.key, index);
    if (field.type === "file" && field.key !== FILE_KEY) {
      found.push({ index, key: field.key, message: `附件字段的字段名应为 ${FILE_KEY} (a file upload field must be named ${FILE_KEY})` });
    }
    if (field.type === "table") {
      if (!field.columns.length) found.push({ index, key: field.key, message: "表格至少需要一列 (a table needs a column)" });
      const names = new Set([field.rows]);
      field.columns.forEach((column, n) => {
        const column_problems = fieldProblems(column);
        if (names.has(column.key)) column_problems.push(`列名 ${column.key} 重复 (duplicate column key)`);
        if (!COLUMN_TYPES.includes(column.type) && column.type !== "other") {
          column_problems.push("表格的列不能是表格或附件 (a column cannot be a table or a file upload)");
        }
        names.add(column.key);
        for (const message of column_problems) found.push({ index, column: n, key: `${field.key}/${column.key}`, message });
      });
    }
  });
  if (fields.filter((f) => f.type === "file").length > 1) {
    found.push({ index: fields.findLastIndex((f) => f.type === "file"), key: FILE_KEY,
      message: "一个表单只能有一个附件字段 (a form has at most one file upload field)" });
  }
  return found;
}

function fieldProblems(field) {
  const messages = [];
  if (!KEY.test(field.key || "")) {
    messages.push("字段名应以字母开头，只含字母、数字和下划线 (a key is letters, digits and _, starting with a letter)");
  }
  if (!String(field.prop.title || "").trim()) messages.push("请填写标题 (the label is empty)");
  if (field.type === "number") {
    const { minimum, maximum } = field.prop;
    if (typeof minimum === "number" && typeof maximum === "number" && minimum > maximum) {
      messages.push(`下限 ${minimum} 大于上限 ${maximum} (the lower bound is above the upper one)`);
    }
  }
  if (field.type === "choice") {
    const list = options(field);
    if (!list.length) messages.push("请至少填写一个选项 (a choice needs options)");
    const values = list.map((o) => String(o.value));
    if (values.some((v) => !v.trim())) messages.push("选项的值不能为空 (an option's value is empty)");
    if (new Set(values).size !== values.length) messages.push("选项的值重复 (two options have the same value)");
  }
  return messages;
}

/** Sample data for a preview: one plausible value per field, so the preview shows each as filled in. */
export function sample(fields) {
  const data = {};
  for (const field of fields) {
    if (field.type === "text" || field.type === "textarea") data[field.key] = field.prop.title ? `（${field.prop.title}）` : "";
    if (field.type === "number") data[field.key] = field.prop.minimum ?? 0;
    if (field.type === "date") data[field.key] = "2026-01-15";
    if (field.type === "choice") data[field.key] = options(field)[0]?.value;
    if (field.type === "yesno") data[field.key] = true;
  }
  return data;
}

/** The key of the top-level field whose property holds ``line`` (1-based) of a schema written as the builder
 * writes it (JSON, two spaces), or null: how a finding that names only a line lands on its field. */
export function fieldAtLine(text, line) {
  const lines = String(text).split("\n");
  let section = null;
  let key = null;
  for (let n = 0; n < Math.min(line, lines.length); n += 1) {
    const top = /^ {2}"([^"]+)":/.exec(lines[n]);
    if (top) {
      section = top[1];
      key = null;
      continue;
    }
    const inner = /^ {4}"([^"]+)":/.exec(lines[n]);
    if (inner && section === "properties") key = inner[1];
  }
  return section === "properties" ? key : null;
}
