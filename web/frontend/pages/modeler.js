// The BPMN modeler of a draft (issue 11): bpmn-js Modeler, the properties panel with our 「考核设置」 group,
// in Chinese; autosave through the drafts' file API (If-Match), undo/redo, and the check's findings on the
// elements. The server judges; this page shows its answers.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import { assessmentModule } from "../lib/assessment-panel.js";
import spiffworkflow from "../lib/spiffworkflow.json";
import { changedSettings, serial, SETTINGS_COMMAND, settingsHandler } from "../lib/editing.js";
import { lanesSection } from "../lib/lanesync.js";
import { keepUnresolved } from "../lib/references.js";
import { getText } from "../lib/spiff.js";
import { changedWords } from "../lib/wording.js";
import { translateModule } from "../lib/translate.js";

export { Modeler, BpmnPropertiesPanelModule, BpmnPropertiesProviderModule };

const SAVE_AFTER_MS = 1200;

async function call(url, body, init = {}) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() }, body: JSON.stringify(body), ...init,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || `HTTP ${response.status}`), { status: response.status, data });
  return data;
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

export function start(setup) {
  const status = document.getElementById("save-status");
  const problemsList = document.getElementById("problems");
  const say = (text, kind = "") => { status.textContent = text; status.className = `save-status ${kind}`; };
  const laneNames = {}; // lane id -> name at load: the bundle.yaml keys this diagram owns
  const taskIds = new Set(); // user task ids at load: the deadlines this diagram owns
  let words = {}; // id -> {name, instructions} as english.yaml was last kept in step with
  let modeler;

  const context = {
    bodies: setup.bodies, forms: [...setup.forms], uiForms: [...(setup.uiForms ?? [])],
    laneBodies: {}, deadlines: {}, reminders: { ...setup.reminders },
    eventLabels: { announced_on: "公告日期" },
    campaignProcess: setup.campaignProcess, regionProcess: setup.regionProcess,
    // Each change of these goes through the command stack (SETTINGS_COMMAND), so that Ctrl+Z undoes it.
    settings() { return { laneBodies: this.laneBodies, deadlines: this.deadlines, reminders: this.reminders }; },
    change(id, edit, also) {
      const element = modeler.get("elementRegistry").get(id) ?? modeler.get("canvas").getRootElement();
      modeler.get("commandStack").execute(SETTINGS_COMMAND,
        { after: changedSettings(this.settings(), edit), elements: [element], also });
    },
    setLaneBody(id, code) { this.change(id, (s) => { s.laneBodies[id] = code; }); },
    setDeadline(id, deadline, also) {
      this.change(id, (s) => { if (deadline) s.deadlines[id] = deadline; else delete s.deadlines[id]; }, also);
    },
    setReminders(next, id) { this.change(id, (s) => { s.reminders = next; }); },
    touchManifest() { schedule(); },
    async xml() { return (await modeler.saveXML({ format: true })).xml; },
    async scope(element) {
      return (await call(setup.endpoints.scope, { xml: await this.xml(), element })).variables;
    },
    async check(element, expression) {
      return call(setup.endpoints.check, { xml: await this.xml(), element, expression });
    },
    async markdown(text) { return (await call(setup.endpoints.markdown, { text })).html; },
    async duePreview(rule) {
      if (rule.kind === "fixed") {
        const found = await call(setup.endpoints.duePreview, { ...rule, sample_year: setup.sampleYear,
          extend_weekends: setup.extendWeekends });
        return legal(`${setup.sampleYear}年度`, found);
      }
      if (rule.kind === "after") {
        const eventOn = `${setup.sampleYear}-03-15`;
        const found = await call(setup.endpoints.duePreview, { kind: "after", unit: rule.unit, amount: rule.amount,
          event_on: eventOn, extend_weekends: setup.extendWeekends });
        return legal(`如事件发生于 ${eventOn}`, found);
      }
      return "";
    },
    async newForm(taskName) {
      const name = window.prompt("新表单的文件名（英文、数字和连字符） new form's name", "initial-review");
      if (!name) return null;
      if (!/^[a-z0-9][a-z0-9-]{1,60}$/.test(name)) { say("表单名只能用小写英文、数字和连字符 (a-z, 0-9, -)", "error"); return null; }
      const schema = `${name}.schema.json`;
      const stub = { $schema: "https://json-schema.org/draft/2020-12/schema", title: taskName, type: "object",
        properties: { opinion: { type: "string", title: "意见" } }, required: ["opinion"], additionalProperties: false };
      await put(`forms/${schema}`, `${JSON.stringify(stub, null, 2)}\n`);
      await put(`forms/${name}.uischema.json`, `${JSON.stringify({ "ui:order": ["opinion"], opinion: { "ui:widget": "textarea" } }, null, 2)}\n`);
      this.forms.push(schema); this.forms.sort(); this.uiForms.push(`${name}.uischema.json`);
      return schema;
    },
  };

  function legal(prefix, found) {
    const moved = found.moved_from ? `（${found.moved_from} ${found.reason ?? ""}，顺延）` : "";
    return `${prefix}：期限至 ${found.last_day}${moved}`;
  }

  modeler = new Modeler({
    container: "#canvas",
    propertiesPanel: { parent: "#panel" },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, translateModule(setup.lang),
      assessmentModule(context)],
    moddleExtensions: { spiffworkflow },
  });
  window.kaoheModeler = modeler; // for the browser test and for the console
  modeler.get("commandStack").register(SETTINGS_COMMAND, settingsHandler({
    get: () => context.settings(),
    set: (next) => { Object.assign(context, next); context.touchManifest(); },
  }));

  let revision = setup.revision;
  let timer = null;
  let bpmnDirty = false;

  function schedule() {
    say("有未保存的修改 (unsaved changes)…", "pending");
    clearTimeout(timer);
    timer = setTimeout(save, SAVE_AFTER_MS);
  }

  async function put(name, text) {
    const response = await fetch(setup.fileApi + name.split("/").map(encodeURIComponent).join("/"), {
      method: "PUT", credentials: "same-origin", body: text,
      headers: { "Content-Type": "text/plain; charset=utf-8", "If-Match": String(revision), "X-CSRF-Token": csrfToken() },
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 409) throw Object.assign(new Error(data.message || "conflict"), { conflict: true });
    if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
    revision = data.revision;
    return data.problems ?? [];
  }

  function manifestSections() {
    // The lanes in the order bundle.yaml lists them (a renamed lane keeps its place), then new ones; with the lane
    // names they were taken from, which become laneNames once saved.
    const lanes = lanesOf().map((lane) => ({ id: lane.id, name: lane.businessObject.name, body: context.laneBodies[lane.id] }));
    const { lanes: section, names } = lanesSection(setup.laneOrder, setup.lanes, lanes, laneNames);
    const deadlines = Object.fromEntries(Object.entries(setup.deadlines).filter(([id]) => !taskIds.has(id)));
    for (const task of modeler.get("elementRegistry").filter((e) => e.type === "bpmn:UserTask")) {
      if (context.deadlines[task.id]) deadlines[task.id] = context.deadlines[task.id];
    }
    return [{ lanes: section, deadlines, reminders: context.reminders }, names];
  }

  let savedSections = {}; // section -> its JSON as last saved: only a section that changed is rewritten

  // One save after another, not "wait for the running one": two saves waiting on the same one then ran at once,
  // the second with a revision the first had already moved on, and the file API refused it as stale.
  const save = serial(saveNow);

  async function saveNow() {
    say("正在保存 (saving)…", "pending");
    try {
      let problems = null;
      if (bpmnDirty) {
        bpmnDirty = false;
        problems = await put(setup.name, await context.xml());
        // the English of a renamed element or of rewritten instructions goes: the new Chinese shows instead
        const now = wordsNow();
        const { renamed, reworded } = changedWords(words, now);
        if (renamed.length || reworded.length) {
          const { text } = await call(setup.endpoints.english, { renamed, reworded });
          if (text) problems = await put("english.yaml", text);
          for (const id of [...renamed, ...reworded]) words[id] = now[id];
        }
      }
      // bundle.yaml follows the diagram: a renamed lane renames its key, a deleted task loses its deadline.
      const [sections, names] = manifestSections();
      const changed = Object.fromEntries(Object.entries(sections)
        .filter(([section, value]) => JSON.stringify(value) !== savedSections[section]));
      if (Object.keys(changed).length) {
        const { text } = await call(setup.endpoints.manifest, changed);
        problems = await put("bundle.yaml", text);
        for (const [section, value] of Object.entries(changed)) savedSections[section] = JSON.stringify(value);
        Object.assign(setup, changed);
        if (changed.lanes) {
          setup.laneOrder = Object.keys(changed.lanes);
          Object.assign(laneNames, names); // as written: a lane renamed meanwhile is renamed at the next save
        }
      }
      if (problems) showProblems(problems);
      say(`已保存 (saved) · 第 ${revision} 版 · ${new Date().toLocaleTimeString()}`, "saved");
    } catch (error) {
      bpmnDirty = bpmnDirty || !error.conflict;
      if (error.conflict) {
        say(`${error.message} — 他人已保存了较新的版本，请重新载入 (someone saved a newer revision: reload)`, "error");
        document.getElementById("reload").hidden = false;
      } else {
        say(`保存失败 (not saved)：${error.message}`, "error");
      }
    }
  }

  function wordsNow() {
    const found = {};
    for (const e of modeler.get("elementRegistry").getAll()) {
      const bo = e.businessObject;
      if (e.labelTarget || !bo?.id) continue;
      found[bo.id] = { name: bo.name ?? "", instructions: getText(e, "spiffworkflow:InstructionsForEndUser") };
      if (bo.processRef?.id) found[bo.processRef.id] = { name: bo.processRef.name ?? "", instructions: "" };
    }
    return found;
  }

  function lanesOf() {
    return modeler.get("elementRegistry").filter((e) => e.type === "bpmn:Lane");
  }

  const marked = [];
  function showProblems(problems) {
    const canvas = modeler.get("canvas");
    const overlays = modeler.get("overlays");
    const registry = modeler.get("elementRegistry");
    for (const id of marked.splice(0)) { if (registry.get(id)) canvas.removeMarker(id, "kh-has-problem"); }
    overlays.remove({ type: "kh-problem" });
    problemsList.replaceChildren();
    document.getElementById("problems-count").textContent = problems.length ? `（${problems.length}）` : "：无 (none)";
    for (const p of problems) {
      const element = p.element && registry.get(p.element);
      const item = document.createElement("li");
      item.className = p.severity;
      const who = p.name ?? (element && element.businessObject.name) ?? p.element ?? "";
      const text = `${p.file ?? ""}${p.line ? `:${p.line}` : ""} ${who} — ${p.reason}`;
      if (element) {
        canvas.addMarker(element.id, "kh-has-problem"); marked.push(element.id);
        overlays.add(element.id, "kh-problem", { position: { top: -12, right: 12 },
          html: `<span class="kh-badge" title="${p.reason.replace(/"/g, "&quot;")}">!</span>` });
        const button = document.createElement("button");
        button.type = "button"; button.textContent = text;
        button.addEventListener("click", () => {
          modeler.get("selection").select(element);
          canvas.scrollToElement(element);
        });
        item.append(button);
      } else {
        item.textContent = text;
      }
      problemsList.append(item);
    }
  }

  document.getElementById("reload").addEventListener("click", () => window.location.reload());
  document.getElementById("undo").addEventListener("click", () => modeler.get("commandStack").undo());
  document.getElementById("redo").addEventListener("click", () => modeler.get("commandStack").redo());
  document.getElementById("save-now").addEventListener("click", () => { clearTimeout(timer); save(); });

  return modeler.importXML(setup.xml).then(({ warnings }) => {
    keepUnresolved(warnings, modeler.get("moddle"));
    const registry = modeler.get("elementRegistry");
    const byName = setup.lanes;
    for (const lane of registry.filter((e) => e.type === "bpmn:Lane")) {
      laneNames[lane.id] = lane.businessObject.name;
      if (byName[lane.businessObject.name]) context.laneBodies[lane.id] = byName[lane.businessObject.name];
    }
    for (const task of registry.filter((e) => e.type === "bpmn:UserTask")) {
      taskIds.add(task.id);
      if (setup.deadlines[task.id]) context.deadlines[task.id] = setup.deadlines[task.id];
    }
    words = wordsNow();
    savedSections = Object.fromEntries(Object.entries(manifestSections()[0]).map(([k, v]) => [k, JSON.stringify(v)]));
    modeler.get("canvas").zoom("fit-viewport");
    modeler.on("commandStack.changed", () => { bpmnDirty = true; schedule(); });
    say("已载入 (loaded)", "saved");
    window.kaoheEditor = { save, context, showProblems };
    return modeler;
  }, (error) => say(`无法打开此流程图 (cannot open this diagram)：${error.message}`, "error"));
}

const found = typeof document !== "undefined" && document.getElementById("modeler-setup");
if (found) start(JSON.parse(found.textContent));
