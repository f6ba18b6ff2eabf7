"""Timers are rows: every save records the instance's waiting timers; firing is one idempotent function.

``fire_due_timers`` claims each due row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer at a time), re-checks it under the instance lock, lets the workflow fire it on the engine's
clock, and marks it fired in the same transaction. Running it twice, or from two processes, fires
each timer once. A failure is written on the row, where an administrator can see it, and the next
timer is tried. A timer whose task ended before it fired (a boundary timer of a task completed or
cancelled, an event-based gateway's timer when a message came first) is marked cancelled, not fired.
"""

from __future__ import annotations

import logging
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..store.models import Instance, Timer
from . import incidents
from .serializer import find_task
from .timer_events import KINDS

logger = logging.getLogger(__name__)

#: Attempts after which a failing timer is left for an administrator.
MAX_ATTEMPTS = 5
#: Timers fired per transaction (each in a savepoint of its own): fewer commits when many fall due at once.
BATCH = 50
#: A timer row still waiting: neither fired nor cancelled.
WAITING = Timer.fired_at.is_(None) & Timer.cancelled_at.is_(None)
#: A timer of an instance that runs: one of a suspended campaign waits until it resumes.
_RUNNING = Timer.instance_id.not_in(select(Instance.id).where(Instance.status == "suspended").scalar_subquery())


def waiting_timers(workflow) -> dict[str, tuple[object, str, datetime]]:
    """``{task id: (task, kind, due)}`` for every timer the workflow waits on."""
    found = {}
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        for timer in getattr(definition, "event_definitions", [definition]):
            if not isinstance(timer, TimerEventDefinition):
                continue
            value = timer.details(task).value
            if value is None:
                continue
            due = TimerEventDefinition.get_datetime(value if isinstance(value, str) else value.isoformat())
            found[str(task.id)] = (task, KINDS.get(type(timer).__name__, "timeDate"), due)
    return found


def sync(session: Session, row: Instance, workflow, now: datetime,
         before: dict[str, datetime], waiting: dict | None = None) -> tuple[dict, bool]:
    """Make the instance's unfired timer rows its waiting timers; return them and whether any is new.

    ``before``: the unfired timers the rows held when the workflow was loaded (task id -> due); ``waiting``:
    ``waiting_timers(workflow)`` when the caller has it already."""
    waiting = waiting_timers(workflow) if waiting is None else waiting
    for task_id in before.keys() - waiting.keys():
        task = find_task(workflow, task_id)
        # Cancelled with the task it was attached to, or an event-based gateway's timer when a message won.
        ended = {"fired_at": now} if _fired(task) else {"cancelled_at": now}
        session.execute(_update_waiting(row.id, task_id).values(**ended))
    changed = False
    for task_id, (task, kind, due) in waiting.items():
        if task_id not in before:
            session.add(Timer(instance_id=row.id, task_id=task_id, bpmn_id=task.task_spec.bpmn_id, kind=kind,
                              due_at=due))
            changed = True
        elif before[task_id] != due:  # a cycle moved on to its next time
            session.execute(_update_waiting(row.id, task_id).values(due_at=due))
            changed = True
    return waiting, changed


def _update_waiting(instance_id: int, task_id: str):
    """An UPDATE of an instance's waiting timer row, built only when a row changes (most actions change none)."""
    return (update(Timer).where(Timer.instance_id == instance_id, WAITING, Timer.task_id == task_id)
            .execution_options(synchronize_session=False))  # no Timer objects of this instance are loaded here


def _fired(task) -> bool:
    """Whether the timer a task waited on fired: its task completed, and for an event-based gateway, on the
    branch of a timer (the gateway completes too when a message comes first)."""
    if task is None or not task.has_state(TaskState.COMPLETED):
        return False
    if not isinstance(task.task_spec, EventBasedGateway):
        return True
    definitions = task.task_spec.event_definition.event_definitions
    taken = {child.task_spec for child in task.children}
    return any(isinstance(definition, TimerEventDefinition) and output in taken
               for definition, output in zip(definitions, task.task_spec.outputs, strict=False))


def next_due(session: Session) -> datetime | None:
    """When the earliest unfired timer is due (failed ones and those of suspended instances left aside)."""
    return session.scalar(select(func.min(Timer.due_at)).where(WAITING, Timer.attempts < MAX_ATTEMPTS, _RUNNING))


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return list(session.scalars(select(Timer.id).where(WAITING, Timer.due_at <= now,
                                                       Timer.attempts < MAX_ATTEMPTS, _RUNNING)
                                .order_by(Timer.due_at, Timer.id).limit(limit)))


def claim(session: Session, store, timer_id: int) -> tuple[Timer, Instance] | None:
    """Lock an unfired timer and its instance for this transaction, in one query.

    None when it has fired, or when another process holds either row (PostgreSQL's SKIP LOCKED): the
    timer is then somebody else's, or its instance is busy for a moment and the next pass fires it.
    """
    query = _CLAIM_SKIP_LOCKED if store.dialect == "postgresql" else _CLAIM
    found = session.execute(query, {"timer_id": timer_id}).one_or_none()
    return None if found is None else (found[0], found[1])


# Built once: when thousands of timers fall due together, building the statement costs more than running it.
_CLAIM = (select(Timer, Instance).join(Instance, Instance.id == Timer.instance_id)
          .where(Timer.id == bindparam("timer_id"), WAITING, Instance.status != "suspended")
          .execution_options(populate_existing=True))
_CLAIM_SKIP_LOCKED = _CLAIM.with_for_update(skip_locked=True, of=(Timer, Instance), key_share=True)


def fire_due_timers(engine, now: datetime | None = None, limit: int = 1000) -> int:
    """Fire every timer due by ``now``; safe to run twice and from two processes. Returns how many fired."""
    now = now or engine.clock.now()
    with engine.store.read() as session:
        ids = due_ids(session, now, limit)
    fired = 0
    for start in range(0, len(ids), BATCH):
        done, failures = engine.fire_timers(ids[start:start + BATCH], now)
        fired += done
        for timer_id, error in failures.items():
            logger.warning("timer %s failed: %s", timer_id, error)
            _record_failure(engine, timer_id, error)
    return fired


def failed_timers(session: Session) -> list[Timer]:
    """Waiting timers that failed at least once, for administrators; given up ones first."""
    return list(session.scalars(select(Timer).where(WAITING, Timer.attempts > 0)
                                .order_by(Timer.attempts.desc(), Timer.due_at)))


def retry(session: Session, timer_id: int) -> Timer:
    """An administrator lets a failed timer be tried again (after fixing the procedure or the data)."""
    timer = session.get(Timer, timer_id)
    if timer is None or timer.fired_at is not None or timer.cancelled_at is not None:
        raise NotFound(f"没有待重试的计时器 {timer_id} (no unfired timer {timer_id})")
    timer.attempts, timer.error = 0, None
    return timer


def _record_failure(engine, timer_id: int, error: str) -> None:
    with engine.store.write() as session:
        timer = session.get(Timer, timer_id)
        if timer is not None and timer.fired_at is None and timer.cancelled_at is None:
            timer.attempts += 1
            timer.error = error[:2000]
            instance_id, bpmn_id = timer.instance_id, timer.bpmn_id
        else:
            return
    incidents.record(engine.store, engine.clock.now(), instance_id, "timer",
                     f"计时器触发失败 (a timer failed): {error}", bpmn_id)
