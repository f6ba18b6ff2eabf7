"""The procedure library: variants, versions and drafts (pages under /admin/procedures, API under
/api/v1/procedures). Administrators change them; the lead agency reads them.

The API takes a bearer token like the rest of /api/v1, or the browser's session with its CSRF token in an
``X-CSRF-Token`` header: the editors on the draft page save files through it (docs/security.md).
"""

from __future__ import annotations

from io import BytesIO
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _

from engine import signin
from engine.errors import NotFound, PermissionDenied, StaleDraft, ValidationError
from engine.procedure import drafts, library, versions
from engine.procedure.library import VariantEntry
from engine.store.models import ProcedureDraft, ProcessVersion, User

from .security import admin_required, engine, login_required, now

bp = Blueprint("procedures", __name__, url_prefix="/admin/procedures")
api_bp = Blueprint("procedures_api", __name__, url_prefix="/api/v1/procedures")


# -- shared ----------------------------------------------------------------------------------------------------
def _reader(variant: str | None = None) -> None:
    if not g.viewer.reads_library(variant):
        raise PermissionDenied("仅管理员和牵头部门可查看流程库 (only administrators and the lead agency may read the "
                               "procedure library)")


def _admin() -> None:
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可修改流程库 (only administrators may change the procedure library)")


def _variants() -> set[str] | None:
    """The variants the viewer reads: all for an administrator, those it supervises for the lead agency."""
    if g.viewer.is_admin or any(gr.variant is None for gr in g.viewer.holding("supervises", None)):
        return None
    return {gr.variant for gr in g.viewer.holding("supervises", None)}


def _draft(db, draft_id: int) -> ProcedureDraft:
    row = drafts.get(db, draft_id)
    _reader(row.variant)
    return row


def _version(db, version_id: int) -> ProcessVersion:
    row = db.get(ProcessVersion, version_id)
    if row is None:
        raise NotFound(f"流程版本 {version_id} 不存在 (no process version {version_id})")
    _reader(row.variant)
    return row


def _findings(draft: ProcedureDraft):
    return drafts.findings(draft, engine().runner.script_engine.environment.globals)


def _names(db, usernames) -> dict[str, str]:
    """Display names of users, for people who should not read ids."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    return {u.username: u.display_name for u in db.query(User).filter(User.username.in_(wanted))}


def _file_response(name: str, text: str, download: bool = True) -> Response:
    response = Response(text, mimetype="text/plain", content_type="text/plain; charset=utf-8")
    if download:
        response.headers["Content-Disposition"] = _disposition(name.rsplit("/", 1)[-1])
    return response


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _zip_response(row, label: str) -> Response:
    return send_file(BytesIO(drafts.zip_bytes(row)), mimetype="application/zip", as_attachment=True,
                     download_name=f"{label}.zip")


def _revision(value) -> int:
    text = str(value or "").strip().strip('"').removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ValidationError("缺少草稿的修订号 (the revision of the draft that was read is required: If-Match)",
                              [{"field": "revision", "message": "required"}])
    return int(text)


def _grouped(findings) -> list[tuple[str, list]]:
    groups: dict[str, list] = {}
    for finding in findings:
        groups.setdefault(finding.file or _("The bundle"), []).append(finding)
    return sorted(groups.items())


# -- pages -----------------------------------------------------------------------------------------------------
@bp.get("")
@login_required
def index():
    _reader()
    with engine().store.read() as db:
        entries = library.overview(db, _variants())
        names = _names(db, [v.author for e in entries for v in e.versions]
                       + [d.owner for e in entries for d in e.drafts] + [d.saved_by for e in entries for d in e.drafts])
    return render_template("admin/procedures.html", entries=entries, names=names, can_edit=g.viewer.is_admin)


@bp.post("/drafts")
@admin_required
def create_draft():
    version_id = request.form.get("version_id", type=int)
    with engine().store.write() as db:
        base = _version(db, version_id or 0)
        row = drafts.create(db, base, g.viewer.username, now(), request.form.get("comment", ""),
                            variant=request.form.get("variant", "").strip() or None,
                            title=request.form.get("title", "").strip() or None)
        draft_id = row.id
    flash(_("Draft created. Change its files, check them, then publish."), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.get("/drafts/<int:draft_id>")
@login_required
def draft(draft_id: int):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        base = db.get(ProcessVersion, row.base_version_id) if row.base_version_id else None
        published = db.get(ProcessVersion, row.published_version_id) if row.published_version_id else None
        names = _names(db, [row.owner, row.saved_by])
        findings = _findings(row)
    tools = current_app.jinja_env.list_templates(filter_func=lambda n: n.startswith("admin/draft_tools/")
                                                 and n.endswith(".html"))
    return render_template("admin/draft.html", draft=row, base=base, published=published, names=names, tools=tools,
                           findings=findings, groups=_grouped(findings),
                           errors=[f for f in findings if f.severity == "error"],
                           can_edit=g.viewer.is_admin and published is None)


@bp.get("/drafts/<int:draft_id>/files/<path:name>")
@login_required
def draft_file(draft_id: int, name: str):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        if name not in row.files:
            raise NotFound(f"没有文件 {name[:80]} (no file {name[:80]})")
        return _file_response(name, row.files[name])


@bp.get("/drafts/<int:draft_id>/edit/<path:name>")
@admin_required
def edit_file(draft_id: int, name: str):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        text = row.files.get(name)
    if text is None:
        name = drafts.clean_name(name)  # a new file: its name must be one a bundle holds
        text = ""
    return render_template("admin/draft_file.html", draft=row, name=name, text=text)


@bp.post("/drafts/<int:draft_id>/edit/<path:name>")
@admin_required
def save_file(draft_id: int, name: str):
    with engine().store.write() as db:
        row = _draft(db, draft_id)
        drafts.save_file(db, row, name, request.form.get("text", "").replace("\r\n", "\n"),
                         _revision(request.form.get("revision")), g.viewer.username, now())
    flash(_("%(name)s saved.", name=name), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.post("/drafts/<int:draft_id>/upload")
@admin_required
def upload(draft_id: int):
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError(_("Choose a file to upload."), [{"field": "file", "message": "required"}])
    with engine().store.write() as db:
        row = _draft(db, draft_id)
        drafts.upload(db, row, sent.filename, sent.read(drafts.ZIP_BYTES + 1),
                      _revision(request.form.get("revision")), g.viewer.username, now())
    flash(_("%(name)s uploaded.", name=sent.filename), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.post("/drafts/<int:draft_id>/delete-file")
@admin_required
def delete_file(draft_id: int):
    name = request.form.get("name", "")
    with engine().store.write() as db:
        row = _draft(db, draft_id)
        drafts.delete_file(db, row, name, _revision(request.form.get("revision")), g.viewer.username, now())
    flash(_("%(name)s deleted.", name=name), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.get("/drafts/<int:draft_id>.zip")
@login_required
def draft_zip(draft_id: int):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        return _zip_response(row, f"{row.variant}-draft-{row.id}")


@bp.post("/drafts/<int:draft_id>/publish")
@admin_required
def publish(draft_id: int):
    version = drafts.publish(engine(), draft_id, request.form.get("comment", ""), g.viewer.username)
    flash(_("Published as version %(number)d of %(variant)s: new campaigns start on it; running ones stay on "
            "theirs.", number=version.version, variant=version.variant), "success")
    return redirect(url_for("procedures.index", _anchor=f"variant-{version.variant}"))


@bp.post("/drafts/<int:draft_id>/discard")
@admin_required
def discard(draft_id: int):
    with engine().store.write() as db:
        drafts.discard(db, _draft(db, draft_id), g.viewer.username, now())
    flash(_("Draft deleted."), "success")
    return redirect(url_for("procedures.index"))


@bp.get("/versions/<int:version_id>/files/<path:name>")
@login_required
def version_file(version_id: int, name: str):
    with engine().store.read() as db:
        row = _version(db, version_id)
        if name not in row.files:
            raise NotFound(f"没有文件 {name[:80]} (no file {name[:80]})")
        return _file_response(name, row.files[name])


@bp.get("/versions/<int:version_id>.zip")
@login_required
def version_zip(version_id: int):
    with engine().store.read() as db:
        row = _version(db, version_id)
        return _zip_response(row, f"{row.variant}-v{row.version}")


@bp.get("/versions/<int:version_id>")
@login_required
def version(version_id: int):
    with engine().store.read() as db:
        row = _version(db, version_id)
        names = _names(db, [row.deployed_by])
    return render_template("admin/version.html", version=row, names=names, parent=library.parent_of(row),
                           can_edit=g.viewer.is_admin)


@bp.post("/versions/<int:version_id>/current")
@admin_required
def make_current(version_id: int):
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationError(_("Say why this version becomes current again."),
                              [{"field": "reason", "message": "required"}])
    with engine().store.write() as db:
        row = _version(db, version_id)
        versions.publish(db, row.variant, row.version, g.viewer.username, now(), reason=reason)
        variant, number = row.variant, row.version
    flash(_("Version %(number)d of %(variant)s is current again: new campaigns start on it.", number=number,
            variant=variant), "success")
    return redirect(url_for("procedures.index", _anchor=f"variant-{variant}"))


# -- the API ---------------------------------------------------------------------------------------------------
@api_bp.before_request
def signed_in():
    """A bearer token, or the browser's session (with its CSRF token for changes, checked before this)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _sep, token = header.partition(" ")
        g.viewer = signin.token_viewer(engine().store, now(), token.strip()) if scheme.lower() == "bearer" else None
    if g.viewer is None:
        return jsonify({"error": "unauthorized",
                        "message": "需要有效的访问令牌 (a valid bearer token is required)"}), 401
    return None


def _draft_json(row: ProcedureDraft, texts: bool = False) -> dict:
    body = {"id": row.id, "variant": row.variant, "title": row.title, "base_version": row.base_version_id,
            "parent_variant": row.parent_variant, "owner": row.owner, "comment": row.comment,
            "revision": row.revision, "saved_by": row.saved_by,
            "saved_at": row.saved_at.isoformat() if row.saved_at else None, "created_at": row.created_at.isoformat(),
            "published_version": row.published_version_id,
            "files": sorted(row.files)}
    if texts:
        body["files"] = dict(sorted(row.files.items()))
    return body


def _entry_json(entry: VariantEntry) -> dict:
    current = entry.current
    return {"variant": entry.variant, "title": entry.title, "parent": entry.parent,
            "current": current.number if current else None,
            "versions": [v.as_dict() for v in entry.versions],
            "drafts": [_draft_json(d) for d in entry.drafts]}


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    return body


@api_bp.get("")
def api_list():
    _reader()
    with engine().store.read() as db:
        return jsonify({"procedures": [_entry_json(e) for e in library.overview(db, _variants())]})


@api_bp.get("/<variant>/versions")
def api_versions(variant: str):
    _reader(variant)
    with engine().store.read() as db:
        entries = library.overview(db, {variant})
    if not entries or not entries[0].versions:
        raise NotFound(f"流程 {variant} 尚未部署 (variant '{variant}' is not deployed)")
    return jsonify(_entry_json(entries[0]))


@api_bp.get("/<variant>/versions/<int:number>")
def api_version(variant: str, number: int):
    _reader(variant)
    with engine().store.read() as db:
        row = library.version(db, variant, number)
        return jsonify({"id": row.id, "variant": row.variant, "version": row.version, "title": row.title,
                        "comment": row.comment, "parent": library.parent_of(row), "content_hash": row.content_hash,
                        "deployed_by": row.deployed_by, "deployed_at": row.deployed_at.isoformat(),
                        "current": row.is_current, "files": dict(sorted(row.files.items()))})


@api_bp.post("/<variant>/versions/<int:number>/current")
def api_make_current(variant: str, number: int):
    _admin()
    reason = _body().get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("须说明理由 (a reason is required)", [{"field": "reason", "message": "required"}])
    with engine().store.write() as db:
        row, previous = versions.publish(db, variant, number, g.viewer.username, now(), reason=reason.strip())
        return jsonify({"variant": variant, "current": row.version, "previous": previous})


@api_bp.post("/drafts")
def api_create_draft():
    """A new draft: ``{"variant", "version"}`` of the version to copy (default: the current one), and optionally
    ``new_variant`` (a variant derived from it), ``title``, ``comment``."""
    _admin()
    body = _body()
    variant = body.get("variant")
    if not isinstance(variant, str):
        raise ValidationError("缺少 variant (variant is required)", [{"field": "variant", "message": "required"}])
    number = body.get("version")
    with engine().store.write() as db:
        base = (versions.current_version(db, variant) if number is None
                else library.version(db, variant, number if isinstance(number, int) else -1))
        row = drafts.create(db, base, g.viewer.username, now(), _text(body, "comment"),
                            variant=_text(body, "new_variant") or None, title=_text(body, "title") or None)
        return jsonify(_draft_json(row)), 201


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    return value.strip() if isinstance(value, str) else ""


@api_bp.get("/drafts/<int:draft_id>")
def api_draft(draft_id: int):
    with engine().store.read() as db:
        return jsonify(_draft_json(_draft(db, draft_id), texts=True))


@api_bp.delete("/drafts/<int:draft_id>")
def api_discard(draft_id: int):
    _admin()
    with engine().store.write() as db:
        drafts.discard(db, _draft(db, draft_id), g.viewer.username, now())
    return jsonify({"draft": draft_id, "deleted": True})


@api_bp.get("/drafts/<int:draft_id>/files/<path:name>")
def api_file(draft_id: int, name: str):
    """One file of a draft: its text, with the draft's revision in ``ETag`` (JSON ``{name, text, revision}``
    when asked for with ``Accept: application/json``)."""
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        if name not in row.files:
            raise NotFound(f"草稿中没有文件 {name[:80]} (the draft has no file {name[:80]})")
        text, revision = row.files[name], row.revision
    if request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json" \
            and "application/json" in request.headers.get("Accept", ""):
        response = jsonify({"name": name, "text": text, "revision": revision})
    else:
        response = _file_response(name, text, download=False)
    response.headers["ETag"] = f'"{revision}"'
    return response


def _saved(draft_id: int, revision: int):
    with engine().store.read() as db:
        row = drafts.get(db, draft_id)
        return jsonify({"revision": revision, "problems": [f.as_dict() for f in _findings(row)]})


def _stale(exc: StaleDraft):
    return jsonify({"error": exc.code, "message": exc.message, "saved_by": exc.saved_by,
                    "saved_at": exc.saved_at.isoformat() if exc.saved_at else None, "revision": exc.revision}), 409


@api_bp.put("/drafts/<int:draft_id>/files/<path:name>")
def api_save_file(draft_id: int, name: str):
    """Save one file: the body is its text, ``If-Match`` the revision read; 409 names who saved since."""
    _admin()
    revision = _revision(request.headers.get("If-Match"))
    try:
        text = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("文件不是 UTF-8 文本 (the body is not UTF-8 text)") from None
    try:
        with engine().store.write() as db:
            new = drafts.save_file(db, _draft(db, draft_id), name, text, revision, g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.delete("/drafts/<int:draft_id>/files/<path:name>")
def api_delete_file(draft_id: int, name: str):
    _admin()
    revision = _revision(request.headers.get("If-Match"))
    try:
        with engine().store.write() as db:
            new = drafts.delete_file(db, _draft(db, draft_id), name, revision, g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.post("/drafts/<int:draft_id>/upload")
def api_upload(draft_id: int):
    """Upload one bundle file or a whole bundle .zip (multipart field ``file``; ``If-Match`` or form field
    ``revision``)."""
    _admin()
    revision = _revision(request.headers.get("If-Match") or request.form.get("revision"))
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError("缺少文件字段 file (multipart field 'file' is missing)")
    try:
        with engine().store.write() as db:
            new = drafts.upload(db, _draft(db, draft_id), sent.filename, sent.read(drafts.ZIP_BYTES + 1), revision,
                                g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.get("/drafts/<int:draft_id>/zip")
def api_draft_zip(draft_id: int):
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        return _zip_response(row, f"{row.variant}-draft-{row.id}")


@api_bp.get("/drafts/<int:draft_id>/check")
def api_check(draft_id: int):
    """Every problem of the draft at once; ``publishable`` when none is an error."""
    with engine().store.read() as db:
        row = _draft(db, draft_id)
        found = _findings(row)
        revision = row.revision
    return jsonify({"revision": revision, "problems": [f.as_dict() for f in found],
                    "publishable": not any(f.severity == "error" for f in found)})


@api_bp.post("/drafts/<int:draft_id>/publish")
def api_publish(draft_id: int):
    """Publish with ``{"comment"}``: a new version, current for new campaigns; refused with every error."""
    _admin()
    version = drafts.publish(engine(), draft_id, _text(_body(), "comment"), g.viewer.username)
    return jsonify({"variant": version.variant, "version": version.version, "id": version.id,
                    "content_hash": version.content_hash}), 201
