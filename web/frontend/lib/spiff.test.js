import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BpmnModdle } from "bpmn-moddle";
import { getProperty, getText, setProperty, setText } from "./spiff.js";

const spiffworkflow = JSON.parse(readFileSync(new URL("./spiffworkflow.json", import.meta.url)));

// bpmn-js's modeling.updateModdleProperties sets the properties on the moddle element (undo aside).
function services(moddle) {
  return {
    modeling: { updateModdleProperties: (_element, target, props) => { for (const [k, v] of Object.entries(props)) target.set(k, v); } },
    bpmnFactory: { create: (type, attrs) => moddle.create(type, attrs) },
  };
}

async function exported(moddle, task) {
  const definitions = moddle.create("bpmn:Definitions", { targetNamespace: "x", rootElements: [
    moddle.create("bpmn:Process", { id: "p", flowElements: [task] })] });
  return (await moddle.toXML(definitions)).xml;
}

test("a task without extensions gets its form, instructions and due date, written as SpiffWorkflow reads them", async () => {
  const moddle = new BpmnModdle({ spiffworkflow });
  const task = moddle.create("bpmn:UserTask", { id: "Task_review", name: "文审初评" });
  const element = { businessObject: task };
  setProperty(element, "formJsonSchemaFilename", "initial-review.schema.json", services(moddle));
  setProperty(element, "dueDate", "deadline(submitted_on, days=10)", services(moddle));
  setText(element, "spiffworkflow:InstructionsForEndUser", "## 文审初评", services(moddle));
  assert.equal(getProperty(element, "formJsonSchemaFilename"), "initial-review.schema.json");
  assert.equal(getText(element, "spiffworkflow:InstructionsForEndUser"), "## 文审初评");
  const xml = await exported(moddle, task);
  assert.match(xml, /<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" value="initial-review.schema.json" \/><spiffworkflow:property name="dueDate" value="deadline\(submitted_on, days=10\)" \/><\/spiffworkflow:properties>/);
  assert.match(xml, /<spiffworkflow:instructionsForEndUser>## 文审初评<\/spiffworkflow:instructionsForEndUser>/);
});

test("an empty value removes the property or the text; another value replaces it", () => {
  const moddle = new BpmnModdle({ spiffworkflow });
  const element = { businessObject: moddle.create("bpmn:UserTask", { id: "T" }) };
  setProperty(element, "dueDate", "deadline(x_on, months=1)", services(moddle));
  setProperty(element, "dueDate", "working_days(x_on, 5)", services(moddle));
  assert.equal(getProperty(element, "dueDate"), "working_days(x_on, 5)");
  setProperty(element, "dueDate", "", services(moddle));
  assert.equal(getProperty(element, "dueDate"), "");
  setText(element, "spiffworkflow:InstructionsForEndUser", "a", services(moddle));
  setText(element, "spiffworkflow:InstructionsForEndUser", "", services(moddle));
  assert.equal(getText(element, "spiffworkflow:InstructionsForEndUser"), "");
  setProperty(element, "nothing", "", services(moddle)); // removing what is absent changes nothing
  assert.equal(element.businessObject.extensionElements.values.length, 1);
});
