// Gateway conditions built by picking (issue 11): a variable in scope, a comparison and a value.
//
// A condition is {variable, op, value} with value a string, number or boolean, written as the Python the
// sandbox evaluates: `approval == 'return'`, `score >= 95`, `commended`, `not vetoed`. Anything else is kept as a
// raw expression, which the server checks as it is typed.

export const OPS = {
  "==": "等于", "!=": "不等于", ">": "大于", ">=": "大于等于", "<": "小于", "<=": "小于等于",
  truthy: "为真", falsy: "为假",
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COMPARE = /^([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|>=|<=|>|<)\s*(.+)$/;

/** A Python literal for a value: numbers bare, True/False, strings in single quotes with escapes. */
export function literal(value) {
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return `'${String(value).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function parseLiteral(text) {
  const t = text.trim();
  if (t === "True" || t === "False") return { ok: true, value: t === "True" };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { ok: true, value: Number(t) };
  const quoted = /^'((?:[^'\\]|\\.)*)'$/.exec(t) || /^"((?:[^"\\]|\\.)*)"$/.exec(t);
  if (quoted) return { ok: true, value: quoted[1].replace(/\\(.)/g, "$1") };
  return { ok: false };
}

/** The expression of a picked condition; null when a part is missing. */
export function toExpression(condition) {
  const { variable, op, value } = condition ?? {};
  if (!NAME.test(variable ?? "") || !(op in OPS)) return null;
  if (op === "truthy") return variable;
  if (op === "falsy") return `not ${variable}`;
  if (value === undefined || value === null || value === "") return null;
  return `${variable} ${op} ${literal(value)}`;
}

/** The picks an expression says, or null when it has another shape (then the raw mode shows it). */
export function fromExpression(expression) {
  const text = String(expression ?? "").trim();
  if (NAME.test(text) && !["True", "False", "None", "not"].includes(text)) return { variable: text, op: "truthy" };
  const negated = /^not\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(text);
  if (negated) return { variable: negated[1], op: "falsy" };
  const match = COMPARE.exec(text);
  if (!match) return null;
  const parsed = parseLiteral(match[3]);
  return parsed.ok ? { variable: match[1], op: match[2], value: parsed.value } : null;
}

/** How an administrator reads it: 「approval 等于 'return'」. */
export function describe(condition) {
  if (!condition) return "";
  const op = OPS[condition.op] ?? condition.op;
  if (condition.op === "truthy" || condition.op === "falsy") return `${condition.variable} ${op}`;
  return `${condition.variable} ${op} ${literal(condition.value)}`;
}
