"""BPMN timer definitions that read the engine's clock, so timers run on virtual time too.

SpiffWorkflow's timers compare against ``datetime.now()``. These subclasses keep its parsing and
its serialized form (same class names, same converters) and ask the workflow's script engine for
the clock instead. Expressions may return a datetime, a date or an ISO 8601 string.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

from ..clock import CHINA

KINDS = {"TimeDateEventDefinition": "timeDate", "DurationTimerEventDefinition": "timeDuration",
         "CycleTimerEventDefinition": "timeCycle"}


def now_for(my_task) -> datetime:
    clock = getattr(my_task.workflow.script_engine, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def as_moment(value) -> str:
    """A timer value as an ISO string with its offset; a bare date means 24:00 China time of that day."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=CHINA)).isoformat()
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), datetime.min.time(), CHINA).isoformat()
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-" and not text.upper().startswith("P"):
        return as_moment(date.fromisoformat(text))
    return text


class TimeDateEventDefinition(spiff.TimeDateEventDefinition):
    """A timer at a date and time."""

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = as_moment(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            my_task._set_internal_data(event_value=event_value)
        if self.parse_time_or_duration(_with_offset(event_value)) <= now_for(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class DurationTimerEventDefinition(spiff.DurationTimerEventDefinition):
    """A timer a duration (``P1M``, ``PT2H``) after the task started waiting."""

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = now_for(my_task)
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = self.parse_iso_duration(str(expression))
            event_value = (now + self.get_timedelta_from_start(parsed, now)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if self.get_datetime(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class CycleTimerEventDefinition(spiff.CycleTimerEventDefinition):
    """A repeating timer (``R3/PT1H`` or ``R/2025-07-01T09:00:00+08:00/P7D``)."""

    def cycle_complete(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = now_for(my_task)
        if event_value is None:
            expression = str(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            cycles, start, duration = _recurring(expression, now)
            event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            following = datetime.fromisoformat(event_value["next"])
            if following <= now:
                event_value["next"] = (following + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


def _with_offset(value: str) -> str:
    """Times written without an offset are China time, never the server's zone (SpiffWorkflow's default)."""
    if "T" in value and not value.upper().startswith(("P", "R")):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=CHINA).isoformat()
    return value


def _recurring(expression: str, now: datetime):
    parts = expression.upper().replace("--", "/").strip("R").split("/")
    if len(parts) == 2 and parts[1].startswith("P"):
        cycles = int(parts[0]) if parts[0] else -1
        duration = spiff.TimerEventDefinition.get_timedelta_from_start(
            spiff.TimerEventDefinition.parse_iso_duration(parts[1]), now)
        return cycles, now + duration, duration
    return spiff.TimerEventDefinition.parse_iso_recurring_interval(_with_offset_interval(expression))


def _with_offset_interval(expression: str) -> str:
    return "/".join(_with_offset(p) if "T" in p and not p.startswith("P") else p for p in expression.split("/"))


CLOCKED = {spiff.TimeDateEventDefinition: TimeDateEventDefinition,
           spiff.DurationTimerEventDefinition: DurationTimerEventDefinition,
           spiff.CycleTimerEventDefinition: CycleTimerEventDefinition}


def clock_timers(specs: dict) -> None:
    """Swap SpiffWorkflow's timer definitions in parsed specs for the clocked ones, in place."""
    for spec, subprocess_specs in specs.values():
        for process in (spec, *subprocess_specs.values()):
            for task_spec in process.task_specs.values():
                definition = getattr(task_spec, "event_definition", None)
                if definition is not None:
                    task_spec.event_definition = _clocked(definition)


def _clocked(definition):
    if isinstance(definition, MultipleEventDefinition):
        definition.event_definitions = [_clocked(d) for d in definition.event_definitions]
        return definition
    ours = CLOCKED.get(type(definition))
    if ours is None:
        return definition
    clocked = ours.__new__(ours)
    clocked.__dict__.update(definition.__dict__)
    return clocked


def serializer_config(config: dict) -> dict:
    """The spiff serializer config with the clocked timers in place of SpiffWorkflow's own."""
    config = dict(config)
    for theirs, ours in CLOCKED.items():
        config[ours] = config.pop(theirs)
    return config
