import assert from "node:assert/strict";
import { test } from "node:test";

import {
  bandsToRules, conditionText, describe, itemCell, itemCodes, itemRows, parseCondition, problems, strip, tableToBands,
} from "./bands.js";

const band = (grade, from, fromIncl, to, toIncl) => ({ grade, from, fromIncl, to, toIncl });
// 资阳 (资府办发〔2016〕4号 第七条): a ≥ 95, b 85–94, c 60–84, d ≤ 59 — as the shipped table writes them.
const ziyang = () => [band("a", 95, true, null, true), band("b", 85, true, 95, false),
  band("c", 60, true, 85, false), band("d", null, true, 60, false)];

test("score cells of the shipped tables are read as ranges", () => {
  assert.deepEqual(parseCondition("? >= 95"), { from: 95, fromIncl: true, to: null, toIncl: true });
  assert.deepEqual(parseCondition("85 <= ? < 95"), { from: 85, fromIncl: true, to: 95, toIncl: false });
  assert.deepEqual(parseCondition("? < 60"), { from: null, fromIncl: true, to: 60, toIncl: false });
  assert.deepEqual(parseCondition("89.5 < ? <= 100"), { from: 89.5, fromIncl: false, to: 100, toIncl: true });
  assert.deepEqual(parseCondition("-"), { from: null, fromIncl: true, to: null, toIncl: true });
  assert.equal(parseCondition("score > 3 and ? < 4"), null);
  assert.equal(parseCondition("? in [1, 2]"), null);
});

test("a band is written back in the same shape", () => {
  for (const text of ["? >= 95", "85 <= ? < 95", "? < 60", "89.5 < ? <= 100", "? <= 59"]) {
    assert.equal(conditionText(parseCondition(text)), text);
  }
  assert.equal(describe(band("b", 85, true, 95, false)), "b级：85分及以上、不足95分");
  assert.equal(describe(band("优秀", 90, true, null, true)), "优秀：90分及以上");
});

test("资阳's bands cover 0..100 with one grade for every score", () => {
  const segments = strip(ziyang(), 100);
  assert.deepEqual(segments.map((s) => [s.from, s.to, s.grades]), [[0, 60, [3]], [60, 85, [2]], [85, 95, [1]],
    [95, 100, [0]]]);
  assert.ok(segments.every((s) => s.kind === "ok"));
  assert.deepEqual(problems(ziyang(), 100), []);
});

test("b set to 86–94 leaves scores from 85 to 86 without a grade", () => {
  const bands = ziyang();
  bands[1].from = 86;
  const gap = strip(bands, 100).find((s) => s.kind === "gap");
  assert.deepEqual([gap.from, gap.fromIncl, gap.to, gap.toIncl], [85, true, 86, false]);
  assert.deepEqual(problems(bands, 100).map((p) => [p.text, p.bands]),
    [["在 85 至 86 分之间没有等级 (no grade between 85 and 86)", [1, 2]]]);
});

test("an upper bound written as 94 inclusive leaves the decimals between 94 and 95 without a grade", () => {
  const bands = ziyang();
  Object.assign(bands[1], { to: 94, toIncl: true });
  const gap = strip(bands, 100).find((s) => s.kind === "gap");
  assert.deepEqual([gap.from, gap.fromIncl, gap.to, gap.toIncl], [94, false, 95, false]);
});

test("two bands that both include their common edge overlap at that one score", () => {
  const bands = ziyang();
  bands[2].toIncl = true; // c: 60 <= ? <= 85, and b starts at 85 inclusive
  const found = problems(bands, 100);
  assert.equal(found.length, 1);
  assert.deepEqual([found[0].kind, found[0].from, found[0].to, found[0].bands], ["overlap", 85, 85, [1, 2]]);
  assert.equal(found[0].text, "在 85 分 b、c 同时适用 (b, c overlap at 85)");
});

test("two bands that both exclude their common edge leave that one score without a grade", () => {
  const bands = ziyang();
  bands[1].fromIncl = false; // b: 85 < ? < 95, c: ? < 85
  const gaps = strip(bands, 100).filter((s) => s.kind === "gap");
  assert.deepEqual(gaps.map((s) => [s.from, s.to]), [[85, 85]]);
});

test("a band wider than its neighbour's edge overlaps over a range", () => {
  const bands = ziyang();
  bands[1].from = 80;
  assert.deepEqual(problems(bands, 100).map((p) => [p.kind, p.from, p.to]), [["overlap", 80, 85]]);
});

test("decimal edges and a decimal scale", () => {
  const bands = [band("A", 135.5, true, null, true), band("B", null, true, 135.5, false)];
  assert.deepEqual(problems(bands, 150.5), []);
  const segments = strip(bands, 150.5);
  assert.deepEqual(segments.map((s) => [s.from, s.to]), [[0, 135.5], [135.5, 150.5]]);
  bands[1].to = 135.4;
  assert.deepEqual(problems(bands, 150.5).map((p) => p.text),
    ["在 135.4 至 135.5 分之间没有等级 (no grade between 135.4 and 135.5)"]);
});

test("a band whose lower bound passes its upper holds nothing and is named", () => {
  const bands = ziyang();
  Object.assign(bands[1], { from: 95, to: 85 });
  assert.equal(problems(bands, 100)[0].kind, "empty");
});

const table = (rules, extra = {}) => ({ hitPolicy: "UNIQUE", inputs: ["Decimal(score)", "vetoed"], outputs: ["grade"],
  rules, ...extra });
const rule = (id, score, veto, grade, description = "") => ({ id, description, inputs: [score, veto],
  outputs: [`"${grade}"`] });
const shipped = () => table([rule("Rule_veto", "-", "True", "d", "否决"), rule("Rule_band_a", "? >= 95", "False", "a"),
  rule("Rule_band_b", "85 <= ? < 95", "False", "b"), rule("Rule_band_c", "60 <= ? < 85", "False", "c"),
  rule("Rule_band_d", "? < 60", "False", "d")]);

test("the shipped table reads as bands and a veto, and writes back the same rules", () => {
  const read = tableToBands(shipped());
  assert.equal(read.ok, true);
  assert.deepEqual(read.bands.map((b) => [b.grade, b.from, b.to]), [["a", 95, null], ["b", 85, 95], ["c", 60, 85],
    ["d", null, 60]]);
  assert.equal(read.veto.grade, "d");
  const rules = bandsToRules(read);
  assert.deepEqual(rules.map((r) => [r.id, ...r.inputs, ...r.outputs]), shipped().rules.map((r) => [r.id, ...r.inputs,
    ...r.outputs]));
});

test("new bands get ids of their own and a description", () => {
  const rules = bandsToRules({ bands: [band("b", 85, true, 95, false), band("b", 80, true, 85, false)], veto: null });
  assert.deepEqual(rules.map((r) => r.id), ["Rule_band_b", "Rule_band_b_2"]);
  assert.equal(rules[0].description, "b级：85分及以上、不足95分");
  assert.deepEqual(rules[0].inputs, ["85 <= ? < 95", "False"]);
});

test("inputs in the other order are kept in that order", () => {
  const read = tableToBands({ ...shipped(), inputs: ["vetoed", "Decimal(score)"],
    rules: shipped().rules.map((r) => ({ ...r, inputs: [...r.inputs].reverse() })) });
  assert.equal(read.ok, true);
  assert.deepEqual(bandsToRules(read)[1].inputs, ["False", "? >= 95"]);
});

test("tables the plain editor cannot show are refused with the reason", () => {
  const cases = [
    [{ ...shipped(), hitPolicy: "FIRST" }, "UNIQUE"],
    [{ ...shipped(), outputs: ["grade", "note"] }, "grade"],
    [{ ...shipped(), inputs: ["Decimal(score)", "veto_hits"] }, "veto"],
    [table([rule("R1", "? > 3 and ? < 5", "False", "a")]), "row 1 cannot be shown as a band"],
    [table([rule("R1", "? >= 90", "-", "a")]), "row 1"],
    [table([{ id: "R1", inputs: ["? >= 90", "False"], outputs: ["grade_of(score)"] }]), "quoted grade"],
    [table([rule("R1", "-", "True", "d"), rule("R2", "-", "True", "c")]), "second veto row"],
  ];
  for (const [given, words] of cases) {
    const read = tableToBands(given);
    assert.equal(read.ok, false);
    assert.ok(read.reason.includes(words), read.reason);
  }
});

test("veto-item rows: the cells the plain editor writes, and a table it did not write is left to the raw editor", () => {
  assert.equal(itemCell(["V1"]), '"V1" in ?');
  assert.equal(itemCell(["V3", "V4"], ["V1"]), '("V3" in ? or "V4" in ?) and not ("V1" in ?)');
  assert.deepEqual(itemCodes('("V3" in ? or "V4" in ?) and not ("V1" in ?)'), ["V3", "V4"]);
  // worst grade first, whatever order the items were chosen in; each row's codes in the scheme's order
  assert.deepEqual(itemRows({ V2: "c", V1: "d", V3: "c" }, ["a", "b", "c", "d"], ["V1", "V2", "V3"]).map(
    (r) => [r.grade, r.codes]), [["d", ["V1"]], ["c", ["V2", "V3"]]]);
  const table = (cells, hitPolicy = "UNIQUE") => ({ hitPolicy, inputs: ["Decimal(score)", "vetoed", "veto_hits"],
    outputs: ["grade"], rules: [...cells.map(([hits, grade], i) => ({ id: `R${i}`, inputs: ["-", "True", hits],
      outputs: [`"${grade}"`] })), { id: "B", inputs: ["-", "False", "-"], outputs: ['"a"'] }] });
  const read = tableToBands(table([['"V1" in ?', "d"], ['"V2" in ? and not ("V1" in ?)', "c"]]));
  assert.equal(read.ok, true);
  assert.deepEqual(read.items.map((r) => [r.grade, r.codes]), [["d", ["V1"]], ["c", ["V2"]]]);
  // without the exclusion two rows would both match a region hitting V1 and V2: not the plain editor's table
  assert.equal(tableToBands(table([['"V1" in ?', "d"], ['"V2" in ?', "c"]])).ok, false);
  assert.equal(tableToBands(table([["len(?) > 1", "d"]])).ok, false);
  const both = table([['"V1" in ?', "d"], ["-", "d"]]);
  assert.match(tableToBands(both).reason, /both a row for any veto and rows per veto item/);
  // a band row that tests the items is no band
  const odd = table([]);
  odd.rules[0].inputs[2] = '"V1" in ?';
  odd.rules[0].inputs[1] = "False";
  assert.equal(tableToBands(odd).ok, false);
});
