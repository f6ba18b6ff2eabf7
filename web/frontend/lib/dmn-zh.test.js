import assert from "node:assert/strict";
import { test } from "node:test";

import { translate } from "./dmn-zh.js";

test("dmn-js's words in Chinese, unknown ones as they are, placeholders filled", () => {
  assert.equal(translate("Add rule below"), "在下方添加规则");
  assert.equal(translate("Something new"), "Something new");
  assert.equal(translate("Expression language: {expressionLanguageLabel}", { expressionLanguageLabel: "Python" }),
    "表达式语言：Python");
  assert.equal(translate("e.g. { sample }", {}), "e.g. { sample }");
});
