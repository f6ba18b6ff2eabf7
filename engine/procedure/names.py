"""Variables read before anything defines them: found when a bundle is deployed, not when a campaign gets there.

Every name a gateway condition, script, pre- or post-script, timer, due date, message payload,
multi-instance setting or called DMN table reads must be defined on SOME path from the process start to
it: by the start data the engine passes (``CAMPAIGN_START`` / ``REGION_START``, plus the manifest's
``start_variables``), a form field of a user task, a DMN output, a message variable, a multi-instance
item or collection, a data object, or a script's assignment; the sandbox's builtins and helpers count too.

A forward "may be defined" analysis over the process graph (sequence flows; a boundary event sees what
its task saw; a subprocess passes on what anything inside it defines). Limitations, on purpose lenient:
inside one script every assignment counts before every read; a call activity sees everything its
callers define and passes on everything the called process defines; an event subprocess sees everything
its process defines; form fields count whether or not the form requires them.
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from ..errors import BundleError
from ..running import calendar, results, sandbox
from . import scripts

#: What ``Engine.start_campaign`` puts in the campaign and region instances' start data.
CAMPAIGN_START = frozenset({"campaign_id", "variant", "year", "year_label", "regions"})
REGION_START = frozenset({"campaign_id", "variant", "year", "year_label", "region", "region_name", "units"})

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_NS = {"bpmn": _BPMN, "spiffworkflow": _SPIFF}
_DMN_INPUT = "dmninputexpr"  # what SpiffWorkflow's DMN engine puts for "?" in a cell

_FLOW_NODES = frozenset(
    "startEvent endEvent intermediateCatchEvent intermediateThrowEvent boundaryEvent task userTask scriptTask"
    " serviceTask manualTask businessRuleTask sendTask receiveTask callActivity subProcess transaction"
    " adHocSubProcess exclusiveGateway inclusiveGateway parallelGateway eventBasedGateway complexGateway".split())
_GATEWAY = ("网关", "gateway")
#: How a message names an element of each kind, in Chinese and English.
_KINDS = {
    "exclusiveGateway": _GATEWAY, "inclusiveGateway": _GATEWAY, "parallelGateway": _GATEWAY,
    "eventBasedGateway": _GATEWAY, "complexGateway": _GATEWAY,
    "userTask": ("用户任务", "user task"), "scriptTask": ("脚本任务", "script task"),
    "businessRuleTask": ("规则任务", "business rule task"), "callActivity": ("调用活动", "call activity"),
    "subProcess": ("子流程", "subprocess"), "transaction": ("子流程", "subprocess"),
} | {kind: ("事件", "event") for kind in
     "startEvent endEvent intermediateCatchEvent intermediateThrowEvent boundaryEvent".split()}
_WHAT = {  # which part of the element reads the name
    "condition": ("的条件", "the condition of"), "script": ("的脚本", "the script of"),
    "preScript": ("的前置脚本", "the pre-script of"), "postScript": ("的后置脚本", "the post-script of"),
    "timer": ("的计时器", "the timer of"), "dueDate": ("的办理期限 dueDate", "the dueDate of"),
    "payload": ("的消息内容", "the message payload of"), "loop": ("的多实例设置", "the multi-instance settings of"),
}


def provided() -> frozenset[str]:
    """Names the sandbox itself provides: its builtins and helpers, and the calendar's deadline helpers."""
    return frozenset(sandbox.SAFE_BUILTINS) | frozenset(sandbox.HELPERS) | frozenset(
        calendar.helpers(None, clock=object())) | {_DMN_INPUT}


@dataclass
class _Read:
    """One expression or script: where it is, what reads it, and its text."""

    node: etree._Element  # the flow node whose data it sees
    source: etree._Element  # the XML element holding the code (for its line)
    text: str
    mode: str  # "eval" | "exec" | "cell" | "name"
    what: str  # a key of _WHAT, or "dmn"
    extra: frozenset[str] = frozenset()  # names defined inside the node before this code runs
    owner: str | None = None  # the element id to name, when it is not the node's (a sequence flow)
    decision: str | None = None
    file: str | None = None


def reads_of(text: str, mode: str) -> list[str]:
    """Names the code reads that it does not bind itself, in order of first use."""
    if mode == "name":
        return [text.strip()]
    code = scripts.cell(text.strip()) if mode == "cell" else text.strip() if mode == "eval" else text
    tree = ast.parse(code, mode="exec" if mode == "exec" else "eval")
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    return list(dict.fromkeys(n.id for n in ast.walk(tree)
                              if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound))


def stores_of(text: str) -> set[str]:
    """Names a script assigns (at any depth: a loop's or a comprehension's variables too)."""
    tree = ast.parse(text, mode="exec")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def check_names(trees: dict[str, etree._Element], files: dict[str, str], manifest: dict,
                helpers: Iterable[str] = ()) -> list[BundleError]:
    """Every name some expression reads that no path to it defines, each a BundleError naming where it is read.

    ``helpers``: names the engine's script engine provides besides ``provided()``."""
    found: list[BundleError] = []
    try:
        extra = _start_variables(manifest)
    except BundleError as exc:
        found.append(exc)
        extra = frozenset()
    decisions = _decisions(trees)
    processes = {p.get("id"): (name, p) for name, tree in trees.items() if name.endswith(".bpmn")
                 for p in tree.iterfind("bpmn:process", _NS)}
    caught = _caught(trees, manifest)
    anywhere = {pid: _all_defined(process, files, decisions, caught) for pid, (_, process) in processes.items()}
    everything = frozenset().union(*anywhere.values(), CAMPAIGN_START, REGION_START, extra)
    starts = {manifest.get("campaign_process"): CAMPAIGN_START, manifest.get("region_process"): REGION_START}
    known = provided() | frozenset(helpers)
    for pid, (name, process) in processes.items():
        start = starts.get(pid, CAMPAIGN_START | REGION_START | everything) | extra
        found += _Process(name, process, files, decisions, anywhere, start, known, everything, caught).check()
    return found


def _start_variables(manifest: dict) -> frozenset[str]:
    """``start_variables:``, names whoever starts an instance outside a campaign passes (``start_instance``)."""
    names = manifest.get("start_variables") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise BundleError("start_variables 应为变量名列表 (start_variables must be a list of variable names)",
                          file="bundle.yaml")
    return frozenset(names)


def _decisions(trees: dict) -> dict[str, tuple[str, etree._Element]]:
    found = {}
    for name, tree in trees.items():
        if name.endswith(".dmn"):
            for decision in tree.iter(etree.Element):
                if etree.QName(decision).localname == "decision" and decision.get("id"):
                    found[decision.get("id")] = (name, decision)
    return found


def _local(element) -> str:
    return etree.QName(element).localname


def _children(element, local: str):
    return [c for c in element.iter(etree.Element) if _local(c) == local]


def _form_fields(schema) -> set[str]:
    """Top-level fields of a JSON Schema form, through allOf/anyOf/oneOf/if/then/else."""
    if not isinstance(schema, dict):
        return set()
    fields = set(schema.get("properties") or {}) if isinstance(schema.get("properties"), dict) else set()
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key) or []:
            fields |= _form_fields(part)
    for key in ("if", "then", "else"):
        fields |= _form_fields(schema.get(key))
    for part in (schema.get("dependentSchemas") or {}).values():
        fields |= _form_fields(part)
    return fields


def _spiff(node, local: str) -> list[etree._Element]:
    """The node's own spiffworkflow extension elements named ``local`` (not those of nested nodes)."""
    ext = node.find("bpmn:extensionElements", _NS)
    return [] if ext is None else [e for e in ext.iter(f"{{{_SPIFF}}}{local}")]


def _own(node, local: str) -> list[etree._Element]:
    """The node's descendants named ``local``, leaving out those of flow nodes nested in it."""
    found, stack = [], list(node)
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or _local(element) in _FLOW_NODES:
            continue
        if _local(element) == local:
            found.append(element)
        stack.extend(element)
    return found


def _multi(node):
    return node.find("bpmn:multiInstanceLoopCharacteristics", _NS)


def _caught(trees: dict, manifest: dict) -> dict[str, frozenset]:
    """Names catching a message defines besides its variable, by message id: the announcement of results
    gives each region its rank and consequences (``results.outcome``)."""
    rules = results.Rules.of(manifest)
    if rules is None:
        return {}
    told = frozenset({"rank", "vetoed", *rules.names()})
    return {m.get("id"): told for tree in trees.values() for m in tree.iterfind("bpmn:message", _NS)
            if m.get("name") == rules.announced_by}


def _node_defines(node, files: dict, decisions: dict, caught: dict | None = None) -> set[str]:
    """What a flow node adds to the data once it is done (not counting nodes inside it)."""
    names: set[str] = set()
    for definition in node.findall("bpmn:messageEventDefinition", _NS):
        names |= (caught or {}).get(definition.get("messageRef"), frozenset())
    for script in [*node.findall("bpmn:script", _NS), *_spiff(node, "preScript"), *_spiff(node, "postScript")]:
        if script.text and script.text.strip():
            names |= stores_of(script.text)
    props = {p.get("name"): p.get("value") for p in _spiff(node, "property")}
    form = props.get("formJsonSchemaFilename")
    if _local(node) == "userTask" and form and f"forms/{form}" in files:
        try:
            names |= _form_fields(json.loads(files[f"forms/{form}"]))
        except ValueError:
            pass  # forms.check_form_file has refused it already
    for variable in _own(node, "messageVariable"):
        if variable.text and variable.text.strip():
            names.add(variable.text.strip())
    for called in _spiff(node, "calledDecisionId"):
        decision = decisions.get((called.text or "").strip())
        if decision is not None:
            names |= {o.get("name") for o in _children(decision[1], "output") if o.get("name")}
    loop = _multi(node)
    if loop is not None:
        for ref in ("loopDataOutputRef", "outputDataItem"):
            item = loop.find(f"bpmn:{ref}", _NS)
            if item is not None:
                names.add(item.get("id") or (item.text or "").strip())  # SpiffWorkflow keys data by id
    return {n for n in names if n}


def _all_defined(process, files: dict, decisions: dict, caught: dict) -> set[str]:
    names = {d.get("name") or d.get("id") for d in _children(process, "dataObject")}
    for node in process.iter(etree.Element):
        if _local(node) in _FLOW_NODES:
            names |= _node_defines(node, files, decisions, caught)
    return {n for n in names if n}


class _Process:
    """The may-be-defined analysis of one process and the checks that use it."""

    def __init__(self, file: str, process, files: dict, decisions: dict, anywhere: dict, start: frozenset,
                 known: frozenset, everything: frozenset, caught: dict):
        self.file, self.process, self.files, self.decisions = file, process, files, decisions
        self.caught = caught
        self.anywhere, self.start, self.known, self.everything = anywhere, start, known, everything
        self.nodes = {n.get("id"): n for n in process.iter(etree.Element)
                      if _local(n) in _FLOW_NODES and n.get("id")}
        self.flows = [f for f in process.iter(f"{{{_BPMN}}}sequenceFlow")]
        self.data_objects = frozenset(d.get("name") or d.get("id") for d in _children(process, "dataObject"))

    def _defines(self, node) -> set[str]:
        names = _node_defines(node, self.files, self.decisions, self.caught)
        if _local(node) == "callActivity":
            names |= self.anywhere.get(node.get("calledElement"), set())
        return names

    def _analyse(self) -> dict[str, frozenset]:
        """``seen[id]``: names some path from the start may have defined when the node starts."""
        preds: dict[str, set[str]] = {i: set() for i in self.nodes}
        for flow in self.flows:
            if flow.get("targetRef") in preds and flow.get("sourceRef") in self.nodes:
                preds[flow.get("targetRef")].add(flow.get("sourceRef"))
        inside = {i: [c.get("id") for c in n.iter(etree.Element) if c is not n and c.get("id") in self.nodes]
                  for i, n in self.nodes.items() if _local(n) in ("subProcess", "transaction", "adHocSubProcess")}
        defines = {i: frozenset(self._defines(n)) for i, n in self.nodes.items()}
        everything_here = self.start | frozenset().union(*defines.values()) | self.data_objects
        seen = {i: frozenset() for i in self.nodes}
        done = {i: frozenset() for i in self.nodes}
        changed = True
        while changed:
            changed = False
            for i, node in self.nodes.items():
                before = self._entry(node, preds[i], seen, done, everything_here)
                after = before | defines[i] | frozenset().union(*(done[c] for c in inside.get(i, [])))
                if before != seen[i] or after != done[i]:
                    seen[i], done[i], changed = before, after, True
        self.done = done
        return seen

    def _entry(self, node, preds, seen, done, everything_here) -> frozenset:
        names = frozenset(self.data_objects).union(*(done[p] for p in preds))
        kind, parent = _local(node), node.getparent()
        if kind == "boundaryEvent":
            return names | seen.get(node.get("attachedToRef"), frozenset())
        if kind == "startEvent":
            if parent is self.process:
                return names | self.start
            if parent.get("triggeredByEvent") == "true":
                return names | everything_here
            return names | seen.get(parent.get("id"), frozenset())
        return names

    def _reads(self) -> list[_Read]:
        found = []
        for node in self.nodes.values():
            pre = frozenset().union(*(stores_of(s.text) for s in _spiff(node, "preScript") if (s.text or "").strip()))
            loop = _multi(node)
            item = frozenset()
            if loop is not None:
                data_item = loop.find("bpmn:inputDataItem", _NS)
                item = frozenset([data_item.get("id")] if data_item is not None else [])
                for local in ("loopCardinality", "loopDataInputRef", "completionCondition"):
                    for source in loop.findall(f"bpmn:{local}", _NS):
                        extra = item if local == "completionCondition" else frozenset()
                        found.append(_Read(node, source, source.text or "",
                                           "name" if local == "loopDataInputRef" else "eval", "loop", extra))
            for source in node.findall("bpmn:script", _NS):
                found.append(_Read(node, source, source.text or "", "exec", "script"))
            for source in _spiff(node, "preScript"):
                found.append(_Read(node, source, source.text or "", "exec", "preScript", item))
            form = self._form(node)
            for source in _spiff(node, "postScript"):
                found.append(_Read(node, source, source.text or "", "exec", "postScript", item | pre | form))
            for prop in _spiff(node, "property"):
                if prop.get("name") in scripts.EXPRESSION_PROPERTIES:
                    found.append(_Read(node, prop, prop.get("value") or "", "eval", "dueDate", item | pre))
            for local in ("timeDate", "timeDuration", "timeCycle"):
                for source in node.findall(f"bpmn:timerEventDefinition/bpmn:{local}", _NS):
                    found.append(_Read(node, source, source.text or "", "eval", "timer"))
            for source in _own(node, "messagePayload"):
                found.append(_Read(node, source, source.text or "", "eval", "payload"))
            for source in node.findall("bpmn:conditionalEventDefinition/bpmn:condition", _NS):
                found.append(_Read(node, source, source.text or "", "eval", "condition"))
            found += self._dmn_reads(node, item | pre)
        for flow in self.flows:
            source_node = self.nodes.get(flow.get("sourceRef"))
            for source in flow.findall("bpmn:conditionExpression", _NS):
                if source_node is not None:
                    found.append(_Read(source_node, source, source.text or "", "eval", "condition",
                                       owner=flow.get("id")))
        return found

    def _form(self, node) -> frozenset:
        if _local(node) != "userTask":
            return frozenset()
        props = {p.get("name"): p.get("value") for p in _spiff(node, "property")}
        text = self.files.get(f"forms/{props.get('formJsonSchemaFilename')}")
        try:
            return frozenset(_form_fields(json.loads(text))) if text else frozenset()
        except ValueError:
            return frozenset()

    def _dmn_reads(self, node, extra: frozenset) -> list[_Read]:
        found = []
        for called in _spiff(node, "calledDecisionId"):
            decision_id = (called.text or "").strip()
            if decision_id not in self.decisions:
                continue
            file, decision = self.decisions[decision_id]
            for element in decision.iter(etree.Element):
                local, parent = _local(element), element.getparent()
                if local != "text" or parent is None or not (element.text or "").strip():
                    continue
                mode = {"inputExpression": "eval", "inputEntry": "cell", "outputEntry": "eval"}.get(_local(parent))
                if mode and not (mode == "cell" and element.text.strip() == "-"):
                    found.append(_Read(node, element, element.text, mode, "dmn", extra | {_DMN_INPUT},
                                       decision=decision.get("name") or decision_id, file=file))
        return found

    def check(self) -> list[BundleError]:
        found = []
        seen = self._analyse()
        for read in self._reads():
            if not read.text.strip():
                continue
            try:
                names = reads_of(read.text, read.mode)
            except SyntaxError:
                continue  # scripts.scan reports syntax errors, with their own message
            visible = seen[read.node.get("id")] | read.extra | self.known
            if read.owner is not None:  # a condition on a flow sees what its source node has done
                visible |= self.done[read.node.get("id")]
            found += [self._error(read, name) for name in names if name not in visible]
        return found

    def _error(self, read: _Read, name: str) -> BundleError:
        node = read.node
        kind_zh, kind_en = _KINDS.get(_local(node), ("元素", "element"))
        label = node.get("name") or node.get("id")
        if read.what == "dmn":
            what_zh = f'{kind_zh} "{label}" 调用的决策表 "{read.decision}"'
            what_en = f'the decision table "{read.decision}" called by {kind_en} "{label}"'
        else:
            what_zh = f'{kind_zh} "{label}" {_WHAT[read.what][0]}'
            what_en = f'{_WHAT[read.what][1]} {kind_en} "{label}"'
        if name in self.everything:
            message = (f"{what_zh}读取的变量 {name} 在到达此处的任何路径上都未定义 "
                       f"({what_en} reads {name}, which no path to it defines)")
        else:
            close = difflib.get_close_matches(name, sorted(self.everything | self.known - {_DMN_INPUT}), n=1)
            hint_zh = f"，是否应为 {close[0]}？" if close else ""
            hint_en = f"; did you mean {close[0]}?" if close else ""
            message = (f"{what_zh}引用了未定义的变量 {name}{hint_zh} "
                       f"({what_en} reads undefined variable {name}{hint_en})")
        return BundleError(message, file=read.file or self.file, line=read.source.sourceline,
                           element=read.owner or node.get("id"))
