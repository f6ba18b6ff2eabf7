"""Where the two sides of a diff come from: a published version, a draft, a bundle folder or a ``.zip`` of one.

A version is named ``12`` (its id, as the web pages link it), ``ziyang-2016:1`` (variant and number) or
``ziyang-2016`` (the current version of the variant); a draft ``draft:5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import NotFound, ValidationError
from ...store.models import ProcedureDraft, ProcessVersion
from .. import archive, drafts, library
from ..bundle import read_folder
from ..versions import current_version


@dataclass
class Source:
    """One side of a diff: what people call it, its variant, and its files."""

    label: str
    files: dict[str, str]
    variant: str | None = None
    version_id: int | None = None
    draft_id: int | None = None

    @property
    def ref(self) -> str | None:
        """How the pages name it again: the version's id, or ``draft:ID``."""
        if self.draft_id is not None:
            return f"draft:{self.draft_id}"
        return str(self.version_id) if self.version_id is not None else None


def version_source(row: ProcessVersion) -> Source:
    """A published version: 「资阳市质量工作考核（资府办发〔2016〕4号） 第 1 版」."""
    return Source(f"{row.title} 第 {row.version} 版 (version {row.version})", dict(row.files), row.variant, row.id)


def draft_source(row: ProcedureDraft) -> Source:
    """A draft as it was last saved: 「草稿 5：资阳市质量工作考核… (draft 5, revision 3)」."""
    return Source(f"草稿 {row.id}：{row.title} (draft {row.id}, revision {row.revision})", dict(row.files),
                  row.variant, draft_id=row.id)


def find(session: Session, ref: str) -> Source:
    """The version or draft ``ref`` names; NotFound or ValidationError otherwise."""
    ref = (ref or "").strip()
    if ref.startswith("draft:"):
        number = ref.removeprefix("draft:")
        if not number.isdigit():
            raise ValidationError(f"草稿应写作 draft:编号，如 draft:5 (a draft is draft:ID, not {ref[:40]!r})")
        return draft_source(drafts.get(session, int(number)))
    return version_source(find_version(session, ref))


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
        raise ValidationError(f"版本应写作 流程:版本号，如 ziyang-2016:1 (a version is VARIANT:NUMBER, not "
                              f"{ref[:40]!r})")
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                       ProcessVersion.version == int(number))).first()
    if row is None:
        raise NotFound(f"流程 {variant} 没有第 {number} 版 (variant '{variant}' has no version {number})")
    return row


def template_of(session: Session, variant: str) -> ProcessVersion | None:
    """The version of the template ``variant`` was derived from (``library.parent_of``): the parent's newest
    version published before the variant's first one, else the parent's current version; None for the
    national template itself, or a parent not deployed here."""
    first = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant)
                            .order_by(ProcessVersion.version).limit(1)).first()
    parent = library.parent_of(first) if first is not None else None
    if parent is None:
        return None
    before = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == parent,
                                                          ProcessVersion.deployed_at <= first.deployed_at)
                             .order_by(ProcessVersion.version.desc()).limit(1)).first()
    if before is not None:
        return before
    try:
        return current_version(session, parent)
    except NotFound:
        return None


def previous_of(session: Session, row: ProcessVersion) -> ProcessVersion | None:
    """The version of the same variant just before ``row``."""
    return session.scalars(select(ProcessVersion).where(ProcessVersion.variant == row.variant,
                                                        ProcessVersion.version < row.version)
                           .order_by(ProcessVersion.version.desc()).limit(1)).first()


def path_source(path: Path, forms_library: Path | None = None) -> Source:
    """A bundle folder, or a ``.zip`` of one (checked as an upload is), with the library forms it does not
    override, as ``kaohe deploy`` adds them."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".zip"):
        return Source(str(path), read_folder(path, forms_library))
    files = archive.unzip(path.read_bytes())
    if forms_library is not None and forms_library.is_dir():
        for form in sorted(forms_library.glob("*.json")):
            files.setdefault(f"forms/{form.name}", form.read_text(encoding="utf-8"))
    return Source(path.name, files)
