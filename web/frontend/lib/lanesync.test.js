import assert from "node:assert/strict";
import { test } from "node:test";
import { lanesSection } from "./lanesync.js";

const bundle = { 省级人民政府: "assessed", 国务院: "approver", 干部主管部门和纪检监察机关: "recipient" };
const order = Object.keys(bundle);

test("a renamed lane renames its key in place; a key no lane was written under is kept", () => {
  const lanes = [{ id: "Lane_a", name: "县（市、区）人民政府", body: "assessed" }, { id: "Lane_b", name: "国务院", body: "approver" }];
  const { lanes: section } = lanesSection(order, bundle, lanes, { Lane_a: "省级人民政府", Lane_b: "国务院" });
  assert.deepEqual(Object.entries(section), [["县（市、区）人民政府", "assessed"], ["国务院", "approver"],
    ["干部主管部门和纪检监察机关", "recipient"]]);
});

test("a lane renamed again while the first rename is being saved leaves no stale key", () => {
  const lane = { id: "Lane_a", name: "县人民政府", body: "assessed" };
  const first = lanesSection(order, bundle, [lane], { Lane_a: "省级人民政府" });
  lane.name = "县（市、区）人民政府"; // typed while the save of ``first`` was on its way
  // once saved, bundle.yaml has the lane under the name ``first`` was made from, not under its name by then
  const next = lanesSection(Object.keys(first.lanes), first.lanes, [lane], first.names);
  assert.deepEqual(next.lanes, { "县（市、区）人民政府": "assessed", 国务院: "approver", 干部主管部门和纪检监察机关: "recipient" });
  assert.deepEqual(first.names, { Lane_a: "县人民政府" });
});
