"""Workflow state as JSON: SpiffWorkflow's serializer, with the process definitions kept out of it.

The specs of a deployed version are serialized once (``ProcessVersion.specs``); an instance's state
holds only its tasks and data and names its spec. Text is UTF-8, not ``\\u``-escaped.

Tasks are stored compact (``compact``/``expand``): a list of ``[id, children, last_state_change, state,
task_spec]`` rows, children and ``root``/``last_task`` as positions in the list, ids as 32 hex digits, and
the fields every task shares left out when they hold their usual value. Each task's ``id`` is its key and its
``parent`` the task listing it as a child, so both come back exactly; a task that does not fit that shape
is kept whole. A state whose ``tasks`` is a mapping (written before) is read as it is.
"""

from __future__ import annotations

import json
import re
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from ..errors import KaoheError
from . import timer_events


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Writes a workflow without its specs and restores it onto specs the caller already holds."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["spec"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, specs=None):
        spec, subprocess_specs = specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class StateSerializer:
    """Turns workflows into state strings and back, and specs into the version's stored JSON."""

    def __init__(self):
        registry = BpmnWorkflowSerializer.configure(timer_events.serializer_config(SPIFF_CONFIG))
        self._workflow_converter = SpecFreeWorkflowConverter(BpmnWorkflow, registry)
        self._registry = registry
        self._spec_serializer = BpmnWorkflowSerializer(registry)
        self.version = self._spec_serializer.VERSION

    @property
    def registry(self):
        """The converter registry: what SpiffWorkflow's diff utilities compare task specs with."""
        return self._registry

    # -- specs, once per deployed version
    def dump_specs(self, specs: dict) -> str:
        """``{process_id: (spec, subprocess_specs)}`` as JSON."""
        return _dumps({pid: {"spec": self._registry.convert(spec),
                             "subprocess_specs": {k: self._registry.convert(v) for k, v in subs.items()}}
                       for pid, (spec, subs) in specs.items()})

    def load_specs(self, text: str) -> dict:
        return {pid: (self._registry.restore(d["spec"]),
                      {k: self._registry.restore(v) for k, v in d["subprocess_specs"].items()})
                for pid, d in json.loads(text).items()}

    # -- instance state
    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        """SpiffWorkflow's own dict of the workflow, before ``compact``."""
        return self._workflow_converter.to_dict(workflow)

    def dump(self, workflow: BpmnWorkflow) -> str:
        return _dumps(compact(self.to_dict(workflow)))

    def load(self, state: str, specs: tuple, version: str | None = None) -> BpmnWorkflow:
        """Restore a workflow onto ``specs``; old serializer versions are migrated first."""
        dct = expand(json.loads(state))
        if version and version != self.version:
            migrate = MIGRATIONS.get(version)
            if migrate is None:
                raise KaoheError(f"cannot read workflow state of serializer version {version}")
            migrate(dct)
        return self._workflow_converter.from_dict(dct, specs)


def _usual() -> dict:
    """The fields of a task SpiffWorkflow writes besides its place in the tree, with the value most tasks have
    (a new dict each time: the restored tasks must not share them)."""
    return {"triggered": False, "internal_data": {}, "data": {}, "delta": {"updates": {}, "deletions": []},
            "typename": "Task"}


_PLACE = ("id", "parent", "children", "last_state_change", "state", "task_spec")
_FIELDS = frozenset((*_PLACE, *_usual()))


def compact(dct: dict) -> dict:
    """The workflow's dict with its tasks, and each subprocess's, in compact rows (see the module's docstring)."""
    dct = dict(dct, **_compact_tasks(dct))
    if dct.get("subprocesses"):
        dct["subprocesses"] = {key: dict(sub, **_compact_tasks(sub)) for key, sub in dct["subprocesses"].items()}
    return dct


def expand(dct: dict) -> dict:
    """The dict ``compact`` was given; a dict whose tasks are a mapping already is returned as it is."""
    if isinstance(dct.get("tasks"), list):
        dct.update(_expand_tasks(dct))
        for sub in (dct.get("subprocesses") or {}).values():
            sub.update(_expand_tasks(sub))
    return dct


def _compact_tasks(dct: dict) -> dict:
    tasks: dict = dct["tasks"]
    position = {key: n for n, key in enumerate(tasks)}
    parent_of = _parents(tasks)
    rows: list = []
    usual = _usual()
    for key, task in tasks.items():
        if not (task.keys() == _FIELDS and task["id"] == key and task["parent"] == parent_of.get(key)
                and isinstance(task["children"], list) and all(child in position for child in task["children"])
                and _is_uuid(key)):
            rows.append([key, task])  # kept whole
            continue
        row = [key.replace("-", ""), [position[child] for child in task["children"]], task["last_state_change"],
               task["state"], task["task_spec"]]
        unusual = {field: task[field] for field, value in usual.items()
                   if task[field] != value or type(task[field]) is not type(value)}  # 0 is not False
        if unusual:
            row.append(unusual)
        rows.append(row)
    found = {"tasks": rows}
    for field in ("root", "last_task"):
        if field in dct and dct[field] in position:
            found[field] = position[dct[field]]
    return found


def _expand_tasks(dct: dict) -> dict:
    rows: list = dct["tasks"]
    keys = [row[0] if len(row) == 2 else _dashed(row[0]) for row in rows]
    tasks: dict = {}
    for row, key in zip(rows, keys, strict=True):
        if len(row) == 2:
            tasks[key] = row[1]
            continue
        task = {"id": key, "parent": None, "children": [keys[n] for n in row[1]], "last_state_change": row[2],
                "state": row[3], "task_spec": row[4], **_usual()}
        if len(row) > 5:
            task.update(row[5])
        tasks[key] = task
    compacted = {key for row, key in zip(rows, keys, strict=True) if len(row) != 2}
    for key, parent in _parents(tasks).items():
        if key in compacted:
            tasks[key]["parent"] = parent
    found = {"tasks": tasks}
    for field in ("root", "last_task"):
        if isinstance(dct.get(field), int):
            found[field] = keys[dct[field]]
    return found


def _parents(tasks: dict) -> dict:
    """Each task's parent as its place says: the first task, in order, that lists it among its children."""
    parent_of: dict = {}
    for key, task in tasks.items():
        children = task.get("children")
        for child in children if isinstance(children, list) else ():
            parent_of.setdefault(child, key)
    return parent_of


def _is_uuid(key: str) -> bool:
    """Whether ``key`` is a UUID as ``str(UUID)`` writes it: the 32 hex digits give it back exactly."""
    # Dashes where str(UUID) puts them and lower-case hex digits elsewhere: then _dashed(digits) == key.
    return (len(key) == 36 and key[8] == key[13] == key[18] == key[23] == "-"
            and _HEX.fullmatch(key.replace("-", "")) is not None)


def _dashed(digits: str) -> str:
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_HEX = re.compile(r"[0-9a-f]{32}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def find_task(workflow: BpmnWorkflow, task_id: str):
    """The workflow's task with this id, or None (SpiffWorkflow raises instead)."""
    try:
        return workflow.get_task_from_id(UUID(str(task_id)))
    except (TaskNotFoundException, ValueError):
        return None
