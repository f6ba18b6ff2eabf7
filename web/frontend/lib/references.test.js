import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { BpmnModdle } from "bpmn-moddle";
import { keepUnresolved } from "./references.js";

const spiffworkflow = JSON.parse(readFileSync(new URL("./spiffworkflow.json", import.meta.url)));
const xml = readFileSync(new URL("../../../processes/ziyang-2016/assessment.bpmn", import.meta.url), "utf8");

test("a shipped diagram keeps what SpiffWorkflow reads through a bpmn-moddle round trip", async () => {
  const moddle = new BpmnModdle({ spiffworkflow });
  const { rootElement, warnings } = await moddle.fromXML(xml);
  assert.equal(keepUnresolved(warnings, moddle), 2); // loopDataInputRef units, loopDataOutputRef unit_scores
  const { xml: out } = await moddle.toXML(rootElement, { format: true });
  assert.match(out, /<bpmn:loopDataInputRef>units<\/bpmn:loopDataInputRef>/);
  assert.match(out, /<bpmn:loopDataOutputRef>unit_scores<\/bpmn:loopDataOutputRef>/);
  for (const kept of ['name="formJsonSchemaFilename" value="self-evaluation.schema.json"',
    'name="dueDate" value="deadline(announcement[&#39;announced_on&#39;], months=1)"',
    "<spiffworkflow:instructionsForEndUser>## 自我评价", "<spiffworkflow:messageVariable>reported</spiffworkflow:messageVariable>",
    "<spiffworkflow:postScript>unit_result = {'unit': unit, 'scores': scores}</spiffworkflow:postScript>",
    'spiffworkflow:scriptsOnInstances="true"', "<spiffworkflow:messagePayload>{'announced_on': announced_on}"]) {
    assert.ok(out.includes(kept), kept);
  }
});
