import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { bandsToRules, itemChoice, itemRows, problems, tableToBands } from "./bands.js";
import { open, plain, ruleLines, ruleOf, withRules } from "./dmntable.js";

const shipped = (variant) => readFileSync(new URL(`../../../processes/${variant}/grade.dmn`, import.meta.url), "utf8");

test("every shipped grade table reads as bands without a gap or overlap", async () => {
  for (const [variant, scale, grades] of [["national-2013", 100, "ABCD"], ["ziyang-2016", 100, "abcd"],
    ["dazhou-2015", 100, "ABC"], ["guangdong-2019", 100, "ABCD"], ["yangling-2016", 100, "ABCD"]]) {
    const { table } = await open(shipped(variant), "grade");
    const read = tableToBands(plain(table));
    assert.equal(read.ok, true, variant);
    assert.equal(read.bands.map((b) => b.grade).join(""), grades);
    assert.deepEqual(problems(read.bands, scale), [], variant);
  }
});

test("资阳's table written from its bands keeps its rules, ids, descriptions and everything around them", async () => {
  const xml = shipped("ziyang-2016");
  const before = plain((await open(xml, "grade")).table);
  const read = tableToBands(before);
  const written = await withRules(xml, "grade", bandsToRules(read));
  const after = plain((await open(written, "grade")).table);
  assert.deepEqual(after, before);
  for (const kept of ['name="资阳市质量工作考核等级（资府办发〔2016〕4号 第七条）"', 'hitPolicy="UNIQUE"', "<text>Decimal(score)</text>",
    'id="In_score_band_b"', 'id="Out_grade_band_b"', "<dmndi:DMNShape", "&lt;= ? &lt; 95"]) {
    assert.ok(written.includes(kept), kept);
  }
});

test("a changed band is written as its rule's score cell", async () => {
  const xml = shipped("ziyang-2016");
  const read = tableToBands(plain((await open(xml, "grade")).table));
  read.bands[1].from = 86;
  read.bands[1].note = null;
  const after = plain((await open(await withRules(xml, "grade", bandsToRules(read)), "grade")).table);
  const b = after.rules.find((r) => r.id === "Rule_band_b");
  assert.deepEqual(b.inputs, ["86 <= ? < 95", "False"]);
  assert.equal(b.description, "b级：86分及以上、不足95分");
});

test("a file without a decision table is refused", async () => {
  const xml = shipped("ziyang-2016").replace(/<decisionTable[\s\S]*<\/decisionTable>/, "<literalExpression id=\"L\"><text>1</text></literalExpression>");
  await assert.rejects(open(xml, "grade"), /no decision table/);
});

test("a finding is put on the rule it names or whose lines hold it", () => {
  const xml = shipped("ziyang-2016");
  const lines = ruleLines(xml);
  assert.deepEqual(Object.keys(lines), ["Rule_veto", "Rule_band_a", "Rule_band_b", "Rule_band_c", "Rule_band_d"]);
  assert.equal(ruleOf({ element: "Rule_band_c", line: null }, lines), "Rule_band_c");
  assert.equal(ruleOf({ element: null, line: lines.Rule_band_b + 2 }, lines), "Rule_band_b");
  assert.equal(ruleOf({ element: null, line: null }, lines), null);
});

test("veto items one by one: the table gains the veto_hits column, worst grade first, and reads back the same", async () => {
  const xml = shipped("ziyang-2016");
  const read = tableToBands(plain((await open(xml, "grade")).table));
  assert.equal(read.itemsIndex, -1);
  // 产品 and 工程 (V1, V2) give d; 服务 (V3) gives c; 环境 (V4) d as well.
  const items = itemRows({ V1: "d", V2: "d", V3: "c", V4: "d" }, ["a", "b", "c", "d"], ["V1", "V2", "V3", "V4"]);
  const model = { ...read, veto: null, items, itemsIndex: 2 };
  const written = await withRules(xml, "grade", bandsToRules(model));
  assert.ok(written.includes("<text>veto_hits</text>") && written.includes('label="成立的否决项"'));
  const table = plain((await open(written, "grade")).table);
  assert.deepEqual(table.inputs, ["Decimal(score)", "vetoed", "veto_hits"]);
  assert.deepEqual(table.rules[0].inputs, ["-", "True", '("V1" in ? or "V2" in ? or "V4" in ?)']);
  assert.deepEqual(table.rules[0].outputs, ['"d"']);
  assert.deepEqual(table.rules[1].inputs, ["-", "True", '"V3" in ? and not ("V1" in ? or "V2" in ? or "V4" in ?)']);
  assert.deepEqual(table.rules[2].inputs, ["? >= 95", "False", "-"]);
  const again = tableToBands(table);
  assert.equal(again.ok, true, again.reason);
  assert.equal(again.veto, null);
  assert.deepEqual(itemChoice(again.items), { V1: "d", V2: "d", V4: "d", V3: "c" });
  assert.deepEqual(again.bands.map((b) => b.grade), ["a", "b", "c", "d"]);
  // back to one row for any veto: the column stays, its cells "-"
  const back = plain((await open(await withRules(written, "grade", bandsToRules({ ...again, items: [],
    veto: { grade: "d" } })), "grade")).table);
  assert.deepEqual(back.rules[0].inputs, ["-", "True", "-"]);
  assert.equal(tableToBands(back).veto.grade, "d");
});
