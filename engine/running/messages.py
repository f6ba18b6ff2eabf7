"""Message rows left undelivered are delivered by the scheduler: each pass, and at start-up.

A completion commits its message rows, then delivers them in separate transactions; a crash or a busy
target in between leaves rows behind. ``deliver_pending`` finds them and gives each target instance a
transaction of its own, claimed so that two processes never run the same one (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer at a time). A message nothing catches is tried again with back-off, written
on its row; after ``MAX_ATTEMPTS`` with nothing left that could move its target, or at once when the target
has ended, it is given up and becomes an incident. A campaign instance that gathers a message from every
region waits for them legitimately: its senders are counted, and it is not loaded until all have sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from ..errors import RunFailed
from ..store.models import Instance, Message
from . import incidents, results

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
#: How long a gathering campaign's partial messages rest before their senders are counted again (each new
#: message is due at once, so the last region's report is never kept waiting by this).
GATHER_WAIT = timedelta(hours=6)


def _due(now: datetime):
    return (Message.delivered_at.is_(None), Message.failed_at.is_(None),
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))


def due_targets(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Instances with messages due for delivery, the longest waiting first."""
    return list(session.scalars(select(Message.target_id).where(*_due(now)).group_by(Message.target_id)
                                .order_by(func.min(Message.id)).limit(limit)))


def next_due(session: Session) -> datetime | None:
    """When the earliest undelivered message is due (given up ones left aside)."""
    return session.scalar(select(func.min(func.coalesce(Message.next_attempt_at, Message.created_at)))
                          .where(Message.delivered_at.is_(None), Message.failed_at.is_(None)))


def backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def deliver_pending(engine, now: datetime | None = None, limit: int = 1000) -> int:
    """Deliver what is due to every instance; safe to run twice and from two processes. Returns how many ran."""
    now = now or engine.clock.now()
    with engine.store.read() as session:
        targets = due_targets(session, now, limit)
    ran = 0
    for target in targets:
        try:
            ran += _deliver_to(engine, target, now)
        except RunFailed as failed:  # the target failed while catching: an incident, and the next target
            _failed(engine, target, now, failed)
    return ran


def _deliver_to(engine, target_id: int, now: datetime) -> int:
    """One target in one transaction; 1 when it ran."""
    advance = None
    with engine.store.write() as session:
        row = engine.store.claim_instance(session, target_id)
        if row is None:  # busy (another process holds it): the next pass
            return 0
        due = list(session.scalars(select(Message).where(Message.target_id == target_id, *_due(now))
                                   .order_by(Message.id)))
        if not due:
            return 0
        if row.status == "suspended":  # its campaign is suspended: delivered once it resumes
            for message in due:
                message.next_attempt_at = now + GATHER_WAIT
            return 0
        if row.status != "running":
            _give_up(due, now, f"目标流程实例已{'结束' if row.status == 'completed' else '取消'} "
                               f"(the target instance is {row.status})")
            gone = True
        else:
            gone = False
            version = engine.version(session, row.version_id)
            if _gathering(row, version) and not _complete(session, row, due):
                for message in due:  # waiting for the other regions is what it should do
                    message.next_attempt_at = now + GATHER_WAIT
                return 0
            workflow = engine.runner.load(row, version)
            advance = engine.advance_loaded(session, row, workflow, version)
            left = set(session.scalars(select(Message.id).where(Message.id.in_([m.id for m in due]),
                                                                Message.delivered_at.is_(None))))
            stuck = _stuck(workflow)
            for message in due:
                if message.id not in left:
                    continue
                message.attempts += 1
                message.error = f"没有步骤在等待消息 {message.name} (no step waits for message '{message.name}')"
                message.next_attempt_at = now + backoff(message.attempts)
                if message.attempts >= MAX_ATTEMPTS and stuck:
                    _give_up([message], now, message.error)
                    gone = True
    if gone:
        incidents.record(engine.store, now, target_id, "message",
                         f"消息无法送达 (a message could not be delivered): {due[0].name}: {due[0].error}")
    if advance is None:
        return 0
    engine.after_delivery(advance)
    return 1


def _give_up(messages: list[Message], now: datetime, error: str) -> None:
    for message in messages:
        message.failed_at, message.error = now, error


def _gathering(row: Instance, version) -> bool:
    return version.rules is not None and row.campaign_id is not None and row.region is None


def _complete(session: Session, row: Instance, due: list[Message]) -> bool:
    """Whether some message name the campaign gathers has now been sent by every region."""
    expected = results.expected(session, row.campaign_id)
    for name in {m.name for m in due}:
        senders = session.scalar(select(func.count(distinct(Message.source_id)))
                                 .where(Message.target_id == row.id, Message.name == name,
                                        Message.delivered_at.is_(None)))
        if senders >= expected:
            return True
    return False


def _stuck(workflow) -> bool:
    """Nothing could move the instance by itself: no ready task, no timer, no catch event waiting."""
    rows = getattr(workflow, "kaohe_rows", None)
    return not (rows and (rows.ready or rows.timers)) and not workflow.event_manager.tasks


def _failed(engine, target_id: int, now: datetime, failed: RunFailed) -> None:
    """Running the target failed: count the attempt on its messages and open (or count on) its incident."""
    with engine.store.write() as session:
        for message in session.scalars(select(Message).where(Message.target_id == target_id, *_due(now))):
            message.attempts += 1
            message.error = failed.error[:2000]
            message.next_attempt_at = now + backoff(message.attempts)
    engine.incident(failed)
