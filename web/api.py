"""The REST API under /api/v1: JSON in and out, bearer tokens, the same rules as the pages."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from engine.errors import PermissionDenied, ValidationError
from engine.people import access, inbox, signin
from engine.records import audit, board, files, submissions
from engine.store.models import Campaign, Instance

from . import diffs, openapi
from .campaigns import may_steer
from .inbox import read_filter
from .security import engine, now
from .tasks import form_of, instructions

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def bearer():
    """Only a bearer token signs an API call in: cookies do not, so no API call can be forged cross-site."""
    g.viewer = g.token_due = None
    if request.endpoint == "api.spec":
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    found = signin.token_use(engine().store, now(), token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        return jsonify({"error": "unauthorized",
                        "message": "需要有效的访问令牌 (a valid bearer token is required)"}), 401
    g.viewer, g.token_due = found
    return None


@bp.after_request
def token_used(response):
    """The token's last use, when due and not already written with the request's own change (a submission)."""
    if g.get("token_due") is not None:
        with engine().store.write(durable=False) as db:
            signin.touch_token(db, g.token_due, now())
    return response


def task_json(task) -> dict:
    return {"id": task.id, "instance": task.instance_id, "campaign": task.campaign_id, "variant": task.variant,
            "step": task.bpmn_id, "name": task.name, "role": task.role, "region": task.region, "unit": task.unit,
            "form": task.form, "assignee": task.assignee, "created_at": task.created_at.isoformat(),
            "due_at": task.due_at.isoformat() if task.due_at else None}


@bp.get("/openapi.json")
def spec():
    return jsonify(openapi.document())


@bp.get("/tasks")
def tasks():
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    offset = max(request.args.get("offset", 0, type=int), 0)
    with engine().store.read() as db:
        rows = inbox.tasks(db, g.viewer, now(), read_filter(request.args), limit=limit + 1, offset=offset)
    body = {"tasks": [task_json(t) for t in rows[:limit]]}
    if len(rows) > limit:
        body["next_offset"] = offset + limit
    return jsonify(body)


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    with engine().store.read() as db:
        row = inbox.visible_task(db, g.viewer, task_id)
        instance = db.get(Instance, row.instance_id)
        version = engine().version(db, instance.version_id)
        schema, ui = form_of(version, row.bpmn_id)
        text = instructions(version, instance.process_id, row.bpmn_id)
    return jsonify(dict(task_json(row), schema=schema, uischema=ui, instructions=text,
                        can_act=g.viewer.can_act(row)))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    due = g.token_due

    def check(db, row) -> None:
        files.check_evidence(db, row.instance_id, data)
        if due is not None:  # in the completion's transaction: one write per submission, not two
            signin.touch_token(db, due, now())

    done = engine().complete(task_id, data, g.viewer.username, grants=g.viewer.grants, check=check)
    g.token_due = None  # committed with the completion (refused, it rolled back: after_request writes it)
    return jsonify({"instance": done.instance_id, "task": done.task_id, "status": done.status,
                    "next_tasks": done.next_tasks})


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    inbox.claim(engine().store, g.viewer, task_id, now())
    return jsonify({"task": task_id, "assignee": g.viewer.username})


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str):
    inbox.unclaim(engine().store, g.viewer, task_id, now())
    return jsonify({"task": task_id, "assignee": None})


@bp.post("/tasks/<task_id>/files")
def upload(task_id: str):
    """Store one evidence file (multipart field ``file``); put the answer in the form's ``evidence``."""
    with engine().store.read() as db:
        row = inbox.visible_task(db, g.viewer, task_id)
        inbox.check_can_act(g.viewer, row)
        schema, _ui = form_of(engine().version(db, db.get(Instance, row.instance_id).version_id), row.bpmn_id)
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError("缺少文件字段 file (multipart field 'file' is missing)")
    config = current_app.config
    limit = config["MAX_UPLOAD_BYTES"]
    stored = files.upload(engine().store, Path(config["UPLOAD_FOLDER"]), now(), row, schema, g.viewer.username,
                          sent.filename, sent.read(limit + 1), limit, config["UPLOAD_QUOTA"])
    return jsonify({"name": stored.name, "sha256": stored.sha256, "size": stored.size,
                    "type": stored.content_type}), 201


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    with engine().store.read() as db:
        row, variant = access.visible_instance(db, g.viewer, instance_id)
        done, ready = board.progress(db, [row.id])
        timeline = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "step": e.bpmn_id,
                     "task": e.task_id} for e in audit.history(db, row.id)]
        shown = submissions.readable(db, engine(), g.viewer, row, variant)
    body = {"id": row.id, "campaign": row.campaign_id, "process": row.process_id, "region": row.region,
            "status": row.status, "done": sorted(done[row.id]), "current": [task_json(t) for t in ready[row.id]],
            "timeline": timeline, "submissions": [_submission_json(s) for s in shown.submissions],
            "files": [_file_json(e.file) for e in shown.files], "result": shown.result}
    if shown.data is not None:  # the raw data: only for those who read all of it
        body["data"] = shown.data
    return jsonify(body)


def _submission_json(item) -> dict:
    entry, work = item.entry, item.work
    return {"task": entry.task_id, "step": entry.bpmn_id, "role": work.role, "region": work.region,
            "unit": work.unit, "actor": entry.actor, "at": entry.at.isoformat(), "data": entry.data}


def _file_json(row) -> dict:
    return {"name": row.name, "sha256": row.sha256, "size": row.size, "type": row.content_type,
            "task": row.task_id, "uploader": row.uploader, "at": row.at.isoformat()}


def _admin() -> None:
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可处理故障 (only administrators handle incidents)")


def _incident_json(row: dict) -> dict:
    return {"id": row["id"], "instance": row["instance_id"], "campaign": row["campaign_id"],
            "region": row["region"], "region_name": row["region_name"], "kind": row["kind"],
            "step": row["bpmn_id"], "step_name": row["element"], "error": row["error"], "attempts": row["attempts"],
            "created_at": row["created_at"].isoformat(), "last_at": row["last_at"].isoformat()}


@bp.get("/incidents")
def incidents():
    """Open incidents (administrators)."""
    _admin()
    return jsonify([_incident_json(r) for r in engine().incidents(request.args.get("campaign", type=int))])


@bp.post("/incidents/<int:incident_id>/<any(retry, cancel):action>")
def incident_action(incident_id: int, action: str):
    """Retry (``{"reason", "upgrade"?}``) or cancel (``{"reason"}``) an incident's instance (administrators)."""
    _admin()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    if action == "retry":
        instance_id = engine().retry_incident(incident_id, g.viewer.username, reason,
                                              upgrade=body.get("upgrade") is True)
    else:
        instance_id = engine().cancel_incident(incident_id, g.viewer.username, reason)
    return jsonify({"incident": incident_id, "instance": instance_id, "done": action})


@bp.get("/campaigns")
def campaigns():
    with engine().store.read() as db:
        rows = [c for c in db.scalars(select(Campaign).order_by(Campaign.id.desc()))
                if g.viewer.sees_board(c.variant)
                or g.viewer.reads_results(c.variant, board.announced(db, engine(), c))]
    return jsonify({"campaigns": [_campaign_json(c) for c in rows]})


def _campaign_json(row: Campaign) -> dict:
    return {"id": row.id, "variant": row.variant, "year": row.year, "label": row.label, "status": row.status,
            "status_reason": row.status_reason, "regions": row.regions, "started_at": row.started_at.isoformat()}


@bp.post("/campaigns/<int:campaign_id>/<any(suspend, resume, cancel):action>")
def campaign_state(campaign_id: int, action: str):
    """Suspend, resume or cancel a campaign (``{"reason"}``), as those who may start its campaigns."""
    may_steer(campaign_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    changed = engine().change_campaign(campaign_id, action, g.viewer.username, reason)
    with engine().store.read() as db:
        return jsonify({**_campaign_json(access.campaign(db, campaign_id)), "instances_changed": changed})


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    with engine().store.read() as db:
        row = access.campaign(db, campaign_id)
        view = board.build(db, engine(), row, now(), page=request.args.get("page", 1, type=int))
    body = _campaign_json(row)
    if g.viewer.sees_board(row.variant):
        body["page"], body["pages"] = view.page, view.pages
        body["board"] = [{"instance": r.instance_id, "region": r.region, "name": r.name, "status": r.status,
                          "overdue": r.overdue,
                          "steps": {b: {"state": c.state, "due_at": c.due_at.isoformat() if c.due_at else None}
                                    for b, c in r.cells.items()}} for r in view.rows]
    elif not g.viewer.reads_results(row.variant, view.announced):
        raise PermissionDenied(f"无权查看考核 {campaign_id} (you may not see campaign {campaign_id})")
    body["announced"] = view.announced
    body["results"] = view.results or engine().results(row.id)  # a large board leaves them out
    return jsonify(body)


@bp.get("/procedures/diff")
def procedure_diff():
    """What ``to`` changes from ``from`` (version ids or ``variant:number``), by element."""
    return jsonify(diffs.result(request.args))
