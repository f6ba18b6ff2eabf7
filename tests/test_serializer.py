"""Save and reload at every wait state of both shipped procedures gives back the same workflow."""

from __future__ import annotations

import json

import lz4.frame
import pytest
from drive import Driver, unit_scores, veto_rows
from SpiffWorkflow.task import TaskState
from sqlalchemy import select, text

from engine.store import state as state_codec
from engine.store.models import InboxTask, Instance


class RoundTripDriver(Driver):
    """After every completion, reload every instance of the campaign and compare."""

    def __init__(self, *args, **kwargs):
        self.seen: set[str] = set()
        super().__init__(*args, **kwargs)
        self.check()

    def do(self, *args, **kwargs):
        result = super().do(*args, **kwargs)
        self.check()
        return result

    def check(self) -> None:
        engine = self.engine
        with engine.store.read() as session:
            for row in session.scalars(select(Instance).where(Instance.campaign_id == self.campaign.id)):
                version = engine.version(session, row.version_id)
                workflow = engine.runner.load(row, version)
                assert engine.serializer.dump(workflow) == row.state
                ready = {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
                inbox = set(session.scalars(select(InboxTask.id).where(InboxTask.instance_id == row.id)))
                assert ready == inbox
                waiting = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
                self.seen |= {t.task_spec.bpmn_id for t in waiting}
                state = json.loads(row.state)
                assert isinstance(state["spec"], str) and "subprocess_specs" not in state  # definition stored once
                assert "\\u" not in row.state
                stored = bytes(session.execute(text("SELECT state FROM instance WHERE id = :id"),
                                               {"id": row.id}).scalar())
                # codec 1 on both backends (0021): deflated with the dictionary, well under lz4's size
                assert stored.startswith(state_codec.DEFLATE_1) and state_codec.decompress(stored) == row.state
                assert len(stored) < len(lz4.frame.compress(row.state.encode())) * 0.75


def _national(engine) -> RoundTripDriver:
    drive = RoundTripDriver(engine, "national-2013", ["110000", "120000"])
    for region, total in (("110000", "55"), ("120000", "91")):
        drive.do("Task_target_filing", region=region)
        for task in drive.ready("Task_filing_opinion", region):
            drive.do("Task_filing_opinion", region=region, unit=task.unit)
        drive.do("Task_filing_review", {"filing_decision": "return", "comment": "补充"}, region=region)
        drive.file_targets(region)
        drive.do("Task_self_evaluation", region=region)
        drive.do("Task_onsite_check", region=region)
        for unit, scores in unit_scores(drive.scheme, "10").items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        drive.do("Task_score_confirmation", {"confirmation": "rescore", "comment": "复核",
                                                      "veto_items": veto_rows(drive.scheme)}, region=region)
        for unit, scores in unit_scores(drive.scheme, total).items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "",
                                                      "veto_items": veto_rows(drive.scheme)}, region=region)
    drive.do("Task_compile_results")
    drive.do("Task_approve_results", {"approval": "return", "comment": "补充"})
    drive.approve_and_announce()
    drive.do("Task_rectification_report", region="110000")
    drive.do("Task_rectification_review", {"rectification_verdict": "inadequate", "comment": "不到位"},
             region="110000")
    drive.do("Task_interview", region="110000")
    drive.do("Task_receive_results")
    return drive


def _ziyang(engine) -> RoundTripDriver:
    drive = RoundTripDriver(engine, "ziyang-2016", ["512002", "512021"])
    for region, total in (("512002", "50"), ("512021", "96")):
        drive.do("Task_target_filing", region=region)
        drive.do("Task_filing_review", {"filing_decision": "return", "comment": "补充"}, region=region)
        drive.file_targets(region, opinions=False)
        drive.score(region, total, onsite=False)
    drive.do("Task_compile_results")
    drive.do("Task_approve_results", {"approval": "return", "comment": "补充"})
    drive.approve_and_announce()
    drive.do("Task_rectification_report", region="512002")
    drive.do("Task_rectification_review", {"rectification_verdict": "inadequate", "comment": "不到位"},
             region="512002")
    drive.do("Task_interview", region="512002")
    drive.do("Task_receive_results")
    return drive


@pytest.mark.parametrize("run", [_national, _ziyang], ids=["national-2013", "ziyang-2016"])
def test_every_wait_state_survives_a_save_and_reload(engine, run):
    drive = run(engine)
    assert drive.ready() == []
    assert {i.status for i in engine.campaign_instances(drive.campaign.id)} == {"completed"}
    with engine.store.read() as session:
        wait_states = set(engine.version(session, drive.campaign.version_id).user_tasks)
    wait_states |= {"Event_receive_region_scored", "Event_results_announced"}
    assert wait_states <= drive.seen, f"never waited at {wait_states - drive.seen}"
