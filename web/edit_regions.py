"""The regions and bodies editor of a draft (issue 11): its regions.yaml and the ``bodies:`` of its bundle.yaml.

The page holds the rows and writes both files itself (web/frontend/lib/regions.js), saving through the draft
file API. Here: the page, the import of an Excel or CSV file into rows (every bad row named, nothing taken;
nothing is saved until the page saves), and the export of the saved rows.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from engine.errors import BundleError, ValidationError
from engine.procedure import drafts, region_file

from .errors import short_errors
from .security import admin_required, engine

bp = Blueprint("edit_regions", __name__, url_prefix="/admin/procedures/drafts")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/<int:draft_id>/regions")
@admin_required
def page(draft_id: int):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        files = dict(draft.files)
        findings = drafts.findings(draft, engine().runner.script_engine.environment.globals)
    try:
        read, problem = region_file.read(files), None
    except BundleError as exc:
        read, problem = None, exc.message
    name = read["file"] if read else region_file.file_name(files)
    data = {"draft": draft_id, "variant": draft.variant, "revision": draft.revision,
            "editable": draft.published_version_id is None and read is not None,
            "file": name, "regionsText": files.get(name, ""), "bundleText": files.get("bundle.yaml", ""),
            "named": _names_regions(files), **(read or {"columns": ["code", "name"], "rows": [], "bodies": []}),
            "findings": [f.as_dict() for f in findings if f.file in (name, "bundle.yaml")],
            "api": url_for("procedures_api.api_save_file", draft_id=draft_id, name="").rstrip("/") + "/",
            "import": url_for("edit_regions.import_rows", draft_id=draft_id)}
    return render_template("admin/regions_editor.html", data=data, draft=draft, problem=problem)


@bp.post("/<int:draft_id>/regions/import")
@admin_required
def import_rows(draft_id: int):
    """The rows of an uploaded file as JSON, for the page to show; 400 with every bad row, nothing taken."""
    upload = request.files.get("file")
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        files, variant = dict(draft.files), draft.variant
    try:
        if upload is None or not upload.filename:
            raise ValidationError("请选择 .xlsx 或 .csv 文件 (choose an .xlsx or .csv file)")
        columns = region_file.read(files)["columns"] if _readable(files) else ["code", "name"]
        got = region_file.import_file(upload.filename, upload.read(), variant, columns)
    except ValidationError as exc:
        return jsonify({"error": exc.code, "message": exc.message, "errors": short_errors(exc.errors)}), 400
    return jsonify(got)


@bp.get("/<int:draft_id>/regions/export.<any(xlsx, csv):fmt>")
@admin_required
def export(draft_id: int, fmt: str):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        files, variant = dict(draft.files), draft.variant
    content = region_file.export(region_file.read(files), variant, fmt)
    response = Response(content, mimetype=XLSX if fmt == "xlsx" else "text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{variant}-regions.{fmt}"'
    return response


def _readable(files: dict[str, str]) -> bool:
    try:
        region_file.read(files)
    except BundleError:
        return False
    return True


def _names_regions(files: dict[str, str]) -> bool:
    """Whether bundle.yaml names its regions file (else the page adds ``regions: regions.yaml`` on saving)."""
    try:
        return bool(region_file.manifest(files).get("regions"))
    except BundleError:
        return True

