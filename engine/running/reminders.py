"""Reminders and escalation: before, on and after a task's due date, by in-app notice and e-mail.

Every step goes out at the policy's hour (09:00 China time by default) on its day. The ``reminder``
table's unique (task, step) key is written in the same transaction as the notices and mails, so a step
is sent once, across restarts and with two schedulers: the second to commit fails on the key and
sends nothing. When several steps of one task fell due while nobody was running (a catch-up), only the
latest reminder goes out; the earlier ones are recorded as skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import CHINA, local
from ..errors import PermissionDenied, ValidationError
from ..people import accounts
from ..procedure import bodies
from ..records import audit, mail, notices
from ..store.models import InboxTask, Instance, Notification, Region, Reminder, RoleAssignment, User

logger = logging.getLogger(__name__)

#: The earliest a reminder may go out before its due date, in days.
MAX_LEAD_DAYS = 31

DEFAULT_POLICY = {
    "before_days": [7, 1],
    "on_due_day": True,
    "overdue": True,
    "hour": 9,
    "escalate_after_days": 0,
    # The role that supervises a role's overdue tasks; an administrator may edit this per variant.
    "escalation": {"assessed": "lead_agency", "member_unit": "lead_agency", "assessment_group": "lead_agency",
                   "recipient": "lead_agency", "lead_agency": "admin", "approver": "admin"},
}


@dataclass(frozen=True)
class Step:
    name: str  # before-7d, before-1d, due, overdue, escalate
    at: datetime


@dataclass
class Sent:
    """One step that went out, for the simulation's timeline and the logs."""

    task: InboxTask
    step: str
    at: datetime
    recipients: list[str] = field(default_factory=list)


def policy_of(manifest: dict) -> dict:
    policy = dict(DEFAULT_POLICY)
    policy.update(manifest.get("reminders") or {})
    policy["escalation"] = {**DEFAULT_POLICY["escalation"], **(manifest.get("reminders") or {}).get("escalation", {})}
    return policy


def last_day(due_at: datetime) -> date:
    """The last day to act: a due time of 00:00 China time closes the day before."""
    return local(due_at - timedelta(microseconds=1)).date()


def steps(task: InboxTask, policy: dict) -> list[Step]:
    """The task's reminder and escalation steps, in time order."""
    if task.due_at is None:
        return []
    day, hour = last_day(task.due_at), time(int(policy["hour"]))

    def at(d: date) -> datetime:
        return datetime.combine(d, hour, CHINA)

    found = [Step(f"before-{n}d", at(day - timedelta(days=n))) for n in sorted(policy["before_days"], reverse=True)]
    # A step before the task existed would be news to nobody: a task given 3 days gets no 7-day reminder.
    found = [s for s in found if s.at >= task.created_at]
    if policy["on_due_day"]:
        found.append(Step("due", at(day)))
    if policy["overdue"]:
        found.append(Step("overdue", at(day + timedelta(days=1))))
    if policy["escalation"].get(task.role):
        found.append(Step("escalate", at(day + timedelta(days=1 + int(policy["escalate_after_days"])))))
    return found


def send_reminders(engine, now: datetime | None = None, link_base: str = "") -> list[Sent]:
    """Send every step due by ``now`` that was not sent yet, then the digest mails; safe to run twice and from
    two processes."""
    now = now or engine.clock.now()
    sent: list[Sent] = []
    for task, policy, due in _pending(engine, now):
        due = [s for s in due if s.at <= now]
        if due:
            sent += _send(engine, task, due, policy, now, link_base)
    send_digests(engine, now, link_base)
    return sent


def _about(task: InboxTask) -> dict:
    """What a notice is about: its task, instance, campaign and step (the notification centre groups by them)."""
    return {"task_id": task.id, "instance_id": task.instance_id, "campaign_id": task.campaign_id,
            "bpmn_id": task.bpmn_id, "step_name": task.name}


#: Notices mailed in the daily digest rather than one by one: the scheduled reminders and escalations.
DIGESTED = tuple(mail.STEPS)


def send_digests(engine, now: datetime | None = None, link_base: str = "") -> int:
    """One mail a day to each person with reminders or escalations not mailed yet, grouped by campaign and step
    (39 regions overdue at one step are one section of one mail, not 39 mails). Returns how many mails."""
    now = now or engine.clock.now()
    today = local(now).date()
    sent = 0
    with engine.store.write() as session:
        query = (select(Notification).where(Notification.mailed_at.is_(None), Notification.kind.in_(DIGESTED))
                 .order_by(Notification.user_id, Notification.id))
        if engine.store.dialect == "postgresql":  # two schedulers: each notice mailed once
            query = query.with_for_update(skip_locked=True)
        waiting: dict[int, list[Notification]] = {}
        for notice in session.scalars(query):
            waiting.setdefault(notice.user_id, []).append(notice)
        if not waiting:
            return 0
        last = dict(session.execute(select(Notification.user_id, func.max(Notification.mailed_at))
                                    .where(Notification.user_id.in_(waiting), Notification.kind.in_(DIGESTED))
                                    .group_by(Notification.user_id)).all())
        users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(waiting)))}
        campaigns = {n.campaign_id for ns in waiting.values() for n in ns if n.campaign_id}
        words = None
        for user_id, mine in waiting.items():
            if last.get(user_id) is not None and local(last[user_id]).date() == today:
                continue  # today's digest has gone: these go in tomorrow's
            if users[user_id].email:
                english = users[user_id].language == "en"  # the reader's language, with the bundle's names
                if english and words is None:
                    words = notices.catalogues(session, campaigns)
                shown = [notices.as_read(n, True, words.get(n.campaign_id)) for n in mine] if english else mine
                labels = notices.campaign_labels(session, {n.campaign_id for n in mine}, english)
                subject, body = mail.digest_mail(shown, labels, link_base, english)
                mail.queue(session, users[user_id].email, subject, body, now, notification_id=mine[0].id)
                sent += 1
            for notice in mine:
                notice.mailed_at = now
    return sent


def next_step_at(engine, now: datetime | None = None, within: timedelta = timedelta(days=400),
                 tasks: list[str] | None = None) -> datetime | None:
    """When the next reminder or escalation of an open task (of ``tasks``, if given) is due (None: nothing
    within ``within``)."""
    now = now or engine.clock.now()
    moments = [s.at for _, _, due in _pending(engine, now + within, tasks) for s in due]
    return min(moments, default=None)


def _pending(engine, until: datetime, only: list[str] | None = None):
    """(task, policy, unsent steps) for the open tasks with a due date that have steps up to ``until``."""
    horizon = until + timedelta(days=MAX_LEAD_DAYS + 1)
    suspended = select(Instance.id).where(Instance.status == "suspended").scalar_subquery()
    in_window = select(InboxTask.id).where(InboxTask.due_at.is_not(None), InboxTask.due_at <= horizon,
                                           InboxTask.instance_id.not_in(suspended))
    if only is not None:
        in_window = in_window.where(InboxTask.id.in_(only))
    with engine.store.read() as session:
        # In a stable order (not by random task id), so a simulation with a seed repeats itself.
        tasks = list(session.scalars(select(InboxTask).where(InboxTask.id.in_(in_window)).order_by(
            InboxTask.due_at, InboxTask.instance_id, InboxTask.bpmn_id, InboxTask.unit, InboxTask.created_at)))
        done = set(session.execute(select(Reminder.task_id, Reminder.step).where(Reminder.task_id.in_(in_window))))
        version_of = dict(session.execute(select(Instance.id, Instance.version_id)
                                          .where(Instance.id.in_({t.instance_id for t in tasks}))).all())
        policies = {vid: policy_of(engine.version(session, vid).manifest) for vid in set(version_of.values())}
    for task in tasks:
        policy = policies[version_of[task.instance_id]]
        unsent = [s for s in steps(task, policy) if s.at <= until and (task.id, s.name) not in done]
        if unsent:
            yield task, policy, unsent


def _send(engine, task: InboxTask, due: list[Step], policy: dict, now: datetime, link_base: str) -> list[Sent]:
    """Record and send one task's due steps in one transaction; nothing if another process beat us."""
    reminders = [s for s in due if s.name != "escalate"]
    latest = reminders[-1:] + [s for s in due if s.name == "escalate"]
    out: list[Sent] = []
    try:
        with engine.store.write() as session:
            for step in due:
                session.add(Reminder(task_id=task.id, instance_id=task.instance_id, step=step.name, sent_at=now))
            session.flush()  # the unique key: another scheduler's commit of the same step stops us here
            region = session.get(Region, task.region).name if task.region else None
            # The notice links inside the app (its page shows only site paths as links); the mail carries the
            # full address, which needs the site's base.
            path = f"/tasks/{task.id}"
            link = f"{link_base}{path}"
            for step in latest:
                if step.name == "escalate":
                    users = _holders(session, policy["escalation"][task.role], task, supervise=True)
                    holder = bodies.of_variant(session, task.variant).get(task.role, task.role)
                    message, said = "escalation", notices.params(task, region, link, holder=holder,
                                                                 holder_role=task.role)
                else:
                    users = _holders(session, task.role, task, supervise=False)
                    message, said = "reminder", notices.params(task, region, link, step=step.name)
                subject, body = notices.text(message, said)
                for user in users:  # mailed in the day's digest (send_digests), grouped by campaign and step
                    session.add(Notification(user_id=user.id, at=now, kind=step.name, title=subject, body=body,
                                             link=path, message=message, params=said, **_about(task)))
                out.append(Sent(task, step.name, now, [u.username for u in users]))
    except IntegrityError:
        logger.info("reminders for task %s were sent by another process", task.id)
        return []
    return out


def urge(engine, task_ids: list[str], actor: str, now: datetime | None = None, link_base: str = "") -> int:
    """督办 by hand: a notice (and a mail, where they have an address) to whoever holds each task, and an audit
    entry naming who urged; as often as a supervisor asks, unlike the scheduled steps. Returns how many tasks."""
    now = now or engine.clock.now()
    urged = 0
    with engine.store.write() as session:
        for task in session.scalars(select(InboxTask).where(InboxTask.id.in_(task_ids))):
            region = session.get(Region, task.region).name if task.region else None
            path = f"/tasks/{task.id}"
            message, said = (("reminder", notices.params(task, region, f"{link_base}{path}", step="escalate"))
                             if task.due_at else ("urge", notices.params(task, region, f"{link_base}{path}")))
            subject, body = notices.text(message, said)
            words = notices.catalogues(session, [task.campaign_id]).get(task.campaign_id)
            for user in _holders(session, task.role, task, supervise=False):
                notice = Notification(user_id=user.id, at=now, kind="urge", title=subject, body=body, link=path,
                                      mailed_at=now, message=message, params=said,
                                      **_about(task))  # 督办 by hand is mailed at once, in its reader's language
                session.add(notice)
                if user.email:
                    session.flush()
                    mail.queue(session, user.email, *notices.read(notice, user.language == "en", words), now,
                               notification_id=notice.id)
            audit.record(session, now, actor, "urge", instance_id=task.instance_id, task_id=task.id,
                         bpmn_id=task.bpmn_id)
            urged += 1
    return urged


def _holders(session: Session, role: str, task: InboxTask, supervise: bool) -> list[User]:
    """Who hears about a task: its assignee, else everyone whose grant covers it (or supervises it)."""
    if task.assignee and not supervise:
        return list(session.scalars(select(User).where(User.username == task.assignee, User.active.is_(True))))
    rows = session.execute(select(User, RoleAssignment).join(RoleAssignment, RoleAssignment.user_id == User.id)
                           .where(RoleAssignment.role == role, User.active.is_(True))).all()
    found = {}
    for user, grant in rows:
        covers = ((grant.variant is None or grant.variant == task.variant)
                  and (grant.variant is not None or grant.role in accounts.ROLE_NAMES)
                  and (grant.region is None or grant.region == task.region)
                  and (supervise or task.unit is None or grant.unit is None or grant.unit == task.unit))
        if covers:
            found[user.id] = user
    return list(found.values())


def extend(engine, who, task_id: str, last: date, reason: str, now: datetime | None = None) -> InboxTask:
    """A supervisor (the lead agency) gives a task until the end of ``last`` (China time), with a reason: audited,
    its holders told, and its reminders and escalation follow the new date (steps not yet due go out again)."""
    from ..people.inbox import visible_task

    now = now or engine.clock.now()
    reason = (reason or "").strip()[:2000]
    if not reason:
        raise ValidationError("请填写延期原因 (a reason is required)", [{"field": "reason", "message": "请填写原因"}])
    with engine.store.write() as session:
        task = visible_task(session, who, task_id)
        if not who.can_supervise(task):
            raise PermissionDenied(f"只有牵头部门或管理员可以延长期限 (you may not extend task {task_id})")
        due = datetime.combine(last + timedelta(days=1), time(0), CHINA)
        if due <= now:
            raise ValidationError("新的截止日期已经过去 (the new last day has passed)",
                                  [{"field": "day", "message": "新的截止日期已经过去"}])
        if task.due_at is not None and due <= task.due_at:
            raise ValidationError(f"新的截止日期须晚于原截止日期 {mail.deadline_text(task.due_at)} (the new last day "
                                  f"must be later than the old one)", [{"field": "day", "message": "须晚于原截止日期"}])
        before, task.due_at = task.due_at, due
        policy = policy_of(engine.version(session, session.get(Instance, task.instance_id).version_id).manifest)
        again = [s.name for s in steps(task, policy) if s.at > now]
        if again:
            session.execute(delete(Reminder).where(Reminder.task_id == task.id, Reminder.step.in_(again)))
        audit.record(session, now, who.username, "due_extend", instance_id=task.instance_id, task_id=task.id,
                     bpmn_id=task.bpmn_id, data={"from": before.isoformat() if before else None,
                                                 "to": due.isoformat(), "reason": reason})
        region = session.get(Region, task.region).name if task.region else None
        said = notices.params(task, region, f"/tasks/{task.id}", reason=reason)
        title, body = notices.text("extended", said)
        for user in _holders(session, task.role, task, supervise=False):
            session.add(Notification(user_id=user.id, at=now, kind="extended", title=title, body=body,
                                     link=f"/tasks/{task.id}", message="extended", params=said, **_about(task)))
    return task
