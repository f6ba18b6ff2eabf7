"""bpmnlint-style rules on the shape of a process: what a modeler lets you draw but a procedure should not be.

Each rule reads one process (or subprocess) and reports what it finds. Errors are what cannot run as drawn
(a step no path reaches, a flow to an element that is not there, a choice with no way out, no start); warnings
are what runs but reads wrongly to the people who do the work (an unnamed step, two steps of one name, a path
that stops without an end event). docs/bundles.md lists them with the reason for each severity.
"""

from __future__ import annotations

from lxml import etree

from .findings import ERROR, WARNING, Report

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": _BPMN}
_EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
_GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
_SCOPES = {"subProcess", "transaction", "adHocSubProcess"}
ACTIVITIES = {"task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity"} | _SCOPES
_FLOW_NODES = _EVENTS | _GATEWAYS | ACTIVITIES
#: How a message names a kind of element, in Chinese and English.
KINDS = {"task": ("任务", "task"), "userTask": ("用户任务", "user task"), "manualTask": ("人工任务", "manual task"),
         "scriptTask": ("脚本任务", "script task"), "businessRuleTask": ("规则任务", "business rule task"),
         "serviceTask": ("服务任务", "service task"), "callActivity": ("调用活动", "call activity"),
         "startEvent": ("开始事件", "start event"), "endEvent": ("结束事件", "end event"),
         "exclusiveGateway": ("排他网关", "exclusive gateway"), "inclusiveGateway": ("包容网关", "inclusive gateway"),
         "parallelGateway": ("并行网关", "parallel gateway")} | {k: ("子流程", "subprocess") for k in _SCOPES}


def _local(node) -> str:
    return etree.QName(node).localname


def label(node) -> str:
    """「用户任务 "自我评价"」-style words for an element: its kind and its name, or its id."""
    zh, en = KINDS.get(_local(node), ("元素", "element"))
    return f'{zh} "{node.get("name") or node.get("id")}"', f'{en} "{node.get("name") or node.get("id")}"'


def check(trees: dict[str, etree._Element], report: Report) -> None:
    """Every rule on every process and subprocess of the bundle's BPMN files."""
    for file, root in trees.items():
        if not file.endswith(".bpmn"):
            continue
        for process in root.iterfind("bpmn:process", _NS):
            if process.find("bpmn:startEvent", _NS) is None and not _nodes(process):
                continue  # an empty pool: nothing to run, nothing to check
            for scope in [process, *(n for n in process.iter(etree.Element) if _local(n) in _SCOPES)]:
                for rule in RULES:
                    rule(file, scope, report)
        _names(file, root, report)


def _nodes(scope) -> list[etree._Element]:
    """The flow nodes directly in a process or subprocess."""
    return [n for n in scope if isinstance(n.tag, str) and etree.QName(n).namespace == _BPMN
            and _local(n) in _FLOW_NODES]


def _flows(scope) -> list[etree._Element]:
    return scope.findall("bpmn:sequenceFlow", _NS)


def _start_event(file: str, scope, report: Report) -> None:
    """A process or subprocess needs a start event: without one there is nowhere to begin."""
    if _local(scope) == "adHocSubProcess" or scope.find("bpmn:startEvent", _NS) is not None:
        return
    zh, en = ("流程", "process") if _local(scope) == "process" else ("子流程", "subprocess")
    report.at(ERROR, f"{zh}没有开始事件，无从开始 (the {en} has no start event, so it cannot begin)", file, scope)


def _end_event(file: str, scope, report: Report) -> None:
    """No end event: SpiffWorkflow ends a path where its flows stop, but the diagram hides where that is."""
    if _local(scope) == "adHocSubProcess" or scope.get("triggeredByEvent") == "true":
        return
    if scope.find("bpmn:endEvent", _NS) is None:
        zh, en = ("流程", "process") if _local(scope) == "process" else ("子流程", "subprocess")
        report.at(WARNING, f"{zh}没有结束事件，看不出流程在哪里结束 (the {en} has no end event)", file, scope)


def _flow_ends(file: str, scope, report: Report) -> None:
    """Each sequence flow goes from an element of its process to another: a flow to nowhere cannot be taken."""
    ids = {n.get("id") for n in _nodes(scope)}
    for flow in _flows(scope):
        for end, zh, en in (("sourceRef", "起点", "source"), ("targetRef", "终点", "target")):
            ref = flow.get(end)
            if ref not in ids:
                report.at(ERROR, f"顺序流 {flow.get('id')} 的{zh} {ref or '（空）'} 不是本流程中的元素 "
                                 f"(sequence flow {flow.get('id')} has {en} {ref!r}, which is no element of this "
                                 f"process: a flow to nowhere)", file, flow)


def _connected(file: str, scope, report: Report) -> None:
    """Every step is reached by a flow (or is a start, a boundary or an event subprocess); every step but an end
    leads somewhere. A step no flow reaches never runs; one no flow leaves ends its path silently."""
    flows = _flows(scope)
    incoming = {f.get("targetRef") for f in flows}
    outgoing = {f.get("sourceRef") for f in flows}
    for node in _nodes(scope):
        kind, node_id = _local(node), node.get("id")
        zh, en = label(node)
        exempt_in = kind in ("startEvent", "boundaryEvent") or node.get("triggeredByEvent") == "true" \
            or node.get("isForCompensation") == "true" or _is_link_catch(node)
        if node_id not in incoming and not exempt_in:
            if node_id not in outgoing:
                report.at(ERROR, f"{zh} 没有连接任何顺序流，永远不会执行 ({en} is not connected to any flow, so it "
                                 f"never runs)", file, node)
            else:
                report.at(ERROR, f"{zh} 没有进入的顺序流，永远不会执行 ({en} has no incoming flow, so it never "
                                 f"runs)", file, node)
            continue
        if node_id not in outgoing and kind != "endEvent" and node.get("triggeredByEvent") != "true" \
                and node.get("isForCompensation") != "true" and not _is_link_throw(node):
            report.at(WARNING, f"{zh} 之后没有顺序流，路径在此无声结束；请连到结束事件 ({en} has no outgoing flow: "
                               f"the path ends there without an end event)", file, node)


def _is_link_catch(node) -> bool:
    return _local(node) == "intermediateCatchEvent" and node.find("bpmn:linkEventDefinition", _NS) is not None


def _is_link_throw(node) -> bool:
    return _local(node) == "intermediateThrowEvent" and node.find("bpmn:linkEventDefinition", _NS) is not None


def _gateway_conditions(file: str, scope, report: Report) -> None:
    """An exclusive or inclusive gateway that chooses (two or more ways out) needs a condition on each way out
    but its default. A way without a condition and no default leaves the choice to chance; all conditions and
    no default stops the instance, as an incident, when none holds."""
    flows = _flows(scope)
    for gateway in _nodes(scope):
        if _local(gateway) not in ("exclusiveGateway", "inclusiveGateway"):
            continue
        out = [f for f in flows if f.get("sourceRef") == gateway.get("id")]
        zh, en = label(gateway)
        default = gateway.get("default")
        if default and default not in {f.get("id") for f in out}:
            report.at(ERROR, f"{zh} 的默认流 {default} 不是它的出口 (the default flow {default} of {en} is not one "
                             f"of its outgoing flows)", file, gateway)
        if len(out) < 2:
            continue
        bare = [f for f in out if f.get("id") != default and not _condition(f)]
        for flow in bare:
            report.at(ERROR, f"{zh} 的出口 {flow.get('name') or flow.get('id')} 既没有条件也不是默认流：请为它写条件，"
                             f"或把它设为默认流 (outgoing flow {flow.get('id')} of {en} has no condition and is not "
                             f"the default: give it a condition or make it the default flow)", file, flow)
        if not default and not bare:
            report.at(WARNING, f"{zh} 没有默认流：条件都不成立时流程会停下，成为待处理的故障 ({en} has no default "
                               f"flow: when no condition holds, the instance stops with an incident)", file, gateway)


def _condition(flow) -> bool:
    condition = flow.find("bpmn:conditionExpression", _NS)
    return condition is not None and bool((condition.text or "").strip())


def _unnamed(file: str, scope, report: Report) -> None:
    """A step without a name shows its id to the people who do it, in their inbox and in the history."""
    for node in _nodes(scope):
        if _local(node) in ACTIVITIES and not (node.get("name") or "").strip():
            zh, en = KINDS.get(_local(node), ("任务", "task"))
            report.at(WARNING, f"{zh} {node.get('id')} 没有名称，办理人只能看到它的 id ({en} {node.get('id')} has "
                               f"no name: people would see its id)", file, node)


def _names(file: str, root, report: Report) -> None:
    """Two steps of one process with the same name cannot be told apart in the inbox, the history or a diff."""
    for process in root.iterfind("bpmn:process", _NS):
        seen: dict[str, etree._Element] = {}
        for node in process.iter(etree.Element):
            name = (node.get("name") or "").strip()
            if _local(node) not in ACTIVITIES or not name:
                continue
            if name in seen:
                zh, en = KINDS.get(_local(node), ("任务", "task"))
                report.at(WARNING, f"{zh} \"{name}\" 与第 {seen[name].sourceline} 行的 {seen[name].get('id')} "
                                   f"同名，办理人无法区分 ({en} \"{name}\" has the same name as "
                                   f"{seen[name].get('id')} on line {seen[name].sourceline})", file, node)
            else:
                seen[name] = node


#: The rules run on each process and subprocess, in this order.
RULES = (_start_event, _end_event, _flow_ends, _connected, _gateway_conditions, _unnamed)
