import assert from "node:assert/strict";
import { test } from "node:test";
import * as table from "./schemetable.js";

const scheme = () => ({
  parts: [{ code: "targets", name: "质量目标", points: 40 }, { code: "social", name: "社会评价", points: 10 }],
  units: [{ code: "quality", name: "市质监局" }, { code: "environment", name: "市环保局" }],
  indicators: [
    { code: "T1", part: "targets", group: "产品", name: "合格率", points: 34.5, unit: "quality" },
    { code: "S1", part: "social", name: "满意度", points: 10, unit: "quality" },
  ],
  veto: [{ code: "V1", name: "事件" }],
});

test("running totals: a part short of its points is not ok until the missing indicator is added", () => {
  const s = scheme();
  let sums = table.totals(s, 50);
  assert.equal(sums.parts[0].sum, 34.5);
  assert.equal(sums.parts[0].ok, false);
  assert.equal(sums.partsTotal, 50);
  assert.equal(sums.ok, false);
  const at = table.addIndicator(s, { part: "targets", group: "环境", name: "水、空气质量", points: 5.5, unit: "environment" });
  assert.equal(at, 1);
  assert.equal(s.indicators[1].code, "T2");
  sums = table.totals(s, 50);
  assert.equal(sums.parts[0].sum, 40);
  assert.deepEqual(sums.parts[0].groups, [{ group: "产品", sum: 34.5 }, { group: "环境", sum: 5.5 }]);
  assert.equal(sums.ok, true);
  assert.equal(table.totals(s, 100).ok, false);
});

test("sums are exact for points with decimals", () => {
  assert.equal(table.add([0.1, 0.2]), 0.3);
  assert.equal(table.add([2.5, 3.5, "1.25"]), 7.25);
  assert.equal(table.add([1, "abc", null]), 1);
});

test("a new code is the next free one of its prefix, across indicators and veto items", () => {
  const s = scheme();
  assert.equal(table.freeCode(s, "V"), "V2");
  assert.equal(table.freeCode(s, "T"), "T2");
});

test("a finding lands on its row by element, by the code in its words, or by its line", () => {
  const s = scheme();
  assert.deepEqual(table.placeOf({ element: "S1", reason: "" }, s), { list: "indicators", index: 1 });
  assert.deepEqual(table.placeOf({ reason: "indicator T1: unknown unit 'x'" }, s), { list: "indicators", index: 0 });
  assert.deepEqual(table.placeOf({ reason: "the indicators of part 'social' add up to 9 points, not 10" }, s),
    { list: "parts", index: 1 });
  const text = "title: x\nparts:\n  - {code: a}\n  - {code: b}\nunits:\n  - {code: u}\n";
  assert.deepEqual(table.placeOf({ reason: "bad", line: 4 }, s, text), { list: "parts", index: 1 });
  assert.deepEqual(table.itemAtLine(text, 6), { list: "units", index: 0 });
  assert.equal(table.itemAtLine(text, 1), null);
  assert.equal(table.placeOf({ reason: "the parts add up to 40 points, not 100 (the scale)" }, s), null);
});

test("an indicator moves past its neighbours of the same part only", () => {
  const list = [{ code: "a", part: "x" }, { code: "b", part: "y" }, { code: "c", part: "x" }];
  assert.equal(table.moveInPart(list, 0, 1), 2);
  assert.deepEqual(list.map((i) => i.code), ["c", "b", "a"]);
  assert.equal(table.moveInPart(list, 1, -1), 1);
  assert.equal(table.moveInPart(list, 0, -1), 0);
});

test("a new rule has every key its kind requires; none removes it", () => {
  const indicator = { code: "S1", points: 10 };
  table.startRule(indicator, "interpolate");
  assert.deepEqual(indicator.rule, { kind: "interpolate", low: [0, 0], high: [100, 10] });
  for (const kind of Object.keys(table.RULES)) {
    table.startRule(indicator, kind);
    const required = { shortfall: ["target", "deduct"], interpolate: ["low", "high"], per_occurrence: ["deduct"], bonus: ["add"] }[kind];
    for (const key of required) assert.ok(key in indicator.rule, `${kind} ${key}`);
  }
  table.startRule(indicator, "");
  assert.equal("rule" in indicator, false);
});

test("a new code skips the codes given as taken: a row deleted in the editor does not lend its code", () => {
  const s = scheme();
  assert.equal(table.freeCode(s, "T", ["T2", "T3"]), "T4");
  const at = table.addIndicator(s, { part: "targets" }, ["T2"]);
  assert.equal(s.indicators[at].code, "T3");
});
