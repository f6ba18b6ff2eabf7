"""The task page: instructions, the form with its evidence uploads, drafts, submission, and what was submitted."""

from __future__ import annotations

import json
from pathlib import Path

import nh3
from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from sqlalchemy import select

from engine.errors import HeldUp, NotFound, PermissionDenied, ValidationError
from engine.people import access, inbox
from engine.procedure import scoring, scoring_rules
from engine.records import board, files
from engine.records import submissions as engine_submissions
from engine.running import incidents
from engine.store.models import AuditEntry, Campaign, InboxTask, Instance, Region

from . import english, formview
from .campaigns import chart
from .errors import short, short_errors
from .security import engine, login_required, now

bp = Blueprint("tasks", __name__)

#: The form of the step where the assessment group confirms a region's total (its breakdown is shown above it).
CONFIRMATION_FORM = "score-confirmation.schema.json"
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_markdown(text: str) -> str:
    """Markdown from a process bundle as HTML, with anything beyond plain formatting removed."""
    return nh3.clean(_markdown.render(text or ""), tags={"p", "br", "strong", "em", "code", "pre", "ul", "ol",
                                                          "li", "h1", "h2", "h3", "h4", "blockquote", "hr", "a"},
                     attributes={"a": {"href"}}, url_schemes={"https", "mailto"}, link_rel="noopener noreferrer")


def instructions(version, process_id: str, bpmn_id: str) -> str:
    """A user task's instructions (Markdown), in English when the viewer chose it and the bundle has them."""
    if said := english.of(version).instructions.get(bpmn_id):
        return said
    for spec in version.specs[process_id][0].task_specs.values():
        if getattr(spec, "bpmn_id", None) == bpmn_id:
            return (getattr(spec, "extensions", None) or {}).get("instructionsForEndUser", "")
    return ""


def form_of(version, bpmn_id: str) -> tuple[dict, dict]:
    """The JSON Schema and UI schema of a user task."""
    info = version.user_tasks.get(bpmn_id, {})
    if not info.get("form"):
        return {"type": "object", "properties": {}}, {}
    ui_file = version.files.get(f"forms/{info.get('ui')}") if info.get("ui") else None
    return version.form(info["form"]), json.loads(ui_file) if ui_file else {}


def shown_form(version, bpmn_id: str) -> tuple[dict, dict]:
    """The JSON Schema and UI schema of a user task as the viewer reads them (English titles in English)."""
    return english.form(version, version.user_tasks.get(bpmn_id, {}).get("form"), *form_of(version, bpmn_id))


def indicator_rows(scheme: dict, unit: str | None) -> tuple[list[dict], dict[str, str]]:
    """One row per indicator (only the unit's own when a member unit scores), and a label for each code
    (of the veto items too)."""
    indicators = [i for i in scheme.get("indicators", []) if unit is None or str(i["unit"]) == unit]
    labels = {str(i["code"]): f"{i['code']} {i['name']}（{i['points']} 分"
                              + (f"；{scoring_rules.describe(i)}" if i.get("rule") else "") + "）"
              for i in scheme.get("indicators", [])}
    labels.update((v["code"], f"{v['code']} {v['name']}") for v in scoring.veto_items(scheme))
    return [{"indicator": str(i["code"])} for i in indicators], labels


def _earlier(shown, task: InboxTask) -> dict:
    """What the same step, for the same unit, last submitted in the instance (a filing sent back for revision),
    if this viewer may read it; else nothing."""
    for item in shown.submissions:
        if item.entry.bpmn_id == task.bpmn_id and item.work.unit == task.unit:
            return item.entry.data or {}
    return {}


def table_prefill(schema: dict, rows: list[dict], data: dict, scheme: dict) -> dict[str, list[dict]]:
    """Tables of indicators (of veto items) start with one row each, or with the rows the same step filed before
    for the same codes (a filing sent back for revision keeps what was filed)."""
    tables = {"indicator": rows, "veto": [{"veto": v["code"]} for v in scoring.veto_items(scheme)]}
    prefill = {}
    for key, prop in schema.get("properties", {}).items():
        columns = prop.get("items", {}).get("properties", {}) if prop.get("type") == "array" else {}
        column = next((c for c in tables if c in columns), None)
        if column is None:
            continue
        codes = [r[column] for r in tables[column]]
        earlier = data.get(key)
        if isinstance(earlier, list) and [r.get(column) for r in earlier if isinstance(r, dict)] == codes:
            prefill[key] = earlier
        else:
            prefill[key] = [dict(r) for r in tables[column]]
    return prefill


def submissions(db, instance: Instance, variant: str):
    """What this viewer may read of the instance (engine.submissions.readable), and its submissions newest
    first, each with its form."""
    shown = engine_submissions.readable(db, engine(), g.viewer, instance, variant)
    version = engine().version(db, instance.version_id)
    choices = choices_of(db, instance)
    return shown, [submission(version, s.entry, choices) for s in shown.submissions]


def choices_of(db, instance: Instance) -> dict[str, list[tuple[str, str]]]:
    """The options of a form's ``x-kaohe-choices`` lists: ``regions``, the campaign's regions by name."""
    codes = db.scalar(select(Campaign.regions).where(Campaign.id == instance.campaign_id)) or []
    names = dict(db.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
    return {"regions": [(code, names.get(code, code)) for code in codes]}


def submission(version, entry: AuditEntry, choices: dict | None = None) -> dict:
    schema, ui = shown_form(version, entry.bpmn_id)
    _, labels = indicator_rows(version.scheme, None)
    labels = english.scheme_labels(version, labels)
    name = english.of(version).step(entry.bpmn_id, version.step_names.get(entry.bpmn_id, entry.bpmn_id))
    return {"entry": entry, "name": name,
            "fields": formview.build(schema, ui, entry.data or {}, labels=labels, readonly=True, choices=choices)}


@bp.get("/tasks/<task_id>")
@login_required
def show(task_id: str):
    with engine().store.read() as db:
        if db.get(InboxTask, task_id) is None:
            return _done(db, task_id)
    return _page(task_id)


def _page(task_id: str, values: dict | None = None, errors: list[dict] | None = None, message: str | None = None):
    with engine().store.read() as db:
        task = inbox.visible_task(db, g.viewer, task_id)
        instance = db.get(Instance, task.instance_id)
        variant = task.variant
        version = engine().version(db, instance.version_id)
        schema, ui = shown_form(version, task.bpmn_id)
        rows, labels = indicator_rows(version.scheme, task.unit)
        labels = english.scheme_labels(version, labels)
        draft = inbox.draft(db, task.id, g.viewer.username)
        shown, items = submissions(db, instance, variant)
        grouped = formview.errors_by_path(errors or [])
        region = db.get(Region, task.region) if task.region else None
        units = {u["code"]: u["name"] for u in version.scheme.get("units", [])}
        if values is None:
            values = draft.data if draft else {}
        fields = formview.build(schema, ui, values, grouped,
                                table_prefill(schema, rows, _earlier(shown, task), version.scheme), labels,
                                choices=choices_of(db, instance), english=english.wanted())
        names = english.indicator_names(version)
        formview.bound_scores(fields, lambda table, code: scoring.score_bounds(version.scheme, table, code, names))
        context = {
            "step_name": english.of(version).step(task.bpmn_id, task.name),
            "task": task, "instance": instance, "schema": schema, "fields": fields,
            "form_errors": formview.unplaced(fields, grouped), "message": message, "draft": draft,
            "instructions": render_markdown(instructions(version, instance.process_id, task.bpmn_id)),
            "can_act": g.viewer.can_act(task), "can_supervise": g.viewer.can_supervise(task),
            "region_name": english.region_name(region.code, region.name) if region else "",
            "unit_name": english.unit_name(version, task.unit, units.get(task.unit, task.unit)),
            "submissions": items,
            "candidates": inbox.candidates(db, task) if g.viewer.can_supervise(task) else [],
            "files": shown.file_map,
            "outcome": (outcome := _outcome(db, task)),
            "breakdown": _breakdown(version, task, labels),
            "chart": english.name_grades(version, outcome, chart(outcome.distribution)) if outcome else None,
            "held_up": incidents.held_up(db, instance.id) is not None,
            "idle_seconds": current_app.config["SESSION_LIFETIME"].idle_minutes * 60,
        }
    return render_template("task.html", **context), 400 if errors or message else 200


def _breakdown(version, task: InboxTask, labels: dict[str, str]) -> dict | None:
    """What a region's confirmation decides on: the total (``score``) and, per member unit, each indicator's score
    and basis, to those who act on or supervise the step; None before the units have scored (or elsewhere)."""
    if version.user_tasks.get(task.bpmn_id, {}).get("form") != CONFIRMATION_FORM or task.region is None:
        return None  # only there: not to the assessed government on its own steps
    if not (g.viewer.can_act(task) or g.viewer.can_supervise(task)):
        return None
    data = engine().instance_data(task.instance_id)
    units = data.get("unit_scores")
    if "score" not in data or not isinstance(units, list) or not units:
        return None
    names = {u["code"]: english.unit_name(version, u["code"], u["name"]) for u in version.scheme.get("units", [])}
    rows = [{"unit": names.get(str(unit.get("unit")), ""), "indicator": labels.get(str(row.get("indicator")), ""),
             "score": row.get("score"), "basis": row.get("basis") or ""}
            for unit in units if isinstance(unit, dict) for row in unit.get("scores") or [] if isinstance(row, dict)]
    return {"total": data["score"], "rows": rows}


def _outcome(db, task: InboxTask):
    """What a campaign step decides on: the campaign's results (ranking, grades, consequences), to those who
    may read them; None for a region's step, or before any region has reported."""
    if task.region is not None or task.campaign_id is None:
        return None
    campaign = db.get(Campaign, task.campaign_id)
    if not g.viewer.reads_results(campaign.variant, board.announced(db, engine(), campaign)):
        return None
    outcome = board.published(db, engine(), campaign)
    return outcome if outcome.results else None


def _completed(db, task_id: str) -> AuditEntry | None:
    """The audit entry of a task's completion, if it was completed."""
    return db.scalars(select(AuditEntry).where(AuditEntry.task_id == task_id, AuditEntry.action == "complete")
                      .order_by(AuditEntry.id.desc()).limit(1)).first()


def _done(db, task_id: str):
    """A task no longer in the inbox: what was submitted, by whom and when, if the viewer may read it."""
    entry = _completed(db, task_id)
    if entry is None:
        raise NotFound("该任务不存在 (there is no such task)")
    instance = db.get(Instance, entry.instance_id)
    variant = access.instance_variant(db, instance)
    shown = engine_submissions.readable(db, engine(), g.viewer, instance, variant)
    if not any(s.entry.id == entry.id for s in shown.submissions):
        raise PermissionDenied("无权查看该任务 (you may not see this task)")
    return render_template("submitted.html", instance=instance,
                           item=submission(engine().version(db, instance.version_id), entry, choices_of(db, instance)),
                           files=shown.file_map)


@bp.post("/tasks/<task_id>")
@login_required
def submit(task_id: str):
    action = request.form.get("action", "submit")
    with engine().store.read() as db:
        try:
            task = inbox.visible_task(db, g.viewer, task_id)
        except NotFound:  # a second submit (or a colleague's first): the page of what was submitted says by whom
            if _completed(db, task_id) is None:
                raise
            flash(_("This task has been submitted already: what was submitted is below."), "info")
            return redirect(url_for("tasks.show", task_id=task_id))
        inbox.check_can_act(g.viewer, task)
        version = engine().version(db, db.get(Instance, task.instance_id).version_id)
    schema, _ui = form_of(version, task.bpmn_id)
    data = formview.parse(schema, request.form)
    try:
        _store_uploads(task, schema, data)
        if action == "save":
            inbox.save_draft(engine().store, task, g.viewer.username, data, now(), schema)
            if request.headers.get("X-Kaohe-Autosave"):  # the page saving as the user types: no page to draw
                return jsonify({"saved_at": now().isoformat()})
            flash(_("Draft saved."), "success")
            return redirect(url_for("tasks.show", task_id=task.id))
        engine().complete(task.id, data, g.viewer.username, grants=g.viewer.grants,
                          check=lambda db, row: files.check_evidence(db, row.instance_id, data))
    except ValidationError as exc:
        if request.headers.get("X-Kaohe-Autosave"):
            return jsonify({"error": exc.code, "message": short(exc.message)}), 400
        return _page(task_id, values=data, errors=short_errors(exc.errors or [{"field": "", "message": exc.message}]),
                     message=short(exc.message))
    except HeldUp:  # nothing was saved; the administrators have an incident to act on
        page, _status = _page(task_id, values=data)
        return page, 409
    flash(_("Submitted: %(name)s.", name=english.of(version).step(task.bpmn_id, task.name)), "success")
    session["submitted_task"] = task.id  # the next page tells the browser to drop its copy of the form
    with engine().store.read() as db:
        variant = access.instance_variant(db, db.get(Instance, task.instance_id))
    if g.viewer.sees_instance(variant, task.region):
        return redirect(url_for("instances.show", instance_id=task.instance_id))
    return redirect(url_for("inbox.index"))


def _store_uploads(task: InboxTask, schema: dict, data: dict) -> None:
    """Store the files posted with the form and list them in its ``evidence``."""
    uploads = [f for f in request.files.getlist("evidence_upload") if f and f.filename]
    if not uploads:
        return
    config = current_app.config
    evidence = data.setdefault("evidence", []) if "evidence" in schema.get("properties", {}) else []
    for upload in uploads:
        content = upload.read(config["MAX_UPLOAD_BYTES"] + 1)
        row = files.upload(engine().store, Path(config["UPLOAD_FOLDER"]), now(), task, schema, g.viewer.username,
                           upload.filename, content, config["MAX_UPLOAD_BYTES"], config["UPLOAD_QUOTA"])
        if not any(item.get("sha256") == row.sha256 for item in evidence):
            evidence.append({"name": row.name, "sha256": row.sha256})
