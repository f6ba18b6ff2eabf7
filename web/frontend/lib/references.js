// SpiffWorkflow reads some BPMN "references" as names of process variables: <bpmn:loopDataInputRef>units
// </bpmn:loopDataInputRef> names a collection in the task's data, not the id of an element. bpmn-moddle cannot
// resolve such a reference, warns, and would drop it on export; here each is kept as it was written.

/** After import: put back every reference the import could not resolve, as a stand-in carrying its id. */
export function keepUnresolved(warnings, moddle) {
  let kept = 0;
  for (const warning of warnings ?? []) {
    const { element, property, value } = warning;
    if (!/^unresolved reference/.test(warning.message ?? "") || !element || !property || !value) continue;
    const descriptor = element.$descriptor?.propertiesByName?.[property];
    if (!descriptor || descriptor.isMany) continue;
    element.set(property, moddle.create("bpmn:DataInput", { id: value }));
    kept += 1;
  }
  return kept;
}
