"""Suspending, resuming and cancelling a campaign, each with a reason, in the audit log (issue 12, item 7).

A suspended campaign keeps everything where it is: its instances are marked ``suspended``, so that no task of it
can be completed, no timer of it fires, no reminder of it is sent and no message reaches it; resuming marks them
``running`` again and what fell due meanwhile happens then. Cancelling ends the campaign for good: its running
and suspended instances are cancelled as an incident's cancel does (tasks gone, waiting timers cancelled, pending
messages given up), the state kept for the record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, ValidationError
from ..records import audit
from ..store.models import Campaign, InboxTask, Instance, Message, Timer

#: Campaign statuses, in words (for the engine's own messages).
STATUS_NAMES = {"running": "进行中", "suspended": "已暂停", "cancelled": "已取消", "completed": "已办结"}
ACTIONS = {"suspend": ("running", "suspended"), "resume": ("suspended", "running"),
           "cancel": (("running", "suspended"), "cancelled")}
VERBS = {"suspend": "暂停", "resume": "恢复", "cancel": "取消"}
PAST = {"suspend": "suspended", "resume": "resumed", "cancel": "cancelled"}
#: What completing a task of a suspended campaign is told.
SUSPENDED = "本次考核已暂停，恢复后方可办理 (the campaign is suspended: this can be done once it resumes)"


def reason_of(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写原因 (a reason is required)")
    return reason[:2000]


def change(session: Session, campaign_id: int, action: str, actor: str, reason: str,
           now: datetime) -> tuple[list[int], list[int]]:
    """Suspend, resume or cancel a campaign in the caller's transaction; returns the instances it changed and,
    on resume, those of them with messages to deliver now."""
    if action not in ACTIONS:
        raise ValidationError(f"未知操作 {action[:40]} (unknown action)")
    reason = reason_of(reason)
    campaign = session.scalars(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).one_or_none()
    if campaign is None:
        raise NotFound(f"考核 {campaign_id} 不存在 (no campaign {campaign_id})")
    before, after = ACTIONS[action]
    if campaign.status not in ((before,) if isinstance(before, str) else before):
        status = STATUS_NAMES.get(campaign.status, campaign.status)
        raise Conflict(f"考核「{campaign.label}」{status}，不能{VERBS[action]} "
                       f"(the campaign is {campaign.status}: it cannot be {PAST[action]})")
    states = ("running", "suspended") if action == "cancel" else (before,)
    ids = list(session.scalars(select(Instance.id).where(Instance.campaign_id == campaign_id,
                                                          Instance.status.in_(states)).order_by(Instance.id)
                               .with_for_update()))
    if ids:
        session.execute(update(Instance).where(Instance.id.in_(ids))
                        .values(status=after, updated_at=now, revision=Instance.revision + 1)
                        .execution_options(synchronize_session=False))
    if action == "cancel" and ids:
        end_instances(session, ids, now, "所属考核已取消 (the campaign was cancelled)")
    pending = []
    if action == "resume" and ids:  # messages held back while suspended are due again now
        held = (Message.target_id.in_(ids), Message.delivered_at.is_(None), Message.failed_at.is_(None))
        session.execute(update(Message).where(*held).values(next_attempt_at=None)
                        .execution_options(synchronize_session=False))
        pending = list(session.scalars(select(Message.target_id).where(*held).distinct()))
    campaign.status, campaign.status_reason = after, reason
    campaign.status_changed_at, campaign.status_changed_by = now, actor
    audit.record(session, now, actor, f"campaign_{action}",
                 data={"campaign": campaign_id, "label": campaign.label, "reason": reason, "instances": len(ids)})
    return ids, pending


def end_instances(session: Session, ids: list[int], now: datetime, why: str) -> None:
    """What cancelling instances leaves behind: no tasks, waiting timers cancelled, pending messages given up."""
    plain = {"synchronize_session": False}
    session.execute(delete(InboxTask).where(InboxTask.instance_id.in_(ids)).execution_options(**plain))
    session.execute(update(Timer).where(Timer.instance_id.in_(ids), Timer.fired_at.is_(None),
                                        Timer.cancelled_at.is_(None))
                    .values(cancelled_at=now).execution_options(**plain))
    session.execute(update(Message).where(Message.target_id.in_(ids), Message.delivered_at.is_(None),
                                          Message.failed_at.is_(None))
                    .values(failed_at=now, error=why).execution_options(**plain))
