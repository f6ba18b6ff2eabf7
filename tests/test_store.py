"""Concurrency: each instance is locked while it advances; nothing is ever lost."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from drive import Driver, race, unit_scores
from SpiffWorkflow.task import TaskState
from sqlalchemy import text

from engine.engine import Engine
from engine.errors import Conflict
from engine.people import access, inbox
from engine.people.accounts import Grant
from engine.records import audit
from engine.running.serializer import find_task
from engine.store import db
from engine.store.models import Instance, Role

BEIJING = "110000"


def _at_scoring(engine) -> Driver:
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    return drive


def test_the_same_task_completed_concurrently_succeeds_once(engine):
    drive = _at_scoring(engine)
    task = drive.ready("Task_indicator_scoring", BEIJING)[0]
    data = {"scores": unit_scores(drive.scheme, "100")[task.unit]}
    results = race(*[lambda: engine.complete(task.id, data, "member_unit")] * 2)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    successes = [r for r in results if not isinstance(r, Exception)]
    assert (len(successes), len(conflicts)) == (1, 1), results
    assert "no longer ready" in conflicts[0].message


def test_different_tasks_of_one_instance_completed_concurrently_are_all_kept(engine):
    drive = _at_scoring(engine)
    tasks = drive.ready("Task_indicator_scoring", BEIJING)
    scores = unit_scores(drive.scheme, "77.5")
    results = race(*[lambda t=t: engine.complete(t.id, {"scores": scores[t.unit]}, "member_unit") for t in tasks])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [t.bpmn_id for t in drive.ready(region=BEIJING)] == ["Task_score_confirmation"]
    data = drive.region_data(BEIJING)
    assert data["score"] == "77.5"
    assert sorted(u["unit"] for u in data["unit_scores"]) == sorted(scores)


def test_a_completion_whose_instance_changed_after_it_was_read_is_done_again_from_a_fresh_read(engine):
    """A completion runs the workflow without the instance's lock and saves it only if the instance is still at
    the revision it read. Here another connection completes another task of the instance in between (the hook
    runs it right after this completion's workflow ran): the save finds the revision moved on, the completion
    is done again on the new state, and both are kept, each audited once."""
    drive = _at_scoring(engine)
    scoring = drive.ready("Task_indicator_scoring", BEIJING)
    first, second = scoring[:2]
    scores = unit_scores(drive.scheme, "90")
    other = Engine(engine.store.another(), clock=engine.clock)
    revisions = []
    run = engine.runner.run

    def run_then_another_completes(session, row, *args):
        revisions.append(row.revision)
        ran = run(session, row, *args)
        if len(revisions) == 1:
            other.complete(second.id, {"scores": scores[second.unit]}, "member_unit")
        return ran

    engine.runner.run = run_then_another_completes
    done = engine.complete(first.id, {"scores": scores[first.unit]}, "member_unit")
    other.store.dispose()
    assert revisions == [revisions[0], revisions[0] + 1]  # read again after the other completion's save
    assert sorted(done.next_tasks) == sorted(t.id for t in scoring[2:])
    with engine.store.read() as session:
        row = session.get(Instance, done.instance_id)
        workflow = engine.runner.load(row, engine.version(session, row.version_id))
        completed = [e.task_id for e in audit.history(session, done.instance_id) if e.action == "complete"]
    for task in (first, second):
        kept = find_task(workflow, task.id)
        assert kept.state == TaskState.COMPLETED and kept.data["scores"] == scores[task.unit]
    assert sorted(completed[-2:]) == sorted([first.id, second.id]) and len(set(completed)) == len(completed)


def _plan(engine, query) -> str:
    """The database's plan for ``query``, as text; PostgreSQL told to sort only when nothing else can order."""
    with engine.store.read() as session:
        connection = session.connection()
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        if engine.store.dialect == "sqlite":
            return "\n".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))


def test_the_inbox_lists_are_read_in_index_order_not_sorted(engine):
    """The lead agency's thousands of tasks to claim, and every open task, come out of an index in the inbox's
    order, so a page of them costs the same however many are open (docs/benchmarks.md)."""
    Driver(engine, "national-2013", [BEIJING])
    with engine.store.read() as session:
        lead = access.viewer(session, "lead_agency")
    now = engine.clock.now()
    province = access.Viewer(0, "gov-bj", "北京", (Grant("assessed", region=BEIJING),))
    for who, scope, index in ((lead, "claimable", "ix_inbox_free"), (lead, "all", "ix_inbox_order"),
                              (province, "claimable", "ix_inbox_role_region")):
        plan = _plan(engine, inbox.listing(who, now, inbox.Filter(scope=scope)).limit(101))
        assert "TEMP B-TREE" not in plan and "Sort" not in plan and index in plan, plan


def test_a_sqlite_writer_waits_for_another_process_then_goes_on_or_gives_up(sqlite_store, monkeypatch):
    """Another process's write transaction (a raw connection here): a write waits for it, starts within
    milliseconds of its end, and after LOCK_TIMEOUT_SECONDS gives up with a Conflict, having changed nothing."""
    monkeypatch.setattr(db, "LOCK_TIMEOUT_SECONDS", 0.3)
    other = sqlite3.connect(sqlite_store.url.split("///", 1)[1], isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(Conflict, match="busy"):
        with sqlite_store.write() as session:
            session.add(Role(code="x", name="x"))
    assert 0.3 <= time.monotonic() - started < 2
    monkeypatch.setattr(db, "LOCK_TIMEOUT_SECONDS", 5)
    released = []
    threading.Timer(0.5, lambda: (other.execute("COMMIT"), released.append(time.monotonic()))).start()
    with sqlite_store.write() as session:
        began = time.monotonic()
        session.add(Role(code="y", name="y"))
    other.close()
    assert began - released[0] < 0.03  # SQLite's busy handler sleeps 100 ms between tries by then
    with sqlite_store.read() as session:
        assert session.get(Role, "x") is None and session.get(Role, "y") is not None


def test_a_write_that_need_not_be_durable_commits_without_waiting_for_the_disk(store):
    with store.write(durable=False) as session:
        session.add(Role(code="x", name="x"))
        if store.dialect == "postgresql":
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
    with store.write() as session:
        assert session.get(Role, "x") is not None
        if store.dialect == "postgresql":  # SET LOCAL: the next transaction on the connection waits again
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
