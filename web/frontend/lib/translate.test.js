import assert from "node:assert/strict";
import { test } from "node:test";
import { translator } from "./translate.js";

test("zh translates the palette and fills placeholders; en keeps bpmn.io's text", () => {
  assert.equal(translator("zh")("Create task"), "新建任务");
  assert.equal(translator("zh")("Append {type}", { type: "x" }), "Append x");
  assert.equal(translator("en")("Create task"), "Create task");
  assert.equal(translator("zh")("Unknown {a}"), "Unknown {a}");
});
