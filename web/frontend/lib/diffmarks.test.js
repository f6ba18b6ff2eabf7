import { test } from "node:test";
import assert from "node:assert/strict";
import { markers, markerClass } from "./diffmarks.js";

test("removed elements are marked on the old diagram, added ones on the new, changed on both", () => {
  const { before, after } = markers({
    _removed: { Task_onsite_check: {} }, _added: { Task_prepare: {} },
    _changed: { Flow_r08: {} }, _layoutChanged: { Task_grade: {} },
  });
  assert.deepEqual(Object.fromEntries(before),
    { Task_onsite_check: "removed", Flow_r08: "changed", Task_grade: "layout" });
  assert.deepEqual(Object.fromEntries(after), { Task_prepare: "added", Flow_r08: "changed", Task_grade: "layout" });
});

test("the server's table adds what the differ does not see, and a move never hides a change", () => {
  const { before, after } = markers({ _layoutChanged: { Task_target_filing: {} } }, [
    { element: "Task_target_filing", change: "changed" },  // its instructions: an extension element
    { element: "Task_filing_opinion", change: "removed" },
  ]);
  assert.equal(before.get("Task_target_filing"), "changed");
  assert.equal(after.get("Task_target_filing"), "changed");
  assert.equal(before.get("Task_filing_opinion"), "removed");
  assert.equal(after.has("Task_filing_opinion"), false);
});

test("nothing to mark when nothing changed", () => {
  const { before, after } = markers({ _added: {}, _removed: {}, _changed: {}, _layoutChanged: {} }, []);
  assert.equal(before.size + after.size, 0);
  assert.equal(markerClass("added"), "diff-added");
});

test("an element drawn on both sides is changed, not added and removed", () => {
  const present = { before: new Set(["Participant_region", "Task_onsite_check"]), after: new Set(["Participant_region"]) };
  const { before, after } = markers(
    { _removed: { Participant_region: {}, Task_onsite_check: {} }, _added: { Participant_region: {} } }, [], present);
  assert.equal(before.get("Participant_region"), "changed");
  assert.equal(after.get("Participant_region"), "changed");
  assert.equal(before.get("Task_onsite_check"), "removed");
});
