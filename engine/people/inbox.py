"""A user's inbox: their tasks, the tasks they may claim, claims and reassignment, drafts, notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, case, exists, false, func, or_, select, true, update
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..procedure import forms
from ..records import audit, notices
from ..store import Store
from ..store.models import Campaign, InboxFilter, InboxTask, Notification, Region, TaskDraft, User
from . import accounts
from .access import Viewer
from .accounts import ROLE_NAMES

#: A task is "due soon" when its due date is this close.
DUE_SOON = timedelta(days=3)

SCOPES = ("mine", "claimable", "all")
STATES = ("due_soon", "overdue")


@dataclass(frozen=True)
class Filter:
    """What the inbox lists: ``scope`` mine (claimed by me), claimable (nobody's, my role) or all (supervisors)."""

    scope: str = "mine"
    campaign_id: int | None = None
    step: str | None = None  # bpmn id
    region: str | None = None
    state: str | None = None  # due_soon | overdue
    search: str | None = None  # a region's or a step's name, or part of it
    search_steps: tuple[str, ...] = ()  # bpmn ids the search also finds (their names in the viewer's language)
    sort: str = "due"  # one of SORTS
    descending: bool = False


#: The inbox's columns one may sort by (the default, ``due``, is the order the indexes are in).
SORTS = {"due": (InboxTask.due_at.is_(None), InboxTask.due_at), "step": (InboxTask.name,),
         "region": (InboxTask.region,), "created": (InboxTask.created_at,)}


def tasks(session: Session, who: Viewer, now: datetime, wanted: Filter = Filter(), limit: int | None = None,
          offset: int = 0) -> list[InboxTask]:
    """Ready tasks in ``wanted.scope`` for ``who``, the earliest due first (no due date last)."""
    query = listing(who, now, wanted)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    rows = session.scalars(query)
    if wanted.scope == "all":
        return [t for t in rows if who.can_supervise(t) or who.covers(t)]
    return [t for t in rows if who.covers(t)]


def listing(who: Viewer, now: datetime, wanted: Filter) -> Select:
    """The SELECT behind ``tasks``; its ORDER BY is the one the indexes of migration 0006 are in."""
    if wanted.sort == "due" and not wanted.descending:
        query = select(InboxTask).order_by(InboxTask.due_at.is_(None), InboxTask.due_at, InboxTask.created_at,
                                           InboxTask.id)
    else:
        columns = SORTS.get(wanted.sort, SORTS["due"])
        if wanted.descending:
            columns = [c.desc() for c in columns]
        query = select(InboxTask).order_by(*columns, InboxTask.due_at, InboxTask.created_at, InboxTask.id)
    if wanted.search:
        words = f"%{wanted.search.replace('%', '').replace('_', '')[:50]}%"
        named = select(Region.code).where(Region.name.like(words))
        query = query.where(or_(InboxTask.name.like(words), InboxTask.region.in_(named),
                                InboxTask.bpmn_id.in_(wanted.search_steps)))
    if wanted.campaign_id:
        query = query.where(InboxTask.campaign_id == wanted.campaign_id)
    if wanted.step:
        query = query.where(InboxTask.bpmn_id == wanted.step)
    if wanted.region:
        query = query.where(InboxTask.region == wanted.region)
    if wanted.state == "overdue":
        query = query.where(InboxTask.due_at < now)
    elif wanted.state == "due_soon":
        query = query.where(InboxTask.due_at >= now, InboxTask.due_at <= now + DUE_SOON)
    if wanted.scope == "mine":
        query = query.where(InboxTask.assignee == who.username)
    elif wanted.scope == "claimable":
        query = query.where(InboxTask.assignee.is_(None))
    return query.where(visible(who) if wanted.scope == "all" else covering(who))


#: The navigation's figures stop counting here (shown as "999+"): a lead agency may have thousands of tasks to
#: claim, and counting every one cost more than the page's list.
COUNT_CAP = 1000


def counts(session: Session, who: Viewer, now: datetime) -> dict[str, int]:
    """The figures in the navigation: my tasks, claimable tasks, overdue among them, unread notices; each at
    most COUNT_CAP."""

    def figures(whose) -> tuple[int, int]:
        # In due order on the index (ix_inbox_assignee, ix_inbox_free), so the first COUNT_CAP rows hold every
        # overdue one whenever there are fewer than COUNT_CAP of those.
        first = (select(InboxTask.due_at).where(covering(who), whose)
                 .order_by(InboxTask.due_at.is_(None), InboxTask.due_at).limit(COUNT_CAP).subquery())
        found, late = session.execute(select(func.count(), func.sum(case((first.c.due_at < now, 1), else_=0)))).one()
        return found, late or 0

    mine, mine_late = figures(InboxTask.assignee == who.username)
    free, free_late = figures(InboxTask.assignee.is_(None))
    unread = session.scalar(select(func.count()).select_from(
        select(Notification.id).where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
        .limit(COUNT_CAP).subquery()))
    return {"mine": mine, "claimable": free, "overdue": min(mine_late + free_late, COUNT_CAP), "unread": unread}


def covering(who: Viewer):
    """``Viewer.covers`` as SQL: the rows one of the viewer's grants covers (role, variant, region, unit)."""
    return or_(false(), *(and_(InboxTask.role == g.role,
                               *([InboxTask.variant == g.variant] if g.variant else []),
                               *([InboxTask.region == g.region] if g.region else []),
                               *([or_(InboxTask.unit.is_(None), InboxTask.unit == g.unit)] if g.unit else []))
                          for g in who.grants if g.variant or g.role in ROLE_NAMES))


def supervised(who: Viewer):
    """``Viewer.can_supervise`` as SQL, or None when the viewer supervises nothing."""
    if who.is_admin:
        return true()
    grants = who.holding("supervises", None)
    if not grants:
        return None  # no "OR false" that would keep SQLite off the index
    return or_(*(and_(true(), *([InboxTask.variant == g.variant] if g.variant else []),
                      *([InboxTask.region == g.region] if g.region else [])) for g in grants))


def visible(who: Viewer):
    """The rows ``who`` may see: covered by a grant, or supervised."""
    sup = supervised(who)
    return covering(who) if sup is None else or_(covering(who), sup)


@dataclass(frozen=True)
class Menus:
    """The inbox's filter menus: what ``who`` could find tasks under."""

    campaigns: dict[int, Campaign]
    steps: list[tuple[str, str]]  # (bpmn id, name), in the bundles' order
    regions: dict[str, str]  # code -> name


def menus(session: Session, engine, who: Viewer) -> Menus:
    """The campaigns with open tasks, their steps in the roles ``who`` holds (every step for a supervisor) and
    their regions ``who`` may see, read from the campaign, version and region tables: a constant cost however
    many tasks are open, where a DISTINCT over the visible tasks read all of them."""
    open_campaigns = session.scalars(select(Campaign).where(exists().where(InboxTask.campaign_id == Campaign.id))
                                     .order_by(Campaign.id.desc()))
    campaigns, steps, codes = {}, {}, set()
    for campaign in open_campaigns:
        grants = [g for g in who.grants if g.variant in (None, campaign.variant)]
        everywhere = who.is_admin or any(g.region is None for g in grants)
        regions = set(campaign.regions) if everywhere else {g.region for g in grants} & set(campaign.regions)
        version = engine.version(session, campaign.version_id)
        every_step = who.is_admin or any("supervises" in who.powers(g.variant, g.role) for g in grants)
        roles = {g.role for g in grants}
        mine = [(bpmn_id, name) for bpmn_id, name in version.step_names.items()
                if every_step or version.user_tasks[bpmn_id]["role"] in roles]
        if not mine or not (everywhere or regions):  # no step of the viewer's, or none of its regions
            continue
        campaigns[campaign.id] = campaign
        codes |= regions
        for bpmn_id, name in mine:
            steps.setdefault(bpmn_id, name)
    names = select(Region.code, Region.name)
    if len(codes) <= 100:  # a long IN list costs more to build and send than the whole (small) table
        names = names.where(Region.code.in_(codes))
    names = dict(session.execute(names).all())
    return Menus(campaigns, list(steps.items()), {code: names.get(code, code) for code in sorted(codes)})


def visible_task(session: Session, who: Viewer, task_id: str) -> InboxTask:
    """A ready task its role's holders and supervisors may open; NotFound or PermissionDenied otherwise."""
    task = session.get(InboxTask, str(task_id))
    if task is None:
        raise NotFound("该任务不存在或已办结 (there is no such ready task)")
    if not (who.covers(task) or who.can_supervise(task)):
        raise PermissionDenied("无权查看该任务 (you may not see this task)")
    return task


def check_can_act(who: Viewer, task: InboxTask) -> None:
    """PermissionDenied unless ``who`` holds the task's role there and nobody else has claimed it."""
    accounts.authorize(list(who.grants), task, who.username)
    if task.assignee not in (None, who.username):
        raise PermissionDenied(f"任务已由 {task.assignee} 认领，请联系牵头部门改派 "
                               f"(task {task.id} is claimed by {task.assignee})")


# -- claims -------------------------------------------------------------------------------------
def claim(store: Store, who: Viewer, task_id: str, now: datetime) -> None:
    with store.write() as session:
        task = visible_task(session, who, task_id)
        accounts.authorize(list(who.grants), task, who.username)
        done = session.execute(update(InboxTask).where(InboxTask.id == task.id, InboxTask.assignee.is_(None))
                               .values(assignee=who.username)).rowcount
        if not done and task.assignee != who.username:
            raise Conflict(f"任务已由 {task.assignee} 认领 (task {task_id} is already claimed by {task.assignee})")
        audit.record(session, now, who.username, "claim", instance_id=task.instance_id, task_id=task.id,
                     bpmn_id=task.bpmn_id)


def unclaim(store: Store, who: Viewer, task_id: str, now: datetime) -> None:
    """Release a claim: one's own, or anybody's for a supervisor."""
    with store.write() as session:
        task = visible_task(session, who, task_id)
        if task.assignee != who.username and not who.can_supervise(task):
            raise PermissionDenied(f"只能退回自己认领的任务 (task {task_id} is not claimed by you)")
        previous = task.assignee
        task.assignee = None
        audit.record(session, now, who.username, "unclaim", instance_id=task.instance_id, task_id=task.id,
                     bpmn_id=task.bpmn_id, data={"previous": previous})


def reassign(store: Store, who: Viewer, task_id: str, to: str, now: datetime) -> None:
    """A supervisor gives the task to a user whose grants cover it; that user is notified."""
    with store.write() as session:
        task = visible_task(session, who, task_id)
        if not who.can_supervise(task):
            raise PermissionDenied(f"只有牵头部门或管理员可以改派任务 (you may not reassign task {task_id})")
        user = session.scalars(select(User).where(User.username == to, User.active.is_(True))).one_or_none()
        if user is None:
            raise ValidationError(f"用户 {to} 不存在或已停用 (no active user '{to}')",
                                  [{"field": "assignee", "message": f"用户 {to} 不存在或已停用"}])
        if not any(g.covers(task) for g in accounts.grants_of(session, to)):
            raise ValidationError(f"用户 {to} 无权办理此任务 (user '{to}' does not hold the task's role)",
                                  [{"field": "assignee", "message": f"用户 {to} 无权办理此任务"}])
        previous, task.assignee = task.assignee, to
        audit.record(session, now, who.username, "reassign", instance_id=task.instance_id, task_id=task.id,
                     bpmn_id=task.bpmn_id, data={"previous": previous, "assignee": to})
        # Worded when read, in the new assignee's language (engine/records/notices.py).
        region = session.get(Region, task.region).name if task.region else None
        said = notices.params(task, region, f"/tasks/{task.id}", by=who.display_name)
        title, body = notices.text("reassigned", said)
        session.add(Notification(user_id=user.id, at=now, kind="reassigned", title=title, body=body,
                                 link=f"/tasks/{task.id}", task_id=task.id, instance_id=task.instance_id,
                                 campaign_id=task.campaign_id, message="reassigned", params=said))


def candidates(session: Session, task: InboxTask) -> list[User]:
    """Active users who could be given the task."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))
    return [u for u in users if any(g.covers(task) for g in accounts.grants_of(session, u.username))]


# -- drafts -------------------------------------------------------------------------------------
def save_draft(store: Store, task: InboxTask, username: str, data: dict, now: datetime,
               schema: dict | None = None) -> None:
    """Keep ``data`` as the user's draft of ``task``: unfinished is fine, larger than the form ``schema`` allows
    is not (ValidationError)."""
    forms.check_draft(schema or {}, data, task.form or "")
    with store.write() as session:
        row = draft(session, task.id, username)
        if row is None:
            session.add(TaskDraft(task_id=task.id, instance_id=task.instance_id, username=username, data=data,
                                  saved_at=now))
        else:
            row.data, row.saved_at = data, now


def draft(session: Session, task_id: str, username: str) -> TaskDraft | None:
    return session.scalars(select(TaskDraft).where(TaskDraft.task_id == task_id,
                                                   TaskDraft.username == username)).one_or_none()


# -- notifications ------------------------------------------------------------------------------
def notifications(session: Session, who: Viewer, unread_only: bool = False, limit: int = 200) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == who.user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(store: Store, who: Viewer, now: datetime, ids: list[int] | None = None) -> int:
    """Mark some notices (a group of them), or all, read; returns how many changed."""
    with store.write() as session:
        query = update(Notification).where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
        if ids is not None:
            query = query.where(Notification.id.in_(ids))
        return session.execute(query.values(read_at=now)).rowcount


@dataclass
class NoticeGroup:
    """Notices of one kind about one step of one campaign (one notice alone is a group of one)."""

    kind: str
    campaign_id: int | None
    step_name: str | None
    notices: list[Notification]

    @property
    def unread(self) -> int:
        return sum(1 for n in self.notices if n.read_at is None)

    @property
    def ids(self) -> list[int]:
        return [n.id for n in self.notices]


def group_notices(rows: list[Notification]) -> list[NoticeGroup]:
    """Group reminders, escalations and 督办 by campaign, step and kind, newest group first (by its newest notice);
    other notices stand alone."""
    groups: dict[tuple, NoticeGroup] = {}
    for notice in rows:  # newest first
        if notice.campaign_id is not None and notice.bpmn_id:
            key = (notice.kind, notice.campaign_id, notice.bpmn_id)
        else:
            key = ("single", notice.id)
        group = groups.get(key)
        if group is None:
            groups[key] = NoticeGroup(notice.kind, notice.campaign_id, notice.step_name, [notice])
        else:
            group.notices.append(notice)
    return list(groups.values())


# -- saved filters --------------------------------------------------------------------------------
#: The query arguments a saved filter may hold, and how many one user may keep.
FILTER_KEYS = frozenset({"scope", "campaign", "step", "region", "state", "q", "sort", "desc"})
MAX_FILTERS = 20


def saved_filters(session: Session, who: Viewer) -> list[InboxFilter]:
    return list(session.scalars(select(InboxFilter).where(InboxFilter.user_id == who.user_id)
                                .order_by(InboxFilter.name)))


def save_filter(store: Store, who: Viewer, name: str, args: dict[str, str], now: datetime) -> InboxFilter:
    """Keep the inbox's current filter under ``name`` (the same name replaces it)."""
    from urllib.parse import urlencode

    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationError("请为筛选条件起一个 1 到 60 字的名称 (a name of 1 to 60 characters)",
                              [{"field": "name", "message": "名称为 1 到 60 字"}])
    query = urlencode(sorted((k, str(v)[:100]) for k, v in args.items() if k in FILTER_KEYS and v))
    with store.write() as session:
        row = session.scalars(select(InboxFilter).where(InboxFilter.user_id == who.user_id,
                                                        InboxFilter.name == name)).one_or_none()
        if row is None:
            count = session.scalar(select(func.count()).where(InboxFilter.user_id == who.user_id))
            if count >= MAX_FILTERS:
                raise ValidationError(f"最多保存 {MAX_FILTERS} 个筛选条件，请先删除不用的 (at most {MAX_FILTERS} "
                                      f"saved filters)")
            row = InboxFilter(user_id=who.user_id, name=name, query=query, created_at=now)
            session.add(row)
        else:
            row.query = query
    return row


def delete_filter(store: Store, who: Viewer, filter_id: int) -> None:
    with store.write() as session:
        row = session.get(InboxFilter, filter_id)
        if row is None or row.user_id != who.user_id:
            raise NotFound(f"筛选条件 {filter_id} 不存在 (no saved filter {filter_id})")
        session.delete(row)
