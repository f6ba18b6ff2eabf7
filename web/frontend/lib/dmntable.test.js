import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { bandsToRules, problems, tableToBands } from "./bands.js";
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
