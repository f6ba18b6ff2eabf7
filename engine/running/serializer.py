"""Workflow state as JSON: SpiffWorkflow's serializer, with the process definitions kept out of it.

The specs of a deployed version are serialized once (``ProcessVersion.specs``); an instance's state
holds only its tasks and data and names its spec. Text is UTF-8, not ``\\u``-escaped.
"""

from __future__ import annotations

import json
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
    def dump(self, workflow: BpmnWorkflow) -> str:
        return _dumps(self._workflow_converter.to_dict(workflow))

    def load(self, state: str, specs: tuple, version: str | None = None) -> BpmnWorkflow:
        """Restore a workflow onto ``specs``; old serializer versions are migrated first."""
        dct = json.loads(state)
        if version and version != self.version:
            migrate = MIGRATIONS.get(version)
            if migrate is None:
                raise KaoheError(f"cannot read workflow state of serializer version {version}")
            migrate(dct)
        return self._workflow_converter.from_dict(dct, specs)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def find_task(workflow: BpmnWorkflow, task_id: str):
    """The workflow's task with this id, or None (SpiffWorkflow raises instead)."""
    try:
        return workflow.get_task_from_id(UUID(str(task_id)))
    except (TaskNotFoundException, ValueError):
        return None
