"""The Engine facade: the one door the CLI, the web app and the scheduler go through."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .clock import SystemClock, local
from .errors import Conflict, HeldUp, KaoheError, NotFound, PermissionDenied, RunFailed, ValidationError
from .people import accounts
from .people.accounts import Grant
from .people.regions import load_defaults
from .procedure import forms, scoring, versions
from .procedure.bundle import Bundle, check_bundle, load_bundle
from .records import audit
from .running import calendar, campaign_state, incidents, results, sandbox, timers
from .running.calendar import WorkCalendar
from .running.deadlines import DueDates
from .running.instances import Advance, LoadedVersion, MustLock, Runner, Stale
from .running.serializer import StateSerializer, find_task
from .store import Store, direct
from .store.models import AuditEntry, Campaign, InboxTask, Instance, ProcessVersion, Region, Result

logger = logging.getLogger(__name__)

#: How often a completion is tried without the instance's lock before it takes the lock (see ``_complete``).
OPTIMISTIC_TRIES = 2

#: The shared form library, used where a bundle has no form of that name.
FORMS_LIBRARY = Path(__file__).resolve().parent.parent / "forms"


@dataclass
class Completion:
    """What completing a task did."""

    instance_id: int
    task_id: str
    status: str
    next_tasks: list[str]


class Engine:
    """Deploys bundles, launches campaigns, lists and completes tasks, routes messages."""

    def __init__(self, store: Store, clock=None, forms_library: Path | None = FORMS_LIBRARY):
        self.store = store
        self.clock = clock or SystemClock()
        self.forms_library = forms_library
        self.serializer = StateSerializer()
        self._calendar: WorkCalendar | None = None
        # One script engine per weekend rule (calendar.extend_weekends of a version): the deadline
        # helpers of a variant's expressions move a last day off a weekend only where it says so.
        script_engines = {extend: self._script_engine(extend) for extend in (False, True)}
        self.runner = Runner(self.serializer, script_engines[False], self.clock,
                             due_date=DueDates(lambda: self.calendar), script_engines=script_engines)
        self._versions: dict[int, LoadedVersion] = {}
        self._versions_lock = threading.Lock()
        #: Called after a commit that added or moved timers (the embedded scheduler re-arms itself).
        self.on_timers_changed: list = []

    def _script_engine(self, extend_weekends: bool):
        found = sandbox.script_engine(helpers=calendar.helpers(_CurrentCalendar(self), self.clock,
                                                               extend_weekends=extend_weekends))
        found.clock = self.clock  # timers fire on this clock (see timer_events)
        return found

    @property
    def calendar(self) -> WorkCalendar:
        """Working days and holidays: the package's data with the administrators' corrections."""
        if self._calendar is None:
            self._calendar = WorkCalendar.from_store(self.store)
        return self._calendar

    def reload_calendar(self) -> None:
        """Pick up edited holiday corrections."""
        self._calendar = None

    # -- deployment -------------------------------------------------------------------------------
    def check(self, folder: Path) -> Bundle:
        """Check a bundle folder without storing anything."""
        return load_bundle(Path(folder), self.forms_library, helpers=self.runner.script_engine.environment.globals)

    def check_files(self, files: dict[str, str]) -> Bundle:
        """Check a bundle given as ``{relative name: text}`` (a draft of the library) without storing anything."""
        return check_bundle(files, helpers=self.runner.script_engine.environment.globals)

    def deploy(self, folder: Path, actor: str = "system", make_current: bool = False) -> tuple[ProcessVersion, bool]:
        """Store a bundle as a new, current version of its variant; identical content gives the existing version,
        made current again only with ``make_current``."""
        return self._store_version(self.check(folder), actor, make_current)

    def deploy_files(self, files: dict[str, str], actor: str = "system", make_current: bool = False,
                     comment: str | None = None, parent_variant: str | None = None) -> tuple[ProcessVersion, bool]:
        """``deploy`` of a bundle given as ``{relative name: text}``, with why it is published and the variant it
        was derived from (the library's drafts are published this way)."""
        return self._store_version(self.check_files(files), actor, make_current, comment, parent_variant)

    def _store_version(self, bundle: Bundle, actor: str, make_current: bool, comment: str | None = None,
                       parent_variant: str | None = None) -> tuple[ProcessVersion, bool]:
        with self.store.write() as session:
            existing = session.scalars(select(ProcessVersion)
                                       .where(ProcessVersion.content_hash == bundle.content_hash)).one_or_none()
            if existing is not None:
                if make_current and not existing.is_current:
                    versions.publish(session, existing.variant, existing.version, actor, self.clock.now())
                return existing, False
            number = (session.scalar(select(func.max(ProcessVersion.version))
                                     .where(ProcessVersion.variant == bundle.key)) or 0) + 1
            manifest = dict(bundle.manifest, user_tasks=bundle.user_tasks)
            row = ProcessVersion(variant=bundle.key, version=number, content_hash=bundle.content_hash,
                                 title=bundle.manifest["title"], manifest=manifest, scheme=bundle.scheme,
                                 files=bundle.files, specs=self.serializer.dump_specs(bundle.specs),
                                 deployed_at=self.clock.now(), deployed_by=actor, comment=comment or None,
                                 parent_variant=parent_variant)
            session.add(row)
            session.flush()
            versions.make_current(session, row)
            audit.record(session, self.clock.now(), actor, "deploy",
                         data={"variant": bundle.key, "version": number, "hash": bundle.content_hash,
                               **({"comment": comment} if comment else {})})
            logger.info("deployed %s version %d", bundle.key, number)
            return row, True

    def load_regions(self, bundle: Bundle) -> int:
        """Add the bundle's default regions to the region table; edited rows are left as they are."""
        with self.store.write() as session:
            return len(load_defaults(session, bundle.key, bundle.regions)[0])

    def current_version(self, session: Session, variant: str) -> ProcessVersion:
        """The version new campaigns and instances of ``variant`` start on."""
        return versions.current_version(session, variant)

    latest_version = current_version  # its name before versions had a current one (kept for callers not yet renamed)

    def version(self, session: Session, version_id: int) -> LoadedVersion:
        with self._versions_lock:
            loaded = self._versions.get(version_id)
        if loaded is None:
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise NotFound(f"no process version {version_id}")
            loaded = LoadedVersion.from_row(row, self.serializer)
            with self._versions_lock:
                self._versions[version_id] = loaded
        return loaded

    # -- campaigns --------------------------------------------------------------------------------
    def start_campaign(self, variant: str, year: int, regions: list[str] | None = None,
                       actor: str = "system", deadline_shift_days: int = 0) -> Campaign:
        """Start the campaign instance and one instance per region, in one transaction."""
        now = self.clock.now()
        with self.store.write() as session:
            row = self.current_version(session, variant)
            version = self.version(session, row.id)
            known = {r.code: r.name for r in session.scalars(select(Region).order_by(Region.code))
                     if regions is not None or r.region_set == variant}
            codes = list(known) if regions is None else list(regions)
            unknown = [c for c in codes if c not in known]
            if unknown or not codes:
                raise ValidationError(f"未知地区 (unknown regions): {', '.join(unknown)}" if unknown
                                      else "考核对象为空 (no regions to assess)")
            label = scoring.year_label(version.manifest["assessment_year"], year)
            campaign = Campaign(version_id=row.id, variant=variant, year=year, label=label, regions=codes,
                                region_count=len(codes), started_at=now, started_by=actor)
            session.add(campaign)
            session.flush()
            common = {"campaign_id": campaign.id, "variant": variant, "year": year, "year_label": label}
            if deadline_shift_days:  # the procedure's fixed deadlines, moved for a campaign started late
                common["deadline_shift_days"] = int(deadline_shift_days)
            advances = [self._start(session, version, version.manifest["campaign_process"], campaign.id, None,
                                    dict(common, regions=codes))]
            units = scoring.scoring_units(version.scheme)
            for code in codes:
                advances.append(self._start(session, version, version.manifest["region_process"], campaign.id, code,
                                            dict(common, region=code, region_name=known[code], units=list(units))))
            audit.record(session, now, actor, "campaign_start",
                         data={"campaign": campaign.id, "variant": variant, "year": year, "regions": codes,
                               "deadline_shift_days": int(deadline_shift_days)})
        self._committed(advances)
        return campaign

    def start_instance(self, variant: str, process_id: str, data: dict, region: str | None = None,
                       actor: str = "system") -> int:
        """Start one instance of a process outside any campaign (trying a procedure, benchmarks)."""
        with self.store.write() as session:
            version = self.version(session, self.current_version(session, variant).id)
            if process_id not in version.specs:
                raise NotFound(f"流程 {variant} 中没有 {process_id} (no process '{process_id}' in {variant})")
            advance = self._start(session, version, process_id, None, region, data)
            instance_id = advance.instance_id
            audit.record(session, self.clock.now(), actor, "instance_start", instance_id=instance_id,
                         data={"variant": variant, "process": process_id})
        self._committed([advance])
        return instance_id

    def _start(self, session: Session, version: LoadedVersion, process_id: str, campaign_id: int | None,
               region: str | None, data: dict) -> Advance:
        """Start one instance and run it to its first wait. Its row is inserted once, with the state it waits in
        (no message can wait for an instance that has no id yet), not inserted empty and then updated: a launch
        writes each of its thousands of instances once."""
        now = self.clock.now()
        workflow = self.runner.new_workflow(version, process_id, data)
        row = Instance(version_id=version.id, campaign_id=campaign_id, process_id=process_id, region=region,
                       serializer_version=self.serializer.version, created_at=now)
        with _engine_errors(row):
            ran = self.runner.run(session, row, workflow, version)
        row.state, row.status, row.revision, row.updated_at = ran.state, ran.status, 1, ran.now
        session.add(row)
        session.flush()
        with _engine_errors(row):
            return self.runner.write(session, row, workflow, version, ran)

    # -- tasks ------------------------------------------------------------------------------------
    def tasks(self, role: str | None = None, region: str | None = None, campaign_id: int | None = None,
              username: str | None = None, since: datetime | None = None) -> list[InboxTask]:
        """Ready user tasks, filtered; with ``username``, only those the user may act on."""
        with self.store.read() as session:
            query = select(InboxTask).order_by(InboxTask.due_at, InboxTask.created_at, InboxTask.id)
            if since:
                query = query.where(InboxTask.created_at >= since)
            if role:
                query = query.where(InboxTask.role == role)
            if region:
                query = query.where(InboxTask.region == region)
            if campaign_id:
                query = query.where(InboxTask.campaign_id == campaign_id)
            rows = list(session.scalars(query))
            if username is not None:
                grants = accounts.grants_of(session, username)
                rows = [t for t in rows if any(g.covers(t) for g in grants)]
            return rows

    def task(self, task_id: str) -> InboxTask:
        with self.store.read() as session:
            return self._inbox_row(session, task_id)

    def form_for(self, task: InboxTask) -> dict:
        """The JSON Schema of a task's form, from the version its instance runs on."""
        with self.store.read() as session:
            instance = session.get(Instance, task.instance_id)
            return self.version(session, instance.version_id).form(task.form)

    def complete(self, task_id: str, data: dict, username: str, grants: Iterable[Grant] | None = None,
                 check: Callable[[Session, InboxTask], None] | None = None) -> Completion:
        """Validate ``data`` against the task's form, complete the task and advance the instance.

        ``grants``: the user's, when the caller has just read them (else they are read here); ``check``: the
        caller's own refusals (evidence files, say), run in the same transaction once the task is locked and
        the user authorized, so that nothing changes between them and the completion."""
        if not isinstance(data, dict):
            raise ValidationError("表单数据应为 JSON 对象 (form data must be a JSON object)")
        try:
            result, advanced = self._complete(task_id, data, username, grants, check)
        except RunFailed as failed:  # rolled back: the task is still ready, the instance at its last good state
            self.incident(failed)
            raise HeldUp(incidents.HELD_UP) from failed
        self._committed([advanced])
        return result

    def _complete(self, task_id, data, username, grants, check) -> tuple[Completion, Advance]:
        """Optimistically: SpiffWorkflow's work on a plain read, then a short write transaction that saves it if
        the instance is still at the revision read (``Runner.swap``), else again from a fresh read; after
        ``OPTIMISTIC_TRIES`` (many actions on one instance at once), or when a message waits for the instance,
        all of it in one transaction that holds the instance's lock from the start, which always gets through."""
        grants = list(grants) if grants is not None else None
        for _ in range(OPTIMISTIC_TRIES):
            try:
                with self.store.glance() as session:
                    task_row, row, version, workflow = self._ready(session, task_id, data, username, grants,
                                                                   False, None)
                    ran = self._run(session, row, workflow, version, task_row, data, held=False)
                with self.store.write() as session:
                    return self._save(session, task_row, row, workflow, version, ran, data, username, check)
            except Stale:  # another action advanced the instance (or claimed the task) meanwhile
                logger.info("task %s: its instance changed while it was completed; trying again", task_id)
            except MustLock:  # a message waits for the instance: catching it marks it delivered, under the lock
                break
        with self.store.write() as session:
            task_row, row, version, workflow = self._ready(session, task_id, data, username, grants, True, check)
            ran = self._run(session, row, workflow, version, task_row, data, held=True)
            return self._save(session, task_row, row, workflow, version, ran, data, username, None)

    def _ready(self, session, task_id, data, username, grants, held: bool, check):
        """The task's inbox row, its instance and workflow, once the user may complete it with ``data``;
        ``held``: in a write transaction, with the instance locked."""
        found = self.store.lock_task(session, task_id, lock=held)
        grants = grants if grants is not None else accounts.grants_of(session, username)
        if found is None:
            self._missing_task(session, task_id, grants)
        task_row, row = found
        accounts.authorize(grants, task_row, username)
        if row.status == "suspended":
            raise Conflict(campaign_state.SUSPENDED)
        if task_row.assignee not in (None, username):
            raise PermissionDenied(f"任务已由 {task_row.assignee} 认领 (task {task_id} is claimed by "
                                   f"{task_row.assignee})")
        if check is not None:
            check(session, task_row)
        version = self.version(session, row.version_id)
        self._check_data(session, version, task_row, row, data)
        return task_row, row, version, self.runner.load(row, version)

    def _run(self, session, row, workflow, version, task_row, data, held: bool):
        task = find_task(workflow, task_row.id)
        if task is None or task.state != TaskState.READY:
            raise Conflict("该任务已由他人办理或已撤销 (the task is no longer ready)")
        task.data.update(data)
        with _engine_errors(row):
            task.run()
            return self.runner.run(session, row, workflow, version, held)

    def _save(self, session, task_row, row, workflow, version, ran, data, username,
              check) -> tuple[Completion, Advance]:
        self.runner.swap(session, row, ran)
        # The task's row goes with its completion, unless somebody else claimed it since it was read.
        taken = _TAKE.rowcount(session, {"task_id": task_row.id, "username": username})
        if not taken:
            raise Stale(row.id)
        if check is not None:  # the caller's refusals, in the transaction that completes the task
            check(session, task_row)
        advanced = self.runner.write(session, row, workflow, version, ran, taken=task_row.id)
        audit.record(session, ran.now, username, "complete", instance_id=row.id, task_id=task_row.id,
                     bpmn_id=task_row.bpmn_id, data=data)
        return Completion(row.id, task_row.id, row.status, advanced.ready), advanced

    def _check_data(self, session: Session, version: LoadedVersion, task_row: InboxTask, row: Instance,
                    data: dict) -> None:
        """Every problem of submitted data in one answer: the form's schema, the campaign's choices and what the
        scheme says of scores and veto items (a user should not fix one round only to be shown the next)."""
        errors = []
        schema = version.form(task_row.form) if task_row.form else {}
        checks = [lambda: scoring.check_form_data(version.scheme, task_row.unit, data)]
        if task_row.form:
            checks.insert(0, lambda: forms.validate(version.validator(task_row.form), data, task_row.form))
            if forms.choice_fields(schema):
                regions = session.scalar(select(Campaign.regions).where(Campaign.id == row.campaign_id))
                checks.insert(1, lambda: forms.check_choices(schema, data, {"regions": regions or []}))
        for run in checks:
            try:
                run()
            except ValidationError as exc:
                errors += exc.errors or [{"field": "", "message": exc.message}]
            except (AttributeError, TypeError, KeyError):  # data the schema refused already is not the scheme's
                if not errors:
                    raise
        if errors:
            seen, unique = set(), []
            for error in errors:  # the schema and the scheme may both say a field is wrong: once each
                if (error.get("field"), error.get("message")) not in seen:
                    seen.add((error.get("field"), error.get("message")))
                    unique.append(error)
            raise ValidationError(forms.summary(schema.get("title") or task_row.name, schema, unique), unique[:100])

    def _inbox_row(self, session: Session, task_id: str) -> InboxTask:
        row = session.get(InboxTask, str(task_id))
        if row is None:
            self._missing_task(session, task_id)
        return row

    def _missing_task(self, session: Session, task_id: str, grants: list[Grant] | None = None) -> None:
        """Raise Conflict for a task somebody completed (naming who) in a region one of ``grants`` reaches (any,
        without grants), else NotFound: who did another region's tasks is not told to those who ask for ids."""
        done = session.scalars(select(AuditEntry).where(AuditEntry.task_id == str(task_id),
                                                        AuditEntry.action == "complete").limit(1)).first()
        if done is not None and grants is not None:
            region = session.scalar(select(Instance.region).where(Instance.id == done.instance_id))
            if not any(g.region in (None, region) for g in grants):
                done = None
        if done is not None:
            raise Conflict(f"该任务已由 {done.actor} 于 {local(done.at):%Y-%m-%d %H:%M} 办理 "
                           f"(the task is no longer ready: {done.actor} completed it)")
        raise NotFound("该任务不存在 (there is no such task)")

    # -- messages ---------------------------------------------------------------------------------
    def deliver(self, targets: list[int]) -> int:
        """Deliver pending messages, each target instance in its own transaction; returns how many ran.

        A target another process holds is skipped, and one that fails becomes an incident: what is left
        undelivered stays on its rows for the scheduler's sweep (``messages.deliver_pending``)."""
        queue = deque(dict.fromkeys(targets))
        queued = set(queue)  # what is in the queue: a campaign's announcement queues every region, once each
        advanced = 0
        timers_changed = False
        while queue:
            target = queue.popleft()
            queued.discard(target)
            try:
                with self.store.write() as session:
                    row = self.store.claim_instance(session, target)
                    if row is None or row.status != "running":
                        continue
                    version = self.version(session, row.version_id)
                    more = self.advance_loaded(session, row, self.runner.load(row, version), version)
            except RunFailed as failed:
                self.incident(failed)
                continue
            advanced += 1
            timers_changed |= more.timers_changed
            fresh = [t for t in dict.fromkeys(more.targets) if t not in queued]
            queue.extend(fresh)
            queued.update(fresh)
        if timers_changed:
            self.timers_changed()
        return advanced

    def advance_loaded(self, session: Session, row: Instance, workflow, version: LoadedVersion) -> Advance:
        """Run a loaded instance to its next wait in the caller's transaction; a failure raises RunFailed."""
        with _engine_errors(row):
            return self.runner.advance(session, row, workflow, version)

    def after_delivery(self, advance: Advance) -> None:
        """After a sweep's delivery committed: what that instance sent in turn, and its timers."""
        self._committed([advance])

    def _committed(self, advances: list[Advance]) -> None:
        """After a commit: deliver the messages it sent and tell listeners about new timers.

        What was committed stands whatever happens here: a failure is logged and left to the sweep, never
        raised to the caller (the submitter's answer says what was committed)."""
        targets = [t for a in advances for t in a.targets]
        try:
            self.deliver(targets)
        except Exception:  # the database went away, say: the rows are committed, the sweep delivers them
            logger.warning("delivery after a commit failed; the scheduler will deliver %d messages' targets",
                           len(targets), exc_info=True)
        if targets or any(a.timers_changed for a in advances):
            self.timers_changed()

    def incident(self, failed: RunFailed) -> None:
        """Record a failed run as an incident, in a transaction of its own (the failed one has rolled back)."""
        try:
            incidents.record(self.store, self.clock.now(), failed.instance_id, failed.kind, failed.error,
                             failed.bpmn_id, failed.element)
        except Exception:  # never hide the original failure behind this one
            logger.exception("could not record the incident of instance %s", failed.instance_id)

    def timers_changed(self) -> None:
        """Tell listeners (an embedded scheduler) that timers were added, moved or may be retried."""
        for listener in list(self.on_timers_changed):
            listener()

    # -- incidents --------------------------------------------------------------------------------
    def incidents(self, campaign_id: int | None = None) -> list[dict]:
        """Open incidents, oldest first, with what an administrator needs to act: where, what, how often."""
        with self.store.read() as session:
            rows = incidents.open_incidents(session, campaign_id)
            instances = {i.id: i for i in session.scalars(select(Instance).where(
                Instance.id.in_([r.instance_id for r in rows])))}
            names = dict(session.execute(select(Region.code, Region.name)).all()) if rows else {}
            labels = dict(session.execute(select(Campaign.id, Campaign.label)).all()) if rows else {}
            variants = dict(session.execute(select(Campaign.id, Campaign.variant)).all()) if rows else {}
            return [{"id": r.id, "instance_id": r.instance_id, "campaign_id": r.campaign_id,
                     "campaign": labels.get(r.campaign_id), "variant": variants.get(r.campaign_id),
                     "region": instances[r.instance_id].region,
                     "region_name": names.get(instances[r.instance_id].region),
                     "kind": r.kind, "bpmn_id": r.bpmn_id, "element": r.element or r.bpmn_id, "error": r.error,
                     "attempts": r.attempts, "created_at": r.created_at, "last_at": r.last_at} for r in rows]

    def held_up(self, instance_id: int) -> bool:
        """Whether the instance has an open incident (its users are told the step is held up)."""
        with self.store.read() as session:
            return incidents.held_up(session, instance_id) is not None

    def retry_incident(self, incident_id: int, actor: str, reason: str, upgrade: bool = False) -> int:
        """Run the instance of an incident again (on the latest version of its procedure, with ``upgrade``);
        the incident closes when the run succeeds, else it counts another attempt. Returns the instance id."""
        now = self.clock.now()
        try:
            with self.store.write() as session:
                incident = incidents.mark_retried(session, incident_id, actor, reason, now)
                row = self.store.lock_instance(session, incident.instance_id)
                if upgrade:
                    self._move_to_latest(session, row, actor, now)
                version = self.version(session, row.version_id)
                advance = self.advance_loaded(session, row, self.runner.load(row, version), version)
        except RunFailed as failed:
            self.incident(failed)
            raise HeldUp(f"重试失败，故障仍在 (the retry failed; the incident stays open): {failed.error}") from failed
        self._committed([advance])
        return incident.instance_id

    def _move_to_latest(self, session: Session, row: Instance, actor: str, now: datetime) -> None:
        """Put an instance on the newest version of its procedure: its state must load under the new specs."""
        current = session.get(ProcessVersion, row.version_id)
        latest = self.latest_version(session, current.variant)
        if latest.id == row.version_id:
            raise ValidationError("没有更新的流程版本 (there is no newer version of this procedure to move to)")
        version = self.version(session, latest.id)
        if row.process_id not in version.specs:
            raise ValidationError(f"新版本中没有流程 {row.process_id} (version {latest.version} has no process "
                                  f"'{row.process_id}')")
        try:
            self.runner.load(row, version)
        except Exception as exc:  # a changed structure: its tasks are not where the state says they are
            raise ValidationError(f"流程实例无法迁移到版本 {latest.version}，步骤结构已改变 (the instance cannot move "
                                  f"to version {latest.version}: {type(exc).__name__}: {exc})") from exc
        audit.record(session, now, actor, "instance_migrate", instance_id=row.id,
                     data={"from": current.version, "to": latest.version})
        row.version_id = latest.id

    def change_campaign(self, campaign_id: int, action: str, actor: str, reason: str) -> int:
        """Suspend, resume or cancel a campaign with a reason (audited); returns how many instances changed."""
        with self.store.write() as session:
            changed, pending = campaign_state.change(session, campaign_id, action, actor, reason, self.clock.now())
        if action == "resume" and changed:  # what fell due while it was suspended happens now
            self.deliver(pending)
            self.timers_changed()
        return len(changed)

    def cancel_incident(self, incident_id: int, actor: str, reason: str) -> int:
        """Cancel the instance of an incident, with a reason (audited). Returns the instance id."""
        with self.store.write() as session:
            incident = incidents.cancel(session, self.store, incident_id, actor, reason, self.clock.now())
            return incident.instance_id

    # -- timers -----------------------------------------------------------------------------------
    def fire_timers(self, timer_ids: list[int], now: datetime) -> tuple[int, dict[int, str]]:
        """Fire due timers nobody else is firing, in one transaction with a savepoint each.

        Returns how many fired and, per timer that failed, why; a failure rolls back only its own timer.
        """
        advances, failures = [], {}
        with self.store.write() as session:
            for timer_id in timer_ids:
                try:
                    with session.begin_nested():
                        advance = self._fire(session, timer_id, now)
                except KaoheError as exc:
                    failures[timer_id] = str(exc)
                    continue
                except Exception as exc:  # written on the timer row for an administrator, never lost
                    logger.exception("timer %s failed", timer_id)
                    failures[timer_id] = f"{type(exc).__name__}: {exc}"
                    continue
                if advance is not None:
                    advances.append(advance)
        self._committed(advances)
        return len(advances), failures

    def _fire(self, session: Session, timer_id: int, now: datetime) -> Advance | None:
        claimed = timers.claim(session, self.store, timer_id)
        if claimed is None or claimed[0].due_at > now:
            return None
        timer, row = claimed
        version = self.version(session, row.version_id)
        workflow = self.runner.load(row, version)
        with _engine_errors(row):
            advance = self.runner.advance(session, row, workflow, version)
        audit.record(session, now, "scheduler", "timer", instance_id=row.id, task_id=timer.task_id,
                     bpmn_id=timer.bpmn_id, data={"due_at": timer.due_at.isoformat(), "kind": timer.kind})
        return advance

    def next_timer_due(self) -> datetime | None:
        with self.store.read() as session:
            return timers.next_due(session)

    # -- reading instances ------------------------------------------------------------------------
    def instance_data(self, instance_id: int) -> dict:
        """The data of an instance as its latest task sees it."""
        with self.store.read() as session:
            row = session.get(Instance, instance_id)
            if row is None:
                raise NotFound(f"流程实例 {instance_id} 不存在 (no instance {instance_id})")
            workflow = self.runner.load(row, self.version(session, row.version_id))
        task = workflow.last_task or workflow.task_tree
        return dict(task.data)

    def waiting_on(self, instance_id: int) -> list[str]:
        """The names of the steps an unfinished instance waits at (ready tasks, catch events, timers)."""
        with self.store.read() as session:
            row = session.get(Instance, instance_id)
            workflow = self.runner.load(row, self.version(session, row.version_id))
        return [t.task_spec.bpmn_name or t.task_spec.bpmn_id
                for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
                if getattr(t.task_spec, "bpmn_id", None)]

    def results(self, campaign_id: int) -> list[dict]:
        """A campaign's results in rank order, with region names (see ``results.table``)."""
        with self.store.read() as session:
            codes = select(Result.region).where(Result.campaign_id == campaign_id)
            names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
            return results.table(session, campaign_id, names)

    def campaign_instances(self, campaign_id: int) -> list[Instance]:
        with self.store.read() as session:
            return list(session.scalars(select(Instance).where(Instance.campaign_id == campaign_id)
                                        .order_by(Instance.region.is_not(None), Instance.region)))


# Built once: a completion's own inbox row goes unless somebody else has claimed the task.
_TAKE = direct.Statement(delete(InboxTask.__table__).where(
    InboxTask.__table__.c.id == bindparam("task_id"),
    or_(InboxTask.__table__.c.assignee.is_(None), InboxTask.__table__.c.assignee == bindparam("username"))))


@contextmanager
def _engine_errors(row: Instance):
    """Turn whatever running an instance raises (a script, a condition, a limit, a bad message) into RunFailed,
    which rolls its transaction back and becomes an incident; database faults and refusals pass unchanged."""
    try:
        yield
    except (SQLAlchemyError, Conflict, NotFound, PermissionDenied, ValidationError, RunFailed):
        raise
    except Exception as exc:
        bpmn_id, element = incidents.element_of(exc)
        error = incidents.words(exc)
        which = (f"流程实例 {row.id}", f"instance {row.id}") if row.id is not None else ("新流程实例", "a new instance")
        raise RunFailed(f"{which[0]} 执行出错 ({which[1]} failed): {error}", instance_id=row.id,
                        kind=incidents.kind_of(exc), bpmn_id=bpmn_id, element=element, error=error) from exc


class _CurrentCalendar:
    """Stands for the engine's calendar in the expression helpers, so a reload reaches them too."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine.calendar, name)
