"""The campaign board: regions × steps with their state, due dates and results, read in a few queries."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import scoring
from .store.models import AuditEntry, Campaign, InboxTask, Instance, Region

#: The form of the task after which results are public.
NOTIFICATION_FORM = "notification.schema.json"


@dataclass
class Cell:
    state: str  # done | current | overdue | waiting
    due_at: datetime | None = None
    assignee: str | None = None
    task_id: str | None = None
    done_at: datetime | None = None


@dataclass
class Row:
    instance_id: int
    region: str | None
    name: str
    status: str
    cells: dict[str, Cell]
    overdue: int = 0
    done: int = 0


@dataclass
class Board:
    campaign: Campaign
    steps: list[tuple[str, str]]  # region process user tasks: (bpmn id, name)
    campaign_steps: list[tuple[str, str]]
    campaign_row: Row | None
    rows: list[Row]
    grades: list[str]
    results: list[dict] = field(default_factory=list)  # ranked: region, name, score, grade, veto, rank
    announced: bool = False
    announcement: str | None = None
    announced_on: str | None = None
    scale: str = "100"  # the variant's total points, as written

    @property
    def overdue(self) -> int:
        return sum(r.overdue for r in self.rows) + (self.campaign_row.overdue if self.campaign_row else 0)

    @property
    def completion(self) -> int:
        """Per cent of region instances that have finished."""
        return round(100 * sum(r.status == "completed" for r in self.rows) / len(self.rows)) if self.rows else 0

    @property
    def distribution(self) -> list[tuple[str, int]]:
        counts = Counter(r["grade"] for r in self.results)
        return [(grade, counts.get(grade, 0)) for grade in self.grades]


def steps_of(version, process_id: str) -> list[tuple[str, str]]:
    """A process's user tasks in the bundle's order, as (bpmn id, name)."""
    ids = {getattr(s, "bpmn_id", None) for s in version.specs[process_id][0].task_specs.values()}
    return [(bpmn_id, name) for bpmn_id, name in version.step_names.items() if bpmn_id in ids]


def progress(session: Session, instance_ids: list[int]) -> tuple[dict, dict]:
    """Completed steps per instance {id: {bpmn_id: last completion}} and ready tasks {id: [InboxTask]}."""
    done: dict[int, dict[str, datetime]] = defaultdict(dict)
    for instance_id, bpmn_id, at in session.execute(
            select(AuditEntry.instance_id, AuditEntry.bpmn_id, AuditEntry.at)
            .where(AuditEntry.instance_id.in_(instance_ids), AuditEntry.action == "complete")
            .order_by(AuditEntry.id)):
        done[instance_id][bpmn_id] = at
    ready: dict[int, list[InboxTask]] = defaultdict(list)
    for task in session.scalars(select(InboxTask).where(InboxTask.instance_id.in_(instance_ids))):
        ready[task.instance_id].append(task)
    return done, ready


def _row(instance: Instance, name: str, steps, done: dict, ready: list[InboxTask], now: datetime) -> Row:
    cells: dict[str, Cell] = {}
    for bpmn_id, _ in steps:
        if bpmn_id in done:
            cells[bpmn_id] = Cell("done", done_at=done[bpmn_id])
    for task in ready:
        late = task.due_at is not None and task.due_at < now
        previous = cells.get(task.bpmn_id)
        if previous is None or previous.state == "done" or late:
            cells[task.bpmn_id] = Cell("overdue" if late else "current", task.due_at, task.assignee, task.id)
    for bpmn_id, _ in steps:
        cells.setdefault(bpmn_id, Cell("waiting"))
    return Row(instance.id, instance.region, name, instance.status, cells,
               overdue=sum(c.state == "overdue" for c in cells.values()),
               done=sum(c.state == "done" for c in cells.values()))


def build(session: Session, engine, campaign: Campaign, now: datetime) -> Board:
    """The board of one campaign; results come from the campaign instance's data."""
    version = engine.version(session, campaign.version_id)
    manifest = version.manifest
    instances = list(session.scalars(select(Instance).where(Instance.campaign_id == campaign.id)))
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(campaign.regions))).all())
    done, ready = progress(session, [i.id for i in instances])
    steps = steps_of(version, manifest["region_process"])
    campaign_steps = steps_of(version, manifest["campaign_process"])
    rows, campaign_row = [], None
    for instance in instances:
        if instance.region is None:
            campaign_row = _row(instance, campaign.label, campaign_steps, done[instance.id], ready[instance.id], now)
        else:
            rows.append(_row(instance, names.get(instance.region, instance.region), steps, done[instance.id],
                             ready[instance.id], now))
    rows.sort(key=lambda r: r.region or "")
    notify = {b for b, info in version.user_tasks.items() if info.get("form") == NOTIFICATION_FORM}
    announced = campaign_row is not None and any(b in done[campaign_row.instance_id] for b in notify)
    board = Board(campaign, steps, campaign_steps, campaign_row, rows, list(manifest.get("grades") or []),
                  announced=announced, scale=f"{scoring.scale(manifest).normalize():f}")
    if campaign_row is not None:
        data = engine.instance_data(campaign_row.instance_id)
        board.results = results(data, names)
        if announced:
            board.announcement, board.announced_on = data.get("announcement"), data.get("announced_on")
    return board


def results(data: dict, names: dict[str, str]) -> list[dict]:
    """Ranked results from campaign data: its ``ranking``, else its ``results`` ranked here."""
    ranked = data.get("ranking") or (scoring.rank(data["results"]) if data.get("results") else [])
    return [{"rank": r.get("rank"), "region": r["region"], "name": names.get(r["region"], r["region"]),
             "score": str(r.get("score")), "grade": r.get("grade"), "veto": bool(r.get("veto"))} for r in ranked]


def announced(session: Session, engine, campaign: Campaign) -> bool:
    """Whether the campaign's notification task is done: results are then public."""
    version = engine.version(session, campaign.version_id)
    notify = [b for b, info in version.user_tasks.items() if info.get("form") == NOTIFICATION_FORM]
    return session.scalars(
        select(AuditEntry.id).join(Instance, Instance.id == AuditEntry.instance_id)
        .where(Instance.campaign_id == campaign.id, Instance.region.is_(None), AuditEntry.action == "complete",
               AuditEntry.bpmn_id.in_(notify)).limit(1)).first() is not None


def results_workbook(campaign: Campaign, rows: list[dict], scale: str = "100") -> bytes:
    """The ranking as an Excel workbook; scores as exact decimals, out of the variant's scale."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "考核结果"
    sheet.append([f"{campaign.label} 质量工作考核结果"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(["排名", "地区代码", "地区", f"得分（满分 {scale}）", "等级", "否决项"])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for r in rows:
        score = scoring.decimal(r["score"])
        sheet.append([r["rank"], r["region"], r["name"], score, r["grade"], "是" if r["veto"] else "否"])
    for column, width in zip("ABCDEF", (8, 12, 24, 10, 8, 10), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
