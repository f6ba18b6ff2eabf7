"""The append-only audit log: every submitted figure can be traced to who, when and what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import chain
from .store.models import AuditEntry


def record(session: Session, at: datetime, actor: str, action: str, *, instance_id: int | None = None,
           task_id: str | None = None, bpmn_id: str | None = None, data: dict | None = None) -> None:
    """Add an entry to the log when ``session``'s transaction commits (chained then, under the chain lock)."""
    chain.queue(session, AuditEntry(at=at, actor=actor, action=action, instance_id=instance_id, task_id=task_id,
                                    bpmn_id=bpmn_id, data=data))


def verify(session: Session, anchor: tuple[int, str] | None = None) -> chain.Report:
    """Recompute the chain; the report names the first entry whose link does not hold."""
    return chain.verify(session, anchor)


def history(session: Session, instance_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                                .order_by(AuditEntry.id)))
