// The scheme editor's model: scheme.yaml's parts → groups → indicators as rows, running totals against the
// variant's scale, and where in the table a finding of the server's check belongs. The server stays the judge
// (engine/procedure/scoring.py checks the scheme on save); these totals only show the sums as one types.

/** Rule kinds and their keys, as engine/procedure/scoring_rules.py takes them (required ones first). */
export const RULES = {
  shortfall: { zh: "差额扣分", en: "Shortfall", keys: ["target", "deduct", "per"] },
  interpolate: { zh: "插值", en: "Interpolate", keys: ["low", "high"] },
  per_occurrence: { zh: "按次扣分", en: "Per occurrence", keys: ["deduct", "cap"] },
  bonus: { zh: "加分", en: "Bonus", keys: ["add"] },
};
export const RULE_KEYS = { target: "目标值", per: "每", deduct: "扣分", cap: "最多扣", add: "每项加", low: "低点 数值/分", high: "高点 数值/分" };

/** A decimal sum without binary float noise: points have few decimals (2.5, 3.5). */
export function add(values) {
  const scale = 1e6;
  const number = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  return Math.round(values.reduce((sum, v) => sum + Math.round(number(v) * scale), 0)) / scale;
}

/** Running totals: each part's indicators against the part's points, the parts against the scale. */
export function totals(scheme, scale = 100) {
  const indicators = scheme.indicators || [];
  const parts = (scheme.parts || []).map((part) => {
    const sum = add(indicators.filter((i) => String(i.part) === String(part.code)).map((i) => i.points));
    const groups = [...new Set(indicators.filter((i) => String(i.part) === String(part.code)).map((i) => i.group || ""))]
      .map((group) => ({ group, sum: add(indicators.filter((i) => String(i.part) === String(part.code) && (i.group || "") === group).map((i) => i.points)) }));
    return { code: part.code, name: part.name, points: Number(part.points), sum, ok: sum === Number(part.points), groups };
  });
  const partsTotal = add(parts.map((p) => p.points));
  const indicatorsTotal = add(indicators.map((i) => i.points));
  return { parts, partsTotal, indicatorsTotal, scale: Number(scale), ok: partsTotal === Number(scale) && parts.every((p) => p.ok) };
}

/** A code not yet used by an indicator or veto item, nor in ``taken``: the prefix and the next number. */
export function freeCode(scheme, prefix = "I", taken = []) {
  const used = new Set([...(scheme.indicators || []), ...(scheme.veto || [])].map((i) => String(i.code)).concat(taken));
  let n = 1;
  while (used.has(`${prefix}${n}`)) n += 1;
  return `${prefix}${n}`;
}

/** Add an indicator after the last of its part (and group), so the table stays in part order; its index. */
export function addIndicator(scheme, values = {}, taken = []) {
  scheme.indicators = scheme.indicators || [];
  const part = values.part ?? scheme.parts?.[0]?.code;
  const indicator = { code: values.code || freeCode(scheme, String(part || "I").slice(0, 1).toUpperCase(), taken), part,
    ...(values.group ? { group: values.group } : {}), name: values.name || "", points: values.points ?? 1,
    unit: values.unit ?? scheme.units?.[0]?.code };
  const samePart = (other) => String(other.part) === String(part);
  const last = (match) => scheme.indicators.findLastIndex(match);
  let at = last((other) => samePart(other) && values.group && other.group === values.group);
  if (at < 0) at = last(samePart);
  at = at < 0 ? scheme.indicators.length : at + 1;
  scheme.indicators.splice(at, 0, indicator);
  return at;
}

/** The item of scheme.yaml text (as the server writes it: one line an item) at a finding's line. */
export function itemAtLine(text, line) {
  const lines = text.split("\n");
  let list = null;
  let index = -1;
  for (let n = 0; n < Math.min(line, lines.length); n += 1) {
    const head = /^([A-Za-z_]+):\s*$/.exec(lines[n]);
    if (head) { list = head[1]; index = -1; } else if (/^\s+- /.test(lines[n])) index += 1;
    else if (/^[A-Za-z_]/.test(lines[n])) { list = null; index = -1; }
  }
  return list && index >= 0 ? { list, index } : null;
}

/** Where a finding belongs: ``{list, index}`` by its element (a code), its words, or its line; null: the file. */
export function placeOf(finding, scheme, text = "") {
  const codes = (list) => (scheme[list] || []).map((i) => String(i.code));
  const named = finding.element || (/(?:indicator|指标|否决项|veto)\s*([A-Za-z0-9_.-]+)/.exec(finding.reason || "") || [])[1];
  for (const list of ["indicators", "veto", "parts", "units"]) {
    const index = named ? codes(list).indexOf(String(named)) : -1;
    if (index >= 0) return { list, index };
  }
  const part = /part '([^']+)'/.exec(finding.reason || "");
  if (part && codes("parts").includes(part[1])) return { list: "parts", index: codes("parts").indexOf(part[1]) };
  return finding.line ? itemAtLine(text, finding.line) : null;
}

/** Move indicator ``index`` past the next one of its own part (``delta`` -1 or 1); its new index. */
export function moveInPart(indicators, index, delta) {
  const part = String(indicators[index].part);
  let other = index + delta;
  while (other >= 0 && other < indicators.length && String(indicators[other].part) !== part) other += delta;
  if (other < 0 || other >= indicators.length) return index;
  [indicators[index], indicators[other]] = [indicators[other], indicators[index]];
  return other;
}

/** A starting rule of ``kind`` for ``indicator`` (none: scored directly), with every required key filled. */
export function startRule(indicator, kind) {
  const points = Number(indicator.points) || 1;
  const rules = {
    shortfall: { kind, target: 100, per: 1, deduct: 1 },
    interpolate: { kind, low: [0, 0], high: [100, points] },
    per_occurrence: { kind, deduct: 1 },
    bonus: { kind, add: 1 },
  };
  if (rules[kind]) indicator.rule = rules[kind];
  else delete indicator.rule;
  return indicator;
}
