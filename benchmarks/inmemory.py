"""The baseline: plain SpiffWorkflow in memory on the same specs and script engine, no database."""

from __future__ import annotations

from uuid import UUID

from harness import FOLDER, VARIANT, YEAR, region_name
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import TaskState

from engine.engine import FORMS_LIBRARY
from engine.procedure import scoring
from engine.procedure.bundle import load_bundle
from engine.running.serializer import StateSerializer


class InMemory:
    """The national bundle parsed once; workflows started, run and serialized without any storage."""

    def __init__(self, script_engine):
        # Two serializers: SpiffWorkflow's own, whose JSON carries the specs (restoring it rebuilds them),
        # and the engine's spec-free one, whose state only names specs kept in memory: the tighter floor.
        self.bundle = load_bundle(FOLDER, FORMS_LIBRARY)
        self.script_engine = script_engine
        self.stock = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.spec_free = StateSerializer()

    @property
    def campaign_process(self) -> str:
        return self.bundle.manifest["campaign_process"]

    @property
    def region_process(self) -> str:
        return self.bundle.manifest["region_process"]

    def start_data(self, codes: list[str]) -> tuple[dict, list[dict]]:
        """The start data the engine gives a campaign instance over ``codes`` and each region instance."""
        label = scoring.year_label(self.bundle.manifest["assessment_year"], YEAR)
        common = {"campaign_id": 1, "variant": VARIANT, "year": YEAR, "year_label": label}
        units = scoring.scoring_units(self.bundle.scheme)
        return (dict(common, regions=codes),
                [dict(common, region=code, region_name=region_name(code), units=list(units)) for code in codes])

    def start(self, process_id: str, data: dict) -> BpmnWorkflow:
        """A new workflow with start data, run to its first wait."""
        spec, subprocess_specs = self.bundle.specs[process_id]
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        workflow.task_tree.data.update(data)
        workflow.do_engine_steps()
        return workflow

    def launch(self, campaign_data: dict, region_data: list[dict]) -> list[str]:
        """What launching a campaign needs, in memory: start every workflow, serialize it (stock JSON)."""
        started = [self.start(self.campaign_process, campaign_data)]
        started += [self.start(self.region_process, data) for data in region_data]
        return [self.stock.serialize_json(workflow) for workflow in started]

    def restore_spec_free(self, state: str, process_id: str) -> BpmnWorkflow:
        """A workflow from the engine's spec-free state (as stored in the instance table)."""
        workflow = self.spec_free.load(state, self.bundle.specs[process_id])
        workflow.script_engine = self.script_engine
        return workflow

    def act_stock(self, state: str, task_id: UUID, data: dict) -> str:
        """Restore stock JSON, complete the task with ``data``, run to the next wait, serialize."""
        workflow = self.stock.deserialize_json(state)
        workflow.script_engine = self.script_engine
        _complete(workflow, task_id, data)
        return self.stock.serialize_json(workflow)

    def act_spec_free(self, state: str, process_id: str, task_id: UUID, data: dict) -> str:
        """The same action on the engine's spec-free state, with the specs already in memory."""
        workflow = self.restore_spec_free(state, process_id)
        _complete(workflow, task_id, data)
        return self.spec_free.dump(workflow)


def _complete(workflow: BpmnWorkflow, task_id: UUID, data: dict) -> None:
    task = workflow.get_task_from_id(task_id)
    if task.state != TaskState.READY:
        raise RuntimeError(f"baseline task {task_id} is not ready")
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()
