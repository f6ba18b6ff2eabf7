"""BPMN elements compared by id: tasks, events, gateways, flows, pools, processes, messages, and lanes.

Each element is read into the values people check — name, kind, lane, form, instructions, due date, scripts,
timers and their expressions, messages, multi-instance settings, conditions, where a flow comes from and
goes to. References to other elements (a flow's target, a task's lane) are compared by id and shown by name.
The two processes are matched by their part in bundle.yaml (campaign, region), not by id: a variant
renames them (``national_region`` → ``ziyang_region``).
"""

from __future__ import annotations

from lxml import etree

from .model import Change, Item, Ref, Side, compare_items, text

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

#: The elements compared, by tag: what they are called.
KINDS = {
    "process": "流程 (process)", "participant": "泳池 (pool)", "messageFlow": "消息流 (message flow)",
    "message": "消息 (message)", "sequenceFlow": "顺序流 (sequence flow)",
    "startEvent": "开始事件 (start event)", "endEvent": "结束事件 (end event)",
    "intermediateCatchEvent": "中间捕获事件 (intermediate catch event)",
    "intermediateThrowEvent": "中间抛出事件 (intermediate throw event)", "boundaryEvent": "边界事件 (boundary event)",
    "task": "任务 (task)", "userTask": "用户任务 (user task)", "scriptTask": "脚本任务 (script task)",
    "serviceTask": "服务任务 (service task)", "manualTask": "手工任务 (manual task)",
    "businessRuleTask": "业务规则任务 (business rule task)", "sendTask": "发送任务 (send task)",
    "receiveTask": "接收任务 (receive task)", "callActivity": "调用活动 (call activity)",
    "subProcess": "子流程 (subprocess)", "transaction": "事务子流程 (transaction)",
    "adHocSubProcess": "自由子流程 (ad-hoc subprocess)",
    "exclusiveGateway": "排他网关 (exclusive gateway)", "inclusiveGateway": "包容网关 (inclusive gateway)",
    "parallelGateway": "并行网关 (parallel gateway)", "eventBasedGateway": "事件网关 (event-based gateway)",
    "complexGateway": "复杂网关 (complex gateway)", "dataObject": "数据对象 (data object)",
    "dataObjectReference": "数据对象引用 (data object reference)", "dataStoreReference": "数据存储 (data store)",
    "textAnnotation": "注释 (text annotation)",
}
LABELS = {
    "name": "名称 (name)", "id": "标识 (id)", "lane": "泳道 (lane)",
    "form": "表单 (form)", "ui": "表单界面 (form layout)", "dueDate": "办理期限 (due date)",
    "instructions": "办理说明 (instructions)", "documentation": "说明 (documentation)",
    "events": "事件定义 (event definition)", "timer": "计时器 (timer)", "message": "消息 (message)",
    "payload": "消息内容 (payload)", "variable": "接收变量 (message variable)",
    "signal": "信号 (signal)", "error": "错误 (error)", "escalation": "升级 (escalation)",
    "attachedTo": "附着于 (attached to)", "cancelActivity": "中断任务 (interrupting)",
    "source": "起点 (from)", "target": "终点 (to)", "condition": "条件 (condition)", "default": "默认路径 (default)",
    "script": "脚本 (script)", "preScript": "前置脚本 (pre-script)", "postScript": "后置脚本 (post-script)",
    "decision": "调用的决策表 (called decision)", "calledElement": "调用的流程 (called process)",
    "loop": "多实例 (multi-instance)", "process": "流程 (process)", "executable": "可执行 (executable)",
    "text": "文字 (text)",
}
LANE_LABELS = {"name": "名称 (name)", "role": "角色 (role)", "process": "流程 (process)"}
_PROPERTIES = {"formJsonSchemaFilename": "form", "formUiSchemaFilename": "ui", "dueDate": "dueDate"}
_TIMERS = {"timeDate": "日期 (date)", "timeDuration": "时长 (duration)", "timeCycle": "周期 (cycle)"}
_EVENTS = {"timer": "计时器 (timer)", "message": "消息 (message)", "signal": "信号 (signal)",
           "error": "错误 (error)", "escalation": "升级 (escalation)", "conditional": "条件 (conditional)",
           "terminate": "终止 (terminate)", "cancel": "取消 (cancel)", "compensate": "补偿 (compensation)",
           "link": "链接 (link)"}


def compare(old: Side, new: Side) -> list[Change]:
    """The diagram's elements added, removed and changed (layout aside)."""
    return compare_items("bpmn", _elements(old), _elements(new), LABELS)


def lanes(old: Side, new: Side) -> list[Change]:
    """Lanes by id: their names and the role or body bundle.yaml maps each to."""
    return compare_items("lanes", _lanes(old), _lanes(new), LANE_LABELS)


def _local(node) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _bpmn(node, tag: str):
    return node.find(f"{{{BPMN}}}{tag}")


def _spiff(node, tag: str) -> str | None:
    found = node.find(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}{tag}")
    return _strip(found.text) if found is not None else None


def _strip(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


class _Diagram:
    """One side's BPMN files: every element by id, and what people call each."""

    def __init__(self, side: Side):
        self.side = side
        self.nodes: dict[str, tuple[str, etree._Element]] = {}
        for name, tree in side.bpmn.items():
            for node in tree.iter():
                if _local(node) in KINDS or _local(node) == "lane":
                    self.nodes.setdefault(node.get("id") or "", (name, node))
        self.lane_of: dict[str, etree._Element] = {}
        for _file, node in self.nodes.values():
            if _local(node) == "lane":  # document order: a child lane comes after its parent, and wins
                for ref in node.iterfind(f"{{{BPMN}}}flowNodeRef"):
                    if ref.text:
                        self.lane_of[ref.text.strip()] = node
        roles = {side.manifest.get(k): k for k in ("campaign_process", "region_process")}
        self.process_key = {pid: roles.get(pid) or pid for pid, (_f, n) in self.nodes.items()
                            if _local(n) == "process"}

    def ref(self, element_id: str | None) -> Ref | None:
        """What an element is called: its name, else (a flow) where it goes, else its id."""
        if not element_id:
            return None
        found = self.nodes.get(element_id)
        if found is None:
            return Ref(element_id, element_id)
        node = found[1]
        name = _strip(node.get("name"))
        if name is None and _local(node) in ("sequenceFlow", "messageFlow"):
            source, target = self.ref(node.get("sourceRef")), self.ref(node.get("targetRef"))
            name = f"{source.name if source else '?'} → {target.name if target else '?'}"
        key = self.process_key.get(element_id, element_id)
        return Ref(key, name or element_id)

    def process_of(self, node) -> Ref | None:
        for parent in node.iterancestors(f"{{{BPMN}}}process"):
            return self.ref(parent.get("id"))
        return None


def read_diagram(side: Side) -> _Diagram:
    """Read once per side: the elements and the lanes sections both use it."""
    if "diagram" not in side.cache:
        side.cache["diagram"] = _Diagram(side)
    return side.cache["diagram"]


def _elements(side: Side) -> dict[str, Item]:
    diagram = read_diagram(side)
    items = {}
    for element_id, (file, node) in diagram.nodes.items():
        tag = _local(node)
        if tag == "lane" or not element_id:
            continue
        key = diagram.process_key.get(element_id, element_id)
        lane = diagram.lane_of.get(element_id)
        values = {"name": _strip(node.get("name"))}
        if lane is not None:
            values["lane"] = Ref(lane.get("id"), _strip(lane.get("name")) or lane.get("id"))
        values.update(_READERS.get(tag, _activity)(node, diagram))
        process = diagram.process_of(node)
        items[key] = Item(diagram.ref(element_id).name, KINDS[tag],
                          {k: v for k, v in values.items() if v is not None}, file,
                          lane=values["lane"].name if lane is not None else None,
                          context=process.name if process else None, type=tag)
    return items


def _activity(node, diagram: _Diagram) -> dict:
    """A task, event, gateway or subprocess: documentation, form, instructions, scripts, timers, messages."""
    values = {"documentation": _documentation(node)}
    for prop in node.iterfind(f"{{{BPMN}}}extensionElements//{{{SPIFF}}}property"):
        name = prop.get("name") or ""
        values[_PROPERTIES.get(name, f"property:{name}")] = _strip(prop.get("value"))
    values["instructions"] = _spiff(node, "instructionsForEndUser")
    values["preScript"], values["postScript"] = _spiff(node, "preScript"), _spiff(node, "postScript")
    script = _bpmn(node, "script")
    values["script"] = _strip(script.text) if script is not None else None
    values["decision"] = _spiff(node, "calledDecisionId")
    values["calledElement"] = diagram.ref(node.get("calledElement"))
    values.update(_events(node, diagram))
    if _local(node) == "boundaryEvent":
        values["attachedTo"] = diagram.ref(node.get("attachedToRef"))
        values["cancelActivity"] = text(node.get("cancelActivity", "true") != "false")
    values["default"] = diagram.ref(node.get("default"))
    values["loop"] = _loop(node)
    return values


def _events(node, diagram: _Diagram) -> dict:
    values: dict = {}
    kinds, timers = [], []
    for definition in node:
        kind = _local(definition).removesuffix("EventDefinition")
        if kind not in _EVENTS or kind == _local(definition):
            continue
        kinds.append(_EVENTS[kind])
        if kind == "timer":
            timers += [f"{_TIMERS[_local(t)]}: {_strip(t.text) or ''}" for t in definition
                       if _local(t) in _TIMERS]
        elif kind == "message":
            values["message"] = diagram.ref(definition.get("messageRef"))
            values["payload"] = _spiff(definition, "messagePayload")
            values["variable"] = _spiff(definition, "messageVariable")
        elif kind in ("signal", "error", "escalation"):
            values[kind] = diagram.ref(definition.get(f"{kind}Ref"))
        elif kind == "conditional":
            condition = definition.find(f"{{{BPMN}}}condition")
            values["condition"] = _strip(condition.text) if condition is not None else None
    values["events"] = "、".join(kinds) or None
    values["timer"] = "；".join(timers) or None
    return values


def _loop(node) -> str | None:
    loop = _bpmn(node, "multiInstanceLoopCharacteristics")
    if loop is None:
        return "循环 (loop)" if _bpmn(node, "standardLoopCharacteristics") is not None else None
    parts = ["依次 (sequential)" if loop.get("isSequential") == "true" else "并行 (parallel)"]
    for tag, label in (("loopDataInputRef", "集合 (input)"), ("loopDataOutputRef", "结果 (output)"),
                       ("loopCardinality", "次数 (cardinality)"),
                       ("completionCondition", "完成条件 (completion condition)")):
        found = _bpmn(loop, tag)
        if found is not None and _strip(found.text):
            parts.append(f"{label}: {_strip(found.text)}")
    for tag, label in (("inputDataItem", "每项 (item)"), ("outputDataItem", "每项结果 (item output)")):
        found = _bpmn(loop, tag)
        if found is not None:
            parts.append(f"{label}: {found.get('id') or found.get('name')}")
    if loop.get(f"{{{SPIFF}}}scriptsOnInstances") == "true":
        parts.append("脚本逐项运行 (scripts on instances)")
    return "；".join(parts)


def _documentation(node) -> str | None:
    found = _bpmn(node, "documentation")
    return _strip(found.text) if found is not None else None


def _flow(node, diagram: _Diagram) -> dict:
    condition = _bpmn(node, "conditionExpression")
    return {"source": diagram.ref(node.get("sourceRef")), "target": diagram.ref(node.get("targetRef")),
            "condition": _strip(condition.text) if condition is not None else None,
            "documentation": _documentation(node)}


def _message_flow(node, diagram: _Diagram) -> dict:
    return dict(_flow(node, diagram), message=diagram.ref(node.get("messageRef")))


def _process(node, _diagram: _Diagram) -> dict:
    return {"id": node.get("id"), "documentation": _documentation(node),
            "executable": text(node.get("isExecutable") == "true")}


def _participant(node, diagram: _Diagram) -> dict:
    return {"process": diagram.ref(node.get("processRef")), "documentation": _documentation(node)}


def _annotation(node, _diagram: _Diagram) -> dict:
    found = _bpmn(node, "text")
    return {"text": _strip(found.text) if found is not None else None}


def _plain(node, _diagram: _Diagram) -> dict:
    return {"documentation": _documentation(node)}


_READERS = {"sequenceFlow": _flow, "messageFlow": _message_flow, "process": _process, "participant": _participant,
            "textAnnotation": _annotation, "message": _plain, "dataObject": _plain,
            "dataObjectReference": _plain, "dataStoreReference": _plain}


def _lanes(side: Side) -> dict[str, Item]:
    diagram = read_diagram(side)
    mapping = side.manifest.get("lanes") if isinstance(side.manifest.get("lanes"), dict) else {}
    items = {}
    for lane_id, (file, node) in diagram.nodes.items():
        if _local(node) != "lane":
            continue
        name = _strip(node.get("name")) or lane_id
        role = mapping.get(name)
        process = diagram.process_of(node)
        values = {"name": _strip(node.get("name")),
                  "role": side.role(role) if role is not None else "未对应角色 (not mapped in bundle.yaml)",
                  "process": process}
        items[lane_id] = Item(name, "泳道 (lane)", values, file, context=process.name if process else None,
                              type="lane")
    return items
