// The due-date builder of the BPMN modeler (issue 11): a rule picked in the panel, and where the engine reads it.
//
// A rule is one of
//   {kind: "none"}
//   {kind: "fixed", date: "MM-DD", year: 0}          -> bundle.yaml `deadlines:` (user tasks) or
//                                                        fixed_deadline(year, 'MM-DD', 0) (timers)
//   {kind: "after", event: "announcement['announced_on']", amount: 1, unit: "months" | "days" | "years" |
//    "working_days"}                                 -> deadline(event, months=1) / working_days(event, 5)
//   {kind: "raw", expression: "..."}                  -> an expression the builder cannot show as picks
// The server stays the judge: it checks the expression and computes the legal date for a sample year.

export const UNITS = {
  days: { zh: "日", en: "days" },
  months: { zh: "个月", en: "months" },
  years: { zh: "年", en: "years" },
  working_days: { zh: "个工作日", en: "working days" },
};

const MONTH_DAY = /^(\d{2})-(\d{2})$/;
// deadline(<event>, months=1) with any of months/days/years, or working_days(<event>, 5)
const DEADLINE = /^deadline\(\s*(.+?)\s*,\s*(months|days|years)\s*=\s*(\d+)\s*\)$/;
const WORKING = /^working_days\(\s*(.+?)\s*,\s*(\d+)\s*\)$/;
const FIXED = /^fixed_deadline\(\s*year\s*,\s*'(\d{2}-\d{2})'\s*(?:,\s*(-?\d+)\s*)?\)$/;
// An event is a variable or one subscript of it: announced_on, announcement['announced_on'].
const EVENT = /^[A-Za-z_][A-Za-z0-9_]*(\[\s*'[A-Za-z0-9_]+'\s*\])?$/;

/** Whether "MM-DD" is a day of some year (02-29 allowed: it is 02-28 in other years). */
export function validMonthDay(text) {
  const match = MONTH_DAY.exec(String(text ?? ""));
  if (!match) return false;
  const month = Number(match[1]);
  const day = Number(match[2]);
  const lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return month >= 1 && month <= 12 && day >= 1 && day <= lengths[month - 1];
}

/** The problem of a rule in Chinese with English, or null when it can be written. */
export function problem(rule) {
  if (!rule || rule.kind === "none") return null;
  if (rule.kind === "fixed") {
    if (!validMonthDay(rule.date)) return "日期须为有效的 月-日，如 06-30 (the date must be a real MM-DD)";
    if (![-1, 0, 1, 2].includes(Number(rule.year))) return "年份偏移须为 -1、0、1 或 2 (year must be -1, 0, 1 or 2)";
    return null;
  }
  if (rule.kind === "after") {
    if (!EVENT.test(String(rule.event ?? "").trim())) return "请选择起算事件 (pick the event the period counts from)";
    if (!(rule.unit in UNITS)) return "请选择期间单位 (pick a unit)";
    const amount = Number(rule.amount);
    if (!Number.isInteger(amount) || amount < 1 || amount > 366) {
      return "期间须为 1 至 366 的整数 (the period must be a whole number from 1 to 366)";
    }
    return null;
  }
  if (rule.kind === "raw") return String(rule.expression ?? "").trim() ? null : "表达式为空 (empty expression)";
  return "未知的期限类型 (unknown kind of due date)";
}

/** The expression for a `dueDate` property or a timer's timeDate; null for none or a fixed date of a user task. */
export function toExpression(rule, { fixedAsExpression = false } = {}) {
  if (!rule || rule.kind === "none" || problem(rule)) return null;
  if (rule.kind === "raw") return rule.expression.trim();
  if (rule.kind === "fixed") {
    if (!fixedAsExpression) return null;
    const year = Number(rule.year);
    return year ? `fixed_deadline(year, '${rule.date}', ${year})` : `fixed_deadline(year, '${rule.date}')`;
  }
  const event = rule.event.trim();
  if (rule.unit === "working_days") return `working_days(${event}, ${Number(rule.amount)})`;
  return `deadline(${event}, ${rule.unit}=${Number(rule.amount)})`;
}

/** The bundle.yaml `deadlines:` entry of a rule ({date, year}), or null when it is not a fixed date. */
export function toDeadline(rule) {
  if (!rule || rule.kind !== "fixed" || problem(rule)) return null;
  return { date: rule.date, year: Number(rule.year) };
}

/** The rule a user task has: its dueDate expression wins over bundle.yaml's deadline, as in engine/deadlines.py. */
export function fromTask(expression, deadline) {
  if (expression && String(expression).trim()) return fromExpression(expression);
  if (deadline && validMonthDay(String(deadline.date))) {
    return { kind: "fixed", date: String(deadline.date), year: Number(deadline.year ?? 0) };
  }
  return { kind: "none" };
}

/** The rule an expression says, as picks where the builder knows its shape, else raw. */
export function fromExpression(expression) {
  const text = String(expression ?? "").trim();
  if (!text) return { kind: "none" };
  let match = DEADLINE.exec(text);
  if (match && EVENT.test(match[1])) {
    return { kind: "after", event: match[1], unit: match[2], amount: Number(match[3]) };
  }
  match = WORKING.exec(text);
  if (match && EVENT.test(match[1])) {
    return { kind: "after", event: match[1], unit: "working_days", amount: Number(match[2]) };
  }
  match = FIXED.exec(text);
  if (match && validMonthDay(match[1])) return { kind: "fixed", date: match[1], year: Number(match[2] ?? 0) };
  return { kind: "raw", expression: text };
}

/** How an administrator reads the rule: 「公告日后1个月内」, 「考核年度次年 03-31 前」. */
export function describe(rule, eventLabel = (event) => event, lang = "zh") {
  if (!rule || rule.kind === "none") return lang === "zh" ? "无期限" : "no due date";
  if (rule.kind === "raw") return lang === "zh" ? `表达式：${rule.expression}` : `expression: ${rule.expression}`;
  if (rule.kind === "fixed") {
    const [month, day] = String(rule.date).split("-").map(Number);
    const year = Number(rule.year);
    if (lang !== "zh") return `by ${rule.date} of the assessment year${year ? ` ${year > 0 ? "+" : ""}${year}` : ""}`;
    const which = { "-1": "考核年度上一年", 0: "考核年度", 1: "考核年度次年", 2: "考核年度第三年" }[year];
    return `${which}${month}月${day}日前`;
  }
  const unit = UNITS[rule.unit] ?? { zh: rule.unit, en: rule.unit };
  if (lang !== "zh") return `within ${rule.amount} ${unit.en} after ${eventLabel(rule.event)}`;
  return `${eventLabel(rule.event)}后${rule.amount}${unit.zh}内`;
}

/** The events a period can count from: date-like names in scope, each as an expression and a label. */
export function events(names, labels = {}) {
  const found = [];
  const known = new Set(names);
  if (known.has("announcement")) found.push({ value: "announcement['announced_on']", label: "结果公告日" });
  for (const name of names) {
    if (/(_on|_date|date|_at)$/.test(name) || name in labels) {
      found.push({ value: name, label: labels[name] ? `${labels[name]}（${name}）` : name });
    }
  }
  return found;
}
