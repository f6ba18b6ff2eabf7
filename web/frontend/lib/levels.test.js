import assert from "node:assert/strict";
import { test } from "node:test";
import { processLevel } from "./levels.js";

const manifest = { campaignProcess: "ziyang_campaign", regionProcess: "ziyang_region" };

test("a pool's process is campaign-level or region-level as bundle.yaml names it, in words", () => {
  assert.equal(processLevel("ziyang_campaign", manifest).level, "campaign");
  assert.match(processLevel("ziyang_campaign", manifest).text, /^年度流程 \(campaign-level\)：每个考核年度启动一次/);
  assert.equal(processLevel("ziyang_region", manifest).level, "region");
  assert.match(processLevel("ziyang_region", manifest).text, /^地区流程 \(region-level\)：每个考核对象/);
});

test("a process bundle.yaml does not name, or a pool without a process, is neither", () => {
  assert.equal(processLevel("national_region", manifest).level, "other");
  assert.equal(processLevel(undefined, manifest).level, "other");
  assert.equal(processLevel(undefined, {}).level, "other");
});
