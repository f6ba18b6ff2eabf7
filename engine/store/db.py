"""Connections, transactions and the one place where SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import bindparam, create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..config import private_dir
from ..errors import Conflict, NotFound
from . import chain, direct
from .models import InboxTask, Instance

logger = logging.getLogger(__name__)

#: How long a completion waits for another user's completion on the same instance before giving up.
LOCK_TIMEOUT_SECONDS = 10


class Store:
    """The database: a SQLAlchemy engine and short transactions over it."""

    def __init__(self, url: str, **engine_options):
        self.url = url
        self._options = dict(engine_options)
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect == "sqlite":
            _ensure_sqlite_folder(url)
            engine_options.setdefault("connect_args", {"check_same_thread": False,
                                                       "timeout": LOCK_TIMEOUT_SECONDS})
        elif self.dialect == "postgresql":
            # Prepare statements from their second use (psycopg's default waits for five): the same dozen
            # statements make up every action, and planning them again costs the server's CPU each time.
            engine_options["connect_args"] = {"prepare_threshold": 1, **engine_options.get("connect_args", {})}
        self.engine: Engine = create_engine(url, **engine_options)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        elif self.dialect == "postgresql":
            _configure_postgresql(self.engine)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL: statements outside a transaction, each with its own snapshot; no BEGIN and ROLLBACK round
        # trips. (SQLite's reads cost nothing to begin and end, and its connections begin their own.)
        self._glances = (sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                      expire_on_commit=False) if self.dialect == "postgresql" else self._reads)
        self._writes = sessionmaker(self.engine.execution_options(kaohe_write=True), expire_on_commit=False,
                                    info={chain.SEALS: True})
        chain.install(self._writes)
        self._writer = threading.RLock() if self.dialect == "sqlite" else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed."""
        with self._reads() as session:
            yield session

    @contextmanager
    def glance(self) -> Iterator[Session]:
        """Like ``read``, but each statement may see a later moment than the one before: for reads whose result
        is checked again when it is written (a compare-and-swap on a revision)."""
        with self._glances() as session:
            yield session

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error; not ``durable``: its commit does
        not wait for the disk (PostgreSQL), for what a crash may lose harmlessly, such as a last-use time."""
        # SQLite has one writer at a time. Threads of this process queue here, woken in turn, instead of in
        # SQLite's busy handler, which sleeps ever longer between tries (up to 100 ms) whoever released.
        if self._writer is not None and not self._writer.acquire(timeout=LOCK_TIMEOUT_SECONDS):
            raise Conflict("数据库正忙，请稍后重试 (the database is busy; try again)")
        try:
            with self._writes() as session:
                try:
                    with session.begin():
                        if not durable and self.dialect == "postgresql":
                            session.execute(text("SET LOCAL synchronous_commit = off"))
                        yield session
                except OperationalError as exc:
                    if _is_lock_timeout(exc):
                        raise Conflict("另一个操作正在处理该流程实例，请稍后重试 "
                                       "(the instance is busy; try again)") from exc
                    raise
        finally:
            if self._writer is not None:
                self._writer.release()

    def lock_instance(self, session: Session, instance_id: int) -> Instance:
        """Load an instance and hold its row lock until the transaction ends.

        PostgreSQL: ``FOR NO KEY UPDATE`` (an instance's id never changes), so that another instance adding a
        message row that refers to this one (a foreign key's ``KEY SHARE`` lock) does not wait for it."""
        query = select(Instance).where(Instance.id == instance_id)
        if self.dialect == "postgresql":
            query = query.with_for_update(key_share=True)  # waits at most lock_timeout (_configure_postgresql)
        # SQLite: write transactions start with BEGIN IMMEDIATE, which already excludes other writers.
        instance = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
        if instance is None:
            raise NotFound(f"流程实例 {instance_id} 不存在 (no instance {instance_id})")
        return instance

    def claim_instance(self, session: Session, instance_id: int) -> Instance | None:
        """Like ``lock_instance``, but None at once when another transaction holds it (PostgreSQL's SKIP LOCKED)
        or it does not exist: for work that can be left to a later pass."""
        query = select(Instance).where(Instance.id == instance_id)
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, key_share=True)
        return session.scalars(query.execution_options(populate_existing=True)).one_or_none()

    def lock_task(self, session: Session, task_id: str,
                  lock: bool = True) -> tuple[direct.Snapshot, direct.Snapshot] | None:
        """A ready task's inbox row and its instance, the instance locked as in ``lock_instance`` (unless not
        ``lock``: read to be saved by a compare-and-swap on its revision); one query, run on the driver
        (``direct``), its rows read as snapshots with the mapped classes' attribute names."""
        query = _LOCK_TASK if lock and self.dialect == "postgresql" else _READ_TASK
        found = query.one(session, {"task_id": str(task_id)})
        if found is None:
            return None
        split = len(_TASK_COLUMNS)
        return (direct.Snapshot(zip(_TASK_COLUMNS, found[:split], strict=True)),
                direct.Snapshot(zip(_INSTANCE_COLUMNS, found[split:], strict=True)))

    def another(self) -> Store:
        """A second Store on the same database, with its own pool: what another process would have."""
        return Store(self.url, **self._options)

    def dispose(self) -> None:
        self.engine.dispose()


_TASK_COLUMNS = [column.key for column in InboxTask.__table__.columns]
_INSTANCE_COLUMNS = [column.key for column in Instance.__table__.columns]
# Every completion runs it first: built once, run on the driver.
_READ_TASK_QUERY = (select(*InboxTask.__table__.columns, *Instance.__table__.columns)
                    .join(Instance.__table__, Instance.__table__.c.id == InboxTask.__table__.c.instance_id)
                    .where(InboxTask.__table__.c.id == bindparam("task_id")))
_READ_TASK = direct.Statement(_READ_TASK_QUERY)
_LOCK_TASK = direct.Statement(_READ_TASK_QUERY.with_for_update(of=Instance.__table__, key_share=True))


def _ensure_sqlite_folder(url: str) -> None:
    """The database's folder (0700) and file (0600, which SQLite gives its -wal and -shm files too), created
    readable by this account only: the file holds password hashes and every submission."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        path = path.split("?", 1)[0]
        private_dir(Path(path).parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.get_execution_options().get("kaohe_write"):
            _begin_immediate(connection.connection.dbapi_connection)
        else:  # on the driver: SQLAlchemy's execution would cost more than the statement
            connection.connection.dbapi_connection.execute("BEGIN")


#: Seconds between tries to become SQLite's writer while another process is: SQLite's own busy handler sleeps
#: up to 100 ms between tries, which made the slowest of 20 concurrent submissions wait half a second.
WRITER_RETRY = 0.001


def _begin_immediate(dbapi_connection) -> None:
    """BEGIN IMMEDIATE, tried every millisecond for up to LOCK_TIMEOUT_SECONDS while another writer holds it."""
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise Conflict("另一个操作正在处理，请稍后重试 (the database is busy; try again)") from exc
            time.sleep(WRITER_RETRY)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {LOCK_TIMEOUT_SECONDS * 1000}")


def _configure_postgresql(engine: Engine) -> None:
    """A row lock is waited for at most LOCK_TIMEOUT_SECONDS, set once per connection, not per lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
        dbapi_connection.commit()


def _is_lock_timeout(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "lock timeout" in text or "locknotavailable" in text
