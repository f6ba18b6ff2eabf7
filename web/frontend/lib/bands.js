// The grade table as bands (issue 11): a band is one grade over a range of scores, written in grade.dmn as one
// rule whose score cell is a Python comparison with "?" for the score ("85 <= ? < 95") and whose veto cell is
// False; the veto row ("-", True) gives the grade whatever the score. This module turns the rules of such a
// table into bands and back, and lays the bands over the scale (0..scale) so that a gap or an overlap is seen
// before the server's check (engine/procedure/grading.py) refuses it. Plain data in, plain data out: the page
// (pages/grades.js) and dmntable.js do the XML.
//
// Veto items one by one: the region process gives the table ``veto_hits`` (the codes of the scheme's veto items
// that hold, ``vetoes_hit(veto_items)``) besides ``vetoed``. A table with a third input column ``veto_hits``
// has, instead of the one veto row, a row per grade with the codes that give it: ``"V1" in ?`` or
// ``("V1" in ? or "V2" in ?)``. The rows go worst grade first and each excludes the codes of the rows before
// it (``... and not ("V1" in ?)``), so that a region hitting several items gets the worst of their grades and
// every case matches exactly one row, as DMN's UNIQUE and the server's check want.

const NUMBER = String.raw`(-?\d+(?:\.\d+)?)`;
const UPPER = new RegExp(String.raw`^\?\s*(<=|<)\s*${NUMBER}$`);
const LOWER = new RegExp(String.raw`^\?\s*(>=|>)\s*${NUMBER}$`);
const EQUAL = new RegExp(String.raw`^\?\s*==\s*${NUMBER}$`);
const BETWEEN = new RegExp(String.raw`^${NUMBER}\s*(<=|<)\s*\?\s*(<=|<)\s*${NUMBER}$`);
const FROM_LEFT = new RegExp(String.raw`^${NUMBER}\s*(<=|<)\s*\?$`);
const TO_LEFT = new RegExp(String.raw`^${NUMBER}\s*(>=|>)\s*\?$`);
const SCORE_INPUT = /^(?:Decimal\(\s*score\s*\)|score)$/;
const GRADE_LITERAL = /^(?:"([^"\\]*)"|'([^'\\]*)')$/;

/** The range a score cell states: {from, fromIncl, to, toIncl} (null bound = none), or null if it is no range. */
export function parseCondition(text) {
  const cell = (text ?? "").trim();
  if (cell === "" || cell === "-") return { from: null, fromIncl: true, to: null, toIncl: true };
  let m;
  if ((m = cell.match(LOWER))) return { from: Number(m[2]), fromIncl: m[1] === ">=", to: null, toIncl: true };
  if ((m = cell.match(UPPER))) return { from: null, fromIncl: true, to: Number(m[2]), toIncl: m[1] === "<=" };
  if ((m = cell.match(EQUAL))) return { from: Number(m[1]), fromIncl: true, to: Number(m[1]), toIncl: true };
  if ((m = cell.match(BETWEEN))) {
    return { from: Number(m[1]), fromIncl: m[2] === "<=", to: Number(m[4]), toIncl: m[3] === "<=" };
  }
  if ((m = cell.match(FROM_LEFT))) return { from: Number(m[1]), fromIncl: m[2] === "<=", to: null, toIncl: true };
  if ((m = cell.match(TO_LEFT))) return { from: null, fromIncl: true, to: Number(m[1]), toIncl: m[2] === ">=" };
  return null;
}

/** The score cell of a band, in the shape the shipped grade.dmn files use. */
export function conditionText(band) {
  const { from, to } = band;
  if (from == null && to == null) return "-";
  if (to == null) return `? ${band.fromIncl ? ">=" : ">"} ${num(from)}`;
  if (from == null) return `? ${band.toIncl ? "<=" : "<"} ${num(to)}`;
  return `${num(from)} ${band.fromIncl ? "<=" : "<"} ? ${band.toIncl ? "<=" : "<"} ${num(to)}`;
}

/** A rule's description, for people: "b级：85分及以上、不足95分". */
export function describe(band) {
  const name = /^[A-Za-z]$/.test(band.grade) ? `${band.grade}级` : band.grade;
  const low = band.from == null ? null : band.fromIncl ? `${num(band.from)}分及以上` : `高于${num(band.from)}分`;
  const high = band.to == null ? null : band.toIncl ? `${num(band.to)}分及以下` : `不足${num(band.to)}分`;
  return `${name}：${[low, high].filter(Boolean).join("、") || "任何得分"}`;
}

/**
 * The bands of a decision table given as {hitPolicy, inputs: [text], outputs: [name], rules: [{id, description,
 * inputs: [text], outputs: [text]}]}: {ok: true, bands, veto, scoreIndex, vetoIndex} — or {ok: false, reason}
 * saying (in Chinese, with English) why the table is not one the plain editor can show.
 */
export function tableToBands(table) {
  const refuse = (zh, en) => ({ ok: false, reason: `${zh} (${en})` });
  if ((table.hitPolicy || "UNIQUE") !== "UNIQUE") {
    return refuse(`命中策略为 ${table.hitPolicy}，不是 UNIQUE`, `the hit policy is ${table.hitPolicy}, not UNIQUE`);
  }
  if (table.outputs.length !== 1 || table.outputs[0] !== "grade") {
    return refuse("输出列不止一个等级列 grade", "the table has outputs besides one named grade");
  }
  const scoreIndex = table.inputs.findIndex((text) => SCORE_INPUT.test((text ?? "").trim()));
  const vetoIndex = table.inputs.findIndex((text) => (text ?? "").trim() === "vetoed");
  const itemsIndex = table.inputs.findIndex((text) => (text ?? "").trim() === "veto_hits");
  if (table.inputs.length !== (itemsIndex < 0 ? 2 : 3) || scoreIndex < 0 || vetoIndex < 0) {
    return refuse("输入列不是“总分”“否决”（及“成立的否决项”）", "the inputs are not the score, the veto (and the veto items hit)");
  }
  const bands = [];
  const items = [];
  let veto = null;
  for (const [n, rule] of table.rules.entries()) {
    const row = n + 1;
    const grade = (rule.outputs[0] ?? "").trim().match(GRADE_LITERAL);
    if (!grade) {
      return refuse(`第 ${row} 行的等级不是一个带引号的名称`, `row ${row} does not give a quoted grade name`);
    }
    const vetoCell = (rule.inputs[vetoIndex] ?? "").trim();
    const range = parseCondition(rule.inputs[scoreIndex]);
    const hitsCell = itemsIndex < 0 ? "-" : (rule.inputs[itemsIndex] ?? "").trim() || "-";
    const name = grade[1] ?? grade[2];
    const anyScore = range && range.from == null && range.to == null;
    if (vetoCell === "True" && anyScore && hitsCell === "-") {
      if (veto) return refuse(`第 ${row} 行是第二个否决行`, `row ${row} is a second veto row`);
      veto = { grade: name, id: rule.id, note: rule.description || null };
    } else if (vetoCell === "True" && anyScore) {
      const codes = itemCodes(hitsCell);
      const before = items.flatMap((item) => item.codes);
      if (!codes.length || itemCell(codes, before) !== hitsCell.replace(/\s+/g, " ")) {
        return refuse(`第 ${row} 行的否决项条件不是逐项否决的写法`, `row ${row} is not a veto-items row as the plain editor writes it`);
      }
      items.push({ grade: name, codes, id: rule.id, note: rule.description || null });
    } else if (vetoCell === "False" && range && hitsCell === "-") {
      bands.push({ grade: name, ...range, id: rule.id, note: rule.description || null });
    } else {
      return refuse(`第 ${row} 行的条件无法表示为分数段`, `row ${row} cannot be shown as a band`);
    }
  }
  if (veto && items.length) {
    return refuse("既有“任一否决项”行又有逐项否决行", "the table has both a row for any veto and rows per veto item");
  }
  return { ok: true, bands, veto, items, scoreIndex, vetoIndex, itemsIndex };
}

/** The codes a veto-items cell names as hit (those before any "and not"). */
export function itemCodes(cell) {
  const positive = String(cell).split(/\band not\b/)[0];
  return [...positive.matchAll(/"((?:[^"\\]|\\.)*)"\s+in\s+\?/g)].map((m) => JSON.parse(`"${m[1]}"`));
}

/** The veto_hits cell of a row giving its grade when one of ``codes`` holds and none of ``before`` does. */
export function itemCell(codes, before = []) {
  const test = (code) => `${JSON.stringify(code)} in ?`;
  const hit = codes.length === 1 ? test(codes[0]) : `(${codes.map(test).join(" or ")})`;
  return before.length ? `${hit} and not (${before.map(test).join(" or ")})` : hit;
}

/**
 * The veto-item rows for a choice of grade per veto item (``{code: grade}``, ``grades`` best first): one row per
 * grade given, worst first, each with its codes in the scheme's order ``order``; ids and notes of ``old`` rows kept.
 */
export function itemRows(choice, grades, order = Object.keys(choice), old = []) {
  const codes = [...order.filter((c) => c in choice), ...Object.keys(choice).filter((c) => !order.includes(c))];
  const given = [...new Set(codes.map((c) => choice[c]))];
  const rank = (g) => (grades.includes(g) ? grades.indexOf(g) : grades.length);
  given.sort((a, b) => rank(b) - rank(a));
  return given.map((grade) => {
    const kept = old.find((item) => item.grade === grade);
    return { grade, codes: codes.filter((c) => choice[c] === grade), id: kept?.id, note: null };
  });
}

/** Which grade each veto item gets from the rows (the first row naming it, as the table decides). */
export function itemChoice(items) {
  const choice = {};
  for (const item of items) for (const code of item.codes) if (!(code in choice)) choice[code] = item.grade;
  return choice;
}

/** The rules of a table from its bands (the veto row or the veto-item rows first, then the bands in their
 * order), ids kept or made. With ``items`` the table needs its ``veto_hits`` column at ``itemsIndex``. */
export function bandsToRules({ bands, veto, items = [], scoreIndex = 0, vetoIndex = 1, itemsIndex = -1 }) {
  const used = new Set();
  const idFor = (kept, base) => {
    let id = kept && !used.has(kept) ? kept : base;
    for (let n = 2; used.has(id); n += 1) id = `${base}_${n}`;
    used.add(id);
    return id;
  };
  const row = (id, description, score, vetoed, grade, hits = "-") => {
    const inputs = [];
    inputs[scoreIndex] = score;
    inputs[vetoIndex] = vetoed;
    if (itemsIndex >= 0) inputs[itemsIndex] = hits;
    return { id, description, inputs, outputs: [JSON.stringify(grade)] };
  };
  const level = (grade) => `${grade}${/^[A-Za-z]$/.test(grade) ? "级" : ""}`;
  const rules = [];
  if (veto) {
    const note = veto.note || `否决项：任一否决项成立的，考核结果一律为${level(veto.grade)}，不论得分`;
    rules.push(row(idFor(veto.id, "Rule_veto"), note, "-", "True", veto.grade));
  }
  if (items.length && itemsIndex < 0) throw new Error("veto-item rows need the veto_hits column");
  items.forEach((item, i) => {
    const before = items.slice(0, i).flatMap((other) => other.codes);
    const note = item.note || `否决项 ${item.codes.join("、")} 成立的，考核结果为${level(item.grade)}，不论得分` +
      (before.length ? "（另有前列否决项成立的，按前列）" : "");
    rules.push(row(idFor(item.id, `Rule_veto_${i + 1}`), note, "-", "True", item.grade, itemCell(item.codes, before)));
  });
  for (const band of bands) {
    const safe = /^[A-Za-z0-9_]+$/.test(band.grade) ? band.grade : String(bands.indexOf(band) + 1);
    rules.push(row(idFor(band.id, `Rule_band_${safe}`), band.note || describe(band), conditionText(band), "False",
      band.grade));
  }
  return rules;
}

/** Whether a band covers score x. */
export function covers(band, x) {
  const above = band.from == null || x > band.from || (x === band.from && band.fromIncl);
  const below = band.to == null || x < band.to || (x === band.to && band.toIncl);
  return above && below;
}

/**
 * The scale 0..scale cut where the grade changes: [{from, fromIncl, to, toIncl, grades: [band index]}], in
 * order. One grade: fine; none: a gap; two or more: an overlap. A single score (85 when one band stops below it
 * and the next starts above it) is a segment of its own with from === to.
 */
export function strip(bands, scale) {
  const top = Number(scale);
  const marks = new Set([0, top]);
  for (const band of bands) {
    for (const bound of [band.from, band.to]) if (bound != null && bound >= 0 && bound <= top) marks.add(bound);
  }
  const points = [...marks].sort((a, b) => a - b);
  const hits = (x) => bands.flatMap((band, i) => (covers(band, x) ? [i] : []));
  const pieces = [];
  points.forEach((p, i) => {
    pieces.push({ from: p, fromIncl: true, to: p, toIncl: true, grades: hits(p) });
    if (i + 1 < points.length) {
      pieces.push({ from: p, fromIncl: false, to: points[i + 1], toIncl: false, grades: hits((p + points[i + 1]) / 2) });
    }
  });
  const segments = [];
  for (const piece of pieces) {
    const last = segments[segments.length - 1];
    if (last && same(last.grades, piece.grades)) {
      last.to = piece.to;
      last.toIncl = piece.toIncl;
    } else {
      segments.push({ ...piece });
    }
  }
  return segments.map((s) => ({ ...s, kind: s.grades.length === 1 ? "ok" : s.grades.length ? "overlap" : "gap" }));
}

/**
 * What is wrong with the bands over the scale, for people: [{kind, from, to, bands: [index], text}] — for a gap,
 * the bands beside it; for an overlap, the bands that overlap.
 */
export function problems(bands, scale) {
  const found = [];
  bands.forEach((band, i) => {
    if (band.from != null && band.to != null && (band.from > band.to ||
        (band.from === band.to && !(band.fromIncl && band.toIncl)))) {
      found.push({ kind: "empty", from: band.from, to: band.to, bands: [i],
        text: `${band.grade} 的下限不低于上限，不含任何得分 (the band of ${band.grade} holds no score)` });
    }
  });
  for (const s of strip(bands, scale)) {
    if (s.kind === "ok") continue;
    const where = s.from === s.to ? `在 ${num(s.from)} 分` : `在 ${num(s.from)} 至 ${num(s.to)} 分之间`;
    const at = s.from === s.to ? `at ${num(s.from)}` : `between ${num(s.from)} and ${num(s.to)}`;
    const names = s.grades.map((i) => bands[i].grade);
    const text = s.kind === "gap" ? `${where}没有等级 (no grade ${at})`
      : `${where} ${names.join("、")} 同时适用 (${names.join(", ")} overlap ${at})`;
    // A gap belongs to the bands on either side of it: one of them has to move.
    const near = s.kind === "gap" ? bands.flatMap((band, i) => (band.to === s.from || band.from === s.to ? [i] : []))
      : s.grades;
    found.push({ kind: s.kind, from: s.from, to: s.to, bands: near, text });
  }
  return found;
}

function same(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A number as the table writes it: 95, 89.5 (no float noise). */
export function num(x) {
  return String(Number(Number(x).toPrecision(12)));
}
