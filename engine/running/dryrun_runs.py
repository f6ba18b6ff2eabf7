"""The dry runs of a procedure draft, kept in the database: the last ``KEEP`` of each draft.

A run is recorded as ``running`` first and finished by ``execute`` (on a thread of the web app, so a national run
of a few seconds does not hold a request); a run whose process ended before it finished reads as interrupted.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import KaoheError, NotFound
from ..records import audit
from ..store import Store
from ..store.models import DryRun
from .dryrun import Request, dry_run

logger = logging.getLogger(__name__)

KEEP = 5
#: A run still marked running after this long was cut off (the server stopped): it will not finish.
STALE = timedelta(minutes=10)
#: How often a run under way writes how far it got.
PROGRESS_SECONDS = 1.0


def start(session: Session, draft_id: int, revision: int | None, request: Request, actor: str,
          at: datetime) -> DryRun:
    """Record a run about to start; the draft's runs beyond the last ``KEEP`` are dropped."""
    row = DryRun(draft_id=draft_id, draft_revision=revision, year=request.year, request=request.as_dict(),
                 status="running", started_by=actor, started_at=at)
    session.add(row)
    session.flush()
    kept = select(DryRun.id).where(DryRun.draft_id == draft_id).order_by(DryRun.id.desc()).limit(KEEP)
    session.execute(delete(DryRun).where(DryRun.draft_id == draft_id, DryRun.id.not_in(kept)))
    audit.record(session, at, actor, "dry_run", data={"draft": draft_id, "run": row.id, "year": request.year,
                                                      "regions": len(request.regions)})
    return row


def execute(store: Store, run_id: int, files: dict[str, str], request: Request, clock) -> None:
    """Run the dry run and write its report, or its error, on the row (gone if dropped meanwhile); while it runs,
    the row's report is ``{"progress": {"at": virtual time reached, "events": so far}}``."""
    report, error = None, None
    last = [0.0]

    def progress(at: str, events: int) -> None:  # at most once a second: the page shows how far the run got
        if time.monotonic() - last[0] < PROGRESS_SECONDS:
            return
        last[0] = time.monotonic()
        with store.write() as session:
            row = session.get(DryRun, run_id)
            if row is not None and row.status == "running":
                row.report = {"progress": {"at": at, "events": events}}

    try:
        report = dry_run(files, request, progress)
    except KaoheError as exc:
        error = exc.message
    except Exception:  # a bug must not leave the run "running" for ever; the log has the traceback
        logger.exception("dry run %d failed", run_id)
        error = "试运行出错，详情见服务器日志 (the dry run failed; the server log has the details)"
    with store.write() as session:
        row = session.get(DryRun, run_id)
        if row is None:
            return
        row.status = "failed" if error else "done"
        row.report, row.error, row.finished_at = report, error, clock.now()


def runs(session: Session, draft_id: int) -> list[DryRun]:
    """The draft's kept runs, newest first."""
    return list(session.scalars(select(DryRun).where(DryRun.draft_id == draft_id).order_by(DryRun.id.desc())))


def get(session: Session, draft_id: int, run_id: int) -> DryRun:
    """One run of the draft, or NotFound."""
    row = session.get(DryRun, run_id)
    if row is None or row.draft_id != draft_id:
        raise NotFound(f"试运行 {run_id} 不存在 (no dry run {run_id} of draft {draft_id})")
    return row


def status(row: DryRun, now: datetime) -> str:
    """running, done, failed, or interrupted (still running long after it should have finished)."""
    if row.status == "running" and now - row.started_at > STALE:
        return "interrupted"
    return row.status


def as_dict(row: DryRun, now: datetime, report: bool = True) -> dict:
    """A run for the API."""
    found = {"id": row.id, "draft": row.draft_id, "revision": row.draft_revision, "year": row.year,
             "request": row.request, "status": status(row, now), "error": row.error, "started_by": row.started_by,
             "started_at": row.started_at.isoformat(),
             "finished_at": row.finished_at.isoformat() if row.finished_at else None}
    if report:
        found["report"] = row.report
    return found
