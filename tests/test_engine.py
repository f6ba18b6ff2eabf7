"""The Engine facade: completing tasks, who may, what is refused, and what is recorded."""

from __future__ import annotations

import pytest
from conftest import add_user
from drive import FORMS, Driver
from SpiffWorkflow.task import TaskState
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from engine.errors import Conflict, NotFound, PermissionDenied, ValidationError
from engine.people import inbox
from engine.people.accounts import Grant
from engine.records import audit
from engine.store.models import AuditEntry, InboxTask, Instance, Message, TaskDraft

BEIJING, TIANJIN = "110000", "120000"


def _snapshot(engine) -> tuple:
    """Everything a refused action must leave unchanged."""
    with engine.store.read() as session:
        states = tuple(session.execute(select(Instance.id, Instance.revision, Instance.state)
                                       .order_by(Instance.id)).all())
        inbox = tuple(session.scalars(select(InboxTask.id).order_by(InboxTask.id)))
        audits = session.scalar(select(func.count()).select_from(AuditEntry))
        messages = session.scalar(select(func.count()).select_from(Message))
    return states, inbox, audits, messages


@pytest.fixture
def drive(engine):
    return Driver(engine, "national-2013", [BEIJING, TIANJIN])


def test_a_completion_is_validated_recorded_and_moves_the_inbox(engine, drive):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    add_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    data = FORMS["Task_target_filing"](drive)
    done = engine.complete(filing.id, data, "gov-bj")
    assert done.status == "running" and len(done.next_tasks) == len(drive.scheme["units"])
    assert {t.bpmn_id for t in drive.ready(region=BEIJING)} == {"Task_filing_opinion"}
    with engine.store.read() as session:
        [entry] = [e for e in audit.history(session, done.instance_id) if e.action == "complete"]
    assert (entry.actor, entry.task_id, entry.bpmn_id, entry.data) == ("gov-bj", filing.id, "Task_target_filing", data)
    assert entry.at == engine.clock.now()


@pytest.mark.parametrize(("grant", "allowed"), [
    (Grant("assessed", region=BEIJING), True),
    (Grant("assessed", region=TIANJIN), False),            # another province
    (Grant("assessed", region=BEIJING, variant="ziyang-2016"), False),  # another procedure
    (Grant("lead_agency"), False),                         # another role
    (Grant("assessed"), True),                             # every region
])
def test_only_the_tasks_role_in_the_tasks_region_may_complete_it(engine, drive, grant, allowed):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    add_user(engine, "someone", grant)
    assert (filing.id in {t.id for t in engine.tasks(username="someone")}) is allowed
    data = FORMS["Task_target_filing"](drive)
    if allowed:
        engine.complete(filing.id, data, "someone")
        return
    before = _snapshot(engine)
    with pytest.raises(PermissionDenied, match="无权办理"):
        engine.complete(filing.id, data, "someone")
    assert _snapshot(engine) == before


def test_a_member_unit_completes_only_its_own_units_task(engine, drive):
    drive.do("Task_target_filing", region=BEIJING)
    tasks = {t.unit: t for t in drive.ready("Task_filing_opinion", BEIJING)}
    add_user(engine, "miit-user", Grant("member_unit", unit="miit"))
    assert {t.unit for t in engine.tasks(username="miit-user")} == {"miit"}
    with pytest.raises(PermissionDenied):
        engine.complete(tasks["ndrc"].id, {"opinion": "agree", "comment": ""}, "miit-user")
    engine.complete(tasks["miit"].id, {"opinion": "agree", "comment": ""}, "miit-user")


def test_a_completion_drops_the_tasks_drafts_and_no_other(engine, drive):
    drive.do("Task_target_filing", region=BEIJING)
    tasks = {t.unit: t for t in drive.ready("Task_filing_opinion", BEIJING)}
    now = engine.clock.now()
    for unit in ("miit", "ndrc"):
        inbox.save_draft(engine.store, tasks[unit], "member_unit", {"opinion": "agree"}, now)
    engine.complete(tasks["miit"].id, {"opinion": "agree", "comment": ""}, "member_unit")
    with engine.store.read() as session:
        assert set(session.scalars(select(TaskDraft.task_id))) == {tasks["ndrc"].id}


def test_a_callers_check_refuses_inside_the_completion_and_changes_nothing(engine, drive):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    before = _snapshot(engine)
    seen = []

    def refuse(session, row):
        seen.append((row.id, session.get(Instance, row.instance_id).region))
        raise ValidationError("refused by the caller")

    with pytest.raises(ValidationError, match="refused by the caller"):
        engine.complete(filing.id, FORMS["Task_target_filing"](drive), "assessed", check=refuse)
    assert seen == [(filing.id, BEIJING)] and _snapshot(engine) == before
    with pytest.raises(PermissionDenied):  # grants the caller passes are the ones that count
        engine.complete(filing.id, FORMS["Task_target_filing"](drive), "assessed",
                        grants=[Grant("assessed", region=TIANJIN)])
    assert _snapshot(engine) == before


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "", "必填项"),
    ({"targets": "lots"}, "targets", "应为列表"),
    ({"targets": [{"indicator": "T1"}]}, "targets/0", "必填项"),
    ({"targets": [], "extra": 1}, "", "含有表单中没有的字段"),
])
def test_form_data_that_fails_its_schema_is_refused_at_the_field(engine, drive, data, field, message):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    before = _snapshot(engine)
    with pytest.raises(ValidationError) as caught:
        engine.complete(filing.id, data, "assessed")
    assert any(e["field"] == field and message in e["message"] for e in caught.value.errors), caught.value.errors
    assert _snapshot(engine) == before


def test_scores_outside_a_units_indicators_or_points_are_refused(engine, drive):
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    task = next(t for t in drive.ready("Task_indicator_scoring", BEIJING) if t.unit == "aqsiq")
    mine = [i for i in drive.scheme["indicators"] if i["unit"] == "aqsiq"]
    too_high = [{"indicator": i["code"], "score": float(i["points"]) + 1, "basis": "x"} for i in mine]
    before = _snapshot(engine)
    with pytest.raises(ValidationError, match="得分不得超过"):
        engine.complete(task.id, {"scores": too_high}, "member_unit")
    other = next(i for i in drive.scheme["indicators"] if i["unit"] != "aqsiq")
    with pytest.raises(ValidationError, match="不由本单位评分"):
        engine.complete(task.id, {"scores": [{"indicator": other["code"], "score": 0, "basis": "x"}]}, "member_unit")
    assert _snapshot(engine) == before


def test_every_problem_of_a_submission_is_told_in_one_answer_in_words(engine, drive):
    """The form's schema and the scheme are checked together: a missing basis and a score over its points are
    both named at once, by the fields' titles and the indicator's name, not in two rounds."""
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    task = next(t for t in drive.ready("Task_indicator_scoring", BEIJING) if t.unit == "aqsiq")
    mine = [i for i in drive.scheme["indicators"] if i["unit"] == "aqsiq"]
    rows = [{"indicator": i["code"], "score": float(i["points"]), "basis": "依据"} for i in mine]
    rows[0] = {"indicator": mine[0]["code"], "score": float(mine[0]["points"]) + 1, "basis": ""}
    with pytest.raises(ValidationError) as caught:
        engine.complete(task.id, {"scores": rows}, "member_unit")
    fields = {e["field"] for e in caught.value.errors}
    assert {"scores/0/basis", "scores/0/score"} <= fields
    assert caught.value.message.startswith("「指标评分」填写有误：指标得分第 1 行·评分依据：")
    assert f"{mine[0]['code']} {mine[0]['name']}：得分不得超过" in caught.value.message


def test_an_unknown_task_or_user_is_a_clear_error(engine, drive):
    with pytest.raises(NotFound, match="不存在"):
        engine.complete("00000000-0000-0000-0000-000000000000", {}, "assessed")
    [filing] = drive.ready("Task_target_filing", BEIJING)
    with pytest.raises(NotFound, match="nobody"):
        engine.complete(filing.id, FORMS["Task_target_filing"](drive), "nobody")


def test_a_task_completed_twice_is_a_conflict_the_second_time(engine, drive):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    engine.complete(filing.id, FORMS["Task_target_filing"](drive), "assessed")
    with pytest.raises(Conflict, match="assessed completed it"):
        engine.complete(filing.id, FORMS["Task_target_filing"](drive), "assessed")


def test_the_inbox_holds_exactly_the_ready_user_tasks_of_every_instance(engine, drive):
    drive.file_targets(BEIJING)
    for instance in engine.campaign_instances(drive.campaign.id):
        with engine.store.read() as session:
            row = session.get(Instance, instance.id)
            workflow = engine.runner.load(row, engine.version(session, row.version_id))
            inbox = set(session.scalars(select(InboxTask.id).where(InboxTask.instance_id == row.id)))
        assert inbox == {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}


def test_messages_go_through_the_outbox_and_are_delivered_once(engine, drive):
    for region in (BEIJING, TIANJIN):
        drive.file_targets(region)
        drive.score(region, "75")
    with engine.store.read() as session:
        sent = session.execute(select(Message.name, Message.delivered_at.is_not(None))).all()
    assert sorted(sent) == [("region_scored", True), ("region_scored", True)]
    drive.approve_and_announce()
    with engine.store.read() as session:
        announced = session.scalars(select(Message).where(Message.name == "results_announced")).all()
    assert len(announced) == 2 and all(m.delivered_at for m in announced)
    assert engine.deliver([m.target_id for m in announced]) == 0  # nothing left to deliver


def test_the_audit_log_is_append_only_in_the_database(engine, drive):
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.store.write() as session:
            session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.store.write() as session:
            session.execute(text("DELETE FROM audit_log"))


def test_a_campaign_over_unknown_regions_is_refused(engine):
    with pytest.raises(ValidationError, match="999999"):
        engine.start_campaign("national-2013", 2025, ["110000", "999999"])
    with pytest.raises(NotFound, match="尚未部署"):
        engine.start_campaign("no-such-variant", 2025)


def test_conflict_error_is_raised_for_a_task_no_longer_ready(engine, drive):
    """Two users read the same ready task; the one who submits second gets a clear conflict."""
    [filing] = drive.ready("Task_target_filing", BEIJING)
    data = FORMS["Task_target_filing"](drive)
    engine.complete(filing.id, data, "assessed")
    # Put the stale row back, as a second user's inbox page would still show it.
    with engine.store.write() as session:
        session.add(InboxTask(**{c: getattr(filing, c) for c in InboxTask.__table__.columns.keys()}))
    with pytest.raises(Conflict, match="no longer ready"):
        engine.complete(filing.id, data, "assessed")


def test_a_task_claimed_by_one_user_is_refused_to_another(engine, drive):
    [filing] = drive.ready("Task_target_filing", BEIJING)
    add_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    with engine.store.write() as session:
        session.get(InboxTask, filing.id).assignee = "gov-bj"
    with pytest.raises(PermissionDenied, match="认领"):
        engine.complete(filing.id, FORMS["Task_target_filing"](drive), "assessed")
    engine.complete(filing.id, FORMS["Task_target_filing"](drive), "gov-bj")


def test_a_launch_writes_each_instance_once_with_the_state_it_waits_in(sqlite_engine):
    """Inserted empty and then updated, a launch of 2,850 regions wrote every instance twice (issue 13)."""
    statements: list[str] = []

    def trace(dbapi_connection, _record, _proxy):  # every statement the driver runs, however it was issued
        dbapi_connection.set_trace_callback(statements.append)

    event.listen(sqlite_engine.store.engine, "checkout", trace)
    try:
        campaign = sqlite_engine.start_campaign("national-2013", 2025, ["110000", "120000", "130000"])
    finally:
        event.remove(sqlite_engine.store.engine, "checkout", trace)
        with sqlite_engine.store.engine.connect() as connection:
            connection.connection.dbapi_connection.set_trace_callback(None)
    writes = [s.split("(")[0].split(" SET")[0].strip() for s in statements
              if s.lstrip().upper().startswith(("INSERT INTO INSTANCE", "UPDATE INSTANCE"))]
    assert writes == ["INSERT INTO instance"] * 4  # the campaign's and three regions', never an UPDATE
    instances = sqlite_engine.campaign_instances(campaign.id)
    assert [(i.revision, i.status) for i in instances] == [(1, "running")] * 4
    assert all(sqlite_engine.waiting_on(i.id) for i in instances)  # each saved at its first wait
