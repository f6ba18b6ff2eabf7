"""BPMN saved by other modelers (Camunda Modeler, plain bpmn-js): what in it does not run here, and what to do.

Such a file is checked like any other, not refused whole: the findings say what it lacks to run here (a lane
for each user task, a form, ``isExecutable``, Python expressions) and explain the Camunda attributes this
engine does not read. ``${…}`` and FEEL expressions are explained where expressions are checked
(``scripts.foreign``).
"""

from __future__ import annotations

from lxml import etree

from .findings import ERROR, WARNING, Report
from .structure import label

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
_NS = {"bpmn": _BPMN, "spiffworkflow": _SPIFF, "camunda": CAMUNDA, "zeebe": ZEEBE}

#: Camunda attributes on who does a task: here the lane decides (bundle.yaml ``lanes``).
_ASSIGNMENT = ("assignee", "candidateGroups", "candidateUsers")
#: Camunda extension elements that run code around a task: here pre- and post-scripts do.
_LISTENERS = ("executionListener", "taskListener", "inputOutput")


def check(trees: dict[str, etree._Element], needed: list[str], report: Report) -> None:
    """Findings about what another modeler wrote: non-executable processes, decisions named the Camunda way,
    and Camunda settings this engine ignores. ``needed``: the processes the manifest runs."""
    called = {c.get("calledElement") for root in trees.values() for c in root.iter(f"{{{_BPMN}}}callActivity")}
    for file, root in trees.items():
        if not file.endswith(".bpmn"):
            continue
        for process in root.iterfind("bpmn:process", _NS):
            _executable(file, process, process.get("id") in set(needed) | called, report)
        for task in root.iter(f"{{{_BPMN}}}businessRuleTask"):
            _decision(file, task, report)
        for node in root.iter(etree.Element):
            _ignored(file, node, report)


def _executable(file: str, process, needed: bool, report: Report) -> None:
    if process.get("isExecutable", "true") == "true":
        return
    reason = (f"流程 {process.get('id')} 标记为不可执行 (isExecutable=\"false\"，bpmn-js 默认如此保存)："
              f"请在建模工具中勾选“可执行”，或把属性改为 isExecutable=\"true\" "
              f"(process {process.get('id')} is not executable, as plain bpmn-js saves it: tick 'Executable' "
              f"in the modeler or set isExecutable=\"true\")")
    report.at(ERROR if needed else WARNING, reason, file, process)


def _decision(file: str, task, report: Report) -> None:
    """A business rule task names its DMN decision with spiffworkflow:calledDecisionId; Camunda writes
    camunda:decisionRef (or zeebe:calledDecision), which this engine does not read."""
    if task.find(".//spiffworkflow:calledDecisionId", _NS) is not None:
        return
    zh, en = label(task)
    ref = task.get(f"{{{CAMUNDA}}}decisionRef")
    zeebe = task.find(".//zeebe:calledDecision", _NS)
    if ref is None and zeebe is not None:
        ref = zeebe.get("decisionId")
    if ref is not None:
        report.at(ERROR, f"{zh} 用 Camunda 的 decisionRef=\"{ref}\" 指定决策表，本系统不读取它：请改为扩展元素 "
                         f"<spiffworkflow:calledDecisionId>{ref}</spiffworkflow:calledDecisionId> ({en} names its "
                         f"decision with Camunda's decisionRef, which is not read here: write spiffworkflow:"
                         f"calledDecisionId {ref} instead)", file, task)
    else:
        report.at(ERROR, f"{zh} 没有指定决策表 ({en} names no decision: add spiffworkflow:calledDecisionId with the "
                         f"id of a decision of the bundle's DMN files)", file, task)


def _ignored(file: str, node, report: Report) -> None:
    """Camunda settings that would be silently ignored: said as warnings, with what does the same here."""
    if etree.QName(node).namespace != _BPMN:
        return
    zh, en = label(node)
    assignment = [a for a in _ASSIGNMENT if node.get(f"{{{CAMUNDA}}}{a}")]
    if assignment or node.find(".//zeebe:assignmentDefinition", _NS) is not None:
        what = ", ".join(f"camunda:{a}" for a in assignment) or "zeebe:assignmentDefinition"
        report.at(WARNING, f"{zh} 的 {what} 在本系统中不起作用：由谁办理由任务所在的泳道及 bundle.yaml 的 lanes 决定 "
                           f"({what} of {en} is ignored here: who does a task is set by its lane, mapped to a role "
                           f"in bundle.yaml)", file, node)
    ext = node.find("bpmn:extensionElements", _NS)
    listeners = sorted({etree.QName(e).localname for e in ([] if ext is None else ext)
                        if isinstance(e.tag, str) and etree.QName(e).namespace == CAMUNDA
                        and etree.QName(e).localname in _LISTENERS})
    if listeners:
        what = ", ".join(f"camunda:{name}" for name in listeners)
        report.at(WARNING, f"{zh} 的 {what} 在本系统中不会执行：请改用 spiffworkflow:preScript / postScript "
                           f"中的 Python 脚本 ({what} of {en} does not run here: use a Python "
                           f"spiffworkflow:preScript or postScript)", file, node)


def no_form(task) -> str:
    """Why a user task with no form cannot run here, and what Camunda's form settings it has mean."""
    zh, en = label(task)
    key = task.get(f"{{{CAMUNDA}}}formKey") or task.get(f"{{{CAMUNDA}}}formRef")
    zeebe = task.find(".//zeebe:formDefinition", _NS)
    if key is None and zeebe is not None:
        key = zeebe.get("formKey") or zeebe.get("formId")
    instead = ("请把表单写成 JSON Schema 放在 forms/ 中，并在任务上设 spiffworkflow:property formJsonSchemaFilename "
               "(write the form as a JSON Schema in forms/ and name it in the task's spiffworkflow:property "
               "formJsonSchemaFilename)")
    if key:
        return (f"{zh} 没有本系统可用的表单：Camunda 的表单 formKey=\"{key}\" 在本系统中不可用，{instead}；"
                f"user task names no form (formJsonSchemaFilename): Camunda's formKey is not read here")
    if task.find(".//camunda:formData", _NS) is not None:
        return (f"{zh} 没有本系统可用的表单：Camunda 的 camunda:formData 表单字段在本系统中不可用，{instead}；"
                f"user task names no form (formJsonSchemaFilename): Camunda's generated form is not read here")
    return f"{zh} 没有表单，{instead}；user task names no form (formJsonSchemaFilename), in {en}"
