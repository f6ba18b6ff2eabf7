"""Evidence uploads (佐证材料): the type is read from the content, the file is stored under its SHA-256."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .errors import NotFound, ValidationError
from .store import Store
from .store.models import EvidenceFile

logger = logging.getLogger(__name__)

#: Default upper limit of one file.
MAX_BYTES = 20 * 1024 * 1024

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


def _office(content: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        raise _refused("损坏的压缩文件") from None
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise _refused("不接受含宏的 Office 文件")
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return "docx"
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return "xlsx"
    raise _refused("只接受 DOCX、XLSX 格式的压缩文档，不接受其他压缩包")


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


def save(store: Store, folder: Path, now: datetime, instance_id: int, task_id: str | None, uploader: str,
         name: str, content: bytes, max_bytes: int = MAX_BYTES) -> EvidenceFile:
    """Check, store and record one upload; the same content is stored once."""
    if len(content) > max_bytes:
        raise _refused(f"文件超过 {max_bytes // (1024 * 1024)} MB")
    kind = sniff(content)
    digest = hashlib.sha256(content).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / digest
    if not path.exists():
        partial = folder / f".{digest}.{os.getpid()}.part"
        partial.write_bytes(content)
        os.replace(partial, path)
    with store.write() as session:
        row = EvidenceFile(instance_id=instance_id, task_id=task_id, uploader=uploader, name=clean_name(name, kind),
                           size=len(content), sha256=digest, content_type=KINDS[kind][0], at=now)
        session.add(row)
        session.flush()
        audit.record(session, now, uploader, "upload", instance_id=instance_id, task_id=task_id,
                     data={"name": row.name, "sha256": digest, "size": row.size, "type": kind})
    logger.info("stored %s (%d bytes) for instance %s", digest, len(content), instance_id)
    return row


def of_instance(session: Session, instance_id: int) -> list[EvidenceFile]:
    return list(session.scalars(select(EvidenceFile).where(EvidenceFile.instance_id == instance_id)
                                .order_by(EvidenceFile.id)))


def find(session: Session, instance_id: int, sha256: str) -> EvidenceFile:
    row = session.scalars(select(EvidenceFile).where(EvidenceFile.instance_id == instance_id,
                                                     EvidenceFile.sha256 == sha256)
                          .order_by(EvidenceFile.id).limit(1)).first()
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
