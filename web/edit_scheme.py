"""The scheme editor of a draft: scheme.yaml's indicator tree as a table, a "try it" box that scores a
measured value with the engine's own rules, and import from / export to Excel.

The page script (web/frontend/pages/scheme.js) asks ``POST …/scheme/text`` for the YAML of what it holds and
saves that through the draft file API (``PUT /api/v1/procedures/drafts/<id>/files/scheme.yaml``, If-Match),
then english.yaml when an indicator, part, group, body or veto item it had English for is gone;
importing a workbook only fills the table: nothing is saved until the administrator saves.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from flask import Blueprint, g, jsonify, render_template, request, send_file, url_for

from engine.errors import BundleError, PermissionDenied, ValidationError
from engine.procedure import drafts, english, scheme_excel, scheme_yaml, scoring, scoring_rules, yamlfile
from engine.store.models import ProcedureDraft

from .edit_forms import json_errors
from .security import admin_required, engine

bp = Blueprint("edit_scheme", __name__, url_prefix="/admin/procedures/drafts/<int:draft_id>/scheme")
json_errors(bp)

SCHEME = "scheme.yaml"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _draft(db, draft_id: int) -> ProcedureDraft:
    row = drafts.get(db, draft_id)
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可编辑流程草稿 (only administrators edit drafts)")
    return row


def scheme_name(files: dict[str, str]) -> str:
    """The scheme file the manifest names (``scheme:``), scheme.yaml when it cannot be read."""
    try:
        manifest = yamlfile.load(files.get("bundle.yaml", ""), "bundle.yaml")
    except BundleError:
        return SCHEME
    name = manifest.get("scheme") if isinstance(manifest, dict) else None
    return name if isinstance(name, str) and name in files else SCHEME


def _scale(files: dict[str, str]) -> str:
    try:
        manifest = yamlfile.load(files.get("bundle.yaml", ""), "bundle.yaml")
        return f"{scoring.scale(manifest if isinstance(manifest, dict) else {}).normalize():f}"
    except BundleError:
        return "100"


@bp.get("")
@admin_required
def editor(draft_id: int):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        files, revision, published = dict(row.files), row.revision, row.published_version_id is not None
        found = drafts.findings(row, engine().runner.script_engine.environment.globals)
    name = scheme_name(files)
    text = files.get(name, "")
    try:
        scheme, problem = yamlfile.load(text, name) or {}, None
    except BundleError as exc:
        scheme, problem = {}, exc.message
    if not isinstance(scheme, dict):
        scheme, problem = {}, f"{name} 应为映射 (the scheme must be a mapping)"
    data = {"draft": draft_id, "file": name, "revision": revision, "published": published, "scale": _scale(files),
            "scheme": scheme,
            "text": text, "problem": problem, "kinds": list(scoring_rules.KINDS),
            "findings": [f.as_dict() for f in found if f.file == name],
            "fileUrl": url_for("procedures_api.api_file", draft_id=draft_id, name=name),
            "englishUrl": url_for("procedures_api.api_file", draft_id=draft_id, name=english.FILE),
            "textUrl": url_for(".text", draft_id=draft_id), "tryUrl": url_for(".try_rule", draft_id=draft_id),
            "importUrl": url_for(".import_xlsx", draft_id=draft_id),
            "exportUrl": url_for(".export_xlsx", draft_id=draft_id)}
    return render_template("admin/draft_scheme.html", draft_id=draft_id, data=data, problem=problem,
                           published=published)


def _json() -> dict:
    sent = request.get_json(silent=True)
    if not isinstance(sent, dict):
        raise ValidationError("需要 JSON 对象 (a JSON object is expected)")
    return sent


@bp.post("/text")
@admin_required
def text(draft_id: int):
    """The YAML text of the scheme the editor holds, under the comment the saved file began with; and
    english.yaml without the English of what the scheme no longer has (``english``: null when unchanged)."""
    scheme = _json().get("scheme")
    if not isinstance(scheme, dict):
        raise ValidationError("scheme 应为对象 (scheme must be an object)")
    with engine().store.read() as db:
        files = dict(_draft(db, draft_id).files)
    catalogue = files.get(english.FILE)
    return jsonify({"text": scheme_yaml.dump(scheme, files.get(scheme_name(files), "")),
                    "english": catalogue and english.without_stale_scheme(catalogue, scheme)})


@bp.post("/try")
@admin_required
def try_rule(draft_id: int):
    """The points an indicator's rule gives a measured value, computed as scoring does: ``{indicator, measured}``
    → ``{points, words}``; an indicator without a rule scores the value itself, within 0 and its points."""
    sent = _json()
    indicator = sent.get("indicator")
    if not isinstance(indicator, dict):
        raise ValidationError("indicator 应为对象 (indicator must be an object)")
    with engine().store.read() as db:
        _draft(db, draft_id)
    code = str(indicator.get("code") or "?")
    scoring_rules.check(indicator)
    maximum = scoring.decimal(indicator.get("points"), f"指标 {code} 的分值 (the points of {code})")
    if maximum <= 0:
        raise ValidationError(f"指标 {code} 的分值应大于 0 (the points must be positive)")
    measured = scoring.decimal(sent.get("measured"), "实测值 (the measured value)")
    rule = indicator.get("rule")
    if rule and rule["kind"] in scoring_rules.COUNTED and (measured < 0 or measured != measured.to_integral()):
        raise ValidationError("次数应为不小于 0 的整数 (a count is a whole number, 0 or more)")
    if rule:
        points = scoring_rules.points({**indicator, "points": maximum}, measured)
    else:
        points = min(max(measured, Decimal(0)), maximum)
    return jsonify({"points": f"{points.normalize():f}", "maximum": f"{maximum.normalize():f}",
                    "words": scoring_rules.describe({**indicator, "points": indicator.get("points")})})


@bp.post("/import")
@admin_required
def import_xlsx(draft_id: int):
    """The scheme an uploaded workbook holds, for the editor to show; every bad row refused, nothing saved."""
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError("请选择 Excel 文件 (choose an .xlsx file)")
    with engine().store.read() as db:
        _draft(db, draft_id)
    scheme = scheme_excel.from_xlsx(sent.read(scheme_excel.MAX_BYTES + 1))
    return jsonify({"scheme": scheme, "indicators": len(scheme["indicators"])})


@bp.get("/export.xlsx")
@admin_required
def export_xlsx(draft_id: int):
    """The draft's saved scheme as a workbook."""
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        files, variant = dict(row.files), row.variant
    name = scheme_name(files)
    scheme = yamlfile.load(files.get(name, ""), name)
    if not isinstance(scheme, dict):
        raise ValidationError(f"{name} 应为映射 (the scheme must be a mapping)")
    return send_file(BytesIO(scheme_excel.to_xlsx(scheme)), mimetype=XLSX, as_attachment=True,
                     download_name=f"{variant}-指标体系.xlsx")
