"""Save and reload at every wait state of both shipped procedures gives back the same workflow."""

from __future__ import annotations

import json

import lz4.frame
import pytest
from drive import Driver, unit_scores, veto_rows
from SpiffWorkflow.task import TaskState
from sqlalchemy import select, text

from engine import config
from engine.running.serializer import compact, expand
from engine.store import state as state_codec
from engine.store.models import InboxTask, Instance, Region


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
                assert isinstance(state["tasks"], list)  # compact, and exactly what SpiffWorkflow wrote
                assert expand(state) == json.loads(json.dumps(engine.serializer.to_dict(workflow)))
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


@pytest.mark.parametrize("variant", ["national-2013", "ziyang-2016", "dazhou-2015", "guangdong-2019", "yangling-2016"])
def test_every_shipped_procedure_stores_its_states_compact_and_exact(engine, variant):
    """Right after launch, every instance of every shipped procedure reloads to the same state, which is
    SpiffWorkflow's own once expanded, and is stored in under half the bytes lz4 would take."""
    folder = config.PROCESSES / variant
    engine.load_regions(engine.check(folder))
    engine.deploy(folder)
    with engine.store.read() as session:
        regions = list(session.scalars(select(Region.code).where(Region.region_set == variant).limit(3)))
    campaign = engine.start_campaign(variant, 2025, regions)
    with engine.store.read() as session:
        rows = list(session.scalars(select(Instance).where(Instance.campaign_id == campaign.id)))
        assert len(rows) == len(regions) + 1
        for row in rows:
            workflow = engine.runner.load(row, engine.version(session, row.version_id))
            assert engine.serializer.dump(workflow) == row.state
            assert expand(json.loads(row.state)) == json.loads(json.dumps(engine.serializer.to_dict(workflow)))
            stored = bytes(session.execute(text("SELECT state FROM instance WHERE id = :id"), {"id": row.id}).scalar())
            full = json.dumps(engine.serializer.to_dict(workflow), ensure_ascii=False, separators=(",", ":"))
            assert len(stored) < len(lz4.frame.compress(full.encode())) / 2


def test_a_task_of_an_unusual_shape_is_kept_whole():
    """A task whose id is not its key, whose parent does not list it, or with a field of its own, is stored as
    it is; the others around it still compact; and expanding gives back exactly what was compacted."""
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(5)]

    def task(n, parent, children, **extra):
        return {"id": ids[n], "parent": parent, "children": children, "last_state_change": 1.5 + n, "state": 64,
                "task_spec": f"T{n}", "triggered": False, "internal_data": {}, "data": {},
                "delta": {"updates": {}, "deletions": []}, "typename": "Task", **extra}

    tasks = {ids[0]: task(0, None, [ids[1], ids[2]], data={"x": 1}, delta={}),
             ids[1]: task(1, ids[0], [ids[3]], triggered=0),  # equal to False, but not the same JSON
             ids[2]: task(2, ids[3], []),  # its parent says otherwise than the tree
             ids[3]: task(3, ids[1], [], colour="blue"),  # a field SpiffWorkflow does not write today
             "not-a-uuid": dict(task(4, None, []), id="not-a-uuid")}
    sub = {"tasks": {ids[4]: task(4, None, [])}, "root": ids[4], "last_task": None, "parent_task_id": ids[1]}
    dct = {"data": {}, "tasks": tasks, "root": ids[0], "last_task": ids[3], "subprocesses": {ids[1]: sub}}
    original = json.loads(json.dumps(dct))
    stored = json.loads(json.dumps(compact(dct)))
    assert [len(row) for row in stored["tasks"]] == [6, 6, 2, 2, 2]
    assert (stored["root"], stored["last_task"], stored["subprocesses"][ids[1]]["root"]) == (0, 3, 0)
    assert json.dumps(expand(stored)) == json.dumps(original)  # as JSON: 0 stays 0
    assert dct == original  # compacting changes nothing it was given
