"""Where the two sides of a diff come from: a published version, a bundle folder or a ``.zip`` of one.

A version is named ``12`` (its id, as the web pages link it), ``ziyang-2016:1`` (variant and number) or
``ziyang-2016`` (the current version of the variant).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import BundleError, NotFound, ValidationError
from ...store.models import ProcessVersion
from ..bundle import MAX_FILE_BYTES, MAX_FILES, TEXT_SUFFIXES, read_folder
from ..versions import current_version


@dataclass
class Source:
    """One side of a diff: what people call it, its variant, and its files."""

    label: str
    files: dict[str, str]
    variant: str | None = None
    version_id: int | None = None


def version_source(row: ProcessVersion) -> Source:
    """A published version: 「资阳市质量工作考核（资府办发〔2016〕4号） 第 1 版」."""
    return Source(f"{row.title} 第 {row.version} 版 (version {row.version})", dict(row.files), row.variant, row.id)


def find_version(session: Session, ref: str) -> ProcessVersion:
    """The version ``ref`` names (id, ``variant:number`` or ``variant``); NotFound or ValidationError otherwise."""
    ref = (ref or "").strip()
    if not ref:
        raise ValidationError("请指明要比较的版本 (name the versions to compare: from= and to=)")
    if ref.isdigit():
        row = session.get(ProcessVersion, int(ref))
        if row is None:
            raise NotFound(f"没有编号为 {ref} 的流程版本 (no process version {ref})")
        return row
    variant, _, number = ref.partition(":")
    if not number:
        return current_version(session, variant)
    if not number.isdigit():
        raise ValidationError(f"版本应写作 流程:版本号，如 ziyang-2016:1 (a version is VARIANT:NUMBER, not {ref!r})")
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                       ProcessVersion.version == int(number))).first()
    if row is None:
        raise NotFound(f"流程 {variant} 没有第 {number} 版 (variant '{variant}' has no version {number})")
    return row


def path_source(path: Path, library: Path | None = None) -> Source:
    """A bundle folder, or a ``.zip`` of one, with the library forms it does not override."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        return Source(path.name, read_zip(path.read_bytes(), library))
    return Source(str(path), read_folder(path, library))


def read_zip(data: bytes, library: Path | None = None) -> dict[str, str]:
    """The text files of a zipped bundle (one top folder around them is dropped); nothing is extracted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BundleError("不是有效的 zip 文件 (not a zip file)") from None
    entries = [e for e in archive.infolist() if not e.is_dir()]
    if len(entries) > MAX_FILES:
        raise BundleError(f"a bundle has at most {MAX_FILES} files")
    names = [PurePosixPath(e.filename) for e in entries]
    if any(n.is_absolute() or ".." in n.parts for n in names):
        raise BundleError("zip 中有指向包外的路径 (a path in the zip leaves the bundle)")
    tops = {n.parts[0] for n in names if len(n.parts) > 1}
    strip = len(tops) == 1 and all(len(n.parts) > 1 for n in names)
    files: dict[str, str] = {}
    for entry, name in zip(entries, names, strict=True):
        inner = PurePosixPath(*name.parts[1:]) if strip else name
        if inner.suffix not in TEXT_SUFFIXES or any(p.startswith(".") or p == "__MACOSX" for p in inner.parts):
            continue
        if entry.file_size > MAX_FILE_BYTES:
            raise BundleError(f"file larger than {MAX_FILE_BYTES // 1024} KiB", file=str(inner))
        try:
            files[str(inner)] = archive.read(entry).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleError(f"not UTF-8 text (byte {exc.start})", file=str(inner)) from exc
    if "bundle.yaml" not in files:
        raise BundleError("zip 中没有 bundle.yaml (the zip holds no bundle.yaml)")
    if library is not None and library.is_dir():
        for form in sorted(library.glob("*.json")):
            files.setdefault(f"forms/{form.name}", form.read_text(encoding="utf-8"))
    return files
