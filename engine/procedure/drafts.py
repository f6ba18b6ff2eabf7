"""Drafts of the procedure library: a bundle being edited in the database, published as a new version.

A draft is a copy of a published version's files (``create``) that administrators change file by file
(``save_file``, ``delete_file``, ``upload`` of one file or a whole bundle as a .zip: ``archive`` checks what
comes in). Every change carries the revision the editor read: a stale copy is refused with ``StaleDraft``,
naming who saved in between and when.
``publish`` checks the draft (``problems.check_all``: any error refuses it) and stores it as a new version,
current for new campaigns; running instances stay on theirs. Everything is recorded in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..clock import local
from ..errors import BundleError, Conflict, NotFound, StaleDraft, ValidationError
from ..records import audit
from ..store.models import ProcedureDraft, ProcessVersion
from . import bundle, english, problems, yamlfile
from .archive import ZIP_BYTES as ZIP_BYTES
from .archive import clean_name as clean_name
from .archive import file_text, refused, unzip
from .archive import zip_bytes as zip_bytes
from .problems import Finding

#: A variant's key: what bundle.yaml ``key`` holds, and what its regions and grants name.
VARIANT_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class DraftHasErrors(ValidationError):
    """A draft with errors is not published; ``findings`` lists every one."""

    def __init__(self, draft_id: int, findings: list[Finding]):
        self.findings = findings
        super().__init__(f"草稿 {draft_id} 有 {len(findings)} 个错误，不能发布 (draft {draft_id} has "
                         f"{len(findings)} error(s) and cannot be published)",
                         [dict(f.as_dict(), field=where(f), message=f.reason) for f in findings])


def where(finding: Finding) -> str:
    """``file:line [element]`` of a finding, for a listing."""
    place = ":".join(str(p) for p in (finding.file, finding.line) if p is not None)
    return f"{place} [{finding.element}]" if finding.element else place


# -- reading ---------------------------------------------------------------------------------------------------
def get(session: Session, draft_id: int) -> ProcedureDraft:
    """The draft ``draft_id``; NotFound when there is none."""
    row = session.get(ProcedureDraft, draft_id)
    if row is None:
        raise NotFound(f"草稿 {draft_id} 不存在 (no draft {draft_id})")
    return row


def of_variant(session: Session, variant: str | None = None, published: bool = False) -> list[ProcedureDraft]:
    """Drafts (of ``variant``), newest first; published ones only with ``published``."""
    query = select(ProcedureDraft).order_by(ProcedureDraft.id.desc())
    if variant is not None:
        query = query.where(ProcedureDraft.variant == variant)
    if not published:
        query = query.where(ProcedureDraft.published_version_id.is_(None))
    return list(session.scalars(query))


def findings(draft: ProcedureDraft, helpers=()) -> list[Finding]:
    """Every problem of a draft: ``problems.check_all`` of its files, and a ``key`` that is not its variant."""
    found = list(problems.check_all(dict(draft.files), helpers))
    key = _manifest_key(draft.files)
    if key is not None and key != draft.variant:
        found.append(Finding("bundle.yaml", _key_line(draft.files["bundle.yaml"]), "key", None, "error",
                             f"bundle.yaml 的 key 是 {key}，而草稿属于 {draft.variant}：发布将成为另一个流程的版本 "
                             f"(bundle.yaml names the variant '{key}', the draft is of '{draft.variant}')"))
    return found


# -- making one ------------------------------------------------------------------------------------------------
def create(session: Session, base: ProcessVersion, actor: str, at: datetime, comment: str = "",
           variant: str | None = None, title: str | None = None) -> ProcedureDraft:
    """A draft copying every file of ``base``: a new draft of its variant, or (``variant``) of a new variant
    derived from it, whose bundle.yaml gets the new key and ``title``."""
    files = dict(base.files)
    parent = base.parent_variant
    if variant is not None and variant != base.variant:
        if not VARIANT_KEY.fullmatch(variant):
            raise refused(f"流程代号 {variant[:70]} 无效：只用小写字母、数字和连字符，至多 64 个 "
                           f"(a variant key is 1 to 64 lower-case letters, digits and dashes)", "variant")
        taken = session.scalars(select(ProcessVersion.id).where(ProcessVersion.variant == variant).limit(1)).first()
        if taken is not None or of_variant(session, variant):
            raise Conflict(f"流程 {variant} 已存在 (variant '{variant}' exists already)")
        files["bundle.yaml"] = _set_top_level(files["bundle.yaml"], "key", variant)
        parent = base.variant
    else:
        variant = base.variant
    title = (title or "").strip()[:200]
    if title and title != base.title:
        files["bundle.yaml"] = _set_top_level(files["bundle.yaml"], "title", title)
        if english.FILE in files:  # its English title was the old one's: the new Chinese one shows until written
            files[english.FILE] = re.sub(r"^title:[^|>\n]*\n", "", files[english.FILE], count=1, flags=re.MULTILINE)
    row = ProcedureDraft(variant=variant, title=title or base.title, base_version_id=base.id, parent_variant=parent,
                         owner=actor, comment=(comment or "").strip(), files=files, revision=1, saved_by=actor,
                         saved_at=at, created_at=at)
    session.add(row)
    session.flush()
    audit.record(session, at, actor, "draft_create",
                 data={"draft": row.id, "variant": variant, "base": {"variant": base.variant, "version": base.version},
                       "comment": row.comment})
    return row


def create_from_files(session: Session, files: dict[str, str], actor: str, at: datetime,
                      comment: str = "") -> ProcedureDraft:
    """A draft holding ``files`` (a bundle folder or .zip brought in from outside): of the variant its bundle.yaml
    names, on that variant's current version when there is one, else of a new variant."""
    for name, text in files.items():
        file_text(clean_name(name), text.encode("utf-8"))
    key = _manifest_key(files)
    if key is None or not VARIANT_KEY.fullmatch(key):
        raise refused("bundle.yaml 缺失或没有有效的 key (bundle.yaml is missing or names no valid variant key)")
    base = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == key)
                           .order_by(ProcessVersion.is_current.desc(), ProcessVersion.version.desc())).first()
    try:
        title = str(yamlfile.load(files["bundle.yaml"], "bundle.yaml").get("title") or key)[:200]
    except (BundleError, AttributeError):
        title = key
    row = ProcedureDraft(variant=key, title=title, base_version_id=base.id if base else None,
                         parent_variant=base.parent_variant if base else None, owner=actor,
                         comment=(comment or "").strip(), files=dict(files), revision=1, saved_by=actor, saved_at=at,
                         created_at=at)
    session.add(row)
    session.flush()
    audit.record(session, at, actor, "draft_create", data={"draft": row.id, "variant": key, "imported": True,
                                                           "comment": row.comment})
    return row


def _set_top_level(text: str, key: str, value: str) -> str:
    """``text`` (a bundle.yaml) with its top-level ``key`` set to ``value``, its comments kept."""
    line = re.compile(rf"^{key}:(.*)$", re.MULTILINE)
    found = line.search(text)
    if found is None:
        return f"{key}: {_scalar(value)}\n{text}"
    return text[:found.start()] + f"{key}: {_scalar(value)}{_comment(found.group(1))}" + text[found.end():]


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string, else double-quoted."""
    try:
        plain = yaml.safe_load(value) == value and value == value.strip() and "#" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value, ensure_ascii=False)


def _comment(rest: str) -> str:
    """The comment at the end of a YAML line's value (with the blanks before it), outside any quotes."""
    quote = None
    for at, char in enumerate(rest):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and at and rest[at - 1] in " \t":
            return rest[len(rest[:at].rstrip()):]
    return ""


def _manifest_key(files: dict) -> str | None:
    try:
        manifest = yamlfile.load(files.get("bundle.yaml", ""), "bundle.yaml")
    except BundleError:
        return None
    key = manifest.get("key") if isinstance(manifest, dict) else None
    return str(key) if key is not None else None


def _key_line(text: str) -> int | None:
    found = re.search(r"^key:", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else None


# -- changing one ----------------------------------------------------------------------------------------------
def _writable(draft: ProcedureDraft) -> None:
    if draft.published_version_id is not None:
        raise Conflict(f"草稿 {draft.id} 已发布，不能再修改；请从该版本新建草稿 (draft {draft.id} is published; "
                       "start a new draft of its version)")


def _stale(draft: ProcedureDraft, revision) -> StaleDraft:
    at = local(draft.saved_at).strftime("%Y-%m-%d %H:%M") if draft.saved_at else "?"
    return StaleDraft(f"草稿已由 {draft.saved_by} 于 {at} 保存（第 {draft.revision} 次），您的副本已过期，请重新载入后"
                      f"再修改 (the draft was saved by {draft.saved_by} at {at} (revision {draft.revision}) after "
                      f"your copy (revision {revision}) was read; reload it and make your change again)",
                      saved_by=draft.saved_by, saved_at=draft.saved_at, revision=draft.revision)


def _write(session: Session, draft: ProcedureDraft, files: dict[str, str], revision, actor: str,
           at: datetime) -> int:
    """Store ``files`` as the draft's next revision if it is still at ``revision``: one conditional UPDATE, so of
    two saves of the same copy only the first is stored, on every database."""
    _writable(draft)
    try:
        revision = int(revision)
    except (TypeError, ValueError):
        raise refused("缺少草稿版本号 (If-Match: the revision of the draft that was read is required)",
                       "revision") from None
    if len(files) > bundle.MAX_FILES:
        raise refused(f"流程包至多 {bundle.MAX_FILES} 个文件 (a bundle has at most {bundle.MAX_FILES} files)")
    done = session.execute(update(ProcedureDraft)
                           .where(ProcedureDraft.id == draft.id, ProcedureDraft.revision == revision,
                                  ProcedureDraft.published_version_id.is_(None))
                           .values(files=files, revision=revision + 1, saved_by=actor, saved_at=at)
                           .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        session.refresh(draft)
        _writable(draft)
        raise _stale(draft, revision)
    session.refresh(draft)
    return draft.revision


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save_file(session: Session, draft: ProcedureDraft, name: str, text: str, revision, actor: str,
              at: datetime) -> int:
    """Save one file of a draft read at ``revision``; returns the new revision (StaleDraft if it moved on)."""
    name = clean_name(name)
    text = file_text(name, text.encode("utf-8")) if isinstance(text, str) else file_text(name, text)
    new = _write(session, draft, {**draft.files, name: text}, revision, actor, at)
    audit.record(session, at, actor, "draft_save", data={"draft": draft.id, "file": name, "revision": new,
                                                         "sha256": _digest(text)})
    return new


def delete_file(session: Session, draft: ProcedureDraft, name: str, revision, actor: str, at: datetime) -> int:
    """Remove one file of a draft; returns the new revision."""
    if name not in draft.files:
        raise NotFound(f"草稿中没有文件 {name[:80]} (the draft has no file {name[:80]})")
    if name == "bundle.yaml":
        raise refused("bundle.yaml 不能删除 (bundle.yaml cannot be deleted: it is what makes the files a bundle)")
    new = _write(session, draft, {k: v for k, v in draft.files.items() if k != name}, revision, actor, at)
    audit.record(session, at, actor, "draft_delete_file", data={"draft": draft.id, "file": name, "revision": new})
    return new


def upload(session: Session, draft: ProcedureDraft, filename: str, data: bytes, revision, actor: str,
           at: datetime) -> int:
    """Put an uploaded file into a draft: one bundle file (a bare ``.json`` goes to ``forms/``), or a whole
    bundle as a ``.zip``, which replaces every file (the shared library forms it lacks are kept). Returns the
    new revision."""
    if (filename or "").lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        unpacked = unzip(data)
        kept = {k: v for k, v in draft.files.items() if k.startswith("forms/") and _library_form(k, v)}
        files = {**kept, **unpacked}
        new = _write(session, draft, files, revision, actor, at)
        audit.record(session, at, actor, "draft_upload",
                     data={"draft": draft.id, "zip": (filename or "")[:200], "files": sorted(unpacked),
                           "revision": new})
        return new
    sent = (filename or "").replace("\\", "/")
    name = clean_name(sent if sent.startswith("forms/") else sent.rsplit("/", 1)[-1])
    if "/" not in name and name.lower().endswith(".json"):
        name = f"forms/{name}"
    text = file_text(name, data)
    new = _write(session, draft, {**draft.files, name: text}, revision, actor, at)
    audit.record(session, at, actor, "draft_upload",
                 data={"draft": draft.id, "file": name, "revision": new, "sha256": _digest(text)})
    return new


def _library_form(name: str, text: str) -> bool:
    """Whether ``name`` is one of the shared library's forms with its shipped text (``kaohe deploy`` adds those
    a bundle folder lacks; so does a .zip upload)."""
    from ..engine import FORMS_LIBRARY

    path = FORMS_LIBRARY / name.removeprefix("forms/")
    try:
        return "/" not in name.removeprefix("forms/") and path.is_file() and path.read_text("utf-8") == text
    except OSError:
        return False


def discard(session: Session, draft: ProcedureDraft, actor: str, at: datetime) -> None:
    """Delete a draft that is not published (a published one is the record of its version)."""
    _writable(draft)
    session.delete(draft)
    audit.record(session, at, actor, "draft_discard", data={"draft": draft.id, "variant": draft.variant})


# -- publishing ------------------------------------------------------------------------------------------------
def publish(engine, draft_id: int, comment: str, actor: str) -> ProcessVersion:
    """Publish a draft as a new version of its variant, current for new campaigns; a draft with an error, no
    comment, or the content of an existing version is refused. Running instances stay on their versions."""
    from .deployment import deploy_files  # it imports the Engine, which imports this package

    comment = (comment or "").strip()
    if not comment:
        raise refused("发布须填写说明：改了什么、为什么 (publishing needs a comment: what changed and why)", "comment")
    with engine.store.read() as session:
        draft = get(session, draft_id)
        _writable(draft)
        files, variant, parent = dict(draft.files), draft.variant, draft.parent_variant
        found = problems.errors(findings(draft, engine.runner.script_engine.environment.globals))
        if found:
            raise DraftHasErrors(draft_id, found)
        same = session.scalars(select(ProcessVersion).where(
            ProcessVersion.content_hash == bundle._digest(files))).first()
        if same is not None:
            raise Conflict(f"草稿与 {same.variant} 第 {same.version} 版内容相同，无需发布；"
                           f"如要改用该版，请将其设为当前版本 (the draft is identical to version {same.version} of "
                           f"{same.variant}: make that version current instead)")
    try:
        report = deploy_files(engine, files, actor=actor, comment=comment, parent_variant=parent)
    except BundleError as exc:  # what check_all passed but the deploy refused: still the author's to fix
        raise DraftHasErrors(draft_id, problems.check_all(files) or [
            Finding(exc.file, exc.line, exc.element, None, "error", exc.message)]) from exc
    with engine.store.write() as session:
        session.execute(update(ProcedureDraft)
                        .where(ProcedureDraft.id == draft_id, ProcedureDraft.published_version_id.is_(None))
                        .values(published_version_id=report.version.id))
        audit.record(session, engine.clock.now(), actor, "draft_publish",
                     data={"draft": draft_id, "variant": variant, "version": report.version.version,
                           "previous": report.previous, "comment": comment})
    return report.version
