"""The procedure library as one overview: each variant, its parent, its versions and who uses them, its drafts.

The library page, ``GET /api/v1/procedures`` and ``kaohe procedures list`` all read ``overview``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..store.models import Campaign, Instance, ProcedureDraft, ProcessVersion
from . import versions

#: The national template (国办发〔2013〕47号): the parent of a variant deployed from a folder, where nothing
#: recorded one, but for the shipped variants made from another (docs/bundles.md#shipped-variants).
TEMPLATE = "national-2013"
SHIPPED_PARENTS = {"dazhou-2015": "ziyang-2016"}


@dataclass
class VersionEntry:
    id: int
    number: int
    title: str
    author: str | None
    at: object
    comment: str | None
    content_hash: str
    current: bool
    campaigns: int
    running: int  # instances still running on it

    def as_dict(self) -> dict:
        return {"id": self.id, "version": self.number, "title": self.title, "author": self.author,
                "deployed_at": self.at.isoformat(), "comment": self.comment, "content_hash": self.content_hash,
                "current": self.current, "campaigns": self.campaigns, "running_instances": self.running}


@dataclass
class VariantEntry:
    variant: str
    title: str
    parent: str | None
    versions: list[VersionEntry] = field(default_factory=list)
    drafts: list[ProcedureDraft] = field(default_factory=list)

    @property
    def current(self) -> VersionEntry | None:
        return next((v for v in self.versions if v.current), None)


def parent_of(row: ProcessVersion) -> str | None:
    """The variant ``row`` was derived from: as recorded when it was published from a draft, else as the shipped
    variants say, else the national template for any other variant."""
    if row.parent_variant:
        return row.parent_variant
    return SHIPPED_PARENTS.get(row.variant) or (TEMPLATE if row.variant != TEMPLATE else None)


def overview(session: Session, variants: set[str] | None = None) -> list[VariantEntry]:
    """Every variant (those of ``variants`` only, when given) with its versions, newest first, and open drafts."""
    query = select(ProcessVersion.id, ProcessVersion.variant, ProcessVersion.version, ProcessVersion.title,
                   ProcessVersion.deployed_by, ProcessVersion.deployed_at, ProcessVersion.comment,
                   ProcessVersion.content_hash, ProcessVersion.is_current, ProcessVersion.parent_variant)
    rows = session.execute(query.order_by(ProcessVersion.variant, ProcessVersion.version.desc())).all()
    campaigns = dict(session.execute(select(Campaign.version_id, func.count()).group_by(Campaign.version_id)).all())
    running = dict(session.execute(select(Instance.version_id, func.count()).where(Instance.status == "running")
                                   .group_by(Instance.version_id)).all())
    entries: dict[str, VariantEntry] = {}
    for row in rows:
        if variants is not None and row.variant not in variants:
            continue
        entry = entries.get(row.variant)
        if entry is None:
            entry = entries[row.variant] = VariantEntry(row.variant, row.title, parent_of(row))
        entry.versions.append(VersionEntry(row.id, row.version, row.title, row.deployed_by, row.deployed_at,
                                           row.comment, row.content_hash, row.is_current,
                                           campaigns.get(row.id, 0), running.get(row.id, 0)))
    for entry in entries.values():
        current = entry.current
        if current is not None:
            entry.title = current.title
    drafts = session.scalars(select(ProcedureDraft).where(ProcedureDraft.published_version_id.is_(None))
                             .order_by(ProcedureDraft.id.desc()))
    for draft in drafts:
        if variants is not None and draft.variant not in variants:
            continue
        entry = entries.get(draft.variant)
        if entry is None:  # a new variant not yet published
            entry = entries[draft.variant] = VariantEntry(draft.variant, draft.title, draft.parent_variant)
        entry.drafts.append(draft)
    return sorted(entries.values(), key=lambda e: (e.variant != TEMPLATE, e.variant))


def version(session: Session, variant: str, number: int) -> ProcessVersion:
    """Version ``number`` of ``variant``; NotFound naming those there are."""
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                       ProcessVersion.version == number)).first()
    if row is None:
        known = ", ".join(str(v.version) for v in versions.versions(session, variant)) or "无 (none)"
        raise NotFound(f"流程 {variant} 没有第 {number} 版（已部署：{known}） "
                       f"(variant '{variant}' has no version {number}; deployed: {known})")
    return row
