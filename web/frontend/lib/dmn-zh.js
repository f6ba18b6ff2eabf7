// dmn-js's decision table in Chinese: a `translate` module override (as bpmn.io's i18n example does), for the
// words an administrator meets in the grade table; any other is left in English.
export const WORDS = {
  When: "当", And: "且", Then: "则", Annotations: "说明", Annotation: "说明", "View DRD": "查看决策图",
  "Hit policy": "命中策略", "Hit policy:": "命中策略：", "Decision name": "决策名称", "Decision name: ": "决策名称：",
  "Add rule": "添加规则", "Add rule above": "在上方添加规则", "Add rule below": "在下方添加规则",
  "Remove rule": "删除规则", "Copy rule": "复制规则", "Cut rule": "剪切规则", "Move rule": "移动规则",
  "Paste rule above": "粘贴到上方", "Paste rule below": "粘贴到下方",
  "Add input": "添加输入列", "Add output": "添加输出列", "Add input column left": "在左侧添加输入列",
  "Add input column right": "在右侧添加输入列", "Add output column left": "在左侧添加输出列",
  "Add output column right": "在右侧添加输出列", "Remove input column": "删除输入列", "Remove output column": "删除输出列",
  "Copy input column": "复制输入列", "Copy output column": "复制输出列", "Cut input column": "剪切输入列",
  "Cut output column": "剪切输出列", "Paste input column left": "粘贴到左侧", "Paste input column right": "粘贴到右侧",
  "Paste output column left": "粘贴到左侧", "Paste output column right": "粘贴到右侧",
  "Add cell description": "添加单元格说明", "Remove cell description": "删除单元格说明",
  "Input label": "输入列标题", "Input label: ": "输入列标题：", "Input expression": "输入表达式",
  "Input expression: ": "输入表达式：", "Output label": "输出列标题", "Output label: ": "输出列标题：",
  "Output name": "输出名称", "Output name: ": "输出名称：", "Input type": "输入类型", "Output type": "输出类型",
  "Expression language": "表达式语言", "Expression language: {expressionLanguageLabel}": "表达式语言：{expressionLanguageLabel}",
  "Enter expression": "输入表达式", Expression: "表达式", Input: "输入", Output: "输出", Type: "类型", Edit: "编辑",
  Yes: "是", No: "否", Value: "值", Values: "值", "Input values": "输入值", "Output values": "输出值",
  "Predefined values": "预设值", "Add predefined values": "添加预设值", "Clear predefined values": "清除预设值",
  "Strings must be in double quotes": "字符串须加双引号", Resize: "调整宽度",
  ...hitPolicies(),
};

/** dmn-js's hit policies (its HitPolicies.js: the select's labels and their explanations) in Chinese, each
 * label followed by the English name that the DMN standard and SpiffWorkflow's documents use. */
function hitPolicies() {
  const names = {
    Unique: "唯一", First: "首个", Priority: "优先", Any: "任一", Collect: "收集", "Collect (Sum)": "收集求和",
    "Collect (Min)": "收集取最小", "Collect (Max)": "收集取最大", "Collect (Count)": "收集计数",
    "Rule order": "规则顺序", "Output order": "输出顺序",
  };
  const labels = Object.fromEntries(Object.entries(names).map(([english, zh]) => [english, `${zh}（${english}）`]));
  return {
    ...labels,
    "No overlap is possible and all rules are disjoint. Only a single rule can be matched":
      "各规则互不重叠，只能有一条规则命中",
    "Rules may overlap. The first matching rule will be chosen": "规则可以重叠，取第一条命中的规则",
    "Rules may overlap. The one with the highest priority will be chosen": "规则可以重叠，取优先级最高的一条",
    "Rules may overlap. Their output have to match": "规则可以重叠，命中规则的输出须相同",
    "Collects the values of all matching rules": "收集所有命中规则的值",
    "Collects the values of all matching rules and sums up to a single value": "收集所有命中规则的值并求和",
    "Collects the values of all matching rules and uses the lowest value": "收集所有命中规则的值，取最小值",
    "Collects the values of all matching rules and uses the highest value": "收集所有命中规则的值，取最大值",
    "Collects the values of all matching rules and counts the number of them": "收集所有命中规则的值并计数",
    "Collects the values of all matching rules in rule order": "按规则顺序收集所有命中规则的值",
    "Collects the values of all matching rules in decreasing output priority order":
      "按输出优先级从高到低收集所有命中规则的值",
  };
}

/** diagram-js's translate: ``template`` in Chinese when known, its {placeholders} filled from ``replacements``. */
export function translate(template, replacements = {}) {
  return (WORDS[template] ?? template).replace(/{([^}]+)}/g, (all, key) => replacements[key] ?? all);
}

/** The module that replaces dmn-js's own translate service. */
export const TranslateZh = { translate: ["value", translate] };

/** dmn-js's translate for the page's language: Chinese for ``zh…``, dmn-js's own English otherwise. */
export function translatorFor(lang) {
  return String(lang || "").startsWith("zh") ? translate
    : (template, replacements = {}) => template.replace(/{([^}]+)}/g, (all, key) => replacements[key] ?? all);
}
