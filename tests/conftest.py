"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when KAOHE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text

from engine import config
from engine.clock import CHINA, VirtualClock
from engine.engine import Engine
from engine.people import accounts
from engine.people.accounts import Grant
from engine.store import Store, upgrade

PG_URL = os.environ.get("KAOHE_TEST_DATABASE_URL")
NATIONAL = config.PROCESSES / "national-2013"
ZIYANG = config.PROCESSES / "ziyang-2016"
#: A test procedure with every kind of timer (tests/bundles/timer-lab).
LAB = Path(__file__).parent / "bundles" / "timer-lab"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite file migrated once; every test gets its own copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    upgrade(store)
    store.dispose()
    return path


def _sqlite_store(migrated_sqlite: Path, tmp_path: Path) -> Store:
    path = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, path)
    return Store(f"sqlite:///{path}")


def _postgres_store(migration: list):
    """A fresh schema in the test database, migrated, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Store(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10)
    with store.engine.begin() as conn:
        for statement, parameters in migration:
            conn.exec_driver_sql(statement, parameters)
    try:
        yield store
    finally:
        store.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_migration() -> list:
    """The SQL Alembic runs to migrate an empty PostgreSQL schema, recorded once: each test's schema gets
    the same statements replayed: a new schema in 90 ms instead of 200 ms."""
    if not PG_URL:
        pytest.skip("KAOHE_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Store(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    recorded = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        recorded.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        upgrade(store)
    finally:
        store.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return recorded


@pytest.fixture(params=BACKENDS)
def store(request, migrated_sqlite, tmp_path):
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        store = _sqlite_store(migrated_sqlite, tmp_path)
        yield store
        store.dispose()
    else:
        yield from _postgres_store(request.getfixturevalue("pg_migration"))


@pytest.fixture
def sqlite_store(migrated_sqlite, tmp_path):
    store = _sqlite_store(migrated_sqlite, tmp_path)
    yield store
    store.dispose()


@pytest.fixture
def pg_store(pg_migration):
    yield from _postgres_store(pg_migration)


@pytest.fixture
def clock():
    return VirtualClock(datetime(2025, 6, 2, 9, tzinfo=CHINA))


def make_engine(store: Store, clock, folders=(NATIONAL, ZIYANG)) -> Engine:
    """An engine with both shipped procedures (or ``folders``) deployed, their regions, and one user per role."""
    engine = Engine(store, clock=clock)
    for folder in folders:
        engine.load_regions(engine.check(folder))
        engine.deploy(folder)
    with store.write() as session:
        accounts.ensure_roles(session)
        for role in accounts.ROLE_NAMES:
            accounts.create_user(session, role, role, [Grant(role)])
    return engine


@pytest.fixture
def engine(store, clock):
    return make_engine(store, clock)


@pytest.fixture
def sqlite_engine(sqlite_store, clock):
    return make_engine(sqlite_store, clock)


@pytest.fixture
def lab(store, clock):
    """An engine with the timer-lab procedure deployed besides the shipped ones."""
    engine = make_engine(store, clock)
    engine.load_regions(engine.check(LAB))
    engine.deploy(LAB)
    return engine


def deploy_renamed_national(engine: Engine, tmp_path: Path) -> None:
    """Deploy version 2 of national-2013: the same bundle with its first step renamed 年度目标备案."""
    copy = tmp_path / "national"
    shutil.copytree(NATIONAL, copy)
    bpmn = copy / "assessment.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="目标备案"', 'name="年度目标备案"', 1),
                    encoding="utf-8")
    engine.deploy(copy)


def add_user(engine: Engine, username: str, *grants: Grant) -> None:
    with engine.store.write() as session:
        accounts.create_user(session, username, username, list(grants))


# -- the web app (tests/test_web_*.py; helpers in tests/web_fixtures.py) ---------------------------
@pytest.fixture
def app(engine, tmp_path):
    """The web app over an engine with both procedures and one user per role, on each backend."""
    return web_app(engine, tmp_path)


def web_app(engine: Engine, tmp_path):
    from web import create_app

    return create_app({"ENGINE": engine, "TESTING": True, "SECRET_KEY": "test-secret",
                       "UPLOAD_FOLDER": str(tmp_path / "files")})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(client, engine):
    """A test client signed in as the administrator."""
    from web_fixtures import login, set_passwords

    set_passwords(engine)
    login(client, "admin")
    return client
