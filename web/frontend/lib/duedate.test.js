import assert from "node:assert/strict";
import { test } from "node:test";
import { describe, events, fromExpression, fromTask, problem, toDeadline, toExpression } from "./duedate.js";

test("the shipped rectification due date reads back as picks and writes the same expression", () => {
  const expression = "deadline(announcement['announced_on'], months=1)";
  const rule = fromExpression(expression);
  assert.deepEqual(rule, { kind: "after", event: "announcement['announced_on']", unit: "months", amount: 1 });
  assert.equal(toExpression(rule), expression);
  assert.equal(describe(rule, (e) => (e === "announcement['announced_on']" ? "结果公告日" : e)), "结果公告日后1个月内");
});

test("working days are written with working_days()", () => {
  const rule = { kind: "after", event: "submitted_on", unit: "working_days", amount: 5 };
  assert.equal(toExpression(rule), "working_days(submitted_on, 5)");
  assert.deepEqual(fromExpression("working_days(submitted_on, 5)"), rule);
  assert.equal(describe(rule), "submitted_on后5个工作日内");
});

test("a fixed date of a user task goes to bundle.yaml, of a timer to fixed_deadline()", () => {
  const rule = { kind: "fixed", date: "03-31", year: 1 };
  assert.equal(toExpression(rule), null);
  assert.deepEqual(toDeadline(rule), { date: "03-31", year: 1 });
  assert.equal(toExpression(rule, { fixedAsExpression: true }), "fixed_deadline(year, '03-31', 1)");
  assert.deepEqual(fromExpression("fixed_deadline(year, '03-31', 1)"), rule);
  assert.equal(toExpression({ kind: "fixed", date: "12-31", year: 0 }, { fixedAsExpression: true }),
    "fixed_deadline(year, '12-31')");
  assert.equal(describe(rule), "考核年度次年3月31日前");
});

test("a task's dueDate wins over its bundle.yaml deadline, as in the engine", () => {
  assert.deepEqual(fromTask("deadline(x_on, days=10)", { date: "06-30", year: 0 }),
    { kind: "after", event: "x_on", unit: "days", amount: 10 });
  assert.deepEqual(fromTask("", { date: "06-30", year: 0 }), { kind: "fixed", date: "06-30", year: 0 });
  assert.deepEqual(fromTask(null, null), { kind: "none" });
});

test("expressions of another shape stay raw, unchanged", () => {
  const text = "deadline(today(), months=1)";
  assert.deepEqual(fromExpression(text), { kind: "raw", expression: text });
  assert.equal(toExpression(fromExpression(text)), text);
});

test("bad picks are refused with a reason and write nothing", () => {
  for (const rule of [
    { kind: "fixed", date: "02-30", year: 0 },
    { kind: "fixed", date: "13-01", year: 0 },
    { kind: "fixed", date: "06-30", year: 3 },
    { kind: "after", event: "", unit: "months", amount: 1 },
    { kind: "after", event: "x_on; import os", unit: "months", amount: 1 },
    { kind: "after", event: "x_on", unit: "weeks", amount: 1 },
    { kind: "after", event: "x_on", unit: "months", amount: 0 },
    { kind: "after", event: "x_on", unit: "months", amount: 1.5 },
  ]) {
    assert.match(problem(rule), /\(.+\)/, JSON.stringify(rule));
    assert.equal(toExpression(rule, { fixedAsExpression: true }), null);
    assert.equal(toDeadline(rule), null);
  }
  assert.equal(problem({ kind: "fixed", date: "02-29", year: 0 }), null);
});

test("the events offered are the announcement and date-like names in scope", () => {
  assert.deepEqual(events(["announcement", "score", "announced_on", "year"]).map((e) => e.value),
    ["announcement['announced_on']", "announced_on"]);
});
