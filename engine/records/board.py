"""The campaign board: regions × steps with their state, due dates and results, read in a few queries."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..procedure import scoring
from ..running import results
from ..store.models import AuditEntry, Campaign, InboxTask, Instance, Region, Result

#: Consequences in words, for the Excel export (pages translate them).
CONSEQUENCES = {"commended": "通报表扬", "must_rectify": "书面整改", "interview": "约谈"}
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
    results: list[dict] = field(default_factory=list)  # results.table: rank, region, name, score, grade, …
    announced: bool = False
    announcement: str | None = None
    announced_on: str | None = None
    document_number: str | None = None  # the announcement's 文号, as announced
    regions: int = 0  # in the whole campaign; ``rows`` is one page of them
    finished: int = 0
    overdue: int = 0  # overdue tasks in the whole campaign
    graded: dict[str, int] = field(default_factory=dict)  # how many regions have each grade
    reported: int = 0  # regions whose result has reached the campaign
    page: int = 1
    pages: int = 1
    scale: str = "100"  # the variant's total points, as written
    title: str = ""  # the procedure's title, as people read it
    shown: int = 0  # regions the board's filter keeps (all of them without one)

    @property
    def completion(self) -> int:
        """Per cent of region instances that have finished."""
        return round(100 * self.finished / self.regions) if self.regions else 0

    @property
    def distribution(self) -> list[tuple[str, int]]:
        counts = self.graded or Counter(r["grade"] for r in self.results)
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


#: Regions on one page of the board; a campaign this small also shows its ranking on the board.
PAGE_SIZE = 100


@dataclass
class BoardFilter:
    """Which regions a board shows: by state (``overdue``, ``open``, ``finished``), by the step they are at, by
    (part of) their name. Empty: all of them."""

    state: str | None = None
    step: str | None = None  # bpmn id of a region step
    search: str | None = None

    def where(self, campaign: Campaign, now: datetime) -> list:
        clauses = []
        tasks = select(InboxTask.instance_id).where(InboxTask.campaign_id == campaign.id)
        if self.state == "overdue":
            clauses.append(Instance.id.in_(tasks.where(InboxTask.due_at < now)))
        elif self.state == "open":
            clauses.append(Instance.status != "completed")
        elif self.state == "finished":
            clauses.append(Instance.status == "completed")
        if self.step:
            clauses.append(Instance.id.in_(tasks.where(InboxTask.bpmn_id == self.step)))
        if self.search:
            words = f"%{self.search.replace('%', '').replace('_', '')[:50]}%"
            clauses.append(Instance.region.in_(select(Region.code).where(Region.name.like(words))))
        return clauses


BOARD_STATES = ("overdue", "open", "finished")


def build(session: Session, engine, campaign: Campaign, now: datetime, page: int = 1,
          wanted: BoardFilter | None = None) -> Board:
    """One page of a campaign's board (of the regions ``wanted`` keeps), with figures for the whole campaign
    counted in the database."""
    version = engine.version(session, campaign.version_id)
    manifest = version.manifest
    of_campaign = Instance.campaign_id == campaign.id
    regions, finished = session.execute(
        select(func.count(Instance.id), func.count(Instance.id).filter(Instance.status == "completed"))
        .where(of_campaign, Instance.region.is_not(None))).one()
    kept = (wanted or BoardFilter()).where(campaign, now)
    shown = session.scalar(select(func.count(Instance.id)).where(of_campaign, Instance.region.is_not(None), *kept)) \
        if kept else regions
    pages = max(1, -(-shown // PAGE_SIZE))
    page = min(max(page, 1), pages)
    # The columns a row shows, not the instances' state (tens of KB each): a 2,850-region board read 60 MB.
    columns = select(Instance.id, Instance.region, Instance.status)
    instances = session.execute(columns.where(of_campaign, Instance.region.is_not(None), *kept)
                                .order_by(Instance.region).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    instances += session.execute(columns.where(of_campaign, Instance.region.is_(None))).all()
    codes = [i.region for i in instances if i.region]
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
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
    notify = {b for b, info in version.user_tasks.items() if info.get("form") == NOTIFICATION_FORM}
    announced = campaign_row is not None and any(b in done[campaign_row.instance_id] for b in notify)
    overdue = session.scalar(select(func.count(InboxTask.id))
                             .where(InboxTask.campaign_id == campaign.id, InboxTask.due_at < now))
    graded = dict(session.execute(select(Result.grade, func.count()).where(Result.campaign_id == campaign.id)
                                  .group_by(Result.grade)).all())
    board = Board(campaign, steps, campaign_steps, campaign_row, rows, list(manifest.get("grades") or []),
                  announced=announced, regions=regions, finished=finished, overdue=overdue, graded=graded,
                  reported=sum(graded.values()),
                  page=page, pages=pages, scale=f"{scoring.scale(manifest).normalize():f}", title=manifest["title"],
                  shown=shown)
    if regions <= PAGE_SIZE:  # a larger campaign's ranking is on its results page
        board.results = results.table(session, campaign.id, names)
    if announced:
        _announcement(engine, board, campaign_row.instance_id)
    return board


def published(session: Session, engine, campaign: Campaign) -> Board:
    """A campaign's results and announcement without its board: the ranking rows, not every instance."""
    version = engine.version(session, campaign.version_id)
    codes = select(Result.region).where(Result.campaign_id == campaign.id)
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
    board = Board(campaign, [], [], None, [], list(version.manifest.get("grades") or []),
                  results=results.table(session, campaign.id, names), announced=announced(session, engine, campaign),
                  scale=f"{scoring.scale(version.manifest).normalize():f}")
    if board.announced:
        instance_id = session.scalar(select(Instance.id).where(Instance.campaign_id == campaign.id,
                                                               Instance.region.is_(None)))
        _announcement(engine, board, instance_id)
    return board


def _announcement(engine, board: Board, campaign_instance_id: int) -> None:
    data = engine.instance_data(campaign_instance_id)
    board.announcement, board.announced_on = data.get("announcement"), data.get("announced_on")
    board.document_number = data.get("document_number")


def announced(session: Session, engine, campaign: Campaign) -> bool:
    """Whether the campaign's notification task is done: results are then public."""
    version = engine.version(session, campaign.version_id)
    notify = [b for b, info in version.user_tasks.items() if info.get("form") == NOTIFICATION_FORM]
    return session.scalars(
        select(AuditEntry.id).join(Instance, Instance.id == AuditEntry.instance_id)
        .where(Instance.campaign_id == campaign.id, Instance.region.is_(None), AuditEntry.action == "complete",
               AuditEntry.bpmn_id.in_(notify)).limit(1)).first() is not None


#: What a spreadsheet may read as the start of a formula (OWASP's CSV/formula injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(cell) -> None:
    """Keep a text cell text: openpyxl stores a string starting with ``=`` as a live formula, and a spreadsheet
    re-reads ``+ - @`` as one once the cell is edited; a region name ``=HYPERLINK(…)`` would then run."""
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True  # Excel's "this is text" mark: shown and kept as typed
