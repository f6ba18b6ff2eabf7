import assert from "node:assert/strict";
import { test } from "node:test";

import { translate, translatorFor } from "./dmn-zh.js";

test("dmn-js's words in Chinese, unknown ones as they are, placeholders filled", () => {
  assert.equal(translate("Add rule below"), "在下方添加规则");
  assert.equal(translate("Something new"), "Something new");
  assert.equal(translate("Expression language: {expressionLanguageLabel}", { expressionLanguageLabel: "Python" }),
    "表达式语言：Python");
  assert.equal(translate("e.g. { sample }", {}), "e.g. { sample }");
});

// dmn-js's HIT_POLICIES (dmn-js-decision-table/lib/features/hit-policy/HitPolicies.js): label and explanation.
const POLICIES = [
  ["Unique", "No overlap is possible and all rules are disjoint. Only a single rule can be matched"],
  ["First", "Rules may overlap. The first matching rule will be chosen"],
  ["Priority", "Rules may overlap. The one with the highest priority will be chosen"],
  ["Any", "Rules may overlap. Their output have to match"],
  ["Collect", "Collects the values of all matching rules"],
  ["Collect (Sum)", "Collects the values of all matching rules and sums up to a single value"],
  ["Collect (Min)", "Collects the values of all matching rules and uses the lowest value"],
  ["Collect (Max)", "Collects the values of all matching rules and uses the highest value"],
  ["Collect (Count)", "Collects the values of all matching rules and counts the number of them"],
  ["Rule order", "Collects the values of all matching rules in rule order"],
  ["Output order", "Collects the values of all matching rules in decreasing output priority order"],
];

test("every hit policy shows in the chosen language: Chinese with its English name, or English", () => {
  const zh = translatorFor("zh-CN");
  const en = translatorFor("en");
  assert.equal(zh("Unique"), "唯一（Unique）");
  assert.equal(zh("First"), "首个（First）");
  assert.equal(zh("Collect (Sum)"), "收集求和（Collect (Sum)）");
  for (const [label, explanation] of POLICIES) {
    assert.match(zh(label), /[\u4e00-\u9fff]/, label);
    assert.match(zh(explanation), /[\u4e00-\u9fff]/, explanation);
    assert.equal(en(label), label);
    assert.equal(en(explanation), explanation);
  }
  assert.equal(en("Hit policy:"), "Hit policy:");
  assert.equal(en("Expression language: {expressionLanguageLabel}", { expressionLanguageLabel: "Python" }),
    "Expression language: Python");
});
