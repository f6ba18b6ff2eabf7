"""Moving running instances to a newer version of their procedure, with SpiffWorkflow's own diff.

``SpiffWorkflow.bpmn.util.diff`` aligns the task specs of the old and the new version (by BPMN id, then by
structure) and lists, per instance, the tasks whose spec changed or was removed. We decide from that, per
instance and in words for an administrator, whether it may move:

- a step it is at (ready, waiting, in progress) or has passed (completed) must not be removed, nor changed in
  how it runs (flows, conditions, scripts, timers and messages, its type); its name, instructions, form, due
  date property and lane are presentation and may change;
- a step still ahead of a step in progress that SpiffWorkflow does not re-predict (a multi-instance or a
  sub-process keeps its predicted successors) must not change either;
- a sub-process it has entered must still exist.

Migrating is one transaction per instance under its row lock: ``migrate_workflow`` re-points every task at its
aligned spec and re-predicts the branches of ready and waiting tasks, whose data and timer values we keep (its
reset would otherwise run a ready task's pre-script again on today's clock, restart a duration timer, and give a
multi-instance child its parent's data); then the state is saved, the inbox rows take the new names, forms,
roles and due dates, the timer rows follow the waiting timers, and the move is audited (``instance_migrate``).
A refused instance is not written at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, ValidationError
from ..records import audit
from ..running import sampling, timers
from ..running.instances import LoadedVersion, rows_of
from ..store.models import Campaign, InboxTask, Instance, ProcessVersion, Region
from . import versions

logger = logging.getLogger(__name__)

#: Attributes of a task spec that only change what people see: a task at or past them may still move.
PRESENTATION = {"bpmn_name", "documentation", "lane"}
#: Spiff extensions that are presentation too: instructions, and the properties (form files, due date).
PRESENTATION_EXTENSIONS = {"instructionsForEndUser", "properties"}
#: What a changed attribute means, for the reason an administrator reads: (Chinese, English).
WORDS = {
    "outputs": ("后续流向", "outgoing flows"), "inputs": ("前序流向", "incoming flows"),
    "typename": ("元素类型", "type"),
    "prescript": ("前置脚本", "pre-script"), "postscript": ("后置脚本", "post-script"), "script": ("脚本", "script"),
    "cond_task_specs": ("条件", "conditions"), "default_task_spec": ("默认流向", "default flow"),
    "event_definition": ("事件定义（计时器或消息）", "event: timer or message"),
    "extensions": ("扩展属性", "extensions"), "decision_table": ("决策表", "decision table"),
    "task_spec": ("多实例步骤", "multi-instance step"), "cardinality": ("多实例数量", "multi-instance count"),
    "data_input": ("多实例输入", "multi-instance input"), "data_output": ("多实例输出", "multi-instance output"),
    "condition": ("完成条件", "completion condition"), "cancel_activity": ("是否中断", "interrupting"),
}
AT = TaskState.READY | TaskState.WAITING | TaskState.STARTED
PASSED = TaskState.COMPLETED
AHEAD = TaskState.FUTURE | TaskState.PREDICTED_MASK
RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and re-predicts by default


@dataclass
class Verdict:
    """One instance in a migration: whether it may move, and why not in words."""

    instance_id: int
    process_id: str
    region: str | None
    region_name: str | None
    status: str
    from_version: int
    at: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    outcome: str = "preview"  # preview | migrated | refused

    @property
    def migratable(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict:
        return {"instance": self.instance_id, "process": self.process_id, "region": self.region,
                "region_name": self.region_name, "status": self.status, "from_version": self.from_version,
                "at": self.at, "migratable": self.migratable, "reasons": self.reasons, "outcome": self.outcome}


@dataclass
class Plan:
    """A campaign's (or chosen instances') migration to one version: each instance's verdict."""

    variant: str
    to_version: int
    to_version_id: int
    campaign_id: int | None
    rows: list[Verdict]

    def as_json(self) -> dict:
        return {"variant": self.variant, "to_version": self.to_version, "campaign": self.campaign_id,
                "migratable": sum(r.migratable for r in self.rows), "refused": sum(not r.migratable for r in self.rows),
                "migrated": sum(r.outcome == "migrated" for r in self.rows),
                "instances": [r.as_json() for r in self.rows]}


def preview(engine, campaign_id: int | None = None, to_version: int | None = None,
            instance_ids: list[int] | None = None) -> Plan:
    """Each instance of the campaign (or each chosen one) with whether it can move to ``to_version`` (default:
    the variant's current version) and, if not, why. Nothing is written."""
    with engine.store.read() as session:
        target, ids = _scope(session, campaign_id, to_version, instance_ids)
        names = _region_names(session)
        rows = []
        for instance_id in ids:
            row = session.get(Instance, instance_id)
            verdict, _ = _judge(engine, session, row, target, names)
            rows.append(verdict)
    return Plan(target.variant, target.version, target.id, campaign_id, rows)


def migrate(engine, actor: str, campaign_id: int | None = None, to_version: int | None = None,
            instance_ids: list[int] | None = None) -> Plan:
    """Move each migratable instance to the version, one transaction per instance under its lock, judged again
    there; a refused instance is left as it was. Returns every instance's verdict and outcome."""
    with engine.store.read() as session:
        target, ids = _scope(session, campaign_id, to_version, instance_ids)
        names = _region_names(session)
    rows = []
    for instance_id in ids:
        verdict = None
        try:
            with engine.store.write() as session:
                row = engine.store.lock_instance(session, instance_id)
                verdict, judged = _judge(engine, session, row, target, names)
                if verdict.migratable:
                    _move(engine, session, row, judged, target, actor)
                    verdict.outcome = "migrated"
                else:
                    verdict.outcome = "refused"
        except (SQLAlchemyError, NotFound):
            raise
        except Conflict as busy:  # another transaction held its lock past the lock timeout: try it again later
            if verdict is None:
                verdict = _busy(engine, instance_id, names)
            verdict.reasons.append(busy.message)
            verdict.outcome = "refused"
        except Exception as exc:  # rolled back: the instance stays as it was, and the others still move
            if verdict is None:
                raise
            logger.warning("instance %s could not move to version %s", instance_id, target.version, exc_info=True)
            verdict.reasons.append(f"迁移失败，实例未改变 (the migration failed; the instance is unchanged): "
                                   f"{type(exc).__name__}: {exc}"[:500])
            verdict.outcome = "refused"
        rows.append(verdict)
    if campaign_id is not None and any(r.outcome == "migrated" for r in rows):
        with engine.store.write() as session:
            _follow_campaign(session, campaign_id, target)
    engine.timers_changed()
    return Plan(target.variant, target.version, target.id, campaign_id, rows)


def _busy(engine, instance_id: int, names: dict) -> Verdict:
    """The verdict of an instance whose lock could not be had (read without it)."""
    with engine.store.read() as session:
        row = session.get(Instance, instance_id)
        version = session.get(ProcessVersion, row.version_id).version
    return Verdict(row.id, row.process_id, row.region, names.get(row.region), row.status, version)


# -- choosing what to migrate ---------------------------------------------------------------------------
def _scope(session: Session, campaign_id: int | None, to_version: int | None,
           instance_ids: list[int] | None) -> tuple[ProcessVersion, list[int]]:
    if campaign_id is None and not instance_ids:
        raise ValidationError("请指定考核或流程实例 (give a campaign or instances)")
    if campaign_id is not None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"考核 {campaign_id} 不存在 (no campaign {campaign_id})")
        query = select(Instance.id).where(Instance.campaign_id == campaign_id)
        if instance_ids:
            query = query.where(Instance.id.in_(instance_ids))
        variant = campaign.variant
    else:
        query = select(Instance.id).where(Instance.id.in_(instance_ids))
        variants = set(session.scalars(select(ProcessVersion.variant).join(Instance, Instance.version_id
                                                                           == ProcessVersion.id)
                                       .where(Instance.id.in_(instance_ids))))
        if len(variants) != 1:
            raise ValidationError("所选流程实例不存在或不属于同一流程 (the chosen instances do not exist or belong "
                                  "to different procedures)")
        variant = variants.pop()
    ids = list(session.scalars(query.order_by(Instance.region.is_not(None), Instance.region, Instance.id)))
    if instance_ids and len(ids) != len(set(instance_ids)):
        raise NotFound("部分流程实例不存在或不属于该考核 (some instances do not exist or are not in this campaign)")
    return _target(session, variant, to_version), ids


def _target(session: Session, variant: str, number: int | None) -> ProcessVersion:
    if number is None:
        return versions.current_version(session, variant)
    row = session.scalars(select(ProcessVersion).where(ProcessVersion.variant == variant,
                                                       ProcessVersion.version == number)).first()
    if row is None:
        known = ", ".join(str(v.version) for v in versions.versions(session, variant)) or "无 (none)"
        raise NotFound(f"流程 {variant} 没有第 {number} 版（已部署：{known}） (variant '{variant}' has no version "
                       f"{number}; deployed: {known})")
    return row


def _region_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Region.code, Region.name)).all())


# -- judging one instance -------------------------------------------------------------------------------
def _judge(engine, session: Session, row: Instance, target: ProcessVersion, names: dict):
    """The instance's verdict, and its workflow diffed against the target (None when refused early)."""
    current = session.get(ProcessVersion, row.version_id)
    verdict = Verdict(row.id, row.process_id, row.region, names.get(row.region), row.status, current.version)
    if row.status != "running":
        verdict.reasons.append("流程实例已结束，无需迁移 (the instance has ended)")
        return verdict, None
    if current.version >= target.version:
        verdict.reasons.append(f"已在第 {current.version} 版，不早于第 {target.version} 版 (already on version "
                               f"{current.version}, not older than {target.version})")
        return verdict, None
    old = engine.version(session, row.version_id)
    new = engine.version(session, target.id)
    workflow = engine.runner.load(row, old)
    verdict.at = [_name(t) for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
                  if getattr(t.task_spec, "bpmn_id", None)]
    if row.process_id not in new.specs:
        verdict.reasons.append(f"第 {target.version} 版中没有流程 {row.process_id} (version {target.version} has no "
                               f"process '{row.process_id}')")
        return verdict, None
    spec, dependencies = new.specs[row.process_id]
    registry = engine.serializer.registry
    try:
        top, subprocesses = diff_workflow(registry, workflow, spec, dependencies)
    except Exception as exc:  # an alignment SpiffWorkflow cannot make: this instance cannot be judged, so stays
        logger.warning("instance %s: no diff against version %s", row.id, target.version, exc_info=True)
        verdict.reasons.append(f"无法与第 {target.version} 版比较 (SpiffWorkflow could not compare it with version "
                               f"{target.version}): {type(exc).__name__}: {exc}"[:500])
        return verdict, None
    reasons = _reasons(registry, top, workflow)
    for sp_id, diff in subprocesses.items():
        sub = workflow.subprocesses[sp_id]
        if diff is None:
            reasons.append(f"已进入的子流程 {sub.spec.name} 在新版本中已删除 (the sub-process {sub.spec.name} it "
                           "entered was removed)")
        else:
            reasons += _reasons(registry, diff, sub)
    verdict.reasons = list(dict.fromkeys(reasons))
    return verdict, (workflow, top, subprocesses, new)


def _reasons(registry, diff, workflow) -> list[str]:
    """Why the tasks of one (sub)workflow keep it from moving, in words."""
    reasons = []
    removed = {t.id for t in diff.removed}
    material = {}
    for task in diff.changed:
        changes = _material(registry, task.task_spec, diff.alignment.get(task))
        if changes:
            material[task.id] = changes
    repredicted = {t.id for t in workflow.get_tasks(state=RESET)}
    for task in workflow.get_tasks(skip_subprocesses=True):
        if task.id not in removed and task.id not in material:
            continue
        if task.has_state(TaskState.CANCELLED) and task.id not in removed:
            continue  # a branch not taken (a boundary event whose task finished first): never runs again
        name = _name(task)
        if task.id in removed:
            zh, en = "已删除", "was removed"
        else:
            words = [WORDS.get(k, (k, k)) for k in material[task.id]]
            zh = "已改变：" + "、".join(w[0] for w in words)
            en = "changed: " + ", ".join(w[1] for w in words)
        if task.has_state(TaskState.CANCELLED):  # its spec is gone: the state would not load on the new version
            reasons.append(f"未走的分支上的步骤“{name}”在新版本中{zh} (the step '{name}' on a branch it did not take "
                           f"{en})")
        elif task.has_state(PASSED):
            reasons.append(f"已办理的步骤“{name}”在新版本中{zh} (the step '{name}' it has passed {en})")
        elif task.has_state(AT):
            reasons.append(f"所在的步骤“{name}”在新版本中{zh} (the step '{name}' it is at {en})")
        elif task.has_state(AHEAD) and not _under(task, repredicted):
            holder = _name(_holder(task))
            reasons.append(f"步骤“{holder}”进行中，其后的步骤“{name}”在新版本中{zh} (the step '{name}' after "
                           f"'{holder}', which is in progress, {en})")
    return reasons


def _material(registry, old_spec, new_spec) -> list[str]:
    """The attributes that changed how the task runs (None: the spec was removed)."""
    if new_spec is None:
        return []
    before, after = registry.convert(old_spec), registry.convert(new_spec)
    if before.get("typename") != after.get("typename"):
        return ["typename"]
    changed = [k for k, v in before.items() if after.get(k) != v and k not in PRESENTATION]
    if "extensions" in changed:
        strip = lambda ext: {k: v for k, v in (ext or {}).items() if k not in PRESENTATION_EXTENSIONS}  # noqa: E731
        if strip(before.get("extensions")) == strip(after.get("extensions")):
            changed.remove("extensions")
    return [k for k in changed if k not in ("name", "bpmn_id")]


def _under(task, ids: set) -> bool:
    """Whether the task descends from one of the tasks ``ids`` (whose branches are re-predicted)."""
    parent = task.parent
    while parent is not None:
        if parent.id in ids:
            return True
        parent = parent.parent
    return False


def _holder(task):
    """The nearest ancestor in progress or done: the step whose predicted successors these are."""
    parent = task.parent
    while parent is not None and (parent.has_state(AHEAD) or not getattr(parent.task_spec, "bpmn_id", None)):
        parent = parent.parent
    return parent or task


def _name(task) -> str:
    """The step's name; a multi-instance's own spec has none, the spec of its instances does (same BPMN id)."""
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None)
    if getattr(spec, "bpmn_name", None) or not bpmn_id:
        return spec.bpmn_name or spec.name
    named = (s.bpmn_name for s in task.workflow.spec.task_specs.values()
             if getattr(s, "bpmn_id", None) == bpmn_id and getattr(s, "bpmn_name", None))
    return next(named, bpmn_id)


# -- moving one instance --------------------------------------------------------------------------------
def _move(engine, session: Session, row: Instance, judged, target: ProcessVersion, actor: str) -> None:
    """Put the judged instance on the target version and bring its rows along, in the caller's transaction."""
    workflow, top, subprocesses, new = judged
    before_timers = rows_of(workflow).timers
    before_ready = rows_of(workflow).ready
    kept = {t.id: (dict(t.data), dict(t.internal_data)) for t in workflow.get_tasks(state=RESET)}
    spec, dependencies = new.specs[row.process_id]
    workflow.script_engine = engine.runner.script_engine_for(new)
    with sampling.recording():  # a re-run pre-script's draw is discarded with its data below
        migrate_workflow(top, workflow, spec)
        for sp_id, sub in workflow.subprocesses.items():
            migrate_workflow(subprocesses[sp_id], sub, dependencies.get(sub.spec.name))
    workflow.subprocess_specs = dependencies
    for task_id, (data, internal) in kept.items():  # the reset's data and timer values put back
        task = workflow.tasks.get(task_id)
        if task is not None:
            task.data, task.internal_data = data, internal
    # A round trip under the new specs: it proves the state loads there, and drops what the reset left
    # registered in the event manager (notes: reset leaves removed waiting timers behind).
    row.state = engine.serializer.dump(workflow)
    row.serializer_version = engine.serializer.version
    old_version = session.get(ProcessVersion, row.version_id).version
    row.version_id = target.id
    workflow = engine.runner.load(row, new)
    now = engine.clock.now()
    waiting, _ = timers.sync(session, row, workflow, now, before_timers)
    _update_inbox(engine, session, row, workflow, new, waiting, before_ready)
    row.revision += 1
    row.updated_at = now
    audit.record(session, now, actor, "instance_migrate", instance_id=row.id,
                 data={"variant": target.variant, "from": old_version, "to": target.version})
    logger.info("instance %s moved from version %s to %s of %s", row.id, old_version, target.version,
                target.variant)


def _update_inbox(engine, session: Session, row: Instance, workflow, version: LoadedVersion, waiting: dict,
                  before: set[str]) -> None:
    """The instance's inbox rows take the new version's names, forms, roles, lanes and due dates."""
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    if set(ready) != before:  # the same ready tasks, or the check above let something through it should not
        raise ValidationError(f"流程实例 {row.id} 迁移后待办步骤不一致 (instance {row.id}: its ready tasks differ "
                              "after the migration)")
    for task_id, task in ready.items():
        spec = task.task_spec
        info = version.user_tasks.get(spec.bpmn_id, {})
        session.execute(update(InboxTask).where(InboxTask.id == task_id).values(
            variant=version.variant, name=spec.bpmn_name or spec.bpmn_id, lane=info.get("lane"),
            role=info.get("role", "admin"), form=info.get("form"),
            due_at=engine.runner.due_date(task, version, waiting)).execution_options(synchronize_session=False))


def _follow_campaign(session: Session, campaign_id: int, target: ProcessVersion) -> None:
    """A campaign whose running instances are all on the version is on it too (its board, its forms)."""
    behind = session.scalar(select(Instance.id).where(Instance.campaign_id == campaign_id,
                                                      Instance.status == "running",
                                                      Instance.version_id != target.id).limit(1))
    if behind is None:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(version_id=target.id))
