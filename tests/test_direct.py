"""Statements run on the driver (engine/store/direct.py) store and read exactly what SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from engine.store import direct
from engine.store.models import AuditEntry, Instance, ProcessVersion

CHINA = timezone(timedelta(hours=8))


def _version(session) -> int:
    version = ProcessVersion(variant="v", version=1, content_hash="h" * 64, title="t", manifest={}, scheme={},
                             files={}, specs="{}", is_current=True, deployed_at=datetime.now(UTC), deployed_by="t")
    session.add(version)
    session.flush()
    return version.id


def test_a_row_written_on_the_driver_reads_back_through_the_orm_and_the_other_way(store):
    at = datetime(2026, 6, 30, 23, 59, 59, 123456, tzinfo=CHINA)  # stored as naive UTC, read back in UTC
    state = '{"tasks": "状态 " ' + '"x" ' * 500 + "}"  # compressed by the state column's codec
    written = direct.Insert(Instance.__table__, ["version_id", "process_id", "status", "state",
                                                 "serializer_version", "revision", "created_at", "updated_at"])
    with store.write() as session:
        version_id = _version(session)
        written.rows(session, [dict(version_id=version_id, process_id="p", status="running", state=state,
                                    serializer_version="1", revision=0, created_at=at, updated_at=at)])
    with store.read() as session:
        row = session.scalars(select(Instance)).one()
        assert (row.state, row.created_at, row.created_at.tzinfo) == (state, at, UTC)
        read = direct.Statement(select(Instance.id, Instance.state, Instance.updated_at)
                                .where(Instance.id == bindparam("id_")))
        found = read.record(session, {"id_": row.id})
        assert (found.state, found.updated_at, found.updated_at.tzinfo) == (state, at, UTC)
        assert read.one(session, {"id_": row.id + 1}) is None


def test_json_and_times_of_an_audit_row_match_what_the_orm_writes(store):
    at = datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    data = {"targets": [{"indicator": "质量安全", "target": "≥ 95%"}], "n": 3}
    keys = [column.key for column in AuditEntry.__table__.columns]
    with store.write() as session:
        direct.Insert(AuditEntry.__table__, keys).rows(session, [
            dict(id=1, at=at, actor="甲", action="complete", instance_id=None, task_id=None, bpmn_id=None,
                 data=data, prev_hash="0" * 64, hash="1" * 64)])
        session.add(AuditEntry(id=2, at=at, actor="乙", action="complete", data=data, prev_hash="1" * 64,
                               hash="2" * 64))
    with store.read() as session:
        rows = direct.Statement(select(AuditEntry.id, AuditEntry.at, AuditEntry.data)
                                .order_by(AuditEntry.id)).all(session, {})
    assert rows == [(1, at, data), (2, at, data)]


def test_an_update_counts_the_rows_it_changed(store):
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with store.write() as session:
        version_id = _version(session)
        session.add(Instance(version_id=version_id, process_id="p", state="{}", serializer_version="1",
                             created_at=at, updated_at=at))
    swap = direct.Statement(update(Instance.__table__).where(Instance.__table__.c.revision == bindparam("expected"))
                            .values(revision=bindparam("next_")))
    with store.write() as session:
        assert swap.rowcount(session, {"expected": 0, "next_": 1}) == 1
        assert swap.rowcount(session, {"expected": 0, "next_": 1}) == 0  # already moved on: nothing to swap


def test_an_insert_that_would_leave_out_a_python_default_is_refused_before_it_runs(store):
    # Instance.status and .revision have defaults SQLAlchemy fills in Python, which the driver would never see.
    partial = direct.Insert(Instance.__table__, ["version_id", "process_id", "state", "serializer_version",
                                                 "created_at", "updated_at"])
    at = datetime.now(UTC)
    with store.write() as session, pytest.raises(TypeError, match=r"\['revision', 'status'\] would be left out"):
        partial.rows(session, [dict(version_id=_version(session), process_id="p", state="{}", serializer_version="1",
                                    created_at=at, updated_at=at)])


def test_a_cursor_is_never_kept_past_its_transaction(store):
    with store.read() as session:
        first = direct.driver_cursor(session)
        assert direct.driver_cursor(session) is first  # the same transaction: the same cursor
        session.rollback()
        assert direct.driver_cursor(session) is not first


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(store):
    """Callers (a lock timeout turned into a Conflict, the web app's 503 for a database gone) catch SQLAlchemy's
    exceptions: a statement run on the driver raises the same."""
    keys = [column.key for column in AuditEntry.__table__.columns]
    row = dict(id=1, at=datetime.now(UTC), actor="甲", action="complete", instance_id=None, task_id=None,
               bpmn_id=None, data=None, prev_hash="0" * 64, hash="1" * 64)
    with pytest.raises(IntegrityError), store.write() as session:
        direct.Insert(AuditEntry.__table__, keys).rows(session, [row, row])
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0  # rolled back whole


def test_rows_beyond_one_statement_go_in_several(store):
    keys = [column.key for column in AuditEntry.__table__.columns]
    at = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [dict(id=n, at=at, actor=f"用户{n}", action="complete", instance_id=None, task_id=None, bpmn_id=None,
                 data={"n": n}, prev_hash="0" * 64, hash=f"{n:064d}") for n in range(1, 2 * direct.Insert.CHUNK + 8)]
    with store.write() as session:
        direct.Insert(AuditEntry.__table__, keys).rows(session, rows)
    with store.read() as session:
        found = session.execute(select(AuditEntry.id, AuditEntry.actor, AuditEntry.data).order_by(AuditEntry.id)).all()
    assert [tuple(row) for row in found] == [(r["id"], r["actor"], r["data"]) for r in rows]
