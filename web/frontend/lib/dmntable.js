// A grade.dmn file's decision table as plain rows, and its rules replaced by new ones, through dmn-moddle (the
// model dmn-js itself reads and writes): everything else in the file — its name, descriptions, inputs, the
// diagram — is written back as it was. bands.js turns the plain rows into bands.
import { DmnModdle } from "dmn-moddle";

const moddle = DmnModdle();

/** The decision ``decisionId`` (else the first with a table) of ``xml``: {definitions, decision, table} or throws. */
export async function open(xml, decisionId) {
  const { rootElement: definitions } = await moddle.fromXML(xml, "dmn:Definitions");
  const decisions = (definitions.drgElement || []).filter((e) => e.$type === "dmn:Decision" && e.decisionLogic);
  const decision = decisions.find((d) => d.id === decisionId) || decisions[0];
  if (!decision || decision.decisionLogic.$type !== "dmn:DecisionTable") {
    throw new Error("文件中没有决策表 (the file holds no decision table)");
  }
  return { definitions, decision, table: decision.decisionLogic };
}

/** The table as plain data for bands.tableToBands. */
export function plain(table) {
  return {
    hitPolicy: table.hitPolicy || "UNIQUE",
    inputs: (table.input || []).map((input) => input.inputExpression?.text ?? ""),
    outputs: (table.output || []).map((output) => output.name ?? ""),
    rules: (table.rule || []).map((rule) => ({
      id: rule.id,
      description: rule.description || "",
      inputs: (rule.inputEntry || []).map((entry) => entry.text ?? ""),
      outputs: (rule.outputEntry || []).map((entry) => entry.text ?? ""),
    })),
  };
}

/** ``xml`` with the rules of its table replaced by ``rules`` (bands.bandsToRules), formatted. */
export async function withRules(xml, decisionId, rules) {
  const { definitions, table } = await open(xml, decisionId);
  if (rules.some((rule) => rule.inputs.length > table.input.length)) addHitsColumn(table);
  const inputs = table.input.map((input) => short(input.id, "Input_", "in"));
  const outputs = table.output.map((output) => short(output.id, "Output_", "out"));
  table.rule = rules.map((rule) => {
    const suffix = rule.id.replace(/^Rule_/, "");
    const made = moddle.create("dmn:DecisionRule", {
      id: rule.id,
      inputEntry: rule.inputs.map((text, i) => moddle.create("dmn:UnaryTests", { id: `In_${inputs[i]}_${suffix}`, text })),
      outputEntry: rule.outputs.map((text, i) =>
        moddle.create("dmn:LiteralExpression", { id: `Out_${outputs[i]}_${suffix}`, text })),
    });
    if (rule.description) made.description = rule.description;
    made.$parent = table;
    return made;
  });
  const { xml: written } = await moddle.toXML(definitions, { format: true });
  // dmn-moddle leaves out a hit policy equal to DMN's default; the bundles say it, so that a reader sees it.
  const tag = new RegExp(`(<(?:\\w+:)?decisionTable\\b(?![^>]*hitPolicy=)[^>]*\\bid="${table.id}")`);
  return written.replace(tag, `$1 hitPolicy="${table.hitPolicy || "UNIQUE"}"`);
}

/** The third input column of a table with veto-item rows (bands.js): ``veto_hits``, the codes of the veto items
 * that hold, as the region process gives it. */
function addHitsColumn(table) {
  const column = moddle.create("dmn:InputClause", {
    id: "Input_veto_hits", label: "成立的否决项",
    inputExpression: moddle.create("dmn:LiteralExpression", { id: "InputExpression_veto_hits", typeRef: "string", text: "veto_hits" }),
  });
  column.$parent = table;
  column.inputExpression.$parent = column;
  table.input.push(column);
}

/** rule id -> the line of ``xml`` where its <rule> begins, to put a finding (file, line) on its row. */
export function ruleLines(xml) {
  const lines = {};
  const pattern = /<(?:\w+:)?rule\b[^>]*\bid="([^"]+)"/g;
  let match;
  while ((match = pattern.exec(xml))) lines[match[1]] = xml.slice(0, match.index).split("\n").length;
  return lines;
}

/** The rule a finding is about: its element if that is a rule, else the last rule starting at or before its line. */
export function ruleOf(finding, lines) {
  if (finding.element && finding.element in lines) return finding.element;
  if (finding.line == null) return null;
  let best = null;
  for (const [id, line] of Object.entries(lines)) {
    if (line <= finding.line && (best == null || line > lines[best])) best = id;
  }
  return best;
}

function short(id, prefix, fallback) {
  return id && id.startsWith(prefix) ? id.slice(prefix.length) : id || fallback;
}
