// The properties group 「考核设置」: everything the engine reads, as forms, not XML (issue 11). One provider,
// as in bpmn-io/bpmn-js-examples `properties-panel-extension`; entries are preact components. What lives in
// bundle.yaml (a lane's body, a task's fixed deadline, reminders) is kept in the page's `assessmentContext`
// and saved by the page; what lives in the BPMN goes through the command stack, so undo/redo covers it.
import { h } from "@bpmn-io/properties-panel/preact";
import { useEffect, useState } from "@bpmn-io/properties-panel/preact/hooks";
import { CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { is } from "bpmn-js/lib/util/ModelUtil";
import * as condition from "./condition.js";
import * as duedate from "./duedate.js";
import { processLevel } from "./levels.js";
import { getProperty, getText, setProperty, setText } from "./spiff.js";

const NEW_FORM = "__new__";
// preact/compat, which bpmn-js-properties-panel loads, fires onChange of a text field on every keystroke: the
// condition's value and the raw expressions keep what is typed (onInput) and commit on blur, one undo step each.

function services() {
  return { modeling: useService("modeling"), bpmnFactory: useService("bpmnFactory") };
}

function LaneBody({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  return h(SelectEntry, {
    id, element, label: translate("Body"),
    getValue: () => ctx.laneBodies[element.id] ?? "",
    setValue: (value) => ctx.setLaneBody(element.id, value),
    getOptions: () => [{ value: "", label: "（请选择 choose）" },
      ...ctx.bodies.map((b) => ({ value: b.code, label: `${b.name}（${b.code}）` }))],
  });
}

/** The pool or lanes around an element: its participant (or the process, a diagram without pools). */
function poolOf(element) {
  let found = element.parent;
  while (found && !is(found, "bpmn:Participant")) found = found.parent;
  return found;
}

function bodyName(ctx, laneId) {
  const code = ctx.laneBodies[laneId];
  const body = ctx.bodies.find((b) => b.code === code);
  return body ? `${body.name}（${body.code}）` : code || "未指定承办主体 (no body)";
}

/** The lanes a step can be in: the innermost lanes of its pool, top to bottom. */
function lanesIn(registry, pool) {
  return registry.filter((e) => is(e, "bpmn:Lane") && poolOf(e) === pool
    && !(e.businessObject.childLaneSet?.lanes ?? []).length).sort((a, b) => a.y - b.y);
}

/** A step's lane, picked by the body that does it: the step moves into that lane (bpmn-js then updates the
 * lane's flowNodeRef, and the flows follow), one command, on the undo stack. */
function StepLane({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const registry = useService("elementRegistry");
  const { modeling } = services();
  const lanes = () => lanesIn(registry, poolOf(element));
  const current = () => lanes().find((l) => (l.businessObject.flowNodeRef ?? []).includes(element.businessObject));
  return h(SelectEntry, {
    id, element, label: translate("Lane (who does it)"),
    getValue: () => current()?.id ?? "",
    setValue: (laneId) => {
      const lane = registry.get(laneId);
      if (!lane || lane === current()) return;
      const dy = lane.y + lane.height / 2 - (element.y + element.height / 2);
      modeling.moveElements([element], { x: 0, y: dy });
    },
    getOptions: () => [...(current() ? [] : [{ value: "", label: "（不在任何泳道 in no lane）" }]),
      ...lanes().map((l) => ({ value: l.id, label: `${l.businessObject.name || l.id} — ${bodyName(ctx, l.id)}` }))],
  });
}

function ProcessLevel({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const bo = element.businessObject;
  const processId = is(element, "bpmn:Participant") ? bo.processRef?.id : bo.id;
  return h("div", { class: "bio-properties-panel-entry kh-level", id },
    h("div", { class: "bio-properties-panel-label" }, translate("Process level")),
    h("p", { class: "kh-level-text", "data-level": processLevel(processId, ctx).level }, processLevel(processId, ctx).text));
}

function TaskForm({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const svc = services();
  return h(SelectEntry, {
    id, element, label: translate("Form"),
    getValue: () => getProperty(element, "formJsonSchemaFilename"),
    setValue: async (value) => {
      let schema = value;
      if (value === NEW_FORM) {
        schema = await ctx.newForm(element.businessObject.name || element.id);
        if (!schema) return;
      }
      setProperty(element, "formJsonSchemaFilename", schema, svc);
      const ui = schema.replace(/\.schema\.json$/, ".uischema.json");
      setProperty(element, "formUiSchemaFilename", ctx.forms.includes(schema) && ctx.uiForms.includes(ui) ? ui : "", svc);
    },
    getOptions: () => [{ value: "", label: "（无表单 none）" },
      ...ctx.forms.map((f) => ({ value: f, label: f.replace(/\.schema\.json$/, "") })),
      { value: NEW_FORM, label: translate("New form…") }],
  });
}

function Instructions({ element, id }) {
  const translate = useService("translate");
  const debounce = useService("debounceInput");
  const svc = services();
  return h(TextAreaEntry, {
    id, element, label: translate("Instructions (Markdown)"), rows: 6, debounce,
    getValue: () => getText(element, "spiffworkflow:InstructionsForEndUser"),
    setValue: (value) => setText(element, "spiffworkflow:InstructionsForEndUser", value, svc),
  });
}

function InstructionsPreview({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const [html, setHtml] = useState(null);
  const show = async () => setHtml(await ctx.markdown(getText(element, "spiffworkflow:InstructionsForEndUser")));
  return h("div", { class: "bio-properties-panel-entry", id },
    h("button", { type: "button", class: "kh-button", onClick: show }, translate("Preview")),
    html === null ? null : h("div", { class: "kh-preview", dangerouslySetInnerHTML: { __html: html } }));
}

/** The due-date builder: picks → the rule → dueDate / timeDate / bundle.yaml deadline, with its legal date. */
function DueDate({ element, id, timer }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const svc = services();
  const read = () => timer ? duedate.fromExpression(timerExpression(element))
    : duedate.fromTask(getProperty(element, "dueDate"), ctx.deadlines[element.id]);
  const [rule, setRule] = useState(read);
  const [names, setNames] = useState([]);
  const [preview, setPreview] = useState("");
  // again when an undo or redo changes the task's due date or deadline under the panel
  useEffect(() => { setRule(read()); }, [element, timer ? timerExpression(element) : getProperty(element, "dueDate"),
    JSON.stringify(ctx.deadlines[element.id] ?? null)]);
  useEffect(() => { ctx.scope(element.id).then(setNames, () => setNames([])); }, [element]);
  useEffect(() => { ctx.duePreview(rule).then(setPreview, (e) => setPreview(e.message)); }, [JSON.stringify(rule)]);
  const problem = duedate.problem(rule);
  const write = (next) => {
    setRule(next);
    if (duedate.problem(next)) return;
    if (timer) {
      const expression = duedate.toExpression(next, { fixedAsExpression: true });
      if (expression) setTimerExpression(element, expression, svc);
      return;
    }
    // the deadline and the dueDate are one step for undo: the property is set within the settings' command
    ctx.setDeadline(element.id, duedate.toDeadline(next),
      () => setProperty(element, "dueDate", duedate.toExpression(next) ?? "", svc));
  };
  const field = (label, control) => h("label", { class: "kh-field" }, h("span", null, label), control);
  const select = (value, options, onChange, label) => h("select", { value, "aria-label": label,
    onChange: (e) => onChange(e.target.value) }, options.map(([v, l]) => h("option", { value: v }, l)));
  const events = duedate.events(names, ctx.eventLabels);
  const parts = [field("期限类型 kind", select(rule.kind, [["none", "无期限"], ["fixed", "考核年度的固定日期"],
    ["after", "某事件后的期间"], ["raw", "表达式"]], (kind) => write(
    kind === "fixed" ? { kind, date: "12-31", year: 0 } : kind === "after"
      ? { kind, event: events[0]?.value ?? "", amount: 1, unit: "months" }
      : kind === "raw" ? { kind, expression: duedate.toExpression(rule, { fixedAsExpression: true }) ?? "" } : { kind }),
  "期限类型 kind"))];
  if (rule.kind === "fixed") {
    parts.push(field("月-日 MM-DD", h("input", { value: rule.date, "aria-label": "月-日 MM-DD", pattern: "\\d{2}-\\d{2}",
      onInput: (e) => write({ ...rule, date: e.target.value.trim() }) })));
    parts.push(field("年份 year", select(String(rule.year), [["-1", "考核年度上一年"], ["0", "考核年度"],
      ["1", "考核年度次年"], ["2", "考核年度第三年"]], (year) => write({ ...rule, year: Number(year) }), "年份 year")));
  } else if (rule.kind === "after") {
    const options = events.some((e) => e.value === rule.event) || !rule.event ? events
      : [...events, { value: rule.event, label: rule.event }];
    parts.push(field("起算事件 event", select(rule.event, [["", "（请选择）"], ...options.map((e) => [e.value, e.label])],
      (event) => write({ ...rule, event }), "起算事件 event")));
    parts.push(field("期间 amount", h("input", { type: "number", min: 1, max: 366, value: rule.amount,
      "aria-label": "期间 amount", onInput: (e) => write({ ...rule, amount: Number(e.target.value) }) })));
    parts.push(field("单位 unit", select(rule.unit, Object.entries(duedate.UNITS).map(([v, u]) => [v, u.zh]),
      (unit) => write({ ...rule, unit }), "单位 unit")));
  } else if (rule.kind === "raw") {
    parts.push(field("表达式 expression", h("input", { value: rule.expression, "aria-label": "表达式 expression",
      onInput: (e) => setRule({ ...rule, expression: e.target.value }), onBlur: () => write(rule) })));
  }
  const label = (event) => events.find((e) => e.value === event)?.label ?? event;
  return h("div", { class: "bio-properties-panel-entry kh-duedate", id },
    h("div", { class: "bio-properties-panel-label" }, timer ? translate("Timer date") : translate("Due date")),
    ...parts,
    h("p", { class: "kh-rule" }, problem ?? duedate.describe(rule, label)),
    preview ? h("p", { class: "kh-legal" }, preview) : null);
}

function timerDefinition(element) {
  return (element.businessObject.eventDefinitions ?? []).find((d) => is(d, "bpmn:TimerEventDefinition"));
}

function timerExpression(element) {
  return timerDefinition(element)?.timeDate?.body ?? "";
}

function setTimerExpression(element, expression, { modeling, bpmnFactory }) {
  const definition = timerDefinition(element);
  const timeDate = bpmnFactory.create("bpmn:FormalExpression", { body: expression });
  modeling.updateModdleProperties(element, definition, { timeDate, timeDuration: undefined, timeCycle: undefined });
}

function Reminders({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const debounce = useService("debounceInput");
  const r = ctx.reminders;
  return h("div", { id },
    h(TextFieldEntry, { id: `${id}-before`, element, debounce, label: `${translate("Reminders (whole procedure)")}：到期前天数`,
      getValue: () => (r.before_days ?? []).join(", "),
      setValue: (value) => ctx.setReminders({ ...r, before_days: String(value ?? "").split(/[,，\s]+/)
        .filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0) }, element.id),
      validate: (value) => (/^[\d,，\s]*$/.test(value ?? "") ? null : "请填写天数，用逗号分隔 (days, comma separated)") }),
    h(CheckboxEntry, { id: `${id}-due`, element, label: "到期当日提醒 on the due day",
      getValue: () => !!r.on_due_day, setValue: (v) => ctx.setReminders({ ...r, on_due_day: v }, element.id) }),
    h(CheckboxEntry, { id: `${id}-overdue`, element, label: "逾期提醒 when overdue",
      getValue: () => !!r.overdue, setValue: (v) => ctx.setReminders({ ...r, overdue: v }, element.id) }));
}

/** A gateway's outgoing flow: its condition picked from the variables in scope, or raw and checked as typed. */
function Condition({ element, id }) {
  const ctx = useService("assessmentContext");
  const translate = useService("translate");
  const { modeling, bpmnFactory } = services();
  const current = () => element.businessObject.conditionExpression?.body ?? "";
  const [raw, setRaw] = useState(() => !!current() && !condition.fromExpression(current()));
  const [picked, setPicked] = useState(() => condition.fromExpression(current()) ?? { variable: "", op: "==", value: "" });
  const [text, setText_] = useState(current);
  const [names, setNames] = useState([]);
  const [verdict, setVerdict] = useState(null);
  useEffect(() => { ctx.scope(element.id).then(setNames, () => setNames([])); }, [element]);
  useEffect(() => {
    if (!raw || !text.trim()) { setVerdict(null); return undefined; }
    const timer = setTimeout(() => ctx.check(element.id, text).then(setVerdict, (e) => setVerdict({ ok: false, message: e.message })), 300);
    return () => clearTimeout(timer);
  }, [raw, text]);
  const write = (body) => {
    if (body === current()) return;
    const conditionExpression = body ? bpmnFactory.create("bpmn:FormalExpression", { body }) : undefined;
    modeling.updateProperties(element, { conditionExpression });
  };
  const pick = (next) => { setPicked(next); const e = condition.toExpression(next); if (e) { setText_(e); write(e); } };
  const parts = [];
  if (!raw) {
    parts.push(h("select", { "aria-label": "变量 variable", value: picked.variable,
      onChange: (e) => pick({ ...picked, variable: e.target.value }) },
    [h("option", { value: "" }, "（变量 variable）"), ...names.map((n) => h("option", { value: n }, n))]));
    parts.push(h("select", { "aria-label": "比较 comparison", value: picked.op,
      onChange: (e) => pick({ ...picked, op: e.target.value }) },
    Object.entries(condition.OPS).map(([v, l]) => h("option", { value: v }, l))));
    if (!["truthy", "falsy"].includes(picked.op)) {
      parts.push(h("input", { "aria-label": "值 value", value: picked.value ?? "",
        onInput: (e) => {
          const t = e.target.value.trim();
          setPicked({ ...picked, value: /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t });
        },
        onBlur: () => pick(picked) }));
    }
  } else {
    parts.push(h("textarea", { "aria-label": translate("Raw expression"), rows: 3, value: text,
      onInput: (e) => setText_(e.target.value), onBlur: () => write(text.trim()) }));
    if (verdict) parts.push(h("p", { class: verdict.ok ? "kh-ok" : "kh-problem" }, verdict.ok ? "✓ 检查通过 (passes)" : verdict.message));
  }
  return h("div", { class: "bio-properties-panel-entry kh-condition", id },
    h("div", { class: "bio-properties-panel-label" }, raw ? translate("Raw expression") : translate("Condition (picked)")),
    ...parts,
    h("label", { class: "kh-field" }, h("input", { type: "checkbox", checked: raw, onChange: (e) => setRaw(e.target.checked) }),
      h("span", null, translate("Raw expression"))));
}

function entriesFor(element) {
  const bo = element.businessObject;
  const entries = [];
  const add = (id, component, extra = {}) => entries.push({ id, element, component, ...extra });
  if (is(element, "bpmn:Lane")) add("kh-lane-body", LaneBody);
  if (is(element, "bpmn:Participant") || is(element, "bpmn:Process")) add("kh-process-level", ProcessLevel);
  if (is(element, "bpmn:FlowNode") && !is(element, "bpmn:BoundaryEvent") && element.type !== "label"
      && (poolOf(element)?.children ?? []).some((c) => is(c, "bpmn:Lane"))) {
    add("kh-step-lane", StepLane);
  }
  if (is(element, "bpmn:UserTask")) {
    add("kh-form", TaskForm);
    add("kh-instructions", Instructions);
    add("kh-instructions-preview", InstructionsPreview);
    add("kh-due", DueDate);
    add("kh-reminders", Reminders);
  }
  if (is(element, "bpmn:Event") && (bo.eventDefinitions ?? []).some((d) => is(d, "bpmn:TimerEventDefinition"))) {
    add("kh-timer", DueDate, { timer: true });
  }
  if (is(element, "bpmn:SequenceFlow") && (is(bo.sourceRef, "bpmn:ExclusiveGateway") || is(bo.sourceRef, "bpmn:InclusiveGateway"))
      && bo.sourceRef.default !== bo) {
    add("kh-condition", Condition);
  }
  return entries;
}

function AssessmentProvider(propertiesPanel, translate) {
  this.getGroups = (element) => (groups) => {
    const entries = entriesFor(element);
    if (entries.length) groups.splice(1, 0, { id: "kh-assessment", label: translate("Assessment settings"), entries });
    return groups;
  };
  propertiesPanel.registerProvider(400, this);
}
AssessmentProvider.$inject = ["propertiesPanel", "translate"];

/** The bpmn-js module: our provider, and the page's context as the `assessmentContext` service. */
export function assessmentModule(context) {
  return {
    __init__: ["assessmentProvider"],
    assessmentProvider: ["type", AssessmentProvider],
    assessmentContext: ["value", context],
  };
}
