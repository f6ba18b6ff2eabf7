"""The audit log: append-only in the database, and a hash chain that names the first entry tampered with."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from conftest import PG_URL, make_engine
from drive import Driver
from sqlalchemy import func, make_url, select, text
from sqlalchemy.exc import DBAPIError

from engine.cli import main
from engine.records import audit
from engine.store import Store, upgrade
from engine.store.migrate import alembic_config
from engine.store.models import AuditEntry

BEIJING = "110000"
NOW = datetime(2025, 6, 2, 1, tzinfo=UTC)


@pytest.fixture
def worked(engine):
    """An engine whose log holds deploys, a campaign start and a few completions."""
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)  # target filing, six opinions, the review: data of every shape
    return engine


def _ids(store) -> list[int]:
    with store.read() as session:
        return list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def _raw(store, *statements: str) -> None:
    """Run SQL as someone with the database file or the owner's password would, triggers out of the way."""
    off, on = (("ALTER TABLE audit_log DISABLE TRIGGER USER", "ALTER TABLE audit_log ENABLE TRIGGER USER")
               if store.dialect == "postgresql" else
               ("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete", ""))
    with store.engine.begin() as connection:
        for statement in [*off.split("; "), *statements, *([on] if on else [])]:
            connection.exec_driver_sql(statement)


@pytest.mark.parametrize("attack", ["update", "delete", "replace", "insert_or_replace", "upsert", "truncate"])
def test_the_database_refuses_to_rewrite_the_log(worked, attack):
    store = worked.store
    before = _rows(store)
    statement = {
        "update": "UPDATE audit_log SET actor = 'nobody' WHERE id = 1",
        "delete": "DELETE FROM audit_log WHERE id = 1",
        "replace": "REPLACE INTO audit_log (id, at, actor, action, prev_hash, hash) "
                   "VALUES (1, '2025-01-01 00:00:00', 'nobody', 'login', '', '')",
        "insert_or_replace": "INSERT OR REPLACE INTO audit_log (id, at, actor, action, prev_hash, hash) "
                             "VALUES (1, '2025-01-01 00:00:00', 'nobody', 'login', '', '')",
        "upsert": "INSERT INTO audit_log (id, at, actor, action, prev_hash, hash) "
                  "VALUES (1, '2025-01-01 00:00:00', 'nobody', 'login', '', '') "
                  "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
        # SQLite has no TRUNCATE; its "truncate optimisation" of a DELETE without WHERE must not skip the trigger
        "truncate": "TRUNCATE audit_log" if store.dialect == "postgresql" else "DELETE FROM audit_log",
    }[attack]
    if store.dialect == "postgresql" and attack in ("replace", "insert_or_replace"):
        pytest.skip("SQLite's syntax")
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert _rows(store) == before
    with store.read() as session:
        assert audit.verify(session).broken is None


def _rows(store) -> list[tuple]:
    with store.read() as session:
        return [(e.id, e.actor, e.action, e.hash) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_every_entry_links_to_the_one_before(worked):
    ids = _ids(worked.store)
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 5
    with worked.store.read() as session:
        report = audit.verify(session)
        last = session.get(AuditEntry, ids[-1])
    assert (report.entries, report.head_id, report.head_hash, report.broken) == (len(ids), ids[-1], last.hash, None)


@pytest.mark.parametrize(("tamper", "named", "verified", "reason"), [
    ("UPDATE audit_log SET actor = 'nobody' WHERE id = 3", 3, 2, "content does not match its hash"),
    ("UPDATE audit_log SET data = NULL WHERE id = 4", 4, 3, "content does not match its hash"),
    ("UPDATE audit_log SET at = '2020-01-01 00:00:00' WHERE id = 2", 2, 1, "content does not match its hash"),
    ("DELETE FROM audit_log WHERE id = 3", 4, 2, "entries 3 to 3 were removed"),
    ("DELETE FROM audit_log WHERE id = 1", 2, 0, "the entries before it were removed"),
    ("UPDATE audit_log SET id = 1000 WHERE id = 3", 4, 2, "entries 3 to 3 were removed"),
])
def test_verify_names_the_first_entry_tampered_with(worked, tamper, named, verified, reason):
    _raw(worked.store, tamper)
    with worked.store.read() as session:
        report = audit.verify(session)
    assert (report.broken.id, report.entries) == (named, verified)
    assert reason in report.broken.reason


def test_an_entry_rewritten_with_a_recomputed_hash_is_named_by_the_next_one(worked):
    """Whoever knows the format can recompute an entry's own hash, but not the link the next entry holds."""
    from engine.store import chain

    with worked.store.read() as session:
        entry = session.get(AuditEntry, 3)
        entry.actor = "nobody"
        forged = chain.digest(entry, entry.prev_hash)
    _raw(worked.store, f"UPDATE audit_log SET actor = 'nobody', hash = '{forged}' WHERE id = 3")
    with worked.store.read() as session:
        broken = audit.verify(session).broken
    assert broken.id == 4 and "the entry before it, 3, was changed or replaced" in broken.reason


def test_a_cut_tail_or_a_rewritten_log_is_found_against_an_anchor_kept_elsewhere(worked):
    with worked.store.read() as session:
        head = audit.verify(session)
    anchor = (head.head_id, head.head_hash)
    _raw(worked.store, f"DELETE FROM audit_log WHERE id = {head.head_id}")
    with worked.store.read() as session:
        assert audit.verify(session).broken is None  # a shorter log is still a chain
        broken = audit.verify(session, anchor).broken
    assert broken.id == head.head_id and "is missing" in broken.reason


def test_data_of_every_json_shape_verifies_as_it_is_read_back(store):
    shapes = [{"score": 89.5, "tiny": 1e-7, "third": 1 / 3, "big": 2**53 + 1, "neg": -0.0},
              {9: "int keys", 10: "sort as text once stored", "a": None}, {"nested": [[{"k": ("t", 1)}]]},
              {"text": "北京市 \u0000 \"quoted\" \\ \n", "emoji": "\U0001f600"}, None, {}]
    with store.write() as session:
        for data in shapes:
            audit.record(session, NOW, "admin", "shape", data=data)
    with store.read() as session:
        assert audit.verify(session).broken is None
        assert session.get(AuditEntry, 2).data == {"9": "int keys", "10": "sort as text once stored", "a": None}


def test_concurrent_writers_build_one_chain(engine):
    """Entries committed from many threads and two stores (two processes' pools) link in commit order."""
    stores = [engine.store, engine.store.another()]
    errors = []

    def write(store, worker: int):
        try:
            for n in range(15):
                with store.write() as session:
                    audit.record(session, NOW, f"worker-{worker}", "login", data={"n": n})
                    audit.record(session, NOW, f"worker-{worker}", "logout", data={"n": n})
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(stores[i % 2], i)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stores[1].dispose()
    assert errors == []
    ids = _ids(engine.store)
    assert ids == list(range(1, len(ids) + 1))
    with engine.store.read() as session:
        report = audit.verify(session)
        assert report.broken is None and report.entries == len(ids)
        assert session.scalar(select(func.count()).where(AuditEntry.actor.like("worker-%"))) == 6 * 15 * 2


def test_an_entry_of_a_rolled_back_savepoint_or_transaction_is_not_written(store):
    with store.write() as session:
        audit.record(session, NOW, "admin", "kept")
        with pytest.raises(ZeroDivisionError), session.begin_nested():
            audit.record(session, NOW, "admin", "undone")
            1 / 0  # noqa: B018
        with session.begin_nested():
            audit.record(session, NOW, "admin", "released")
    with pytest.raises(ZeroDivisionError), store.write() as session:
        audit.record(session, NOW, "admin", "rolled back")
        1 / 0  # noqa: B018
    with store.read() as session:
        assert [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == ["kept", "released"]
        assert audit.verify(session).broken is None


def test_the_migration_chains_the_entries_it_finds(worked):
    store = worked.store
    before = [(e[0], e[1], e[2]) for e in _rows(store)]
    command.downgrade(alembic_config(store), "0006")
    with store.engine.begin() as connection:  # an entry written at 0006, in the old way
        connection.exec_driver_sql("INSERT INTO audit_log (id, at, actor, action, data) "
                                   "VALUES (1000, '2025-06-02 01:00:00', 'admin', 'legacy', '{\"k\": [1, 2.5]}')")
    upgrade(store)
    assert [(e[0], e[1], e[2]) for e in _rows(store)] == [*before, (1000, "admin", "legacy")]
    with store.read() as session:
        assert audit.verify(session).broken is None
    with store.write() as session:
        audit.record(session, NOW, "admin", "after")
    assert _ids(store)[-1] == 1001


@pytest.fixture
def kaohe(worked, monkeypatch):
    """``kaohe`` on the same database as ``worked``; returns (exit code, stdout, stderr)."""
    store = worked.store
    if store.dialect == "postgresql":
        with store.read() as session:
            schema = session.scalar(select(func.current_schema()))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    else:
        url = str(store.engine.url)
    monkeypatch.setenv("KAOHE_DATABASE_URL", url)

    def run(*args: str):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_kaohe_audit_verify_reports_the_first_broken_link_and_fails(worked, kaohe):
    code, out, _ = kaohe("audit", "verify")
    assert code == 0 and "audit log intact" in out
    head = out.rsplit("head ", 1)[1].strip()
    assert kaohe("audit", "verify", "--anchor", head)[0] == 0
    _raw(worked.store, "UPDATE audit_log SET actor = 'nobody' WHERE id = 2")
    code, _, err = kaohe("audit", "verify")
    assert code == 1 and "entry 2: " in err and "content does not match its hash" in err
    assert "1 entries verified before it" in err
    code, _, err = kaohe("audit", "verify", "--anchor", "2:nothex")
    assert code == 2 and "ID:HASH" in err


@pytest.fixture
def roles():
    """The database roles of docs/engine.md, set up from its SQL under unique names; (owner, app) Stores."""
    if not PG_URL:
        pytest.skip("KAOHE_TEST_DATABASE_URL is not set")
    page = (Path(__file__).parent.parent / "docs" / "engine.md").read_text(encoding="utf-8")
    once, after_init = re.findall(r"```sql\n(.*?)```", page.split("## Database roles", 1)[1], re.S)[:2]
    tag = uuid.uuid4().hex[:10]
    names = {"kaohe_owner": f"o_{tag}", "kaohe_app": f"a_{tag}"}

    def ours(sql: str) -> list[str]:
        for name, unique in names.items():
            sql = sql.replace(name, unique)
        return [s.strip() for s in re.sub(r"\bkaohe\b", f"s_{tag}", sql).split(";") if s.strip()]

    admin = Store(PG_URL)
    with admin.engine.begin() as connection:
        for statement in ours(once):
            connection.exec_driver_sql(statement)
    url = make_url(PG_URL)
    owner = Store(url.set(username=names["kaohe_owner"], password="owner-secret").render_as_string(False))
    app = Store(url.set(username=names["kaohe_app"], password="app-secret").render_as_string(False))
    try:
        upgrade(owner)
        with owner.engine.begin() as connection:
            for statement in ours(after_init):
                connection.exec_driver_sql(statement)
        yield owner, app
    finally:
        owner.dispose()
        app.dispose()
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA s_{tag} CASCADE")
            for role in names.values():
                connection.exec_driver_sql(f"DROP OWNED BY {role}")
                connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


@pytest.mark.postgres
def test_the_documented_app_role_works_and_cannot_rewrite_the_log_or_the_schema(roles, clock):
    _owner, app = roles
    engine = make_engine(app, clock)  # deploys, regions, users: all the app does at run time
    Driver(engine, "national-2013", [BEIJING]).file_targets(BEIJING)
    for statement in ["TRUNCATE audit_log", "DELETE FROM audit_log", "UPDATE audit_log SET actor = 'nobody'",
                      "ALTER TABLE audit_log DISABLE TRIGGER USER", "DROP TRIGGER audit_log_append_only ON audit_log",
                      "CREATE TABLE scratch (id integer)", "DROP TABLE inbox_task",
                      "UPDATE alembic_version SET version_num = '0001'", "SET ROLE postgres"]:
        with pytest.raises(DBAPIError, match="permission denied|must be owner"), app.engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with app.read() as session:
        report = audit.verify(session)
        assert report.broken is None and report.entries > 10
        assert session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")) is False
