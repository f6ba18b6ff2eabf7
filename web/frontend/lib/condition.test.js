import assert from "node:assert/strict";
import { test } from "node:test";
import { describe, fromExpression, literal, toExpression } from "./condition.js";

test("the shipped gateway conditions read back as picks and write the same text", () => {
  for (const text of ["approval == 'return'", "commended", "must_rectify", "confirmation == 'rescore'"]) {
    const picked = fromExpression(text);
    assert.ok(picked, text);
    assert.equal(toExpression(picked), text);
  }
  assert.equal(describe(fromExpression("approval == 'return'")), "approval 等于 'return'");
});

test("numbers, booleans and negation", () => {
  assert.equal(toExpression({ variable: "score", op: ">=", value: 95 }), "score >= 95");
  assert.deepEqual(fromExpression("score >= 95"), { variable: "score", op: ">=", value: 95 });
  assert.equal(toExpression({ variable: "vetoed", op: "falsy" }), "not vetoed");
  assert.deepEqual(fromExpression("not vetoed"), { variable: "vetoed", op: "falsy" });
  assert.equal(toExpression({ variable: "ok", op: "==", value: true }), "ok == True");
});

test("quotes in a value are escaped, so a value cannot end the string", () => {
  assert.equal(literal("it's"), "'it\\'s'");
  assert.deepEqual(fromExpression(toExpression({ variable: "a", op: "==", value: "it's" })),
    { variable: "a", op: "==", value: "it's" });
});

test("other shapes are left to the raw mode; missing picks write nothing", () => {
  assert.equal(fromExpression("len(veto_hits) > 0"), null);
  assert.equal(fromExpression("a == b"), null);
  assert.equal(toExpression({ variable: "a", op: "==" }), null);
  assert.equal(toExpression({ variable: "1a", op: "truthy" }), null);
  assert.equal(toExpression({ variable: "a", op: "like", value: 1 }), null);
});
