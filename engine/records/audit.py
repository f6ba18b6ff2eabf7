"""The append-only audit log: every submitted figure can be traced to who, when and what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..store import chain
from ..store.models import AuditEntry, Instance


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


@dataclass
class Filters:
    """What the audit log page and its export narrow the log to; all optional."""

    actor: str | None = None
    actions: list[str] = field(default_factory=list)
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    instance_id: int | None = None
    campaign_id: int | None = None

    def where(self) -> list:
        clauses = []
        if self.actor:
            clauses.append(AuditEntry.actor == self.actor)
        if self.actions:
            clauses.append(AuditEntry.action.in_(self.actions))
        if self.since:
            clauses.append(AuditEntry.at >= self.since)
        if self.until:
            clauses.append(AuditEntry.at < self.until)
        if self.instance_id:
            clauses.append(AuditEntry.instance_id == self.instance_id)
        if self.campaign_id:  # its instances' entries, and the campaign's own (start, suspend, …)
            mine = select(Instance.id).where(Instance.campaign_id == self.campaign_id)
            clauses.append(or_(AuditEntry.instance_id.in_(mine),
                               AuditEntry.data["campaign"].as_integer() == self.campaign_id))
        return clauses


def search(session: Session, filters: Filters, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest entries matching ``filters`` (older than ``before_id`` for the next page)."""
    query = select(AuditEntry).where(*filters.where())
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


def actions(session: Session) -> list[str]:
    """Every action the log holds, for the page's filter."""
    return sorted(session.scalars(select(AuditEntry.action).distinct()))
