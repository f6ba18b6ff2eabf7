"""What the tasks of an instance wrote, each with the task that wrote it, as one viewer may read it.

The audit log's ``complete`` entries are the submissions (who, when, the data); evidence files name the task
they were uploaded on. The workflow tells, for each task, its step and the member unit it was for; the
bundle tells the step's role. ``access.Viewer.reads`` judges each one: pages and the API show only what
``readable`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..people.access import Viewer, Work
from ..running.instances import unit_of
from ..running.serializer import find_task
from ..store.models import AuditEntry, Campaign, EvidenceFile, Instance, Result
from . import board


@dataclass(frozen=True)
class Submission:
    """One completed task: its ``complete`` audit entry and the work it records."""

    entry: AuditEntry
    work: Work


@dataclass(frozen=True)
class Evidence:
    """One uploaded file and the work of the task it was uploaded on."""

    file: EvidenceFile
    work: Work


@dataclass(frozen=True)
class Readable:
    """An instance as one viewer may read it: the raw data (None unless they read all of it), the
    submissions (newest first) and files they may read, and the region's result (None unless readable)."""

    data: dict | None
    submissions: list[Submission]
    files: list[Evidence]
    result: dict | None

    @property
    def file_map(self) -> dict[str, EvidenceFile]:
        """The readable files by SHA-256, the first readable upload of each digest (what the pages link to and
        downloads serve)."""
        return {e.file.sha256: e.file for e in reversed(self.files)}


def readable(session: Session, engine, who: Viewer, instance: Instance, variant: str) -> Readable:
    """Everything ``who`` may read of ``instance`` (which they may see): one workflow load, a few queries."""
    version = engine.version(session, instance.version_id)
    workflow = engine.runner.load(instance, version)
    announced = _announced(session, engine, instance)
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance.id,
                                                            AuditEntry.action == "complete")
                                   .order_by(AuditEntry.id.desc())))
    done = {e.task_id for e in entries}

    def work(task_id: str | None, actor: str) -> Work:
        task = find_task(workflow, task_id) if task_id else None
        role = version.user_tasks.get(task.task_spec.bpmn_id, {}).get("role") if task is not None else None
        return Work(variant, role, instance.region, unit_of(task) if task is not None else None, actor,
                    submitted=task_id in done)

    shown = [Submission(e, w) for e in entries if who.reads(w := work(e.task_id, e.actor), announced)]
    uploads = session.scalars(select(EvidenceFile).where(EvidenceFile.instance_id == instance.id)
                              .order_by(EvidenceFile.id))
    files = [Evidence(f, w) for f in uploads if who.reads(w := work(f.task_id, f.uploader), announced)]
    last = workflow.last_task or workflow.task_tree
    data = dict(last.data)
    result = None
    row = session.get(Result, (instance.campaign_id, instance.region)) if instance.region else None
    if row is not None and who.reads_result(variant, instance.region, announced):
        result = {"score": row.score, "grade": row.grade, "veto": row.vetoed, "veto_items": list(row.veto_items or []),
                  "rank": row.rank, "consequences": dict(row.consequences or {})}
    raw = who.sees_all_data(variant) and who.sees_instance(variant, instance.region)
    return Readable(data if raw else None, shown, files, result)


def _announced(session: Session, engine, instance: Instance) -> bool:
    campaign = session.get(Campaign, instance.campaign_id) if instance.campaign_id else None
    return campaign is not None and board.announced(session, engine, campaign)
