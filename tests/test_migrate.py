"""Migrations: every one can be undone and redone, and an upgrade keeps the data it finds."""

from __future__ import annotations

import json

import lz4.frame
import pytest
from alembic import command
from conftest import deploy_renamed_national
from drive import Driver
from sqlalchemy import inspect, select, text

from engine.running.serializer import expand
from engine.store import state as state_codec
from engine.store import upgrade
from engine.store.migrate import alembic_config
from engine.store.models import InboxTask, ProcessVersion

BEIJING = "110000"


def _tables_and_indexes(store) -> dict[str, set[str]]:
    """Each table's index names, from the catalogue (SQLAlchemy's reflection skips expression indexes)."""
    catalogue = ("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'" if store.dialect == "sqlite" else
                 "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()")
    with store.engine.connect() as connection:
        found = {t: set() for t in inspect(connection).get_table_names()}
        for table, index in connection.exec_driver_sql(catalogue):
            found.setdefault(table, set()).add(index)
    return found


def test_every_migration_is_undone_and_redone_to_the_same_schema(store):
    migrated = _tables_and_indexes(store)
    command.downgrade(alembic_config(store), "base")
    assert set(_tables_and_indexes(store)) <= {"alembic_version"}
    upgrade(store)
    assert _tables_and_indexes(store) == migrated


def test_the_inbox_order_indexes_are_added_to_a_database_with_open_tasks(engine):
    """0006 on a database at 0005 with a running campaign: the tasks stay, the new indexes serve them."""
    Driver(engine, "national-2013", [BEIJING])
    with engine.store.read() as session:
        before = set(session.scalars(select(InboxTask.id)))
    command.downgrade(alembic_config(engine.store), "0005")
    assert "ix_inbox_free" not in _tables_and_indexes(engine.store)["inbox_task"]
    upgrade(engine.store)
    indexes = _tables_and_indexes(engine.store)["inbox_task"]
    assert {"ix_inbox_free", "ix_inbox_order", "ix_inbox_role_region"} <= indexes
    with engine.store.read() as session:
        assert set(session.scalars(select(InboxTask.id))) == before and before


def test_the_current_version_flag_marks_each_variants_highest_version_on_an_existing_database(engine, tmp_path):
    """0010 on a database at 0006 with two versions of a variant: campaigns go on starting on the highest."""
    deploy_renamed_national(engine, tmp_path)
    command.downgrade(alembic_config(engine.store), "0006")
    upgrade(engine.store)
    with engine.store.read() as session:
        current = {(v.variant, v.version) for v in session.scalars(select(ProcessVersion)) if v.is_current}
        assert ("national-2013", 2) in current and ("national-2013", 1) not in current
        assert ("ziyang-2016", 1) in current
        assert engine.current_version(session, "national-2013").version == 2


def _stored_states(store) -> dict[int, str | bytes]:
    with store.engine.connect() as connection:
        return {id_: bytes(s) if isinstance(s, memoryview) else s
                for id_, s in connection.execute(text("SELECT id, state FROM instance")).all()}


def test_state_codecs_convert_existing_rows_and_revert(engine):
    """0021 and 0012 on a database with running instances: the states at 0019 are lz4 frames on SQLite and text on
    PostgreSQL, at 0011 text on both, and back at the head every one is deflated with the dictionary (codec 1), the
    same text, in well under lz4's bytes; every instance goes on working."""
    drive = Driver(engine, "national-2013", [BEIJING])
    states = {id_: state_codec.decompress(s) for id_, s in _stored_states(engine.store).items()}
    command.downgrade(alembic_config(engine.store), "0019")
    stored = _stored_states(engine.store)
    if engine.store.dialect == "sqlite":
        assert {id_: lz4.frame.decompress(s).decode() for id_, s in stored.items()} == states
    else:
        assert stored == states
    command.downgrade(alembic_config(engine.store), "0011")
    assert _stored_states(engine.store) == states  # plain text again, on both backends
    upgrade(engine.store)
    stored = _stored_states(engine.store)
    assert all(s.startswith(state_codec.DEFLATE_1) for s in stored.values())
    assert {id_: state_codec.decompress(s) for id_, s in stored.items()} == states
    assert sum(map(len, stored.values())) < sum(len(lz4.frame.compress(s.encode())) for s in states.values()) / 2
    drive.file_targets(BEIJING)
    assert drive.ready("Task_self_evaluation", BEIJING)


@pytest.mark.parametrize("written", ["text", "lz4"])
def test_a_state_written_before_0021_still_loads(sqlite_engine, written):
    """A row whose state is plain text (before 0012) or an lz4 frame (0012 to 0019), its tasks a mapping, is read
    and advanced; the save rewrites it compact and deflated with the dictionary."""
    drive = Driver(sqlite_engine, "national-2013", [BEIJING])
    store = sqlite_engine.store
    old = {"text": str, "lz4": lambda state: lz4.frame.compress(state.encode())}[written]
    with store.engine.begin() as connection:  # tasks as SpiffWorkflow's mapping, as every state was before 0021
        connection.execute(text("UPDATE instance SET state = :state WHERE id = :id"),
                           [{"id": id_, "state": old(_mapping(state_codec.decompress(s)))}
                            for id_, s in _stored_states(store).items()])
    assert all(isinstance(s, str) if written == "text" else s.startswith(state_codec.LZ4_FRAME)
               for s in _stored_states(store).values())
    drive.file_targets(BEIJING)
    assert drive.ready("Task_self_evaluation", BEIJING)
    with store.engine.connect() as connection:
        region_state = connection.execute(text("SELECT state FROM instance WHERE region = :r"), {"r": BEIJING}).scalar()
    assert region_state.startswith(state_codec.DEFLATE_1)
    assert isinstance(json.loads(state_codec.decompress(region_state))["tasks"], list)


def _mapping(state: str) -> str:
    """The state with its tasks as SpiffWorkflow writes them, a mapping of id to task."""
    return json.dumps(expand(json.loads(state)), ensure_ascii=False, separators=(",", ":"))
