"""The procedure library's API under /api/v1/procedures (the blueprint ``procedures.api_bp``): the same as the
pages, as JSON. A bearer token signs a call in, or the browser's session with its CSRF token in ``X-CSRF-Token``
(the editors on the draft page). docs/library.md lists the calls; web/openapi.py describes them."""

from __future__ import annotations

from flask import g, jsonify, request

from engine.errors import NotFound, StaleDraft, ValidationError
from engine.people import signin
from engine.procedure import drafts, library, versions
from engine.procedure.library import VariantEntry
from engine.store.models import ProcedureDraft

from .procedures import (
    api_bp,
    draft_of,
    file_response,
    findings_of,
    readable_variants,
    require_admin,
    require_reader,
    revision_of,
    zip_response,
)
from .security import engine, now


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
    require_reader()
    with engine().store.read() as db:
        return jsonify({"procedures": [_entry_json(e) for e in library.overview(db, readable_variants())]})


@api_bp.get("/<variant>/versions")
def api_versions(variant: str):
    require_reader(variant)
    with engine().store.read() as db:
        entries = library.overview(db, {variant})
    if not entries or not entries[0].versions:
        raise NotFound(f"流程 {variant} 尚未部署 (variant '{variant}' is not deployed)")
    return jsonify(_entry_json(entries[0]))


@api_bp.get("/<variant>/versions/<int:number>")
def api_version(variant: str, number: int):
    require_reader(variant)
    with engine().store.read() as db:
        row = library.version(db, variant, number)
        return jsonify({"id": row.id, "variant": row.variant, "version": row.version, "title": row.title,
                        "comment": row.comment, "parent": library.parent_of(row), "content_hash": row.content_hash,
                        "deployed_by": row.deployed_by, "deployed_at": row.deployed_at.isoformat(),
                        "current": row.is_current, "files": dict(sorted(row.files.items()))})


@api_bp.post("/<variant>/versions/<int:number>/current")
def api_make_current(variant: str, number: int):
    require_admin()
    reason = _body().get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("须说明理由 (a reason is required)", [{"field": "reason", "message": "required"}])
    with engine().store.write() as db:
        row, previous = versions.publish(db, variant, number, g.viewer.username, now(), reason=reason.strip())
        return jsonify({"variant": variant, "current": row.version, "previous": previous})


@api_bp.get("/drafts")
def api_drafts():
    """Open drafts (``?variant=`` of one variant), newest first, without their files' text."""
    variant = request.args.get("variant") or None
    require_reader(variant)
    seen = readable_variants()
    with engine().store.read() as db:
        rows = [d for d in drafts.of_variant(db, variant) if seen is None or d.variant in seen]
        return jsonify({"drafts": [_draft_json(d) for d in rows]})


@api_bp.post("/drafts")
def api_create_draft():
    """A new draft: ``{"variant", "version"}`` of the version to copy (default: the current one), and optionally
    ``new_variant`` (a variant derived from it), ``title``, ``comment``."""
    require_admin()
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
        return jsonify(_draft_json(draft_of(db, draft_id), texts=True))


@api_bp.delete("/drafts/<int:draft_id>")
def api_discard(draft_id: int):
    require_admin()
    with engine().store.write() as db:
        drafts.discard(db, draft_of(db, draft_id), g.viewer.username, now())
    return jsonify({"draft": draft_id, "deleted": True})


@api_bp.get("/drafts/<int:draft_id>/files/<path:name>")
def api_file(draft_id: int, name: str):
    """One file of a draft: its text, with the draft's revision in ``ETag`` (JSON ``{name, text, revision}``
    when asked for with ``Accept: application/json``)."""
    with engine().store.read() as db:
        row = draft_of(db, draft_id)
        if name not in row.files:
            raise NotFound(f"草稿中没有文件 {name[:80]} (the draft has no file {name[:80]})")
        text, revision = row.files[name], row.revision
    if request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json" \
            and "application/json" in request.headers.get("Accept", ""):
        response = jsonify({"name": name, "text": text, "revision": revision})
    else:
        response = file_response(name, text, download=False)
    response.headers["ETag"] = f'"{revision}"'
    return response


def _saved(draft_id: int, revision: int):
    with engine().store.read() as db:
        row = drafts.get(db, draft_id)
        return jsonify({"revision": revision, "problems": [f.as_dict() for f in findings_of(row)]})


def _stale(exc: StaleDraft):
    return jsonify({"error": exc.code, "message": exc.message, "saved_by": exc.saved_by,
                    "saved_at": exc.saved_at.isoformat() if exc.saved_at else None, "revision": exc.revision}), 409


@api_bp.put("/drafts/<int:draft_id>/files/<path:name>")
def api_save_file(draft_id: int, name: str):
    """Save one file: the body is its text, ``If-Match`` the revision read; 409 names who saved since."""
    require_admin()
    revision = revision_of(request.headers.get("If-Match"))
    try:
        text = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("文件不是 UTF-8 文本 (the body is not UTF-8 text)") from None
    try:
        with engine().store.write() as db:
            new = drafts.save_file(db, draft_of(db, draft_id), name, text, revision, g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.delete("/drafts/<int:draft_id>/files/<path:name>")
def api_delete_file(draft_id: int, name: str):
    require_admin()
    revision = revision_of(request.headers.get("If-Match"))
    try:
        with engine().store.write() as db:
            new = drafts.delete_file(db, draft_of(db, draft_id), name, revision, g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.post("/drafts/<int:draft_id>/upload")
def api_upload(draft_id: int):
    """Upload one bundle file or a whole bundle .zip (multipart field ``file``; ``If-Match`` or form field
    ``revision``)."""
    require_admin()
    revision = revision_of(request.headers.get("If-Match") or request.form.get("revision"))
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError("缺少文件字段 file (multipart field 'file' is missing)")
    try:
        with engine().store.write() as db:
            new = drafts.upload(db, draft_of(db, draft_id), sent.filename, sent.read(drafts.ZIP_BYTES + 1), revision,
                                g.viewer.username, now())
    except StaleDraft as exc:
        return _stale(exc)
    return _saved(draft_id, new)


@api_bp.get("/drafts/<int:draft_id>/zip")
def api_draft_zip(draft_id: int):
    with engine().store.read() as db:
        row = draft_of(db, draft_id)
        return zip_response(row, f"{row.variant}-draft-{row.id}")


@api_bp.get("/drafts/<int:draft_id>/check")
def api_check(draft_id: int):
    """Every problem of the draft at once; ``publishable`` when none is an error."""
    with engine().store.read() as db:
        row = draft_of(db, draft_id)
        found = findings_of(row)
        revision = row.revision
    return jsonify({"revision": revision, "problems": [f.as_dict() for f in found],
                    "publishable": not any(f.severity == "error" for f in found)})


@api_bp.post("/drafts/<int:draft_id>/publish")
def api_publish(draft_id: int):
    """Publish with ``{"comment"}``: a new version, current for new campaigns; refused with every error."""
    require_admin()
    version = drafts.publish(engine(), draft_id, _text(_body(), "comment"), g.viewer.username)
    return jsonify({"variant": version.variant, "version": version.version, "id": version.id,
                    "content_hash": version.content_hash}), 201
