"""The form builder of a draft: its forms listed as shared (the library's) or the variant's own, one form's
fields edited in the browser, and a preview drawn by the task page's own renderer (``_form.html``).

The page script (web/frontend/pages/forms.js) saves the two files of a form through the draft file API,
``PUT /api/v1/procedures/drafts/<id>/files/forms/<name>.schema.json`` with ``If-Match``; nothing here writes.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from engine.engine import FORMS_LIBRARY
from engine.errors import BundleError, KaoheError, PermissionDenied, ValidationError
from engine.procedure import drafts, forms, yamlfile
from engine.store.models import ProcedureDraft

from . import errors, formview, tasks
from .security import admin_required, engine

bp = Blueprint("edit_forms", __name__, url_prefix="/admin/procedures/drafts/<int:draft_id>/forms")

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def json_errors(blueprint: Blueprint) -> None:
    """Answer a refused POST of ``blueprint`` (the page scripts' calls) with JSON ``{error, message, errors}``; a
    page keeps the error page."""

    @blueprint.errorhandler(KaoheError)
    def refused(exc: KaoheError):
        if request.method != "POST":
            return errors.kaohe_error(exc)
        status = next(code for cls, code in errors.STATUS if isinstance(exc, cls))
        body = {"error": exc.code, "message": errors.short(exc.message)}
        if getattr(exc, "errors", None):
            body["errors"] = errors.short_errors(exc.errors)
        return jsonify(body), status


json_errors(bp)


def _draft(db, draft_id: int) -> ProcedureDraft:
    row = drafts.get(db, draft_id)
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可编辑流程草稿 (only administrators edit drafts)")
    return row


def library_forms() -> dict[str, str]:
    """The shared library's form files by name (``self-evaluation.schema.json``)."""
    return {path.name: path.read_text("utf-8") for path in sorted(FORMS_LIBRARY.glob("*.json"))}


def listing(files: dict[str, str], library: dict[str, str]) -> list[dict]:
    """Every form the draft can name: ``{name, title, status, in_draft, in_library}``, status ``own`` (the
    variant's, or a library form it changed) or ``shared`` (the library's as shipped, copied or not)."""
    names = {n.removeprefix("forms/").removesuffix(".schema.json") for n in files
             if n.startswith("forms/") and n.endswith(".schema.json")}
    names |= {n.removesuffix(".schema.json") for n in library if n.endswith(".schema.json")}
    rows = []
    for name in sorted(names):
        row = {"name": name, **status(files, library, name)}
        text = files.get(f"forms/{name}.schema.json") or library.get(f"{name}.schema.json", "{}")
        try:
            row["title"] = str(json.loads(text).get("title") or name)
        except (json.JSONDecodeError, AttributeError):
            row["title"] = name
        rows.append(row)
    return rows


def status(files: dict[str, str], library: dict[str, str], name: str) -> dict:
    """Whether form ``name`` is the variant's own, shared from the library, or new."""
    schema, ui = f"{name}.schema.json", f"{name}.uischema.json"
    in_draft = f"forms/{schema}" in files
    in_library = schema in library
    same = in_library and all(files.get(f"forms/{n}", library.get(n)) == library.get(n) for n in (schema, ui))
    kind = "new" if not (in_draft or in_library) else "shared" if same else "own"
    return {"status": kind, "in_draft": in_draft, "in_library": in_library}


@bp.get("")
@admin_required
def index(draft_id: int):
    wanted = request.args.get("name", "").strip()
    if wanted:
        if not NAME.match(wanted):
            raise ValidationError("表单文件名只用小写字母、数字、- 和 _，以字母或数字开头，至多 64 个 "
                                  "(a form's name is lower-case letters, digits, - and _, at most 64)")
        return redirect(url_for(".builder", draft_id=draft_id, name=wanted))
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        rows = listing(row.files, library_forms())
    return render_template("admin/draft_forms.html", draft=row, rows=rows)


@bp.get("/<path:name>")
@admin_required
def builder(draft_id: int, name: str):
    if not NAME.match(name):
        abort(404)
    library = library_forms()
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        files, revision, published = dict(row.files), row.revision, row.published_version_id is not None
        found = [f for f in drafts.findings(row, engine().runner.script_engine.environment.globals)
                 if f.file in (f"forms/{name}.schema.json", f"forms/{name}.uischema.json")]
    state = status(files, library, name)
    texts = {part: files.get(f"forms/{name}.{part}.json") or library.get(f"{name}.{part}.json")
             for part in ("schema", "uischema")}
    data = {"draft": draft_id, "name": name, "revision": revision, "published": published, **state,
            "schema": texts["schema"] or "", "ui": texts["uischema"] or "",
            "library": {"schema": library.get(f"{name}.schema.json"), "ui": library.get(f"{name}.uischema.json")},
            "fileUrl": url_for("procedures_api.api_file", draft_id=draft_id, name="forms/x")[:-1],
            "previewUrl": url_for(".preview", draft_id=draft_id),
            "draftUrl": url_for("procedures.draft", draft_id=draft_id),
            "findings": [f.as_dict() for f in found]}
    return render_template("admin/draft_form.html", draft_id=draft_id, name=name, data=data, state=state,
                           published=published)


@bp.post("/preview")
@admin_required
def preview(draft_id: int):
    """The form as the task page draws it: POST ``{schema, ui, data, check}`` (JSON), answer HTML."""
    sent = request.get_json(silent=True)
    if not isinstance(sent, dict):
        raise ValidationError("预览需要 JSON 对象 {schema, ui, data} (the preview takes a JSON object)")
    with engine().store.read() as db:
        files = dict(_draft(db, draft_id).files)
    name = sent.get("name") if isinstance(sent.get("name"), str) and NAME.match(sent["name"]) else "preview"
    fields, unplaced = render_preview(files, library_forms(), sent.get("schema"), sent.get("ui") or {},
                                      sent.get("data") or {}, bool(sent.get("check")), sent.get("posted"), name)
    return render_template("admin/form_preview.html", fields=fields, unplaced=unplaced, checked=bool(sent.get("check")))


def render_preview(files: dict[str, str], library: dict[str, str], schema, ui, data, check: bool, posted=None,
                   name: str = "preview"):
    """The fields the task page would draw for ``schema`` and ``ui`` holding ``data`` (or ``posted``: the
    preview's inputs as ``[[name, value], …]``, read as the task page reads a submission), one table row per
    indicator (or veto item) of the draft's scheme; with ``check``, the data is validated and each error
    placed on its field. A schema that is not a valid form is refused (BundleError) as deploying would."""
    if not isinstance(schema, dict) or not isinstance(ui, dict) or not isinstance(data, dict):
        raise ValidationError("schema、ui 与 data 都应为 JSON 对象 (schema, ui and data must be JSON objects)")
    if posted is not None and not (isinstance(posted, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in posted)):
        raise ValidationError("posted 应为 [[名称, 值], …] (posted must list [name, value] pairs of text)")
    others = {**{n: t for n, t in library.items()},
              **{n.removeprefix("forms/"): t for n, t in files.items() if n.startswith("forms/")}}
    text = json.dumps(schema, ensure_ascii=False, indent=2)
    forms.check_form_file(f"forms/{name}.schema.json", text, others)
    if posted is not None:
        data = formview.parse(schema, MultiDict(posted))
    scheme = _scheme(files)
    rows, labels = tasks.indicator_rows(scheme, None)
    errors = []
    if check:
        try:
            forms.validate(forms.validator(schema, others), data, schema.get("title", ""))
        except ValidationError as exc:
            errors = exc.errors
    grouped = formview.errors_by_path(errors)
    fields = formview.build(schema, ui, data, grouped, tasks.table_prefill(schema, rows, data, scheme), labels,
                            choices={"regions": _regions(files)})
    return fields, formview.unplaced(fields, grouped)


def _scheme(files: dict[str, str]) -> dict:
    """The draft's scheme, or none when it does not parse (the preview then shows tables without rows)."""
    try:
        scheme = yamlfile.load(files.get("scheme.yaml", ""), "scheme.yaml")
    except BundleError:
        return {}
    return scheme if isinstance(scheme, dict) else {}


def _regions(files: dict[str, str]) -> list[tuple[str, str]]:
    try:
        regions = yamlfile.load(files.get("regions.yaml", ""), "regions.yaml")
    except BundleError:
        return []
    items = regions.get("regions", []) if isinstance(regions, dict) else regions
    return [(str(r.get("code")), str(r.get("name", r.get("code")))) for r in items or [] if isinstance(r, dict)][:200]
