"""One instance at a time: load its workflow, advance it, keep its inbox rows and outbox in step."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, delete, distinct, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..errors import Conflict
from ..procedure import english, forms
from ..records import audit
from ..store import direct
from ..store.models import InboxTask, Instance, Message, ProcessVersion, TaskDraft
from . import results, sampling, timers
from .serializer import StateSerializer

logger = logging.getLogger(__name__)


@dataclass
class LoadedVersion:
    """A deployed version as the engine uses it: specs restored once, forms parsed once."""

    id: int
    variant: str
    manifest: dict
    scheme: dict
    files: dict
    specs: dict
    _forms: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: ProcessVersion, serializer: StateSerializer) -> LoadedVersion:
        return cls(row.id, row.variant, row.manifest, row.scheme, row.files, serializer.load_specs(row.specs))

    @cached_property
    def extend_weekends(self) -> bool:
        """The variant's weekend rule: a last day on a plain weekend moves to the next working day."""
        return bool((self.manifest.get("calendar") or {}).get("extend_weekends", False))

    @cached_property
    def english(self) -> english.Catalogue:
        """The bundle's English catalogue (english.yaml); empty when it has none."""
        return english.Catalogue.of(self.files)

    @cached_property
    def user_tasks(self) -> dict:
        return self.manifest.get("user_tasks", {})

    @cached_property
    def veto_names(self) -> dict[str, str]:
        """The scheme's veto items, code -> name."""
        return {str(v["code"]): str(v.get("name", v["code"])) for v in self.scheme.get("veto") or []}

    @cached_property
    def rules(self) -> results.Rules | None:
        """How the campaign gathers, ranks and decides consequences (None: results are not gathered)."""
        return results.Rules.of(self.manifest)

    @cached_property
    def step_names(self) -> dict[str, str]:
        """Every user task's BPMN id and name, in the bundle's order."""
        names = {}
        for spec, _subprocesses in self.specs.values():
            for task_spec in spec.task_specs.values():  # a multi-instance task's inner spec has no name
                if getattr(task_spec, "bpmn_id", None) in self.user_tasks and task_spec.bpmn_name:
                    names.setdefault(task_spec.bpmn_id, task_spec.bpmn_name)
        return {bpmn_id: names.get(bpmn_id, bpmn_id) for bpmn_id in self.user_tasks}

    def form(self, name: str | None) -> dict:
        """A form's JSON Schema; a step with no form (a manual task) has nothing to fill in."""
        return self.validator(name).schema if name else {"type": "object", "properties": {}}

    def validator(self, name: str):
        """The form's JSON Schema validator, built once per version."""
        if name not in self._forms:
            library = forms.schema_texts({n.removeprefix("forms/"): t for n, t in self.files.items()
                                          if n.startswith("forms/")})
            self._forms[name] = forms.validator(json.loads(self.files[f"forms/{name}"]), library, name)
        return self._forms[name]


@dataclass
class Rows:
    """What the instance's inbox and timer rows held when its workflow was loaded (or made)."""

    ready: set[str] = field(default_factory=set)
    timers: dict[str, datetime] = field(default_factory=dict)  # unfired timers: task id -> due


def rows_of(workflow: BpmnWorkflow) -> Rows:
    return getattr(workflow, "kaohe_rows", None) or Rows()


def _ready_ids(workflow: BpmnWorkflow) -> set[str]:
    return {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}


@dataclass
class Advance:
    """What advancing an instance left: its ready user tasks and the instances it sent messages to."""

    ready: list[str]
    targets: list[int]
    timers_changed: bool = False
    instance_id: int | None = None


@dataclass
class Ran:
    """What running an instance's workflow left, before anything is written: what ``Runner.save`` writes."""

    now: datetime
    draws: list
    events: list  # messages thrown and not caught inside
    waiting: dict  # timers: task id -> (task, kind, due)
    ready: dict  # ready user tasks: id -> task
    due: dict  # the new ones' due dates: id -> datetime | None
    before: set[str]  # the ready tasks the inbox rows held
    state: str
    status: str


class Stale(Conflict):
    """The instance moved on (another transaction advanced it) after its state was read without its lock."""

    def __init__(self, instance_id: int):
        super().__init__(f"流程实例 {instance_id} 正被同时办理，请稍后重试 (instance {instance_id} was changed by "
                         f"another action at the same time; try again)", instance_id=instance_id)


class MustLock(Conflict):
    """An instance read without its lock has a message waiting for it: it is advanced under the lock instead."""

    def __init__(self, instance_id: int):
        super().__init__(f"instance {instance_id} has a message to catch", instance_id=instance_id)


class Runner:
    """Advances locked instances: engine steps, message delivery, outbox, inbox rows, saved state."""

    def __init__(self, serializer: StateSerializer, script_engine, clock, due_date=None, script_engines=None):
        self.serializer = serializer
        self.script_engine = script_engine
        # {extend_weekends: script engine}: a version's expressions run with its own weekend rule.
        self.script_engines = script_engines or {}
        self.clock = clock
        # due_date(task, version, timers) -> datetime | None; the engine wires in the calendar.
        self.due_date = due_date or (lambda task, version, timers: None)

    def new_workflow(self, version: LoadedVersion, process_id: str, data: dict) -> BpmnWorkflow:
        spec, subprocess_specs = version.specs[process_id]
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine_for(version))
        workflow.task_tree.data.update(data)
        return workflow

    def load(self, row: Instance, version: LoadedVersion) -> BpmnWorkflow:
        workflow = self.serializer.load(row.state, version.specs[row.process_id], row.serializer_version)
        workflow.script_engine = self.script_engine_for(version)  # the script engine is not part of the state
        # The instance's inbox and timer rows mirror this state (they change in the same transactions),
        # so what they hold now is known without asking the database: two round trips fewer per action.
        workflow.kaohe_rows = Rows(ready=_ready_ids(workflow), timers={
            task_id: due for task_id, (_, _, due) in timers.waiting_timers(workflow).items()})
        return workflow

    def script_engine_for(self, version: LoadedVersion):
        """The script engine whose deadline helpers follow the version's weekend rule."""
        return self.script_engines.get(version.extend_weekends, self.script_engine)

    def advance(self, session: Session, row: Instance, workflow: BpmnWorkflow, version: LoadedVersion) -> Advance:
        """Run to the next wait, catching pending messages, and save (the caller holds the instance's lock)."""
        return self.save(session, row, workflow, version, self.run(session, row, workflow, version))

    def run(self, session: Session, row: Instance, workflow: BpmnWorkflow, version: LoadedVersion,
            held: bool = True) -> Ran:
        """SpiffWorkflow's part of an advance: engine steps, pending messages caught, the new state serialized.

        Not ``held`` (the instance read without its lock, to be saved by a compare-and-swap on its revision):
        ``session`` is only read, and a message waiting for the instance raises ``MustLock`` instead of being
        caught, since catching marks it delivered (the caller then does it all again under the lock)."""
        now = self.clock.now()
        with sampling.recording() as draws:
            workflow.refresh_timers()  # a timer due by now fires before the engine steps run
            while True:
                workflow.do_engine_steps()
                if not self._catch_pending(session, row, workflow, version, now, held):
                    break
        # Only messages cross instances: a terminate, escalation or signal thrown and not caught inside has no
        # routing between instances (a terminate inside a sub-process ends only that sub-process).
        events = [e for e in workflow.get_events() if isinstance(e.event_definition, MessageEventDefinition)]
        waiting = timers.waiting_timers(workflow)
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        due = {task_id: self.due_date(task, version, waiting) for task_id, task in ready.items()
               if task_id not in rows_of(workflow).ready}
        return Ran(now, list(draws), events, waiting, ready, due, rows_of(workflow).ready,
                   self.serializer.dump(workflow), "completed" if workflow.completed else "running")

    def save(self, session: Session, row: Instance, workflow: BpmnWorkflow, version: LoadedVersion,
             ran: Ran) -> Advance:
        """Write what ``run`` did in the caller's transaction: state, outbox, timer and inbox rows, audit."""
        self.swap(session, row, ran)
        return self.write(session, row, workflow, version, ran)

    def swap(self, session: Session, row: Instance, ran: Ran) -> None:
        """Write the new state if the row is still at the revision it was read at (a compare-and-swap), else
        raise ``Stale``: another transaction advanced the instance meanwhile, and the caller starts again from a
        fresh read. Under the instance's lock it always is. First, so that on PostgreSQL the instance's row lock
        is taken before any other, as when it is locked from the start."""
        expected, now = row.revision, ran.now
        written = _SWAP.rowcount(session, {"id_": row.id, "expected": expected, "state_": ran.state,
                                           "serializer_version_": self.serializer.version, "status_": ran.status,
                                           "revision_": expected + 1, "updated_at_": now})
        if written != 1:
            raise Stale(row.id)
        # What was written, as committed: an ORM row (a delivery's) must not write it again at its flush.
        record = setattr if isinstance(row, direct.Snapshot) else set_committed_value
        for name, value in (("state", ran.state), ("serializer_version", self.serializer.version),
                            ("status", ran.status), ("revision", expected + 1), ("updated_at", now)):
            record(row, name, value)

    def write(self, session: Session, row: Instance, workflow: BpmnWorkflow, version: LoadedVersion,
              ran: Ran, taken: str | None = None) -> Advance:
        """The rest of ``save``, once the state is swapped in: outbox, timer and inbox rows, audit; ``taken``: a
        task whose inbox row the caller has deleted already."""
        now = ran.now
        for drawn in ran.draws:  # in the same transaction as the state that holds the sample
            audit.record(session, now, "system", "sample_draw", instance_id=row.id, data=drawn)
        targets = self._post_events(session, row, ran.events, version, now)
        waiting, timers_changed = timers.sync(session, row, workflow, now, rows_of(workflow).timers, ran.waiting)
        self._sync_inbox(session, row, ran, version, now, taken)
        workflow.kaohe_rows = Rows(set(ran.ready), {task_id: due for task_id, (_, _, due) in waiting.items()})
        return Advance(list(ran.ready), targets, timers_changed, row.id)

    def _catch_pending(self, session: Session, row: Instance, workflow: BpmnWorkflow, version: LoadedVersion,
                       now: datetime, held: bool = True) -> int:
        """Deliver the oldest pending message this workflow now waits for; 1 if one was caught."""
        # The event manager holds just the waiting catch events: cheaper than walking every task.
        # An event-based gateway waits on several definitions at once.
        waiting: dict[str, tuple[MessageEventDefinition, list]] = {}
        for task in workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            for each in getattr(definition, "event_definitions", [definition]):
                if isinstance(each, MessageEventDefinition):
                    waiting.setdefault(each.name, (each, []))[1].append(task)
        if not waiting:
            return 0
        rules = version.rules
        if rules is not None and row.campaign_id is not None and row.region is None:
            return self._gather(session, row, workflow, waiting, rules, now, held)
        message = session.scalars(
            select(Message).where(Message.target_id == row.id, Message.delivered_at.is_(None),
                                  Message.name.in_(list(waiting))).order_by(Message.id).limit(1)
        ).first()
        if message is None:
            return 0
        if not held:
            raise MustLock(row.id)
        definition, tasks = waiting[message.name]
        if rules is not None and message.name == rules.announced_by and row.region is not None:
            # The announcement tells each region its own rank and consequences, as variables it can branch on.
            told = results.outcome(session, row.campaign_id, row.region, rules)
            for task in tasks:
                task.data.update(told)
        workflow.catch(BpmnEvent(definition, payload=message.payload))
        message.delivered_at = now
        logger.debug("instance %s caught %s from instance %s", row.id, message.name, message.source_id)
        return 1

    def _gather(self, session: Session, row: Instance, workflow: BpmnWorkflow, waiting: dict,
                rules: results.Rules, now: datetime, held: bool = True) -> int:
        """A campaign catches a message of its regions once, when every region has sent it: the results message
        with its ranking done and summed up, any other with how many sent it."""
        for name, (definition, _) in waiting.items():
            senders = _senders(session, row.id, name)
            if senders < results.expected(session, row.campaign_id):
                continue
            if not held:
                raise MustLock(row.id)
            session.execute(update(Message).where(Message.target_id == row.id, Message.name == name,
                                                  Message.delivered_at.is_(None))
                            .values(delivered_at=now).execution_options(synchronize_session=False))
            results.caught(session, row.id, name)
            payload = (results.rank_campaign(session, row.campaign_id, rules) if name == rules.reported_by
                       else {"reported": senders})
            workflow.catch(BpmnEvent(definition, payload=payload))
            logger.info("campaign %s: every region sent %s", row.campaign_id, name)
            return 1
        return 0

    def _post_events(self, session: Session, row: Instance, events: list, version: LoadedVersion,
                     now: datetime) -> list[int]:
        """Messages thrown and not caught inside: to the campaign instance, or from it to every region.

        Where the variant gathers results, a region's result is kept as a row, and the campaign instance is a
        target only once every region has sent the message: it is not loaded for each region's report."""
        if not events or row.campaign_id is None:
            return []
        # A region's messages go to the campaign instance, the campaign's to every region's.
        other_side = Instance.region.is_(None) if row.region is not None else Instance.region.is_not(None)
        targets = list(session.scalars(select(Instance.id).where(Instance.campaign_id == row.campaign_id, other_side)
                                       .order_by(Instance.id)))
        rules = version.rules
        gathered = rules is not None and row.region is not None and bool(targets)
        if gathered:
            # Held until commit, so that of two regions reporting last at once the second counts the first;
            # taken before the message rows, whose key references would otherwise deadlock the two.
            session.execute(select(Instance.id).where(Instance.id == targets[0]).with_for_update(key_share=True))
        for event in events:
            for target in targets:
                session.add(Message(campaign_id=row.campaign_id, source_id=row.id, target_id=target,
                                    name=event.event_definition.name, payload=event.payload, created_at=now))
            if gathered:
                results.tally(session, targets[0], event.event_definition.name)
            if gathered and event.event_definition.name == rules.reported_by:
                results.record(session, row.campaign_id, row.id, row.region, event.payload, now, version.veto_names)
        if not gathered:
            return targets
        expected = results.expected(session, row.campaign_id)
        names = {event.event_definition.name for event in events}
        return targets if any(results.may_all_have_sent(session, targets[0], name, expected)
                              and _senders(session, targets[0], name) >= expected for name in names) else []

    def _sync_inbox(self, session: Session, row: Instance, ran: Ran, version: LoadedVersion, now: datetime,
                    taken: str | None) -> None:
        """Make the instance's inbox rows its ready user tasks."""
        gone = ran.before - set(ran.ready)
        if gone - {taken}:  # done or cancelled: the task's row goes, and with it the drafts users saved for it
            _DELETE_ROW.many(session, [{"id_": task_id} for task_id in gone - {taken}])
        if gone:
            _DELETE_DRAFTS.many(session, [{"id_": task_id} for task_id in gone])
        rows = []
        for task_id, due in ran.due.items():
            task = ran.ready[task_id]
            spec = task.task_spec
            info = version.user_tasks.get(spec.bpmn_id, {})
            rows.append(dict(
                id=task_id, instance_id=row.id, campaign_id=row.campaign_id, variant=version.variant,
                bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, lane=info.get("lane"),
                role=info.get("role", "admin"), region=row.region, unit=unit_of(task), form=info.get("form"),
                assignee=None, created_at=now, due_at=due))
        if rows:  # no ORM objects to track for rows this transaction never reads again
            _INSERT_ROWS.rows(session, rows)


# Every action runs them: Core statements on the tables, built once and run on the driver (``direct``). The ORM
# tracks no instance, inbox or draft object these change in the same transaction.
_SWAP = direct.Statement(
    update(Instance.__table__)
    .where(Instance.__table__.c.id == bindparam("id_"), Instance.__table__.c.revision == bindparam("expected"))
    .values(state=bindparam("state_"), serializer_version=bindparam("serializer_version_"),
            status=bindparam("status_"), revision=bindparam("revision_"), updated_at=bindparam("updated_at_")))
_INSERT_ROWS = direct.Insert(InboxTask.__table__, [c.key for c in InboxTask.__table__.columns])
_DELETE_ROW = direct.Statement(delete(InboxTask.__table__).where(InboxTask.__table__.c.id == bindparam("id_")))
_DELETE_DRAFTS = direct.Statement(delete(TaskDraft.__table__).where(TaskDraft.__table__.c.task_id == bindparam("id_")))


def _senders(session: Session, target_id: int, name: str) -> int:
    """How many instances sent ``name`` to ``target_id`` that it has not caught yet."""
    return session.scalar(select(func.count(distinct(Message.source_id)))
                          .where(Message.target_id == target_id, Message.name == name, Message.delivered_at.is_(None)))


def unit_of(task) -> str | None:
    """The member unit a multi-instance child is for (its element variable ``unit``), else None."""
    if task.parent is None or not isinstance(task.parent.task_spec, MultiInstanceTask):
        return None
    unit = task.data.get("unit")
    return unit if isinstance(unit, str) else None
