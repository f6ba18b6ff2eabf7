"""Due dates of user tasks: from the task's ``dueDate`` property, its attached timer, or the bundle.

In that order: an expression on the task (e.g. ``deadline(announced_on, months=1)``) says the most;
a boundary timer on the task is the next best word; a fixed date of the procedure
(``deadlines:`` in ``bundle.yaml``, from the assessment year) applies otherwise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import years
from .clock import CHINA
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
