"""Deployed versions of a variant and which one is current: new campaigns start on the current one.

A deploy of new content adds a version and makes it current. Publishing a version (``kaohe publish
VARIANT VERSION``, or ``kaohe deploy --make-current`` of content an older version already has) makes
that version current again; running campaigns stay on the version they started on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..records import audit
from ..store.models import ProcessVersion


def current_version(session: Session, variant: str) -> ProcessVersion:
    """The version new campaigns of ``variant`` start on; NotFound when the variant is not deployed."""
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant)
                          .order_by(ProcessVersion.is_current.desc(), ProcessVersion.version.desc())
                          .limit(1)).first()
    if row is None:
        raise NotFound(f"流程 {variant} 尚未部署 (variant '{variant}' is not deployed)")
    return row


def versions(session: Session, variant: str) -> list[ProcessVersion]:
    """Every deployed version of ``variant``, oldest first."""
    return list(session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant)
                                .order_by(ProcessVersion.version)))


def make_current(session: Session, row: ProcessVersion) -> None:
    """Make ``row`` its variant's current version (the previous one stops being current first)."""
    session.execute(update(ProcessVersion).where(ProcessVersion.variant == row.variant,
                                                 ProcessVersion.is_current.is_(True),
                                                 ProcessVersion.id != row.id)
                    .values(is_current=False).execution_options(synchronize_session="fetch"))
    session.flush()
    row.is_current = True
    session.flush()


def publish(session: Session, variant: str, number: int, actor: str, at: datetime,
            reason: str | None = None) -> tuple[ProcessVersion, int]:
    """Make version ``number`` of ``variant`` current, in the audit log (with the ``reason``, when an
    administrator goes back to an earlier version); returns it and the one it replaced."""
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                       ProcessVersion.version == number)).first()
    if row is None:
        known = ", ".join(str(v.version) for v in versions(session, variant)) or "无 (none)"
        raise NotFound(f"流程 {variant} 没有第 {number} 版（已部署：{known}） "
                       f"(variant '{variant}' has no version {number}; deployed: {known})")
    previous = current_version(session, variant).version
    if not row.is_current:
        make_current(session, row)
    audit.record(session, at, actor, "publish", data={"variant": variant, "version": number, "previous": previous,
                                                      **({"reason": reason} if reason else {})})
    return row, previous
