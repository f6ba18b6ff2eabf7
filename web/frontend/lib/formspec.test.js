import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as spec from "./formspec.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const json = (path) => JSON.parse(readFileSync(path, "utf8"));

function formsIn(folder) {
  return readdirSync(folder).filter((n) => n.endsWith(".schema.json"))
    .map((n) => [join(folder, n), join(folder, n.replace(".schema.json", ".uischema.json"))]);
}

test("every library and bundle form is written back as it was read", () => {
  const folders = [join(root, "forms"), join(root, "processes", "ziyang-2016", "forms"),
    join(root, "processes", "dazhou-2015", "forms")];
  const pairs = folders.flatMap(formsIn);
  assert.ok(pairs.length >= 16);
  for (const [schemaPath, uiPath] of pairs) {
    const schema = json(schemaPath);
    const ui = json(uiPath);
    const { schema: written, ui: writtenUi } = spec.write(spec.read(schema, ui));
    assert.deepEqual(written, schema, schemaPath);
    // the UI schema may gain a ui:order naming what was already the order
    assert.deepEqual({ ...writtenUi, "ui:order": undefined }, { ...ui, "ui:order": undefined }, uiPath);
  }
});

test("the library forms' fields get the types the task page draws them with", () => {
  const model = spec.read(json(join(root, "forms", "self-evaluation.schema.json")),
    json(join(root, "forms", "self-evaluation.uischema.json")));
  assert.deepEqual(model.fields.map((f) => [f.key, f.type]),
    [["self_scores", "table"], ["report", "textarea"], ["evidence", "file"]]);
  assert.equal(model.fields[0].rows, "indicator");
  assert.deepEqual(model.fields[0].columns.map((c) => [c.key, c.type]), [["score", "number"]]);
  const choice = spec.read(json(join(root, "forms", "filing-review.schema.json"))).fields
    .find((f) => f.type === "choice");
  assert.ok(spec.options(choice).length >= 2);
});

test("a number field with two decimals and bounds becomes multipleOf, minimum and maximum", () => {
  const fields = [];
  const field = spec.newField("number", fields, "达标率");
  spec.setDecimals(field, 2);
  spec.setProp(field, "minimum", 0);
  spec.setProp(field, "maximum", 100);
  field.required = true;
  fields.push(field);
  const { schema, ui } = spec.write({ form: { title: "测试" }, fields });
  assert.deepEqual(schema.properties.field_1, { type: "number", title: "达标率", multipleOf: 0.01, minimum: 0, maximum: 100 });
  assert.deepEqual(schema.required, ["field_1"]);
  assert.equal(schema.$schema, spec.META_SCHEMA);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(ui["ui:order"], ["field_1"]);
  assert.equal(spec.decimals(spec.read(schema, ui).fields[0]), 2);
  spec.setDecimals(field, 0);
  assert.equal(field.prop.type, "integer");
  assert.equal(spec.decimals(field), 0);
  spec.setDecimals(field, "");
  assert.equal(spec.decimals(field), null);
  assert.equal(field.prop.type, "number");
});

test("changing a field's type keeps its label and help, drops the old type's keys", () => {
  const field = spec.newField("choice", [], "结论");
  field.prop.description = "说明";
  spec.retype(field, "textarea");
  assert.deepEqual(field.prop, { type: "string", maxLength: 5000, title: "结论", description: "说明" });
  assert.equal(field.ui["ui:widget"], "textarea");
  spec.retype(field, "yesno");
  assert.deepEqual(field.prop, { type: "boolean", title: "结论", description: "说明" });
});

test("a table of indicator rows writes the indicator column first and its columns after", () => {
  const table = spec.newField("table", [], "指标得分");
  const { schema } = spec.write({ form: {}, fields: [table] });
  const items = schema.properties.field_1.items;
  assert.deepEqual(Object.keys(items.properties), ["indicator", "score"]);
  assert.deepEqual(items.required, ["indicator", "score"]);
  assert.equal(items.additionalProperties, false);
  assert.equal(spec.typeOf(schema.properties.field_1, {}, "field_1"), "table");
});

test("a file upload field is named evidence and draws as the task page's upload", () => {
  const fields = [spec.newField("text", [], "名称")];
  const file = spec.newField("file", fields, "佐证材料");
  assert.equal(file.key, "evidence");
  assert.equal(spec.typeOf(file.prop, file.ui, file.key), "file");
});

test("moving a field stays within the list", () => {
  const fields = ["a", "b", "c"].map((key) => ({ key }));
  assert.equal(spec.move(fields, 0, 1), 1);
  assert.deepEqual(fields.map((f) => f.key), ["b", "a", "c"]);
  assert.equal(spec.move(fields, 2, 5), 2);
  assert.equal(spec.move(fields, 0, -1), 0);
  assert.deepEqual(fields.map((f) => f.key), ["b", "a", "c"]);
});

test("problems name the field: bad or repeated key, no label, bounds crossed, options missing, file key", () => {
  const a = spec.newField("number", [], "甲");
  spec.setProp(a, "minimum", 10);
  spec.setProp(a, "maximum", 1);
  const b = spec.newField("text", [], "");
  b.key = "1bad";
  const c = spec.newField("choice", [], "丙");
  spec.setOptions(c, [{ value: "x", label: "X" }, { value: "x", label: "Y" }]);
  const d = spec.newField("text", [], "丁");
  d.key = a.key;
  const e = spec.newField("file", [], "附件");
  e.key = "files";
  const found = spec.problems([a, b, c, d, e]);
  const at = (index) => found.filter((p) => p.index === index).map((p) => p.message).join(" | ");
  assert.match(at(0), /下限 10 大于上限 1/);
  assert.match(at(1), /字段名应以字母开头/);
  assert.match(at(1), /请填写标题/);
  assert.match(at(2), /选项的值重复/);
  assert.match(at(3), /重复/);
  assert.match(at(4), /附件字段的字段名应为 evidence/);
  assert.deepEqual(spec.problems([spec.newField("text", [], "好")]), []);
});

test("sample data fills each simple field so the preview shows it", () => {
  const fields = [spec.newField("number", [], "数"), spec.newField("yesno", [], "是否")];
  fields[1].key = "ok";
  spec.setProp(fields[0], "minimum", 5);
  assert.deepEqual(spec.sample(fields), { field_1: 5, ok: true });
});

test("a finding's line of the schema names the field whose property holds it", () => {
  const text = `${JSON.stringify({ title: "t", properties: { a: { type: "string" }, b: { type: "number",
    maximum: 1 } }, required: ["a"] }, null, 2)}\n`;
  const lineOf = (words) => text.split("\n").findIndex((l) => l.includes(words)) + 1;
  assert.equal(spec.fieldAtLine(text, lineOf('"maximum"')), "b");
  assert.equal(spec.fieldAtLine(text, lineOf('"a": {')), "a");
  assert.equal(spec.fieldAtLine(text, lineOf('"required"')), null);
  assert.equal(spec.fieldAtLine(text, 1), null);
});
