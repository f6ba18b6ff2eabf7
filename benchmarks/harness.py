"""What the benchmarks share: a store on each backend, an engine ready to use, timing, profiles, report rows."""

from __future__ import annotations

import cProfile
import io
import logging
import pstats
import re
import statistics
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, text

from engine import config
from engine.clock import CHINA, VirtualClock
from engine.engine import Engine
from engine.people import accounts
from engine.people.accounts import Grant
from engine.store import Store, upgrade
from engine.store.models import Region

logger = logging.getLogger(__name__)

VARIANT = "national-2013"
FOLDER = config.PROCESSES / VARIANT
YEAR = 2025
#: The user every benchmark acts as: the assessed government of every region.
USER = "bench"
#: Synthetic regions get GB/T 2260-shaped codes above the real ones (the largest real one is 820000).
FIRST_CODE = 900000


@dataclass
class Options:
    """What the command line asked for."""

    quick: bool
    postgres: str | None
    profile: bool


@dataclass
class Row:
    """One line of the report: a figure, its baseline, their ratio and the target."""

    benchmark: str
    backend: str
    measured: str
    baseline: str
    ratio: float
    target: str = "—"
    met: bool | None = None  # None: no target for this line


Backend = tuple[str, Callable[[], AbstractContextManager[Store]]]


def backends(options: Options) -> list[Backend]:
    """SQLite always; PostgreSQL when a URL was given."""
    found: list[Backend] = [("SQLite", sqlite_store)]
    if options.postgres:
        found.append(("PostgreSQL", lambda: postgres_store(options.postgres)))
    else:
        logger.info("PostgreSQL skipped: no --postgres URL and KAOHE_TEST_DATABASE_URL is not set")
    return found


@contextmanager
def sqlite_store() -> Iterator[Store]:
    """A migrated SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-") as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.server_url = store.url  # what another process (kaohe serve) is given as KAOHE_DATABASE_URL
        try:
            upgrade(store)
            yield store
        finally:
            store.dispose()


@contextmanager
def postgres_store(url: str) -> Iterator[Store]:
    """A migrated schema of its own in the PostgreSQL database, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = Store(url)
    with admin.engine.begin() as conn:
        logger.info("PostgreSQL %s, schema %s", conn.exec_driver_sql("SHOW server_version").scalar(), schema)
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store(url, connect_args={"options": f"-csearch_path={schema}"})
    store.server_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    try:
        upgrade(store)
        yield store
    finally:
        store.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def ready_engine(store: Store) -> Engine:
    """An engine on ``store`` with the national procedure deployed and the benchmark user."""
    engine = Engine(store, clock=VirtualClock(datetime(YEAR, 6, 2, 9, tzinfo=CHINA)))
    engine.deploy(FOLDER, actor=USER)
    with store.write() as session:
        accounts.ensure_roles(session)
        accounts.create_user(session, USER, "基准测试", [Grant("assessed")])
    return engine


def add_regions(store: Store, count: int, first: int = 0) -> list[str]:
    """Add ``count`` synthetic regions of the national procedure; return their codes."""
    codes = [str(FIRST_CODE + first + i) for i in range(count)]
    with store.write() as session:
        session.execute(insert(Region), [{"code": code, "name": region_name(code), "region_set": VARIANT}
                                         for code in codes])
    return codes


def region_name(code: str) -> str:
    return f"测试地区{code}"


class Sample:
    """Durations of one thing, in seconds."""

    def __init__(self):
        self.values: list[float] = []

    def time(self, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` and keep how long it took."""
        start = time.perf_counter()
        fn(*args)
        self.values.append(time.perf_counter() - start)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.values, n=20, method="inclusive")[-1]

    @property
    def max(self) -> float:
        return max(self.values)


def duration(seconds: float) -> str:
    """Milliseconds below a second, else seconds."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def log_profile(what: str, fn: Callable, *args, limit: int = 20) -> None:
    """Run ``fn(*args)`` under cProfile; log the top entries by cumulative time, of the engine alone, by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(fn, *args)
    views = [("cumulative time", "cumulative", ""),
             ("cumulative time, engine/ only", "cumulative", re.escape(f"{config.ROOT / 'engine'}/")),
             ("own time", "tottime", "")]
    for title, order, only in views:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(only, limit)
        report = out.getvalue()
        for prefix in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"], str(config.ROOT)):
            report = report.replace(prefix + "/", "")
        logger.info("profile of %s, by %s:\n%s", what, title, report.strip())
