"""Due dates of user tasks: from the task's ``dueDate`` property, its attached timer, or the bundle.

In that order: an expression on the task (e.g. ``deadline(announced_on, months=1)``) says the most;
a boundary timer on the task is the next best word; a fixed date of the procedure
(``deadlines:`` in ``bundle.yaml``, from the assessment year) applies otherwise.
"""

from __future__ import annotations

import ast
import logging
import re
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from ..clock import CHINA
from . import years
from .calendar import parse_start
from .timer_events import as_moment

logger = logging.getLogger(__name__)


class DueDates:
    """Computes ``due_at`` (an aware UTC datetime, the exclusive end of the last day) for a ready task."""

    def __init__(self, calendar_source):
        self._calendar = calendar_source  # a callable returning the current WorkCalendar

    def __call__(self, task, version, waiting: dict) -> datetime | None:
        return self.from_property(task) or self.from_timer(task, waiting) or self.from_bundle(task, version)

    def from_property(self, task) -> datetime | None:
        expression = task.task_spec.extensions.get("properties", {}).get("dueDate")
        if not expression:
            return None
        # The workflow's own script engine: its deadline helpers follow the version's weekend rule.
        value = task.workflow.script_engine.evaluate(task, expression)
        return TimerEventDefinition.get_datetime(as_moment(value))

    @staticmethod
    def from_timer(task, waiting: dict) -> datetime | None:
        """The earliest timer attached to the task (its siblings under the boundary-event split)."""
        if task.parent is None:
            return None
        dues = [waiting[str(sibling.id)][2] for sibling in task.parent.children
                if sibling is not task and str(sibling.id) in waiting]
        return min(dues, default=None)

    def from_bundle(self, task, version) -> datetime | None:
        rule = version.manifest.get("deadlines", {}).get(task.task_spec.bpmn_id)
        year = task.data.get("year")
        if not rule or not isinstance(year, int):
            return None
        due = self._calendar().fixed(year, rule["date"], int(rule.get("year", 0)),
                                     extend_weekends=version.extend_weekends).ends_at
        shift = task.data.get("deadline_shift_days")  # a campaign started after its deadlines had passed
        return due + timedelta(days=shift) if isinstance(shift, int) else due


def holiday_warnings(calendar, manifest: dict, now: datetime) -> list[str]:
    """Warnings for the years a campaign started now would need and the holiday data lacks: the
    assessment year under way and the next, with the fixed deadlines' years around them."""
    year_rule = years.parse(manifest["assessment_year"])
    today = now.astimezone(CHINA).date()
    current = today.year if today >= year_rule.start(today.year) else today.year - 1
    offsets = [int(rule.get("year", 0)) for rule in (manifest.get("deadlines") or {}).values()] + [0, 1]
    needed = {current + n + offset for n in (0, 1) for offset in offsets}
    return calendar.warnings(sorted(needed))


# -- how a due date was computed, in words (the dry run's timeline) ---------------------------------
HELPERS = {"deadline", "working_days", "fixed_deadline"}


def explain(calendar, manifest: dict, bpmn_id: str, name: str, last_day, *, expression: str | None = None,
            data: dict | None = None, bundle_yaml: str = "", timer: bool = False) -> str:
    """How the due date of the task ``name`` (its last day ``last_day``) was computed, for an administrator:
    「自我评价截止 2025年12月31日：第八条（二）年末（bundle.yaml deadlines: 12-31，考核年度当年）」."""
    head = f"{name}截止 {chinese_date(last_day)}："
    extend = bool((manifest.get("calendar") or {}).get("extend_weekends", False))
    if expression:
        return head + _explain_expression(calendar, expression, data or {}, extend)
    if timer:
        return head + "由附在该步骤上的计时器确定 (a timer attached to the task)"
    rule = (manifest.get("deadlines") or {}).get(bpmn_id)
    if rule is None:
        return head + "期限来源不明 (source of the due date unknown)"
    return head + _explain_fixed(calendar, rule, data or {}, extend, bundle_yaml, bpmn_id)


def chinese_date(day) -> str:
    """2025年12月31日."""
    return f"{day.year}年{day.month}月{day.day}日"


def _explain_fixed(calendar, rule: dict, data: dict, extend: bool, bundle_yaml: str, bpmn_id: str) -> str:
    offset = int(rule.get("year", 0))
    when = {0: "考核年度起始之年", 1: "次年", -1: "上一年"}.get(offset, f"起始之年加 {offset} 年")
    basis = legal_basis(bundle_yaml, bpmn_id)
    words = (f"{basis}；" if basis else "") + f"bundle.yaml deadlines: {rule['date']}（{when}）"
    year = data.get("year")
    if isinstance(year, int):
        settled = calendar.fixed(year, rule["date"], offset, extend_weekends=extend)
        if settled.reason:
            words += f"；{settled.reason}"
    shift = data.get("deadline_shift_days")
    if isinstance(shift, int) and shift:
        words += f"；考核启动时期限已过，顺延 {shift} 天 (the campaign started after the date: moved by {shift} days)"
    return words


def legal_basis(bundle_yaml: str, bpmn_id: str) -> str:
    """The comment on the ``deadlines:`` line of ``bpmn_id`` in bundle.yaml (where the 办法 says it), or ''."""
    inside = False
    for line in bundle_yaml.splitlines():
        if re.match(r"deadlines\s*:", line):
            inside = True
            continue
        if inside and line and not line[0].isspace():
            break
        if inside and re.match(rf"\s+{re.escape(bpmn_id)}\s*:", line) and "#" in line:
            return line.split("#", 1)[1].strip()
    return ""


def _explain_expression(calendar, expression: str, data: dict, extend: bool) -> str:
    words = f"dueDate {expression}"
    try:
        call = ast.parse(expression.strip(), mode="eval").body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in HELPERS):
            return words
        args = [_value(a, data) for a in call.args]
        kwargs = {k.arg: _value(k.value, data) for k in call.keywords}
        helper = call.func.id
        if helper == "deadline":
            start = parse_start(args[0])
            period = {"years": "年", "months": "个月", "days": "日"}
            spans = "".join(f"{int(kwargs[k])}{unit}" for k, unit in period.items() if kwargs.get(k))
            settled = calendar.deadline(start, **{k: int(v) for k, v in kwargs.items() if k in period},
                                        extend_weekends=extend)
            words += f"：自 {chinese_date(start)} 起 {spans}（民法典第二百零一、二百零二条）"
        elif helper == "working_days":
            start = parse_start(args[0])
            settled = calendar.working_days(start, int(args[1]))
            words += f"：自 {chinese_date(start)} 起 {int(args[1])} 个工作日"
        else:
            offset = int(args[2]) if len(args) > 2 else 0
            settled = calendar.fixed(int(args[0]), str(args[1]), offset, extend_weekends=extend)
            words += f"：{int(args[0]) + offset}年 {args[1]}"
    except (SyntaxError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return words
    return words + (f"；{settled.reason}" if settled.reason else "")


def _value(node: ast.AST, data: dict):
    """A constant, a variable or a subscript of one, read from the task's data (nothing is called)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return data[node.id]
    if isinstance(node, ast.Subscript):
        return _value(node.value, data)[_value(node.slice, data)]
    raise ValueError(f"not a plain value: {ast.dump(node)}")
