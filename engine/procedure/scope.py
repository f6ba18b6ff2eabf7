"""What an expression of a BPMN element may read, for the modeler's pickers and its raw expression mode.

The same may-be-defined analysis as the deploy check (``names``), asked about one element of a draft: the
variables some path from the start defines before it (for a sequence flow, after its source), and whether one
expression typed there passes the sandbox's ``check`` and reads only those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import BundleError, ForbiddenCode
from ..running.sandbox import check
from . import names
from .bundle import parse_xml
from .yamlfile import load

_BPMN = names._BPMN


@dataclass(frozen=True)
class Scope:
    """The names an element's expressions may read: the process's variables, and what the sandbox provides."""

    variables: list[str]
    provided: list[str] = field(default_factory=list)


def in_scope(files: dict[str, str], bpmn: str, element_id: str, helpers: Iterable[str] = ()) -> Scope:
    """The variables in scope at ``element_id`` of the BPMN file ``bpmn``; BundleError when it is not there."""
    if bpmn not in files:
        raise BundleError(f"文件不存在 (no such file: {bpmn})", file=bpmn)
    trees = {name: parse_xml(name, text) for name, text in files.items() if name.endswith((".bpmn", ".dmn"))}
    manifest = load(files["bundle.yaml"], "bundle.yaml") if "bundle.yaml" in files else {}
    manifest = manifest if isinstance(manifest, dict) else {}
    known = names.provided() | frozenset(helpers)
    extra = names._start_variables(manifest)
    decisions = names._decisions(trees)
    caught = names._caught(trees, manifest)
    processes = {p.get("id"): p for tree in trees.values() if tree is not None
                 for p in tree.iter(f"{{{_BPMN}}}process")}
    anywhere = {pid: names._all_defined(p, files, decisions, caught) for pid, p in processes.items()}
    everything = frozenset().union(*anywhere.values(), names.CAMPAIGN_START, names.REGION_START, extra)
    starts = {manifest.get("campaign_process"): names.CAMPAIGN_START,
              manifest.get("region_process"): names.REGION_START}
    for process in trees[bpmn].iter(f"{{{_BPMN}}}process"):
        pid = process.get("id")
        analysis = names._Process(bpmn, process, files, decisions, anywhere,
                                  starts.get(pid, names.CAMPAIGN_START | names.REGION_START | everything) | extra,
                                  known, everything, caught)
        seen = analysis._analyse()
        if element_id in seen:
            visible = seen[element_id]
        else:
            flow = next((f for f in analysis.flows if f.get("id") == element_id), None)
            if flow is None or flow.get("sourceRef") not in seen:
                continue
            visible = seen[flow.get("sourceRef")] | analysis.done[flow.get("sourceRef")]
        return Scope(sorted(visible - known), sorted(known - {names._DMN_INPUT}))
    raise BundleError(f"元素不在任何流程中 (element {element_id} is in no process of {bpmn})", file=bpmn,
                      element=element_id)


def check_expression(expression: str, scope: Scope) -> str | None:
    """Why ``expression`` would be refused there, in Chinese with English; None when it passes."""
    text = expression.strip()
    if not text:
        return "表达式为空 (empty expression)"
    try:
        check(text, "eval")
    except ForbiddenCode as exc:
        return exc.message
    except SyntaxError as exc:
        return f"表达式语法错误，须为 Python (syntax error: {exc.msg})"
    visible = set(scope.variables) | set(scope.provided)
    unknown = [name for name in names.reads_of(text, "eval") if name not in visible]
    if unknown:
        listed = "、".join(unknown)
        return f"此处未定义的变量：{listed} (not defined here: {', '.join(unknown)})"
    return None
