"""Evidence uploads (佐证材料): the type is read from the content, the file is stored under its SHA-256."""

from __future__ import annotations

import hashlib
import html
import io
import logging
import os
import re
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import config
from ..errors import NotFound, ValidationError
from ..store import Store
from ..store.models import AuditEntry, EvidenceFile, InboxTask, TaskDraft
from . import audit

logger = logging.getLogger(__name__)

#: Default upper limit of one file.
MAX_BYTES = 20 * 1024 * 1024

MIB = 1024 * 1024
#: An Office file may unpack to at most this much in all, and no large part may unpack to more than ``RATIO`` times
#: its compressed size: a zip bomb (1 GiB of zeros in a 1 MB .docx) is refused from the zip's directory alone.
OFFICE_UNPACKED = 200 * MIB
OFFICE_RATIO = 100
OFFICE_PARTS = 10_000
#: The most of one relationships part (``*.rels``) read to look for external targets.
RELS_BYTES = MIB
#: How long an upload that no draft and no submission names is kept.
UNREFERENCED_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Quota:
    """How much one task may hold and one user may upload in a day, besides the limit on each file."""

    task_bytes: int = 200 * MIB
    task_files: int = 100
    user_bytes_per_day: int = 500 * MIB

    @classmethod
    def from_env(cls) -> Quota:
        """``KAOHE_UPLOAD_TASK_BYTES``, ``KAOHE_UPLOAD_TASK_FILES``, ``KAOHE_UPLOAD_USER_BYTES_PER_DAY``."""
        names = {"task_bytes": "KAOHE_UPLOAD_TASK_BYTES", "task_files": "KAOHE_UPLOAD_TASK_FILES",
                 "user_bytes_per_day": "KAOHE_UPLOAD_USER_BYTES_PER_DAY"}
        return cls(**{field: int(os.environ[name]) for field, name in names.items() if os.environ.get(name)})


#: kind -> (content type, file extensions); the first extension is the one a name gets when it has none.
KINDS = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "text": ("text/plain; charset=utf-8", (".txt", ".csv", ".md")),
}

_REFUSED_MAGIC = {b"MZ": "可执行程序", b"\x7fELF": "可执行程序", b"#!": "脚本", b"\xca\xfe\xba\xbe": "可执行程序",
                  b"\xcf\xfa\xed\xfe": "可执行程序", b"Rar!": "压缩包", b"7z\xbc\xaf": "压缩包", b"\x1f\x8b": "压缩包"}
_MARKUP = re.compile(rb"<\s*(!doctype|html|svg|script|\?xml|iframe|body|head|object|embed)\b", re.IGNORECASE)


def sniff(content: bytes) -> str:
    """The kind of ``content`` judged by its bytes, never by its name; ValidationError for anything else."""
    if not content:
        raise _refused("文件为空")
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if content.startswith(b"PK\x03\x04"):
        return _office(content)
    for magic, what in _REFUSED_MAGIC.items():
        if content.startswith(magic):
            raise _refused(f"不接受{what}")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise _refused("无法识别的文件类型，只接受 PDF、PNG、JPEG、DOCX、XLSX 和 UTF-8 文本") from None
    if "\x00" in text or _MARKUP.search(content[:65536]):
        raise _refused("不接受 HTML、SVG、XML 或脚本文件")
    return "text"


_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _office(content: bytes) -> str:
    """A DOCX or XLSX judged from its zip directory and its relationship parts, nothing unpacked to disk."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
            kind = _office_kind(entries)
            for entry in entries:
                if entry.filename.lower().endswith(".rels"):
                    with archive.open(entry) as part:
                        _check_relationships(part.read(RELS_BYTES + 1))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, RuntimeError, NotImplementedError):
        raise _refused("损坏或加密的压缩文件") from None
    return kind


def _office_kind(entries: list[zipfile.ZipInfo]) -> str:
    if len(entries) > OFFICE_PARTS:
        raise _refused(f"压缩文档含 {len(entries)} 个部件，超过 {OFFICE_PARTS} 个")
    unpacked = sum(e.file_size for e in entries)
    if unpacked > OFFICE_UNPACKED:
        raise _refused(f"解压后 {unpacked // MIB} MB，超过 {OFFICE_UNPACKED // MIB} MB（疑为压缩炸弹）")
    for entry in entries:
        if entry.file_size > MIB and entry.file_size > OFFICE_RATIO * max(entry.compress_size, 1):
            raise _refused(f"部件 {entry.filename[:80]} 的压缩比超过 {OFFICE_RATIO} 倍（疑为压缩炸弹）")
    names = {e.filename for e in entries}
    lowered = [name.lower() for name in names]
    if any(n.endswith(("vbaproject.bin", "vbadata.xml")) for n in lowered):
        raise _refused("不接受含宏的 Office 文件")
    if any("activex" in n.rsplit("/", 1)[0] or n.rsplit("/", 1)[-1].startswith("activex") for n in lowered):
        raise _refused("不接受含 ActiveX 控件的 Office 文件")
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return "docx"
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return "xlsx"
    raise _refused("只接受 DOCX、XLSX 格式的压缩文档，不接受其他压缩包")


#: A target on the reader's own disk (``file:///C:/…``, ``D:\…``), as Word records the template a document was
#: made from; a remote one (``http://…``, ``\\host\share``, ``file://host/…``) is fetched on opening.
_LOCAL = re.compile(r"^(file:/{3})?[A-Za-z]:[\\/]")


def _check_relationships(text: bytes) -> None:
    """Refuse any relationship to something outside the file (a remote template, frame, OLE object, image) but
    hyperlinks and a template on the reader's own disk: opening the document would fetch it."""
    if len(text) > RELS_BYTES:
        raise _refused("关系部件过大")
    for element in _RELATIONSHIP.finditer(text):
        attributes = {name.split(b":")[-1].lower(): html.unescape((a or b).decode("utf-8", "replace"))
                      for name, a, b in _ATTRIBUTE.findall(element.group(1))}
        external = attributes.get(b"targetmode", "").strip().lower() == "external"
        kind = attributes.get(b"type", "").rstrip("/")
        local_template = kind.endswith("/attachedTemplate") and _LOCAL.match(attributes.get(b"target", "").strip())
        if external and not kind.endswith("/hyperlink") and not local_template:
            kind = attributes.get(b"type", "").rsplit("/", 1)[-1][:40] or "unknown"
            raise _refused(f"文档引用外部内容（{kind}，如远程模板）")


def _refused(why: str) -> ValidationError:
    return ValidationError(f"文件不能上传：{why} (file refused)", [{"field": "evidence", "message": why}])


def clean_name(name: str, kind: str) -> str:
    """A safe display and download name: no folders, no control or reserved characters, the kind's extension."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r'[<>:"|?*\x00]', "_", name).strip(" .") or "file"
    stem, dot, ext = name.rpartition(".")
    extensions = KINDS[kind][1]
    if not dot or f".{ext.lower()}" not in extensions:
        stem, ext = name, extensions[0].lstrip(".")
    return f"{stem[:200]}.{ext.lower()}"


def upload(store: Store, folder: Path, now: datetime, task: InboxTask, schema: dict, uploader: str, name: str,
           content: bytes, max_bytes: int = MAX_BYTES, quota: Quota | None = None) -> EvidenceFile:
    """One evidence upload for ``task`` whose form is ``schema``, from the pages or the API alike: the form must
    take files, the file pass its checks, and the task and the uploader stay within ``quota``."""
    if "evidence" not in schema.get("properties", {}):
        message = "该表单不接受文件 (this form takes no files)"
        raise ValidationError(message, [{"field": "", "message": message}])
    return save(store, folder, now, task.instance_id, task.id, uploader, name, content, max_bytes, quota or Quota())


def _check_quota(session: Session, now: datetime, task_id: str | None, uploader: str, size: int,
                 quota: Quota) -> None:
    if task_id is not None:
        files, used = session.execute(select(func.count(EvidenceFile.id), func.coalesce(func.sum(EvidenceFile.size), 0))
                                      .where(EvidenceFile.task_id == task_id)).one()
        if files + 1 > quota.task_files:
            raise _refused(f"该任务已有 {files} 个文件，上限 {quota.task_files} 个")
        if used + size > quota.task_bytes:
            raise _refused(f"该任务的文件合计将超过 {quota.task_bytes // MIB} MB")
    today = session.scalar(select(func.coalesce(func.sum(EvidenceFile.size), 0))
                           .where(EvidenceFile.uploader == uploader, EvidenceFile.at > now - timedelta(days=1)))
    if today + size > quota.user_bytes_per_day:
        raise _refused(f"您 24 小时内上传的文件合计将超过 {quota.user_bytes_per_day // MIB} MB")


def save(store: Store, folder: Path, now: datetime, instance_id: int, task_id: str | None, uploader: str,
         name: str, content: bytes, max_bytes: int = MAX_BYTES, quota: Quota | None = None) -> EvidenceFile:
    """Check, store and record one upload; the same content is stored once."""
    if len(content) > max_bytes:
        raise _refused(f"文件超过 {max_bytes // MIB} MB")
    kind = sniff(content)
    digest = hashlib.sha256(content).hexdigest()
    with store.write() as session:
        _check_quota(session, now, task_id, uploader, len(content), quota or Quota())
        _write(folder, digest, content)
        row = EvidenceFile(instance_id=instance_id, task_id=task_id, uploader=uploader, name=clean_name(name, kind),
                           size=len(content), sha256=digest, content_type=KINDS[kind][0], at=now)
        session.add(row)
        session.flush()
        audit.record(session, now, uploader, "upload", instance_id=instance_id, task_id=task_id,
                     data={"name": row.name, "sha256": digest, "size": row.size, "type": kind})
    logger.info("stored %s (%d bytes) for instance %s", digest, len(content), instance_id)
    return row


def _write(folder: Path, digest: str, content: bytes) -> None:
    """The content under its digest, readable by this account only; an existing copy is touched instead, which
    tells a clean-up running at this moment that it is wanted again."""
    config.private_dir(folder)
    path = folder / digest
    if path.exists():
        os.utime(path)
        return
    partial = folder / f".{digest}.{os.getpid()}.part"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
    os.replace(partial, path)


def remove_unreferenced(store: Store, folder: Path, now: datetime, age: timedelta = UNREFERENCED_AGE) -> int:
    """Forget uploads older than ``age`` that no draft and no submission of their instance names, and delete
    content no upload holds any more; returns how many uploads were forgotten. Safe to run at any time."""
    started = time.time()
    with store.write() as session:
        rows = list(session.scalars(select(EvidenceFile).where(EvidenceFile.at < now - age)))
        instances = {row.instance_id for row in rows}
        named = _named_files(session, instances) if rows else set()
        stale = [row for row in rows if (row.instance_id, row.sha256) not in named]
        for row in stale:
            session.delete(row)
            audit.record(session, now, "scheduler", "file_removed", instance_id=row.instance_id, task_id=row.task_id,
                         data={"name": row.name, "sha256": row.sha256, "uploader": row.uploader})
        session.flush()
        digests = {row.sha256 for row in stale}
        kept = set(session.scalars(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(digests)))) if digests \
            else set()
    for digest in digests - kept:  # once the rows are gone for good
        path = folder / digest
        # Touched since this pass began: uploaded again meanwhile, keep it (its new row is being written).
        if path.exists() and path.stat().st_mtime < started:
            path.unlink()
    if stale:
        logger.info("removed %d unreferenced uploads (%d contents)", len(stale), len(digests - kept))
    return len(stale)


def _named_files(session: Session, instances: set[int]) -> set[tuple[int, str]]:
    """(instance, digest) of every file a draft or a submission in ``instances`` lists as evidence."""
    named = set()
    drafts = session.execute(select(TaskDraft.instance_id, TaskDraft.data).where(TaskDraft.instance_id.in_(instances)))
    done = session.execute(select(AuditEntry.instance_id, AuditEntry.data)
                           .where(AuditEntry.action == "complete", AuditEntry.instance_id.in_(instances)))
    for instance_id, data in [*drafts, *done]:
        items = data.get("evidence") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                named.add((instance_id, item["sha256"]))
    return named


def of_instance(session: Session, instance_id: int) -> list[EvidenceFile]:
    return list(session.scalars(select(EvidenceFile).where(EvidenceFile.instance_id == instance_id)
                                .order_by(EvidenceFile.id)))


def find(session: Session, instance_id: int, sha256: str, name: str | None = None) -> EvidenceFile:
    """The upload of ``sha256`` to the instance named ``name`` (the same bytes may come under several names),
    else the first."""
    query = select(EvidenceFile).where(EvidenceFile.instance_id == instance_id, EvidenceFile.sha256 == sha256)
    rows = list(session.scalars(query.order_by(EvidenceFile.id)))
    row = next((r for r in rows if r.name == name), rows[0] if rows else None)
    if row is None:
        raise NotFound(f"文件 {sha256[:12]} 未上传到流程实例 {instance_id} (no such file in instance {instance_id})")
    return row


def check_evidence(session: Session, instance_id: int, data: dict) -> None:
    """Every ``evidence`` item must name a file uploaded to this instance."""
    items = data.get("evidence")
    if not isinstance(items, list):
        return
    known = {row.sha256 for row in of_instance(session, instance_id)}
    errors = [{"field": f"evidence/{n}/sha256", "message": "该文件未上传到本流程实例"}
              for n, item in enumerate(items) if isinstance(item, dict) and item.get("sha256") not in known]
    if errors:
        raise ValidationError("佐证材料中有未上传到本流程实例的文件 (evidence names files not uploaded here)", errors)


def path_of(folder: Path, row: EvidenceFile) -> Path:
    return folder / row.sha256


def record_download(store: Store, now: datetime, username: str, row: EvidenceFile) -> None:
    """Who read which evidence file, and when, in the audit log."""
    with store.write() as session:
        audit.record(session, now, username, "download", instance_id=row.instance_id, task_id=row.task_id,
                     data={"name": row.name, "sha256": row.sha256})
