"""References inside a BPMN file that SpiffWorkflow's parser lets through: lanes and incoming/outgoing.

A lane's ``flowNodeRef`` must name a flow node of its process, and an element's ``incoming`` /
``outgoing`` a sequence flow of its process that ends / starts at that element. Otherwise a task
deleted in an editor stays in a lane's list, or a diagram says a flow goes where it does not.
"""

from __future__ import annotations

from lxml import etree

from ..errors import BundleError

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": _BPMN}


def problems(name: str, tree: etree._Element) -> list[BundleError]:
    """Every lane or flow reference to a missing element, each naming its file, line and element."""
    found = []
    for process in tree.iterfind("bpmn:process", _NS):
        ids = {e.get("id"): e for e in process.iter(etree.Element) if e.get("id")}
        for lane in process.iter(f"{{{_BPMN}}}lane"):
            for ref in lane.findall("bpmn:flowNodeRef", _NS):
                target = (ref.text or "").strip()
                if target not in ids:
                    label = lane.get("name") or lane.get("id")
                    found.append(BundleError(f'泳道 "{label}" 列出的元素 {target} 不存在 '
                                             f'(lane "{label}" lists {target}, which is not in process '
                                             f'{process.get("id")})', file=name, line=ref.sourceline,
                                             element=lane.get("id")))
        for ref in [*process.iter(f"{{{_BPMN}}}incoming"), *process.iter(f"{{{_BPMN}}}outgoing")]:
            try:
                _check_flow_ref(name, process, ids, ref)
            except BundleError as exc:
                found.append(exc)
    return found


def _check_flow_ref(name: str, process, ids: dict, ref) -> None:
    owner = ref.getparent()
    label = owner.get("name") or owner.get("id")
    flow_id = (ref.text or "").strip()
    flow = ids.get(flow_id)
    direction = etree.QName(ref).localname
    end = "targetRef" if direction == "incoming" else "sourceRef"
    where = {"file": name, "line": ref.sourceline, "element": owner.get("id")}
    if flow is None or etree.QName(flow).localname != "sequenceFlow":
        raise BundleError(f'"{label}" 的 {direction} 顺序流 {flow_id} 不存在 '
                          f'({direction} flow {flow_id} of "{label}" is not a sequence flow of process '
                          f'{process.get("id")})', **where)
    if flow.get(end) != owner.get("id"):
        raise BundleError(f'"{label}" 的 {direction} 顺序流 {flow_id} 并不连到它 '
                          f'({direction} flow {flow_id} of "{label}" has {end}="{flow.get(end)}")', **where)
