"""The dry run of a procedure draft: the form, each run's report and the past runs (pages under
/admin/procedures/drafts/<id>/dry-run), and the API (/api/v1/procedures/drafts/<id>/dry-runs).

A run goes on a worker thread of this process (one at a time): the request that starts it returns at once and
the run's page reloads itself every two seconds until the report is there (a national run takes about 5 s).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import Conflict, PermissionDenied, ValidationError
from engine.procedure import drafts
from engine.running import dryrun, dryrun_runs

from .campaigns import chart
from .procedures import api_bp
from .security import engine, login_required, now

bp = Blueprint("dryrun", __name__, url_prefix="/admin/procedures/drafts")

#: Runs waiting or under way in one process beyond which another is refused: each holds a core for seconds.
QUEUE = 4
_queue_lock = threading.Lock()


def _reader(draft) -> None:
    if not g.viewer.reads_library(draft.variant):
        raise PermissionDenied("仅管理员和牵头部门可查看流程库 (only administrators and the lead agency may read the "
                               "procedure library)")


def _admin() -> None:
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可试运行流程草稿 (only administrators may dry-run a draft)")


def _helpers():
    return engine().runner.script_engine.environment.globals


def _executor() -> ThreadPoolExecutor:
    """One worker per process: runs wait their turn rather than share two cores."""
    return current_app.extensions.setdefault("dry_runs", ThreadPoolExecutor(1, thread_name_prefix="dry-run"))


def _start(draft, data: dict):
    """Check the draft and the request, record the run and hand it to the worker; the run's row."""
    bundle = dryrun.check(draft.files, _helpers())
    asked = dryrun.parse_request(bundle, data)
    with _queue_lock:
        pending = current_app.extensions.setdefault("dry_run_pending", [])
        pending[:] = [f for f in pending if not f.done()]
        if len(pending) >= QUEUE:
            raise Conflict(f"已有 {len(pending)} 次试运行在排队，请稍后再试 ({len(pending)} dry runs are waiting; "
                           f"try again in a minute)")
        with engine().store.write() as db:
            run = dryrun_runs.start(db, draft.id, draft.revision, asked, g.viewer.username, now())
        pending.append(_executor().submit(dryrun_runs.execute, engine().store, run.id, dict(draft.files), asked,
                                          engine().clock))
    return run


def _form_request(bundle) -> dict:
    """The form's fields as a request: year, regions ticked (none: all), and per region the score, veto and
    decisions fixed."""
    form = request.form
    fixed = []
    for region in bundle.regions:
        code = region["code"]
        row = {"region": code}
        if form.get(f"score-{code}", "").strip():
            row["score"] = form[f"score-{code}"].strip()
        veto = form.get(f"veto-{code}", "")
        if veto:
            row["veto"] = [] if veto == "none" else [veto]
        decided = {d["field"]: form.get(f"decision-{d['field']}-{code}", "") for d in dryrun.decisions(bundle)}
        if any(decided.values()):
            row["decisions"] = {k: v for k, v in decided.items() if v}
        if len(row) > 1:
            fixed.append(row)
    return {"year": form.get("year", "").strip(), "regions": form.getlist("regions") or None, "fixed": fixed,
            "seed": form.get("seed", "1").strip() or "1"}


def _page(draft, status: int = 200, errors=None, refused=None, asked=None):
    bundle, choices = None, None
    if refused is None:
        try:
            bundle = dryrun.check(draft.files, _helpers())
            choices = dryrun.choices(bundle)
        except dryrun.DryRunRefused as exc:
            refused = exc
    with engine().store.read() as db:
        runs = dryrun_runs.runs(db, draft.id)
    findings = refused.findings if refused else []
    return render_template("admin/dry_run.html", draft=draft, choices=choices, runs=runs, errors=errors or [],
                           findings=findings, groups=_grouped(findings), asked=asked or {}, now=now(),
                           status_of=dryrun_runs.status, can_run=g.viewer.is_admin), status


def _grouped(findings) -> list[tuple[str, list]]:
    """The findings by file, for the library's findings list (admin/_findings.html)."""
    groups: dict[str, list] = {}
    for finding in findings:
        groups.setdefault(finding.file or _("The bundle"), []).append(finding)
    return sorted(groups.items())


@bp.get("/<int:draft_id>/dry-run")
@login_required
def form(draft_id: int):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
    _reader(draft)
    return _page(draft)


@bp.post("/<int:draft_id>/dry-run")
@login_required
def run(draft_id: int):
    _admin()
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
    try:
        bundle = dryrun.check(draft.files, _helpers())
    except dryrun.DryRunRefused as exc:
        return _page(draft, 400, refused=exc)
    asked = _form_request(bundle)
    try:
        row = _start(draft, asked)
    except ValidationError as exc:
        return _page(draft, 400, errors=exc.errors, asked=asked)
    return redirect(url_for("dryrun.show", draft_id=draft_id, run_id=row.id))


@bp.get("/<int:draft_id>/dry-run/<int:run_id>")
@login_required
def show(draft_id: int, run_id: int):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        _reader(draft)
        row = dryrun_runs.get(db, draft_id, run_id)
        runs = dryrun_runs.runs(db, draft_id)
    report = row.report or {}
    distribution = [(d["grade"], d["count"]) for d in report.get("distribution", [])]
    return render_template("admin/dry_run_report.html", draft=draft, run=row, report=report, runs=runs,
                           status=dryrun_runs.status(row, now()), status_of=dryrun_runs.status, now=now(),
                           chart=chart(distribution) if distribution else None)


# -- the API (on the library's blueprint: a bearer token, or the browser's session) ---------------------------------
@api_bp.post("/drafts/<int:draft_id>/dry-runs")
def api_start(draft_id: int):
    _admin()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
    row = _start(draft, body)
    with engine().store.read() as db:
        found = dryrun_runs.as_dict(dryrun_runs.get(db, draft_id, row.id), now(), report=False)
    url = url_for("procedures_api.api_dry_run", draft_id=draft_id, run_id=row.id)
    return jsonify(dict(found, url=url)), 202, {"Location": url}


@api_bp.get("/drafts/<int:draft_id>/dry-runs")
def api_dry_runs(draft_id: int):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        _reader(draft)
        return jsonify({"runs": [dryrun_runs.as_dict(r, now(), report=False) for r in dryrun_runs.runs(db, draft_id)]})


@api_bp.get("/drafts/<int:draft_id>/dry-runs/options")
def api_options(draft_id: int):
    """What a dry run of the draft can be asked: regions, veto items, decisions and their options, the scale."""
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
    _reader(draft)
    return jsonify(dryrun.choices(dryrun.check(draft.files, _helpers())))


@api_bp.get("/drafts/<int:draft_id>/dry-runs/<int:run_id>")
def api_dry_run(draft_id: int, run_id: int):
    with engine().store.read() as db:
        _reader(drafts.get(db, draft_id))
        return jsonify(dryrun_runs.as_dict(dryrun_runs.get(db, draft_id, run_id), now()))
