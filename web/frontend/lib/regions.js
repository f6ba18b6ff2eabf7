// The regions and bodies of a variant as rows (issue 11): checked as the server checks them
// (engine/regions.code_problem, engine/procedure/bodies.check), and written back into regions.yaml and into the
// `bodies:` block of bundle.yaml with the files' comments kept. The page (pages/regions.js) holds the rows.

const DIGITS = /^\d+$/;
const OTHER_CODE = /^(?=.*[A-Za-z])[A-Za-z0-9._-]{1,12}$/;
const BODY_CODE = /^[a-z][a-z0-9_]{1,31}$/;
export const ROLES = ["assessed", "lead_agency", "member_unit", "assessment_group", "approver", "recipient", "admin"];
export const PRESETS = ROLES.filter((r) => r !== "admin");
export const POWERS = ["sees_all_regions", "own_region", "scores", "assesses", "receives_results", "supervises"];
// A YAML plain scalar that stays a string: letters (any script), digits, and the punctuation of names.
const PLAIN = /^[\p{L}\p{N}（）〔〕《》、·][\p{L}\p{N}（）〔〕《》、·_\- ]*$/u;
const NOT_PLAIN = /^(?:[-+]?[\d._]+(?:e[-+]?\d+)?|true|false|yes|no|on|off|null|y|n|~)$/i;

/** Why ``code`` cannot be a region code, or null (engine/regions.code_problem). */
export function codeProblem(code) {
  if (!code) return "代码为空 (no code)";
  if (DIGITS.test(code)) {
    return [6, 9, 12].includes(code.length) ? null
      : `代码 ${code} 应为 6 位 GB/T 2260 代码（或 9、12 位统计用区划代码） (an all-digit code has 6, 9 or 12 digits)`;
  }
  return OTHER_CODE.test(code) ? null : `代码 ${code} 无效：非数字代码为 1–12 个英文字母、数字或 -_.，且含字母 ` +
    "(a code without a GB/T 2260 number is 1-12 ASCII letters, digits, '-', '_' or '.', with a letter)";
}

/** Every problem of the region rows: [{row (1-based), field, text}]; none means they may be saved. */
export function regionProblems(rows) {
  const found = [];
  const seen = new Map();
  rows.forEach((r, i) => {
    const row = i + 1;
    const code = (r.code ?? "").trim();
    const name = (r.name ?? "").trim();
    const problem = codeProblem(code);
    if (problem) found.push({ row, field: "code", text: problem });
    if (!name) found.push({ row, field: "name", text: "名称为空 (no name)" });
    else if (name.length > 100 || /[\u0000-\u001f]/.test(name)) {
      found.push({ row, field: "name", text: "名称过长或含控制字符 (the name is longer than 100 characters or has control characters)" });
    }
    if (code && seen.has(code)) {
      found.push({ row, field: "code", text: `代码 ${code} 与第 ${seen.get(code)} 行重复 (code repeats row ${seen.get(code)})` });
    } else if (code) seen.set(code, row);
  });
  return found;
}

/** Every problem of the body rows (engine/procedure/bodies.check): [{row, field, text}]. */
export function bodyProblems(bodies) {
  const found = [];
  const seen = new Map();
  bodies.forEach((b, i) => {
    const row = i + 1;
    const code = (b.code ?? "").trim();
    if (!BODY_CODE.test(code)) {
      found.push({ row, field: "code", text: `机构代码 ${code || "（空）"} 无效 (a body's code is 2-32 lower-case letters, digits or _, starting with a letter)` });
    } else if (ROLES.includes(code)) {
      found.push({ row, field: "code", text: `机构代码 ${code} 是内置角色 (a built-in role; lanes may name it without declaring it)` });
    } else if (seen.has(code)) {
      found.push({ row, field: "code", text: `机构代码 ${code} 与第 ${seen.get(code)} 行重复 (code repeats row ${seen.get(code)})` });
    } else seen.set(code, row);
    const name = (b.name ?? "").trim();
    if (!name || name.length > 100) found.push({ row, field: "name", text: "须有名称 (a body needs a name of 1-100 characters)" });
    if (b.like ? !PRESETS.includes(b.like) : !Array.isArray(b.powers) || !b.powers.every((p) => POWERS.includes(p))) {
      found.push({ row, field: "like", text: "须选仿照的内置角色或列出权限 (choose a built-in role to copy, or powers)" });
    }
  });
  return found;
}

/** A YAML scalar for ``value``: plain when that reads back as the same string, else double-quoted. */
export function scalar(value, quoteAlways = false) {
  const text = String(value ?? "");
  if (!quoteAlways && PLAIN.test(text) && !NOT_PLAIN.test(text) && !text.endsWith(" ")) return text;
  return JSON.stringify(text); // a JSON string is a YAML double-quoted scalar
}

/**
 * regions.yaml with ``rows`` as its list (codes quoted, as the shipped files write them; the columns in
 * ``columns`` order, code and name first), the comments before `regions:` kept.
 */
export function regionsYaml(text, rows, columns = ["code", "name"]) {
  const lines = (text ?? "").split("\n");
  const start = lines.findIndex((line) => /^regions:/.test(line));
  const head = start < 0 ? lines.filter((l) => /^\s*(#|$)/.test(l)).join("\n").trimEnd() : lines.slice(0, start + 1).join("\n");
  const keys = ["code", "name", ...columns.filter((c) => c !== "code" && c !== "name")];
  const items = rows.map((r) => {
    const pairs = keys.filter((k) => k === "code" || k === "name" || (r[k] ?? "") !== "")
      .map((k) => `${k}: ${scalar(String(r[k] ?? "").trim(), k === "code")}`);
    return `  - {${pairs.join(", ")}}`;
  });
  const opening = start < 0 ? `${head ? `${head}\n` : ""}regions:` : head;
  return `${opening}${rows.length ? "" : " []"}\n${items.join("\n")}${items.length ? "\n" : ""}`;
}

/** The line each row is written on in regionsYaml's output: row index -> line (1-based). */
export function regionLines(written) {
  const lines = written.split("\n");
  const start = lines.findIndex((line) => /^regions:/.test(line));
  const found = [];
  lines.forEach((line, i) => { if (i > start && /^\s+- /.test(line)) found.push(i + 1); });
  return found;
}

/**
 * bundle.yaml with its top-level `bodies:` block replaced by ``bodies`` (removed when there are none, added
 * before `lanes:` when absent); every other line, comments included, kept as it was.
 */
export function withBodies(text, bodies) {
  const lines = text.split("\n");
  const block = bodies.length ? ["bodies:", ...bodies.flatMap(bodyLines)] : [];
  const start = lines.findIndex((line) => /^bodies:/.test(line));
  if (start < 0) {
    if (!block.length) return text;
    const lanes = lines.findIndex((line) => /^lanes:/.test(line));
    const at = lanes < 0 ? lines.length - (lines[lines.length - 1] === "" ? 1 : 0) : lanes;
    lines.splice(at, 0, ...block);
    return lines.join("\n");
  }
  let end = start + 1;
  while (end < lines.length && (/^\s/.test(lines[end]) || lines[end] === "")) end += 1;
  while (end > start + 1 && lines[end - 1].trim() === "") end -= 1; // blank lines before the next key stay
  const comment = lines[start].match(/\s+#.*$/);
  if (block.length && comment) block[0] += comment[0];
  lines.splice(start, end - start, ...block);
  return lines.join("\n");
}

function bodyLines(body) {
  const out = [`  - code: ${body.code.trim()}`, `    name: ${scalar(body.name.trim())}`];
  out.push(body.like ? `    like: ${body.like}` : `    powers: [${(body.powers || []).join(", ")}]`);
  return out;
}

/** bundle.yaml naming its regions file ``name`` (added before `lanes:` when it names none). */
export function withRegionsFile(text, name) {
  if (/^regions:/m.test(text)) return text;
  const lines = text.split("\n");
  const lanes = lines.findIndex((line) => /^lanes:/.test(line));
  lines.splice(lanes < 0 ? lines.length - (lines[lines.length - 1] === "" ? 1 : 0) : lanes, 0, `regions: ${name}`);
  return lines.join("\n");
}
