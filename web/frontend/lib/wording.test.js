import assert from "node:assert/strict";
import { test } from "node:test";
import { changedWords } from "./wording.js";

test("renamed elements and rewritten instructions are named; unchanged, new and deleted ones are not", () => {
  const before = { Lane_c_approver: { name: "国务院" }, Task_a: { name: "自我评价", instructions: "## 自我评价\n7月15日前" },
    Task_b: { name: "备案审核", instructions: "" }, Task_gone: { name: "征求意见" } };
  const now = { Lane_c_approver: { name: "市政府" }, Task_a: { name: "自我评价", instructions: "## 自我评价\n年末" },
    Task_b: { name: "备案审核" }, Task_new: { name: "文审初评" } };
  assert.deepEqual(changedWords(before, now), { renamed: ["Lane_c_approver"], reworded: ["Task_a"] });
});
