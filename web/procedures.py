"""The procedure library: variants, versions and drafts (pages under /admin/procedures; the API under
/api/v1/procedures is web/procedures_api.py, on ``api_bp`` here). Administrators change them; the lead agency
reads them. docs/library.md is the administrator's guide.
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
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import NotFound, PermissionDenied, StaleDraft, ValidationError
from engine.procedure import drafts, library, versions
from engine.store.models import ProcedureDraft, ProcessVersion, User

from .security import admin_required, engine, login_required, now

bp = Blueprint("procedures", __name__, url_prefix="/admin/procedures")
api_bp = Blueprint("procedures_api", __name__, url_prefix="/api/v1/procedures")


# -- shared ----------------------------------------------------------------------------------------------------
def require_reader(variant: str | None = None) -> None:
    if not g.viewer.reads_library(variant):
        raise PermissionDenied("仅管理员和牵头部门可查看流程库 (only administrators and the lead agency may read the "
                               "procedure library)")


def require_admin() -> None:
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可修改流程库 (only administrators may change the procedure library)")


def readable_variants() -> set[str] | None:
    """The variants the viewer reads: all for an administrator, those it supervises for the lead agency."""
    if g.viewer.is_admin or any(gr.variant is None for gr in g.viewer.holding("supervises", None)):
        return None
    return {gr.variant for gr in g.viewer.holding("supervises", None)}


def draft_of(db, draft_id: int) -> ProcedureDraft:
    row = drafts.get(db, draft_id)
    require_reader(row.variant)
    return row


def version_of(db, version_id: int) -> ProcessVersion:
    row = db.get(ProcessVersion, version_id)
    if row is None:
        raise NotFound(f"流程版本 {version_id} 不存在 (no process version {version_id})")
    require_reader(row.variant)
    return row


def findings_of(draft: ProcedureDraft):
    return drafts.findings(draft, engine().runner.script_engine.environment.globals)


def _names(db, usernames) -> dict[str, str]:
    """Display names of users, for people who should not read ids."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    return {u.username: u.display_name for u in db.query(User).filter(User.username.in_(wanted))}


def file_response(name: str, text: str, download: bool = True) -> Response:
    response = Response(text, mimetype="text/plain", content_type="text/plain; charset=utf-8")
    if download:
        response.headers["Content-Disposition"] = _disposition(name.rsplit("/", 1)[-1])
    return response


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def zip_response(row, label: str) -> Response:
    return send_file(BytesIO(drafts.zip_bytes(row)), mimetype="application/zip", as_attachment=True,
                     download_name=f"{label}.zip")


def revision_of(value) -> int:
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
    require_reader()
    with engine().store.read() as db:
        entries = library.overview(db, readable_variants())
        names = _names(db, [v.author for e in entries for v in e.versions]
                       + [d.owner for e in entries for d in e.drafts] + [d.saved_by for e in entries for d in e.drafts])
    return render_template("admin/procedures.html", entries=entries, names=names, can_edit=g.viewer.is_admin)


@bp.post("/drafts")
@admin_required
def create_draft():
    version_id = request.form.get("version_id", type=int)
    with engine().store.write() as db:
        base = version_of(db, version_id or 0)
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
        row = draft_of(db, draft_id)
        base = db.get(ProcessVersion, row.base_version_id) if row.base_version_id else None
        published = db.get(ProcessVersion, row.published_version_id) if row.published_version_id else None
        names = _names(db, [row.owner, row.saved_by])
        findings = findings_of(row)
    tools = current_app.jinja_env.list_templates(filter_func=lambda n: n.startswith("admin/draft_tools/")
                                                 and n.endswith(".html"))
    return render_template("admin/draft.html", draft=row, base=base, published=published, names=names, tools=tools,
                           findings=findings, groups=_grouped(findings),
                           errors=[f for f in findings if f.severity == "error"],
                           can_edit=g.viewer.is_admin and published is None)


def bundle_file(files: dict[str, str], name: str):
    """One file of a draft or version, as a download; NotFound when the bundle has none of that name."""
    if name not in files:
        raise NotFound(f"没有文件 {name[:80]} (no file {name[:80]})")
    return file_response(name, files[name])


@bp.get("/drafts/<int:draft_id>/files/<path:name>")
@login_required
def draft_file(draft_id: int, name: str):
    with engine().store.read() as db:
        return bundle_file(draft_of(db, draft_id).files, name)


@bp.get("/drafts/<int:draft_id>/edit/<path:name>")
@admin_required
def edit_file(draft_id: int, name: str):
    with engine().store.read() as db:
        row = draft_of(db, draft_id)
        text = row.files.get(name)
    if text is None:
        name = drafts.clean_name(name)  # a new file: its name must be one a bundle holds
        text = ""
    return render_template("admin/draft_file.html", draft=row, name=name, text=text)


@bp.post("/drafts/<int:draft_id>/edit/<path:name>")
@admin_required
def save_file(draft_id: int, name: str):
    text, revision = request.form.get("text", "").replace("\r\n", "\n"), revision_of(request.form.get("revision"))
    try:
        with engine().store.write() as db:
            row = draft_of(db, draft_id)
            drafts.save_file(db, row, name, text, revision, g.viewer.username, now())
    except StaleDraft as exc:  # the page again, with what they typed, so that nothing of theirs is lost either
        with engine().store.read() as db:
            row = draft_of(db, draft_id)
        return render_template("admin/draft_file.html", draft=row, name=name, text=text, revision=revision,
                               stale=exc.message), 409
    flash(_("%(name)s saved.", name=name), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.post("/drafts/<int:draft_id>/upload")
@admin_required
def upload(draft_id: int):
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationError(_("Choose a file to upload."), [{"field": "file", "message": "required"}])
    with engine().store.write() as db:
        row = draft_of(db, draft_id)
        drafts.upload(db, row, sent.filename, sent.read(drafts.ZIP_BYTES + 1),
                      revision_of(request.form.get("revision")), g.viewer.username, now())
    flash(_("%(name)s uploaded.", name=sent.filename), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.post("/drafts/<int:draft_id>/delete-file")
@admin_required
def delete_file(draft_id: int):
    name = request.form.get("name", "")
    with engine().store.write() as db:
        row = draft_of(db, draft_id)
        drafts.delete_file(db, row, name, revision_of(request.form.get("revision")), g.viewer.username, now())
    flash(_("%(name)s deleted.", name=name), "success")
    return redirect(url_for("procedures.draft", draft_id=draft_id))


@bp.get("/drafts/<int:draft_id>.zip")
@login_required
def draft_zip(draft_id: int):
    with engine().store.read() as db:
        row = draft_of(db, draft_id)
        return zip_response(row, f"{row.variant}-draft-{row.id}")


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
        drafts.discard(db, draft_of(db, draft_id), g.viewer.username, now())
    flash(_("Draft deleted."), "success")
    return redirect(url_for("procedures.index"))


@bp.get("/versions/<int:version_id>/files/<path:name>")
@login_required
def version_file(version_id: int, name: str):
    with engine().store.read() as db:
        return bundle_file(version_of(db, version_id).files, name)


@bp.get("/versions/<int:version_id>.zip")
@login_required
def version_zip(version_id: int):
    with engine().store.read() as db:
        row = version_of(db, version_id)
        return zip_response(row, f"{row.variant}-v{row.version}")


@bp.get("/versions/<int:version_id>")
@login_required
def version(version_id: int):
    with engine().store.read() as db:
        row = version_of(db, version_id)
        names = _names(db, [row.deployed_by])
        parent = library.parent_of(row)
        parent_title = parent and db.scalar(select(ProcessVersion.title).where(ProcessVersion.variant == parent)
                                            .order_by(ProcessVersion.is_current.desc(), ProcessVersion.version.desc())
                                            .limit(1))
    return render_template("admin/version.html", version=row, names=names, parent=parent,
                           parent_title=parent_title or parent, can_edit=g.viewer.is_admin)


@bp.post("/versions/<int:version_id>/current")
@admin_required
def make_current(version_id: int):
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationError(_("Say why this version becomes current again."),
                              [{"field": "reason", "message": "required"}])
    with engine().store.write() as db:
        row = version_of(db, version_id)
        versions.publish(db, row.variant, row.version, g.viewer.username, now(), reason=reason)
        variant, number = row.variant, row.version
    flash(_("Version %(number)d of %(variant)s is current again: new campaigns start on it.", number=number,
            variant=variant), "success")
    return redirect(url_for("procedures.index", _anchor=f"variant-{variant}"))
