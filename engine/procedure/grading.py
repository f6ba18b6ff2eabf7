"""The grade table checked by evaluating it: every score of the scale gets exactly one grade.

SpiffWorkflow's own DMN engine evaluates the bundle's decision, rule by rule, on scores sampled over the
whole scale: 0, the scale, an even grid, every number written in the table, a step either side of each and
the midpoints between them (a condition on the score changes only at a number, so this sees every band).
It does so without a veto, and with each veto item of the scheme hit (and all of them at once). A score
that no rule matches is a gap, one that two rules match an overlap (DMN's UNIQUE: SpiffWorkflow itself
takes the first match and, with none, leaves ``grade`` unset); either refuses the bundle, naming the band.
Every band that is wrong is reported, not just the first.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from types import SimpleNamespace

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from ..errors import BundleError
from ..running import sandbox
from . import yamlfile

GRID = 50  # even steps over the scale, besides the numbers in the table
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def check_grade_table(parser, manifest: dict, scheme: dict, scale: Decimal) -> list[BundleError]:
    """Every gap, overlap and grade not in ``grades`` of the grade table, each naming its band or row."""
    decision_id = manifest["grade_decision"]
    dmn = parser.dmn_parsers.get(decision_id)
    if dmn is None:
        return [BundleError(f"grade_decision '{decision_id}' 不是任何 DMN 文件中的决策 "
                          f"(grade_decision names no decision of the bundle's DMN files)", file="bundle.yaml")]
    dmn.parse()
    table = dmn.decision.decisionTables[0]
    if not any(output.name == "grade" for output in table.outputs):
        return [BundleError("等级表没有名为 grade 的输出列 (the grade table has no output named 'grade')",
                            file=dmn.filename)]
    every = copy.copy(table)
    every.hit_policy = "COLLECT"  # all the rules that match, not just the first
    engine = DMNEngine(every)
    workflow = SimpleNamespace(script_engine=sandbox.script_engine(), spec=SimpleNamespace(file=dmn.filename))
    workflow.top_workflow = workflow
    scores, marks = _samples(table, scheme, scale)
    lines = {rule.row_number: _line(dmn, rule.id) for rule in table.rules}
    found: list[BundleError] = []
    wrong_rows: set[int] = set()
    seen: set = set()  # a band wrong with no veto is said once, not again for each veto item
    where = (dmn.filename, _line(dmn, decision_id), decision_id)
    for hits in _veto_cases(scheme):
        matched = []
        for score in scores:
            data = {"score": _plain(score), "vetoed": bool(hits), "veto_hits": list(hits)}
            task = SimpleNamespace(data=data, workflow=workflow,
                                   task_spec=SimpleNamespace(bpmn_name="grade", bpmn_id="grade"))
            try:
                rules = engine.decide(task)
                grades = [rule.output_as_dict(task).get("grade") for rule in rules]
            except Exception as exc:  # whatever the cell raises, the administrator reads it here
                notes = "; ".join(getattr(exc, "__notes__", []))
                found.append(BundleError(f"等级表无法计算 (the grade table fails) at score {_plain(score)}: {exc} "
                                         f"{notes}".strip(), file=dmn.filename))
                return found
            for rule, grade in zip(rules, grades, strict=True):
                if grade not in manifest["grades"] and rule.row_number not in wrong_rows:
                    wrong_rows.add(rule.row_number)
                    found.append(BundleError(f"等级表第 {rule.row_number} 行给出等级 {grade!r}，不在 grades 之中 "
                                      f"(row {rule.row_number} gives a grade not listed in bundle.yaml grades)",
                                      file=dmn.filename, line=lines[rule.row_number], element=rule.id))
            matched.append([rule.row_number for rule in rules])
        found += _gaps_and_overlaps(scores, marks, matched, hits, where, lines, seen)
    return found


def _samples(table, scheme: dict, scale: Decimal) -> tuple[list[Decimal], set[Decimal]]:
    """Scores to try (the grid, each number in the table and a step either side, the midpoints between
    them), and the marks among them (the grid and the table's numbers) that name a band."""
    written = {Decimal(n) for rule in table.rules for entry in rule.inputEntries for text in entry.lhs if text
               for n in _NUMBER.findall(text)}
    places = [-n.as_tuple().exponent for n in written | {scale} | {Decimal(str(i["points"]))
                                                                   for i in scheme["indicators"]}]
    step = Decimal(1).scaleb(-(max(places + [0]) + 2))  # 0.01 when every number is whole
    points = {scale * k / GRID for k in range(GRID + 1)}
    for n in written:
        points.update((n - step, n, n + step))
    points = sorted(p for p in points if 0 <= p <= scale)
    middles = [(a + b) / 2 for a, b in zip(points, points[1:], strict=False)]
    marks = {scale * k / GRID for k in range(GRID + 1)} | written
    return sorted(set(points) | set(middles)), marks


def _veto_cases(scheme: dict) -> list[tuple[str, ...]]:
    """No veto; each veto item hit on its own; all of them at once."""
    codes = tuple(str(v["code"]) for v in scheme.get("veto") or [])
    cases = [()] + [(code,) for code in codes]
    if len(codes) > 1:
        cases.append(codes)
    return cases


def _gaps_and_overlaps(scores, marks, matched, hits, where, lines, seen: set) -> list[BundleError]:
    filename, table_line, decision = where
    found = []
    n = 0
    while n < len(scores):
        if len(matched[n]) == 1:
            n += 1
            continue
        end = n
        while end + 1 < len(scores) and matched[end + 1] == matched[n]:
            end += 1
        low, high = _band(scores, n, end, marks)
        key = (low, high, tuple(matched[n]))
        if key in seen:
            n = end + 1
            continue
        seen.add(key)
        where = f"在 {low} 分" if low == high else f"在 {low} 至 {high} 分之间"
        at = f"at {low}" if low == high else f"between {low} and {high}"
        when = f"否决项 {'、'.join(hits)} 成立时，" if hits else ""
        when_en = f" when veto items {', '.join(hits)} are hit" if len(hits) > 1 else \
            f" when veto item {hits[0]} is hit" if hits else ""
        if not matched[n]:
            found.append(BundleError(f"{when}等级表{where}没有等级 (the grade table gives no grade {at}{when_en})",
                                     file=filename, line=table_line, element=decision))
            n = end + 1
            continue
        rows = "、".join(str(r) for r in matched[n])
        first = matched[n][0]
        found.append(BundleError(f"{when}等级表{where}有多条规则同时适用：第 {rows} 行 (rows "
                                 f"{', '.join(map(str, matched[n]))} of the grade table overlap {at}{when_en}; "
                                 f"each score needs exactly one row)", file=filename, line=lines.get(first)))
        n = end + 1
    return found


def _band(scores, first: int, last: int, marks) -> tuple[str, str]:
    """The band a run of samples stands for, named by the numbers of the table (or grid) around it."""
    low = scores[first]
    if low not in marks and first > 0 and scores[first - 1] in marks:
        low = scores[first - 1]  # the band begins just past a number the table names
    high = scores[last]
    if last + 1 < len(scores) and (scores[last + 1] in marks or high not in marks):
        high = scores[last + 1]  # the band ends just before the next number
    return _plain(low), _plain(high)


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _line(dmn, rule_id: str) -> int | None:
    found = dmn.node.getroottree().getroot().xpath(".//*[@id=$id]", id=rule_id)
    return found[0].sourceline if found else None


def settings(files: dict[str, str]) -> dict:
    """What the grade table editor needs from the rest of a bundle: its grades (best first), scale, the decision
    that sets them and the veto items of its scheme; what a file that cannot be read leaves out is left empty."""
    def load(name):
        try:
            data = yamlfile.load(files.get(name, ""), name)
        except BundleError:
            return {}
        return data if isinstance(data, dict) else {}

    manifest = load("bundle.yaml")
    scheme = load(str(manifest.get("scheme") or "scheme.yaml"))
    grades = manifest.get("grades")
    veto = scheme.get("veto")
    try:
        scale = Decimal(str(manifest.get("scale", 100)))
    except ArithmeticError:
        scale = Decimal(100)
    return {"grades": [str(g) for g in grades] if isinstance(grades, list) else [],
            "scale": _plain(scale) if scale > 0 else "100",
            "decision": str(manifest.get("grade_decision") or "grade"),
            "veto": [{"code": str(v.get("code", "")), "name": str(v.get("name", ""))}
                     for v in veto if isinstance(v, dict)] if isinstance(veto, list) else []}
