"""What the engine can run: elements SpiffWorkflow parses but this engine has no way to carry out.

Each check reads the parsed XML of a bundle and returns problems, all of them at once, each with its file,
line, element and reason in Chinese with English.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
#: DMN namespaces whose schema SpiffWorkflow 3.2 can compile (its DMN 1.2 schema fails to load).
DMN_SUPPORTED = {"https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20151101/dmn.xsd"}


@dataclass(frozen=True)
class Problem:
    """One reason a bundle is refused."""

    file: str
    line: int | None
    element: str | None
    reason: str

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        return f"{where} [{self.element}]: {self.reason}" if self.element else f"{where}: {self.reason}"


def _problem(name: str, node: etree._Element, reason: str) -> Problem:
    return Problem(name, node.sourceline, node.get("id"), reason)


def dmn_files(trees: dict[str, etree._Element]) -> list[Problem]:
    """DMN files SpiffWorkflow would crash on: no decision, or a DMN version it cannot check."""
    problems = []
    for name, root in trees.items():
        if not name.endswith(".dmn"):
            continue
        namespace = etree.QName(root).namespace
        if namespace not in DMN_SUPPORTED:
            problems.append(Problem(name, root.sourceline, None,
                                    f"不支持此 DMN 版本，请在建模工具中另存为 DMN 1.3 "
                                    f"(DMN namespace '{namespace}' is not supported: save the file as DMN 1.3)"))
            continue
        decisions = root.findall(f"{{{namespace}}}decision")
        if not decisions:
            problems.append(Problem(name, root.sourceline, root.get("id"),
                                    "DMN 文件中没有决策 (the DMN file has no <decision>)"))
        problems.extend(_problem(name, decision, "决策不是决策表 (the decision has no <decisionTable>)")
                        for decision in decisions if decision.find(f"{{{namespace}}}decisionTable") is None)
        problems.extend(_hit_policy(name, table) for table in root.iter(f"{{{namespace}}}decisionTable")
                        if (table.get("hitPolicy") or "UNIQUE").upper() not in HIT_POLICIES)
    return problems


#: The hit policies SpiffWorkflow 3.2 evaluates: UNIQUE (it takes the first rule that matches) and COLLECT.
HIT_POLICIES = {"UNIQUE", "COLLECT"}


def _hit_policy(name: str, table: etree._Element) -> Problem:
    policy = table.get("hitPolicy")
    instead = "UNIQUE" if policy.upper() in ("FIRST", "ANY") else "UNIQUE 或 COLLECT (UNIQUE or COLLECT)"
    return _problem(name, table, f"不支持命中策略 {policy}，请改为 {instead}；本系统的 UNIQUE 取第一条匹配的规则 "
                                 f"(hit policy {policy} is not supported: SpiffWorkflow evaluates UNIQUE, which takes "
                                 f"the first rule that matches, and COLLECT)")


def _service_tasks(name: str, root: etree._Element, lane_of: dict) -> list[Problem]:
    return [_problem(name, task, f"服务任务 '{task.get('name') or task.get('id')}' 无法执行：本系统不调用外部服务 "
                                 "(service tasks cannot run: the engine has no service operators)")
            for task in root.iterfind(".//bpmn:serviceTask", NS)]


def _manual_tasks(name: str, root: etree._Element, lane_of: dict) -> list[Problem]:
    return [_problem(name, task, "人工任务不在任何泳道中，无人可以办理 "
                                 "(manual task is in no lane, so nobody could do it)")
            for task in root.iterfind(".//bpmn:manualTask", NS) if task.get("id") not in lane_of]


def _multi_instance(name: str, root: etree._Element, lane_of: dict) -> list[Problem]:
    problems = []
    for loop in root.iterfind(".//bpmn:multiInstanceLoopCharacteristics", NS):
        has_input = (loop.find("bpmn:loopDataInputRef", NS) is not None
                     or (loop.findtext("bpmn:loopCardinality", "", NS) or "").strip())
        if not has_input:
            problems.append(_problem(name, loop.getparent(),
                                     "多实例任务既没有输入集合也没有实例数 "
                                     "(multi-instance task has neither loopDataInputRef nor loopCardinality)"))
    return problems


def _call_activities(name: str, root: etree._Element, lane_of: dict, processes: set[str]) -> list[Problem]:
    return [_problem(name, call, f"调用的流程 '{call.get('calledElement')}' 不在本流程包中 "
                                 f"(call activity calls '{call.get('calledElement')}', which no BPMN file defines)")
            for call in root.iterfind(".//bpmn:callActivity", NS) if call.get("calledElement") not in processes]


def _unnamed_lanes(name: str, root: etree._Element, lane_of: dict) -> list[Problem]:
    return [_problem(name, lane, "泳道没有名称，无法对应角色 (lane has no name, so it maps to no role)")
            for lane in root.iterfind(".//bpmn:lane", NS) if not (lane.get("name") or "").strip()]


#: Names of SpiffWorkflow's own task specs: an element with one of these ids replaces it in the process.
RESERVED_IDS = {"Start", "End", "Root"}


def _reserved_ids(name: str, root: etree._Element, lane_of: dict) -> list[Problem]:
    return [_problem(name, node, f"元素 id '{node.get('id')}' 是引擎保留的名称，请改名 "
                                 f"(id '{node.get('id')}' is reserved by SpiffWorkflow: rename the element)")
            for node in root.iter(etree.Element) if node.get("id") in RESERVED_IDS]


#: One check per element kind the engine cannot carry out as written.
ELEMENT_CHECKS = (_reserved_ids, _service_tasks, _manual_tasks, _multi_instance, _unnamed_lanes)


def bpmn_elements(trees: dict[str, etree._Element]) -> list[Problem]:
    """Elements of BPMN files that the engine could not run: every one, in file order."""
    processes = {p.get("id") for name, root in trees.items() if name.endswith(".bpmn")
                 for p in root.iterfind("bpmn:process", NS)}
    problems = []
    for name, root in trees.items():
        if not name.endswith(".bpmn"):
            continue
        lane_of = {ref.text.strip() for ref in root.iterfind(".//bpmn:flowNodeRef", NS) if ref.text}
        for check in ELEMENT_CHECKS:
            problems.extend(check(name, root, lane_of))
        problems.extend(_call_activities(name, root, lane_of, processes))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))


def manual_tasks(trees: dict[str, etree._Element], lanes: dict[str, str]) -> dict[str, dict]:
    """Manual tasks are done by the role of their lane, like user tasks, with no form to fill."""
    found = {}
    for root in trees.values():
        lane_of = {ref.text.strip(): ref.getparent().get("name")
                   for ref in root.iterfind(".//bpmn:flowNodeRef", NS) if ref.text}
        for task in root.iterfind(".//bpmn:manualTask", NS):
            lane = lane_of.get(task.get("id"))
            if lane in lanes:
                found[task.get("id")] = {"lane": lane, "role": lanes[lane], "form": None, "ui": None}
    return found
