// Reading and writing the spiffworkflow extension elements of a BPMN element through bpmn-js's command stack
// (so every change can be undone). The elements are declared once in spiffworkflow.json.

function extension(bo, type) {
  return (bo.extensionElements?.values ?? []).find((value) => value.$type === type);
}

/** The value of a spiffworkflow:property (formJsonSchemaFilename, dueDate, ...), or "". */
export function getProperty(element, name) {
  const props = extension(element.businessObject, "spiffworkflow:Properties");
  return (props?.properties ?? []).find((p) => p.name === name)?.value ?? "";
}

/** The text of a body extension element (instructionsForEndUser, ...), or "". */
export function getText(element, type) {
  return extension(element.businessObject, type)?.value ?? "";
}

function ensureExtensions(element, modeling, bpmnFactory) {
  const bo = element.businessObject;
  if (!bo.extensionElements) {
    const created = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    modeling.updateModdleProperties(element, bo, { extensionElements: created });
  }
  return bo.extensionElements;
}

/** Set (or with an empty value remove) one spiffworkflow:property. */
export function setProperty(element, name, value, { modeling, bpmnFactory }) {
  const ext = ensureExtensions(element, modeling, bpmnFactory);
  let props = extension(element.businessObject, "spiffworkflow:Properties");
  if (!props) {
    if (!value) return;
    props = bpmnFactory.create("spiffworkflow:Properties", { properties: [] });
    modeling.updateModdleProperties(element, ext, { values: [...ext.values, props] });
  }
  const found = props.properties.find((p) => p.name === name);
  if (!value) {
    if (found) modeling.updateModdleProperties(element, props, { properties: props.properties.filter((p) => p !== found) });
  } else if (found) {
    modeling.updateModdleProperties(element, found, { value });
  } else {
    const prop = bpmnFactory.create("spiffworkflow:Property", { name, value });
    modeling.updateModdleProperties(element, props, { properties: [...props.properties, prop] });
  }
}

/** Set (or with an empty value remove) a body extension element such as spiffworkflow:InstructionsForEndUser. */
export function setText(element, type, value, { modeling, bpmnFactory }) {
  const ext = ensureExtensions(element, modeling, bpmnFactory);
  const found = extension(element.businessObject, type);
  if (!value) {
    if (found) modeling.updateModdleProperties(element, ext, { values: ext.values.filter((v) => v !== found) });
  } else if (found) {
    modeling.updateModdleProperties(element, found, { value });
  } else {
    modeling.updateModdleProperties(element, ext, { values: [...ext.values, bpmnFactory.create(type, { value })] });
  }
}
