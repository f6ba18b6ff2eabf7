"""The inbox: my tasks and the ones I may claim, claims and reassignment, and the notification centre."""

from __future__ import annotations

import dataclasses
from datetime import date

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from engine.errors import ValidationError
from engine.people import inbox
from engine.records import mail, notices
from engine.running import reminders
from engine.store.models import Campaign, InboxTask, Instance, ProcessVersion, Region

from . import english
from .security import engine, login_required, now, safe_next

bp = Blueprint("inbox", __name__)
#: Tasks per inbox page.
PAGE = 100


def read_filter(args) -> inbox.Filter:
    """The inbox filter from query arguments; unknown values are ignored."""
    scope = args.get("scope", "mine")
    state = args.get("state") or None
    sort = args.get("sort", "due")
    return inbox.Filter(scope=scope if scope in inbox.SCOPES else "mine",
                        campaign_id=args.get("campaign", type=int), step=args.get("step") or None,
                        region=args.get("region") or None, state=state if state in inbox.STATES else None,
                        search=(args.get("q") or "").strip()[:50] or None,
                        sort=sort if sort in inbox.SORTS else "due", descending=args.get("desc") == "1")


@bp.get("/inbox")
@login_required
def index():
    wanted = read_filter(request.args)
    page = max(1, request.args.get("page", 1, type=int))
    moment = now()
    with engine().store.read() as db:
        if "scope" not in request.args:  # open on the tab that has work: nothing of mine, but some to claim
            figures = inbox.counts(db, g.viewer, moment)
            if not figures["mine"] and figures["claimable"]:
                wanted = dataclasses.replace(wanted, scope="claimable")
        menus = inbox.menus(db, engine(), g.viewer)
        if wanted.search and english.wanted():  # a row keeps the Chinese name: find the English one by its step
            words = english.of_versions(db, {c.version_id for c in menus.campaigns.values()}).values()
            typed = wanted.search.lower()
            wanted = dataclasses.replace(wanted, search_steps=tuple(sorted(
                {bpmn_id for w in words for bpmn_id, name in w.steps.items() if typed in name.lower()})))
        rows = inbox.tasks(db, g.viewer, moment, wanted, limit=PAGE + 1, offset=(page - 1) * PAGE)
        more, rows = len(rows) > PAGE, rows[:PAGE]
        regions = dict(menus.regions)
        if missing := {t.region for t in rows if t.region} - regions.keys():  # a region dropped from a campaign
            regions.update(db.execute(select(Region.code, Region.name).where(Region.code.in_(missing))).all())
        saved = inbox.saved_filters(db, g.viewer)
        titles = english.current_titles(db)
        units = unit_names(db, {c.version_id for c in menus.campaigns.values()})
        names, steps = _in_english(db, rows, menus)
    supervisor = g.viewer.is_admin or bool(g.viewer.holding("supervises", None))
    english_names = english.region_names()  # once, not once per region of a menu of thousands
    region_menu = [(code, english_names.get(code) or name) for code, name in menus.regions.items()]
    return render_template("inbox.html", rows=rows, wanted=wanted, campaigns=menus.campaigns, regions=regions,
                           steps=steps, region_menu=region_menu, saved=saved, titles=titles,
                           units=units, supervisor=supervisor, now=moment, due_soon=inbox.DUE_SOON, page=page,
                           more=more, current=_arguments(wanted), names=names)


def _in_english(db, rows: list[InboxTask], menus: inbox.Menus) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The rows' step names (task id -> name) and the step menu as the viewer reads them. An inbox row keeps the
    step's Chinese name: in English it is looked up in the catalogue of the row's version, read once a page."""
    if not english.wanted():
        return {}, menus.steps
    version_of = {c.id: c.version_id for c in menus.campaigns.values()}
    if missing := {t.campaign_id for t in rows if t.campaign_id is not None} - version_of.keys():
        version_of.update(db.execute(select(Campaign.id, Campaign.version_id).where(Campaign.id.in_(missing))).all())
    outside = dict(db.execute(select(Instance.id, Instance.version_id).where(
        Instance.id.in_({t.instance_id for t in rows if t.campaign_id is None}))).all()) if any(
        t.campaign_id is None for t in rows) else {}
    words = english.of_versions(db, set(version_of.values()) | set(outside.values()))
    names = {}
    for t in rows:
        said = words.get(version_of.get(t.campaign_id) if t.campaign_id is not None else outside.get(t.instance_id))
        names[t.id] = said.step(t.bpmn_id, t.name) if said else t.name
    menu_words = [words[v] for v in {c.version_id for c in menus.campaigns.values()} if v in words]
    steps = [(bpmn_id, next((w.steps[bpmn_id] for w in menu_words if bpmn_id in w.steps), name))
             for bpmn_id, name in menus.steps]
    return names, steps


def _arguments(wanted: inbox.Filter) -> dict[str, str]:
    """The query arguments of a filter, those that say something: for sort links and saving it."""
    found = {"scope": wanted.scope, "campaign": wanted.campaign_id, "step": wanted.step, "region": wanted.region,
             "state": wanted.state, "q": wanted.search, "sort": None if wanted.sort == "due" else wanted.sort,
             "desc": "1" if wanted.descending else None}
    return {k: str(v) for k, v in found.items() if v}


def unit_names(db, version_ids: set[int]) -> dict[str, str]:
    """Member units' names by code, from the schemes of these versions (their English ones in English)."""
    names = {}
    words = english.of_versions(db, version_ids)
    for version_id, scheme in db.execute(select(ProcessVersion.id, ProcessVersion.scheme)
                                         .where(ProcessVersion.id.in_(version_ids))):
        said = words.get(version_id, english.NONE)
        names.update((str(u["code"]), said.scheme_name("units", u["code"], u.get("name") or str(u["code"])))
                     for u in (scheme or {}).get("units", []))
    return names


@bp.post("/inbox/filters")
@login_required
def save_filter():
    """Keep the inbox's current filter (its query arguments, sent along) under a name."""
    args = {k: request.form.get(k, "") for k in inbox.FILTER_KEYS}
    try:
        inbox.save_filter(engine().store, g.viewer, request.form.get("name", ""), args, now())
    except ValidationError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Filter saved."), "success")
    return redirect(url_for("inbox.index", **{k: v for k, v in args.items() if v}))


@bp.post("/inbox/filters/<int:filter_id>/delete")
@login_required
def delete_filter(filter_id: int):
    inbox.delete_filter(engine().store, g.viewer, filter_id)
    flash(_("Filter deleted."), "info")
    return redirect(url_for("inbox.index"))


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("inbox.index"))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    back = _back()  # read first: a bad address is refused before anything changes
    inbox.claim(engine().store, g.viewer, task_id, now())
    flash(_("The task is yours now."), "success")
    # from a list, straight on to the task claimed; from the task page, back to it
    return redirect(url_for("tasks.show", task_id=task_id) if back.startswith(url_for("inbox.index")) else back)


@bp.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str):
    back = _back()  # read first: a bad address is refused before anything changes
    inbox.unclaim(engine().store, g.viewer, task_id, now())
    flash(_("The task is back in the shared list."), "info")
    return redirect(back)


@bp.post("/tasks/<task_id>/reassign")
@login_required
def reassign(task_id: str):
    to = request.form.get("assignee", "").strip()
    back = _back()
    inbox.reassign(engine().store, g.viewer, task_id, to, now())
    flash(_("The task has been given to %(user)s.", user=to), "success")
    return redirect(back)


@bp.post("/tasks/<task_id>/extend")
@login_required
def extend(task_id: str):
    """The lead agency gives a task more time, with a reason; its reminders follow the new date."""
    try:
        day = date.fromisoformat(request.form.get("day", ""))
        task = reminders.extend(engine(), g.viewer, task_id, day, request.form.get("reason", ""), now())
    except ValueError:
        flash(_("A date is written YYYY-MM-DD."), "error")
    except ValidationError as exc:  # said on the task's page, where the form is
        flash(str(exc), "error")
    else:
        flash(_("The deadline of %(name)s is now %(when)s.", name=task.name, when=mail.deadline_text(task.due_at)),
              "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.get("/notifications")
@login_required
def notifications():
    with engine().store.read() as db:
        rows = inbox.notifications(db, g.viewer, unread_only=request.args.get("unread") == "1")
        wanted = english.wanted()
        labels = notices.campaign_labels(db, {n.campaign_id for n in rows}, wanted)  # the year, in their language
        groups = inbox.group_notices(rows)
        words = notices.catalogues(db, labels) if wanted else {}
        if wanted:  # a group's heading names its step: in English from its campaign's version
            for group in groups:
                said = words.get(group.campaign_id)
                if said and group.notices[0].bpmn_id:
                    group.step_name = said.step(group.notices[0].bpmn_id, group.step_name)
        # Each notice worded now, in the reader's language (older notices as they were written).
        texts = {n.id: notices.read(n, wanted, words.get(n.campaign_id)) for n in rows}
    return render_template("notifications.html", groups=groups, labels=labels, kinds=KINDS, texts=texts)


#: What each kind of notice is, as a group's heading says it.
KINDS = {"before-7d": _l("Due in 7 days"), "before-1d": _l("Due tomorrow"), "due": _l("Due today"),
         "overdue": _l("Overdue"), "escalate": _l("Urged (督办): overdue"), "urge": _l("Urged (督办)")}


@bp.post("/notifications/read")
@login_required
def mark_read():
    which = [int(i) for i in request.form.getlist("id") if i.isdigit() and len(i) <= 18][:1000]
    inbox.mark_read(engine().store, g.viewer, now(), which or None)
    return redirect(url_for("inbox.notifications"))
