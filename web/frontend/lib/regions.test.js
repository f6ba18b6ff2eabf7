import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { bodyProblems, regionLines, regionProblems, regionsYaml, scalar, withBodies, withRegionsFile } from "./regions.js";

const file = (path) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");

test("资阳's regions written from their rows are its file as shipped", () => {
  const text = file("processes/ziyang-2016/regions.yaml");
  const rows = [...text.matchAll(/\{code: "(\d+)", name: ([^}]+)\}/g)].map((m) => ({ code: m[1], name: m[2] }));
  assert.equal(rows.length, 4);
  assert.equal(regionsYaml(text, rows), text);
});

test("every row on its own line, after the kept comments", () => {
  const text = "# 考核对象\nregions:\n  - {code: \"512002\", name: 雁江区}\n";
  const written = regionsYaml(text, [{ code: "512002", name: "雁江区" }, { code: "YL-FGJ", name: "区发展改革局", note: "new" }],
    ["code", "name", "note"]);
  assert.equal(written, "# 考核对象\nregions:\n  - {code: \"512002\", name: 雁江区}\n" +
    "  - {code: \"YL-FGJ\", name: 区发展改革局, note: new}\n");
  assert.deepEqual(regionLines(written), [3, 4]);
  assert.equal(regionsYaml("# only a comment\n", []), "# only a comment\nregions: []\n");
});

test("a name YAML would read as something else is quoted", () => {
  assert.equal(scalar("雁江区"), "雁江区");
  for (const [value, written] of [["yes", '"yes"'], ["110000", '"110000"'], ["a: b", '"a: b"'], ["x #y", '"x #y"'],
    ["[1]", '"[1]"'], ['say "hi"', '"say \\"hi\\""'], ["null", '"null"'], ["1e3", '"1e3"']]) {
    assert.equal(scalar(value), written, value);
  }
});

test("bad region rows are named by their row number", () => {
  const found = regionProblems([{ code: "512002", name: "雁江区" }, { code: "5120", name: "" },
    { code: "512002", name: "again" }, { code: "中文", name: "x" }]);
  assert.deepEqual(found.map((p) => [p.row, p.field]), [[2, "code"], [2, "name"], [3, "code"], [4, "code"]]);
  assert.match(found[2].text, /与第 1 行重复/);
  assert.deepEqual(regionProblems([{ code: "YL-FGJ", name: "区发展改革局" }, { code: "110000000000", name: "村" }]), []);
});

test("bad body rows are named by their row number", () => {
  const found = bodyProblems([{ code: "quality_group", name: "领导小组", like: "approver" },
    { code: "approver", name: "x", like: "approver" }, { code: "quality_group", name: "x", powers: [] },
    { code: "Bad", name: "", like: "admin" }]);
  assert.deepEqual(found.map((p) => [p.row, p.field]), [[2, "code"], [3, "code"], [4, "code"], [4, "name"], [4, "like"]]);
  assert.deepEqual(bodyProblems([{ code: "city_government", name: "市人民政府", powers: ["sees_all_regions"] }]), []);
});

const bodies = [{ code: "quality_group", name: "市质量强市工作领导小组", like: "approver" },
  { code: "city_government", name: "市人民政府", powers: ["sees_all_regions"] }];

test("bodies are added before lanes: with every other line of bundle.yaml kept", () => {
  const text = file("processes/ziyang-2016/bundle.yaml");
  const written = withBodies(text, bodies);
  const added = "bodies:\n  - code: quality_group\n    name: 市质量强市工作领导小组\n    like: approver\n" +
    "  - code: city_government\n    name: 市人民政府\n    powers: [sees_all_regions]\nlanes:";
  assert.ok(written.includes(added));
  assert.equal(written.replace(added, "lanes:"), text);
  assert.equal(withBodies(written, []), text);
});

test("a bodies block is replaced in place, its comment kept", () => {
  const text = file("tests/bundles/two-bodies/bundle.yaml");
  const written = withBodies(text, [bodies[1]]);
  assert.ok(written.includes("bodies:                         # this variant's own bodies, besides the seven built-in roles\n" +
    "  - code: city_government\n    name: 市人民政府\n    powers: [sees_all_regions]\nlanes:"));
  assert.ok(!written.includes("quality_group\n    name"));
  assert.equal(withBodies(text, bodies), text.replace("like: approver              # follows every region, as an approver does",
    "like: approver")); // a comment inside the block is not kept
  assert.equal(withBodies("key: x\n", bodies), `key: x\n${["bodies:", "  - code: quality_group", "    name: 市质量强市工作领导小组",
    "    like: approver", "  - code: city_government", "    name: 市人民政府", "    powers: [sees_all_regions]"].join("\n")}\n`);
});

test("a bundle that names no regions file is given one, once", () => {
  const text = "key: x\nlanes:\n  a: assessed\n";
  assert.equal(withRegionsFile(text, "regions.yaml"), "key: x\nregions: regions.yaml\nlanes:\n  a: assessed\n");
  assert.equal(withRegionsFile(withRegionsFile(text, "regions.yaml"), "regions.yaml"),
    "key: x\nregions: regions.yaml\nlanes:\n  a: assessed\n");
});
