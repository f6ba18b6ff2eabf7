"""Incidents: running an instance failed, so it stays at its last good state until an administrator acts.

The failed transaction has rolled back; ``record`` writes, in a transaction of its own, what failed (the
instance, the BPMN element and its name, the error in words, when, how many times) and tells the
administrators by in-app notice and e-mail, as escalations do. An administrator retries the instance (after
publishing a fixed version and migrating it, or as it is) or cancels it with a reason; both are audited.
"""

from __future__ import annotations

import logging
from datetime import datetime

from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, ExpressionError, NotFound, ValidationError
from ..records import audit, mail, notices
from ..store.models import Incident, Instance, Message, Notification, RoleAssignment, Timer, User
from .campaign_state import end_instances

logger = logging.getLogger(__name__)

#: What the users of an instance with an open incident are told instead of an error page.
HELD_UP = "此步骤暂时无法办理，已通知管理员 (this step is held up; the administrator has been told)"


def element_of(exc: BaseException) -> tuple[str | None, str | None]:
    """The BPMN id and name of the element a SpiffWorkflow error came from, if it says."""
    seen = exc
    while seen is not None:
        task = getattr(seen, "task", None)
        spec = getattr(task, "task_spec", None) or getattr(seen, "task_spec", None)
        if spec is not None and getattr(spec, "bpmn_id", None):
            return spec.bpmn_id, spec.bpmn_name or spec.bpmn_id
        seen = seen.__cause__ or seen.__context__
    return None, None


def kind_of(exc: BaseException) -> str:
    """``limit`` for a time or size budget exceeded, ``expression`` for a failing expression, else ``error``."""
    kind = getattr(exc, "kind", None)
    if kind:
        return kind
    seen = exc
    while seen is not None:
        if isinstance(seen, MemoryError | RecursionError) or getattr(seen, "limit", False):
            return "limit"
        seen = seen.__cause__ or seen.__context__
    return "expression" if isinstance(exc, ExpressionError | WorkflowException) else "error"


def words(exc: BaseException) -> str:
    """The error as one paragraph for an administrator: SpiffWorkflow's message and notes, no traceback."""
    text = str(exc).strip() or type(exc).__name__
    parts = [text]
    cause = exc.__cause__ or exc.__context__  # what SpiffWorkflow wrapped
    if cause is not None and str(cause) not in text:
        parts.append(f"{type(cause).__name__}: {cause}")
    parts += [n for n in getattr(exc, "__notes__", []) if n not in text]
    return " ".join(parts)[:2000]


def record(store, now: datetime, instance_id: int, kind: str, error: str, bpmn_id: str | None = None,
           element: str | None = None) -> Incident | None:
    """Open an incident for the instance, or count one more attempt on its open one; notify on the first."""
    with store.write() as session:
        instance = session.get(Instance, instance_id) if instance_id is not None else None
        if instance is None:  # it was being started: nothing is left to hold up
            return None
        incident = session.scalars(select(Incident).where(Incident.instance_id == instance_id,
                                                          Incident.resolved_at.is_(None))).first()
        if incident is not None:
            incident.attempts += 1
            incident.last_at, incident.error, incident.kind = now, error[:2000], kind
            incident.bpmn_id, incident.element = bpmn_id or incident.bpmn_id, element or incident.element
            return incident
        incident = Incident(instance_id=instance_id, campaign_id=instance.campaign_id, kind=kind, bpmn_id=bpmn_id,
                            element=element, error=error[:2000], attempts=1, created_at=now, last_at=now)
        session.add(incident)
        session.flush()
        audit.record(session, now, "system", "incident", instance_id=instance_id, bpmn_id=bpmn_id,
                     data={"incident": incident.id, "kind": kind, "error": error[:500]})
        _notify(session, incident, instance, now)
        logger.warning("incident %s on instance %s at %s: %s", incident.id, instance_id, bpmn_id, error)
        return incident


def _notify(session: Session, incident: Incident, instance: Instance, now: datetime) -> None:
    """Every active administrator gets a notice, and a mail where they have an address."""
    admins = session.scalars(select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
                             .where(RoleAssignment.role == "admin", User.active.is_(True)).distinct())
    link = f"/admin/incidents#incident-{incident.id}"
    said = notices.incident_params(incident, instance, link)
    subject, body = notices.text("incident", said)
    words = None
    for user in admins:
        notice = Notification(user_id=user.id, at=now, kind="incident", title=subject, body=body, link=link,
                              instance_id=instance.id, campaign_id=instance.campaign_id, message="incident",
                              params=said)
        session.add(notice)
        if user.email:  # mailed in its reader's language
            session.flush()
            english = user.language == "en"
            if english and words is None:
                words = notices.catalogues(session, [instance.campaign_id]).get(instance.campaign_id)
            mail.queue(session, user.email, *notices.read(notice, english, words), now, notification_id=notice.id)


def open_incidents(session: Session, campaign_id: int | None = None) -> list[Incident]:
    query = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.created_at, Incident.id)
    if campaign_id is not None:
        query = query.where(Incident.campaign_id == campaign_id)
    return list(session.scalars(query))


def held_up(session: Session, instance_id: int) -> Incident | None:
    """The instance's open incident, if it has one."""
    return session.scalars(select(Incident).where(Incident.instance_id == instance_id,
                                                  Incident.resolved_at.is_(None)).limit(1)).first()


def _open(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"故障 {incident_id} 不存在 (no incident {incident_id})")
    if incident.resolved_at is not None:
        raise Conflict(f"故障 {incident_id} 已处理 (incident {incident_id} is already {incident.resolution})")
    return incident


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写原因 (a reason is required)")
    return reason[:2000]


def mark_retried(session: Session, incident_id: int, actor: str, reason: str, now: datetime) -> Incident:
    """Close the incident for a retry: the messages and timers that gave up on the instance are tried again."""
    incident = _open(session, incident_id)
    incident.resolved_at, incident.resolved_by, incident.resolution = now, actor, "retried"
    incident.reason = _reason(reason)
    session.execute(update(Message).where(Message.target_id == incident.instance_id, Message.delivered_at.is_(None))
                    .values(failed_at=None, attempts=0, next_attempt_at=None, error=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(Timer).where(Timer.instance_id == incident.instance_id, Timer.fired_at.is_(None))
                    .values(attempts=0, error=None).execution_options(synchronize_session=False))
    audit.record(session, now, actor, "incident_retry", instance_id=incident.instance_id,
                 data={"incident": incident.id, "reason": incident.reason})
    return incident


def cancel(session: Session, store, incident_id: int, actor: str, reason: str, now: datetime) -> Incident:
    """Cancel the instance of an incident: its tasks and pending messages go, its waiting timers are marked
    cancelled; the state stays for the record."""
    incident = _open(session, incident_id)
    reason = _reason(reason)
    instance = store.lock_instance(session, incident.instance_id)
    instance.status, instance.updated_at = "cancelled", now
    instance.revision += 1
    incident.resolved_at, incident.resolved_by, incident.resolution, incident.reason = now, actor, "cancelled", reason
    end_instances(session, [instance.id], now, "流程实例已取消 (the instance was cancelled)")
    audit.record(session, now, actor, "incident_cancel", instance_id=instance.id,
                 data={"incident": incident.id, "reason": reason})
    return incident
