"""Campaigns: the list, launching one, the board, the results with their chart and Excel export,
and the public announcement."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from engine.errors import Conflict, NotFound, PermissionDenied, ValidationError
from engine.people import access
from engine.records import board, workbook
from engine.running import campaign_guards, reminders
from engine.store.models import Campaign, InboxTask, ProcessVersion, Region

from . import english
from .security import engine, login_required, now

bp = Blueprint("campaigns", __name__)


#: A campaign's status, in words.
STATUS = {"running": _l("In progress"), "suspended": _l("Suspended"), "cancelled": _l("Cancelled"),
          "completed": _l("Completed")}


def chart(distribution: list[tuple[str, int]], width: int = 360, height: int = 180) -> dict:
    """Bar geometry for the grade distribution, drawn as SVG by the template."""
    top = max([count for _, count in distribution] + [1])
    slot = width / max(len(distribution), 1)
    bars = []
    for n, (grade, count) in enumerate(distribution):
        h = round((height - 40) * count / top)
        bars.append({"grade": grade, "label": grade, "count": count, "x": round(n * slot + slot * 0.2),
                     "w": round(slot * 0.6), "y": height - 20 - h, "h": h})
    return {"width": width, "height": height, "bars": bars}


def startable_variants(db) -> list[str]:
    """Variants the viewer may launch a campaign of."""
    variants = sorted(set(db.scalars(select(ProcessVersion.variant))))
    leads = [gr for gr in g.viewer.holding("supervises", None) if gr.region is None]
    return [v for v in variants if g.viewer.is_admin or any(gr.variant in (None, v) for gr in leads)]


@bp.get("/campaigns")
@login_required
def index():
    return _index()


def _index(**start):
    """The list and the start form; ``start``: a refused start's values, problems or passed deadlines."""
    with engine().store.read() as db:
        rows = list(db.scalars(select(Campaign).order_by(Campaign.id.desc())))
        shown = []
        for row in rows:
            if g.viewer.sees_board(row.variant):
                shown.append((row, "board"))
            elif g.viewer.reads_results(row.variant, board.announced(db, engine(), row)):
                shown.append((row, "results"))
        startable = startable_variants(db)
        regions = list(db.scalars(select(Region).where(Region.region_set.in_(startable))
                                  .order_by(Region.region_set, Region.code)))
        titles = english.current_titles(db)
    return render_template("campaigns.html", rows=shown, startable=startable, regions=regions, titles=titles,
                           start=start, status_names=STATUS), 400 if start else 200


@bp.post("/campaigns")
@login_required
def start():
    variant = request.form.get("variant", "")
    with engine().store.read() as db:
        if variant not in startable_variants(db):
            raise PermissionDenied(f"无权启动 {variant} 考核 (you may not start a campaign of '{variant}')")
    try:
        year = int(request.form.get("year", ""))
    except ValueError:
        raise ValidationError(_("Give the assessment year as a number."),
                              [{"field": "year", "message": _("Give the assessment year as a number.")}]) from None
    regions = request.form.getlist("regions") or None
    shift = request.form.get("shift_days", 0, type=int) or 0
    if not 0 <= shift <= 366:
        raise ValidationError(_("Move the deadlines by 0 to 366 days."))
    values = {"variant": variant, "year": year, "regions": regions or [], "shift_days": shift}
    with engine().store.read() as db:
        check = campaign_guards.check_start(db, engine(), variant, year, regions, now(), shift)
    if check.problems:
        return _index(values=values, problems=check.problems)
    if check.passed and not request.form.get("accept_passed"):  # say so before 31 tasks start overdue
        return _index(values=values, passed=check.passed)
    started = engine().start_campaign(variant, year, regions, actor=g.viewer.username, deadline_shift_days=shift)
    flash(_("Campaign %(label)s started for %(count)d regions.", label=started.label, count=len(started.regions)),
          "success")
    return redirect(url_for("campaigns.show", campaign_id=started.id))


def _campaign(db, campaign_id: int) -> Campaign:
    return access.campaign(db, campaign_id)


@bp.get("/campaigns/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    with engine().store.read() as db:
        campaign = _campaign(db, campaign_id)
        if not g.viewer.sees_board(campaign.variant):
            raise PermissionDenied(f"无权查看考核 {campaign_id} 的进度 (you may not see campaign {campaign_id})")
        wanted = _board_filter()
        view = board.build(db, engine(), campaign, now(), page=request.args.get("page", 1, type=int), wanted=wanted)
        steers = campaign.variant in startable_variants(db)
        version = engine().version(db, campaign.version_id)
        words = english.of(version)
    if words:  # the steps' headings and the procedure's title in English
        view.steps = [(bpmn_id, words.step(bpmn_id, name)) for bpmn_id, name in view.steps]
        view.campaign_steps = [(bpmn_id, words.step(bpmn_id, name)) for bpmn_id, name in view.campaign_steps]
        view.title = words.title or view.title
    supervises = g.viewer.is_admin or bool(g.viewer.holding("supervises", campaign.variant))
    drawn = english.name_grades(version, view, chart(view.distribution))
    return render_template("board.html", board=view, chart=drawn, supervises=supervises,
                           steers=steers, status_names=STATUS, wanted=wanted,
                           filtered={k: v for k, v in (("state", wanted.state), ("step", wanted.step),
                                                       ("q", wanted.search)) if v})


def _board_filter() -> board.BoardFilter:
    state = request.args.get("state") or None
    return board.BoardFilter(state=state if state in board.BOARD_STATES else None,
                             step=(request.args.get("step") or "")[:100] or None,
                             search=(request.args.get("q") or "").strip()[:50] or None)


def may_steer(campaign_id: int) -> None:
    """Refuse unless the viewer may start campaigns of this one's procedure (and so suspend, resume, cancel it)."""
    with engine().store.read() as db:
        campaign = _campaign(db, campaign_id)
        if campaign.variant not in startable_variants(db):
            raise PermissionDenied(f"无权暂停、恢复或取消考核 {campaign_id} (you may not suspend, resume or cancel "
                                   f"campaign {campaign_id})")


@bp.post("/campaigns/<int:campaign_id>/state")
@login_required
def change_state(campaign_id: int):
    """Suspend, resume or cancel a campaign, with a reason: those who may start its campaigns may do it."""
    action = request.form.get("action", "")
    may_steer(campaign_id)
    try:
        changed = engine().change_campaign(campaign_id, action, g.viewer.username, request.form.get("reason", ""))
    except (ValidationError, Conflict) as exc:  # said on the board, where the reason can be typed again
        flash(str(exc), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    flash({"suspend": _("Campaign suspended: %(count)d regions wait.", count=changed),
           "resume": _("Campaign resumed: %(count)d regions go on.", count=changed),
           "cancel": _("Campaign cancelled: %(count)d processes ended.", count=changed)}[action], "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/urge")
@login_required
def urge(campaign_id: int):
    """督办: the tasks ticked on the board, or every overdue task of the campaign; a notice (and mail) to their
    holders, audited."""
    with engine().store.read() as db:
        campaign = _campaign(db, campaign_id)
        if not (g.viewer.is_admin or g.viewer.holding("supervises", campaign.variant)):
            raise PermissionDenied(f"无权督办考核 {campaign_id} (you may not urge campaign {campaign_id})")
        query = select(InboxTask.id).where(InboxTask.campaign_id == campaign.id)
        if request.form.get("overdue"):
            query = query.where(InboxTask.due_at < now())
        else:
            query = query.where(InboxTask.id.in_(request.form.getlist("task")))
        tasks = list(db.scalars(query))
    count = reminders.urge(engine(), tasks, g.viewer.username, now())
    flash(_("Urged: %(count)d tasks.", count=count), "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _results(campaign_id: int, public: bool):
    with engine().store.read() as db:
        campaign = _campaign(db, campaign_id)
        announced = board.announced(db, engine(), campaign)
        if public and not announced:
            raise NotFound(f"考核 {campaign_id} 的结果尚未公告 (no announced results for campaign {campaign_id})")
        if not public and not g.viewer.reads_results(campaign.variant, announced):
            raise PermissionDenied(f"无权查看考核 {campaign_id} 的结果 (you may not read campaign {campaign_id})")
        view = board.published(db, engine(), campaign)
    return campaign, view


def _shown_results(campaign_id: int, public: bool):
    """The results page: the ranking and its chart, grades that are words named as the viewer reads them."""
    campaign, view = _results(campaign_id, public)
    with engine().store.read() as db:
        version = engine().version(db, campaign.version_id)
    drawn = english.name_grades(version, view, chart(view.distribution))
    return render_template("results.html", board=view, chart=drawn, public=public)


@bp.get("/campaigns/<int:campaign_id>/results")
@login_required
def results(campaign_id: int):
    return _shown_results(campaign_id, public=False)


@bp.get("/campaigns/<int:campaign_id>/results.xlsx")
@login_required
def export(campaign_id: int):
    """The results workbook; with the indicator, member unit and veto sheets for those who oversee it."""
    campaign, view = _results(campaign_id, public=False)
    if not view.results:
        abort(404)
    with engine().store.read() as db:
        scheme = engine().version(db, campaign.version_id).scheme
        body = workbook.campaign_workbook(db, campaign, scheme, view.results, view.scale, view.announced_on,
                                          view.announcement, detail=g.viewer.sees_board(campaign.variant),
                                          document_number=view.document_number)
    return Response(body,
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=kaohe-results-{campaign.id}.xlsx"})


@bp.get("/public")
def public_index():
    with engine().store.read() as db:
        rows = [c for c in db.scalars(select(Campaign).order_by(Campaign.id.desc()))
                if board.announced(db, engine(), c)]
        titles = english.current_titles(db)  # the procedure's title, not its key
    return render_template("public_index.html", rows=rows, titles=titles)


@bp.get("/public/campaigns/<int:campaign_id>")
def public(campaign_id: int):
    """The announcement to the public (向社会公告): results only, no sign-in, once announced."""
    return _shown_results(campaign_id, public=True)
