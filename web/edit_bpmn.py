"""The BPMN modeler of a draft (issue 11): its page, and what its panel asks the server as the user picks.

The browser edits; the server judges. The page loads the draft's BPMN file and saves it, and bundle.yaml, through
the drafts' file API; the endpoints here answer the panel: the variables in scope at an element, whether one
expression passes the sandbox there, the legal date a due-date rule gives for a sample year, an instruction's
Markdown as the task page shows it, and bundle.yaml with the modeler's sections rewritten.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, render_template, request, session

from engine.errors import KaoheError, ValidationError
from engine.people.accounts import ROLE_NAMES
from engine.procedure import drafts, english, manifest_edit, scope
from engine.procedure.yamlfile import load

from . import errors
from .security import admin_required, engine
from .tasks import render_markdown

bp = Blueprint("edit_bpmn", __name__, url_prefix="/admin/procedures")
_UNITS = ("days", "months", "years", "working_days")


def _json() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求须为 JSON 对象 (the request body must be a JSON object)")
    return body


def _text(body: dict, key: str, limit: int = 2_000_000) -> str:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"缺少或过长的字段 {key} (missing or too long: {key})")
    return value


def _draft(draft_id: int):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        db.expunge(draft)
    return draft


def _files(draft, name: str, xml: str | None = None) -> dict[str, str]:
    """The draft's files (library forms included, as deployed) with the modeler's unsaved XML for ``name``."""
    files = dict(draft.files)
    if name not in files:
        raise ValidationError(f"草稿中没有文件 {name} (the draft has no file {name})")
    if xml is not None:
        files[name] = xml
    return files


def _helpers() -> frozenset[str]:
    return frozenset(engine().runner.script_engine.environment.globals)


def _manifest(files: dict[str, str]) -> dict:
    found = load(files.get("bundle.yaml", ""), "bundle.yaml") if "bundle.yaml" in files else {}
    return found if isinstance(found, dict) else {}


def bodies_of(manifest: dict) -> list[dict]:
    """The bodies a lane can be given: the built-in roles and the variant's own (``bodies:`` of bundle.yaml)."""
    found = [{"code": code, "name": name} for code, name in ROLE_NAMES.items() if code != "admin"]
    for body in manifest.get("bodies") or []:
        if isinstance(body, dict) and body.get("code"):
            found.append({"code": str(body["code"]), "name": str(body.get("name") or body["code"])})
    return found


@bp.get("/drafts/<int:draft_id>/bpmn/<path:name>")
@admin_required
def modeler(draft_id: int, name: str):
    if not name.endswith(".bpmn"):
        raise ValidationError(f"只有 BPMN 文件可在流程建模中编辑 (only a .bpmn file opens in the modeler: {name[:80]})")
    draft = _draft(draft_id)
    files = _files(draft, name)
    manifest = _manifest(files)
    setup = {
        "draft": draft.id, "name": name, "revision": draft.revision, "xml": files[name],
        "lang": session.get("lang") or "zh",
        "fileApi": f"/api/v1/procedures/drafts/{draft.id}/files/",
        "endpoints": {what: f"/admin/procedures/drafts/{draft.id}/bpmn/{name}/{what}"
                      for what in ("scope", "check", "manifest", "english")}
        | {"duePreview": "/admin/procedures/bpmn/due-preview", "markdown": "/admin/procedures/bpmn/markdown"},
        "bodies": bodies_of(manifest),
        "forms": sorted(n.removeprefix("forms/") for n in files
                        if n.startswith("forms/") and n.endswith(".schema.json")),
        "uiForms": sorted(n.removeprefix("forms/") for n in files
                          if n.startswith("forms/") and n.endswith(".uischema.json")),
        "lanes": manifest.get("lanes") or {}, "deadlines": manifest.get("deadlines") or {},
        # the page's JSON has its keys sorted: the lanes' order in the file, to keep it when one is renamed
        "laneOrder": list(manifest.get("lanes") or {}),
        "campaignProcess": manifest.get("campaign_process"), "regionProcess": manifest.get("region_process"),
        "reminders": manifest.get("reminders") or {},
        "extendWeekends": bool((manifest.get("calendar") or {}).get("extend_weekends")),
        "sampleYear": engine().clock.now().year,
    }
    return render_template("admin/edit_bpmn.html", draft=draft, name=name, setup=setup)


@bp.post("/drafts/<int:draft_id>/bpmn/<path:name>/scope")
@admin_required
def in_scope(draft_id: int, name: str):
    body = _json()
    files = _files(_draft(draft_id), name, _text(body, "xml"))
    found = scope.in_scope(files, name, _text(body, "element", 200), _helpers())
    return jsonify({"variables": found.variables, "provided": found.provided})


@bp.post("/drafts/<int:draft_id>/bpmn/<path:name>/check")
@admin_required
def check_expression(draft_id: int, name: str):
    body = _json()
    files = _files(_draft(draft_id), name, _text(body, "xml"))
    found = scope.in_scope(files, name, _text(body, "element", 200), _helpers())
    problem = scope.check_expression(_text(body, "expression", 2000), found)
    return jsonify({"ok": problem is None, "message": problem})


@bp.post("/drafts/<int:draft_id>/bpmn/<path:name>/manifest")
@admin_required
def manifest(draft_id: int, name: str):
    """bundle.yaml of the draft with the sections given rewritten; the page saves it through the file API."""
    body = _json()
    text = _draft(draft_id).files.get("bundle.yaml")
    if text is None:
        raise ValidationError("草稿中没有 bundle.yaml (the draft has no bundle.yaml)")
    for section in manifest_edit.SECTIONS:
        if section in body:
            text = manifest_edit.set_section(text, section, body[section])
    return jsonify({"text": text})


@bp.post("/drafts/<int:draft_id>/bpmn/<path:name>/english")
@admin_required
def english_text(draft_id: int, name: str):
    """english.yaml of the draft without the English of the elements renamed and the instructions rewritten
    (``text``: null when it has none of them, or no english.yaml); the page saves it through the file API."""
    body = _json()
    ids = {what: body.get(what) or [] for what in ("renamed", "reworded")}
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in ids.values()):
        raise ValidationError("renamed 与 reworded 应为元素标识列表 (renamed and reworded must list element ids)")
    text = _draft(draft_id).files.get(english.FILE)
    return jsonify({"text": text and english.without_elements(text, set(ids["renamed"]), set(ids["reworded"]))})


@bp.post("/bpmn/due-preview")
@admin_required
def due_preview():
    """The legal last day a due-date rule gives: a fixed date in a sample year, or a period after a sample day."""
    body = _json()
    extend = bool(body.get("extend_weekends"))
    work = engine().calendar
    try:
        if body.get("kind") == "fixed":
            year = int(body.get("sample_year"))
            due = work.fixed(year, str(body.get("date")), int(body.get("year", 0)), extend_weekends=extend)
        elif body.get("kind") == "after" and body.get("unit") in _UNITS:
            start, amount = date.fromisoformat(str(body.get("event_on"))), int(body.get("amount"))
            if not 1 <= amount <= 366:
                raise ValueError("amount")
            due = (work.working_days(start, amount) if body["unit"] == "working_days" else
                   work.deadline(start, extend_weekends=extend, **{body["unit"]: amount}))
        else:
            raise ValueError("kind")
    except (TypeError, ValueError, OverflowError):
        raise ValidationError("期限设置不完整或无效 (the due date is incomplete or invalid)") from None
    return jsonify({"last_day": due.last_day.isoformat(),
                    "moved_from": due.extended_from.isoformat() if due.extended_from else None,
                    "reason": due.reason})


@bp.post("/bpmn/markdown")
@admin_required
def markdown():
    """An instruction as the task page renders it (the same renderer, the same sanitizer)."""
    return jsonify({"html": render_markdown(_text(_json(), "text", 100_000))})


@bp.errorhandler(KaoheError)
def _refused(exc: KaoheError):
    """The panel's requests get JSON ``{"error", "message"}``; the page gets the error page."""
    if request.method == "GET":
        return errors.kaohe_error(exc)
    status = next(code for cls, code in errors.STATUS if isinstance(exc, cls))
    return jsonify({"error": exc.code, "message": errors.short(exc.message)}), status
