"""Timer benchmarks: lag from due time to fired under the real scheduler, and a burst of due timers.

1. ``lag``: 1,000 timers due over one minute (``--quick``: 200 over 20 s) on the real clock, fired by the
   embedded scheduler (APScheduler waking at each next due time). Lag = when the engine recorded the
   firing (audit log) minus the due time. Baseline in the same run: APScheduler alone, a no-op job per
   due time — the floor any scheduler-driven engine stands on, on this machine, now.
2. ``burst``: 10,000 timers (``--quick``: 1,000) due at the same moment on SQLite, fired by two
   schedulers at once; all must fire within 60 s and none twice. Baseline: the same firings in plain
   in-memory SpiffWorkflow (load → refresh timers → engine steps → save, no database).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from harness import Options, Row, sqlite_store
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import func, select

from engine.clock import CHINA, SystemClock, VirtualClock
from engine.engine import Engine
from engine.running import timer_events
from engine.running.scheduler import Scheduler
from engine.running.timers import WAITING, fire_due_timers
from engine.store import Store
from engine.store.models import AuditEntry, Timer

logger = logging.getLogger(__name__)

BUNDLE = Path(__file__).parent / "timer-bundle"
PROCESS = "bench_region"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(options: Options, backend: str, store: Store) -> list[Row]:
    rows = lag(options, backend, store)
    if backend == "SQLite":
        with sqlite_store() as fresh:  # its own database: only the burst's firings are counted
            rows += burst(options, fresh)
    return rows


def lag(options: Options, backend: str, store: Store) -> list[Row]:
    """Timers spread over a minute on the real clock; the embedded scheduler fires them."""
    count, spread = (200, 20.0) if options.quick else (1000, 60.0)
    engine = Engine(store, clock=SystemClock())
    engine.deploy(BUNDLE)
    lead = 5.0  # seconds to create the instances before the first falls due
    start = datetime.now(UTC) + timedelta(seconds=lead + count * 0.01)
    dues = [start + timedelta(seconds=spread * i / count) for i in range(count)]
    scheduler = Scheduler(engine)
    scheduler.start()
    try:
        for due in dues:
            engine.start_instance("timer-bench", PROCESS, {"due": due.isoformat()})
        last = dues[-1]
        while datetime.now(UTC) < last + timedelta(seconds=5) or _unfired(store):
            time.sleep(0.5)
            if datetime.now(UTC) > last + timedelta(seconds=60):
                break
    finally:
        scheduler.shutdown()
    with store.read() as session:
        fired = session.execute(select(AuditEntry.at, Timer.due_at)
                                .join(Timer, (Timer.instance_id == AuditEntry.instance_id)
                                      & (Timer.task_id == AuditEntry.task_id))
                                .where(AuditEntry.action == "timer")).all()
    lags = [(at - due).total_seconds() for at, due in fired]
    floor = _apscheduler_floor(count, spread)
    ours_p50, ours_p99 = _quantile(lags, 0.5), _quantile(lags, 0.99)
    base_p50, base_p99 = _quantile(floor, 0.5), _quantile(floor, 0.99)
    logger.info("lag on %s: %d of %d fired, p50 %.3f s, p99 %.3f s (APScheduler alone: p50 %.3f s, p99 %.3f s)",
                backend, len(lags), count, ours_p50, ours_p99, base_p50, base_p99)
    return [
        Row(f"timer lag p50 ({len(lags)}/{count} timers over {spread:.0f} s)", backend, f"{ours_p50 * 1000:.0f} ms",
            f"{base_p50 * 1000:.1f} ms (APScheduler no-op)", ours_p50 / max(base_p50, 1e-4)),
        Row("timer lag p99", backend, f"{ours_p99 * 1000:.0f} ms", f"{base_p99 * 1000:.1f} ms (APScheduler no-op)",
            ours_p99 / max(base_p99, 1e-4), "≤ 1 s", ours_p99 <= 1.0 and len(lags) == count),
    ]


def _unfired(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(Timer).where(WAITING))


def _apscheduler_floor(count: int, spread: float) -> list[float]:
    """Lags of no-op APScheduler jobs at the same spread of due times."""
    lags: list[float] = []
    lock = threading.Lock()
    scheduler = BackgroundScheduler()
    scheduler.start()
    start = datetime.now(UTC) + timedelta(seconds=1)
    try:
        for i in range(count):
            due = start + timedelta(seconds=spread * i / count / 4)  # a quarter of the spread: same density x4

            def job(due=due):
                with lock:
                    lags.append((datetime.now(UTC) - due).total_seconds())

            scheduler.add_job(job, DateTrigger(run_date=due), misfire_grace_time=None)
        while len(lags) < count and datetime.now(UTC) < start + timedelta(seconds=spread):
            time.sleep(0.1)
    finally:
        scheduler.shutdown()
    return lags


def burst(options: Options, store: Store) -> list[Row]:
    """Many timers due at one moment, two schedulers firing them; none may fire twice."""
    count = 1000 if options.quick else 10_000
    clock = VirtualClock(datetime(2025, 6, 2, 9, tzinfo=CHINA))
    engine = Engine(store, clock=clock)
    engine.deploy(BUNDLE)
    due = datetime(2025, 7, 1, tzinfo=CHINA)
    created = time.perf_counter()
    for _ in range(count):
        engine.start_instance("timer-bench", PROCESS, {"due": due.isoformat()})
    logger.info("burst: %d waiting instances made in %.1f s", count, time.perf_counter() - created)
    clock.set(due)
    other = Engine(store.another(), clock=clock)
    counts = [0, 0]

    def fire(n: int, which: Engine) -> None:
        while True:
            done = fire_due_timers(which, limit=500)
            counts[n] += done
            if not done:
                return

    started = time.perf_counter()
    threads = [threading.Thread(target=fire, args=(n, e)) for n, e in enumerate((engine, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    other.store.dispose()
    with store.read() as session:
        fired = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "timer"))
        twice = session.scalar(select(func.count()).select_from(
            select(AuditEntry.instance_id).where(AuditEntry.action == "timer").group_by(AuditEntry.instance_id)
            .having(func.count() > 1).subquery()))
    baseline = _in_memory_firings(engine, min(count, 1000)) * count / min(count, 1000)
    logger.info("burst: %d fired (%d + %d), %d twice, in %.1f s; in memory %.1f s", fired, *counts, twice,
                elapsed, baseline)
    ok = fired == count and twice == 0 and elapsed <= 60
    return [Row(f"{count:,} timers due at once, 2 schedulers", "SQLite", f"{elapsed:.1f} s, {fired:,} fired, "
                f"{twice} twice", f"{baseline:.1f} s (in-memory SpiffWorkflow)", elapsed / baseline,
                "all within 60 s, none twice", ok)]


def _in_memory_firings(engine: Engine, count: int) -> float:
    """Seconds plain SpiffWorkflow takes to restore, fire and save ``count`` waiting timers, in memory."""
    with engine.store.read() as session:
        version = engine.version(session, engine.current_version(session, "timer-bench").id)
    spec, subprocess_specs = version.specs[PROCESS]
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(timer_events.serializer_config(SPIFF_CONFIG)))
    script_engine = engine.runner.script_engine
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
    workflow.task_tree.data.update({"due": datetime(2025, 7, 1, tzinfo=CHINA).isoformat()})
    workflow.do_engine_steps()
    saved = serializer.serialize_json(workflow)
    started = time.perf_counter()
    for _ in range(count):
        restored = serializer.deserialize_json(saved)
        restored.script_engine = script_engine
        restored.refresh_timers()
        restored.do_engine_steps()
        serializer.serialize_json(restored)
    return time.perf_counter() - started
