"""One user action with 10,000 region instances stored: ``Engine.complete`` against SpiffWorkflow in memory."""

from __future__ import annotations

import logging
import random
from uuid import UUID

from harness import USER, VARIANT, YEAR, Options, Row, Sample, add_regions, duration, log_profile, ready_engine
from inmemory import InMemory
from sqlalchemy import func, select, text

from engine.engine import Engine
from engine.store import Store
from engine.store.models import Instance

logger = logging.getLogger(__name__)

INSTANCES = 10_000
PER_CAMPAIGN = 200
TASK = "Task_target_filing"
WARMUP = 3
PROFILED = 20


def run(options: Options, backend: str, store: Store) -> list[Row]:
    """Fill the store with real instances, then time completions of ready tasks in different instances."""
    actions = 30 if options.quick else 200
    engine = ready_engine(store)
    fill(engine, store)
    baseline = InMemory(engine.runner.script_engine)
    data = {"targets": [{"indicator": i["code"], "target": "≥ 95%"} for i in baseline.bundle.scheme["indicators"]]}

    ready = [t for t in engine.tasks() if t.bpmn_id == TASK]
    random.Random(1).shuffle(ready)
    spare = ready.pop()  # never completed: its stored state is where the baseline starts, every time
    warmup, timed, rest = ready[:WARMUP], ready[WARMUP:WARMUP + actions], ready[WARMUP + actions:][:PROFILED]
    with store.read() as session:
        state = session.get(Instance, spare.instance_id).state
    stock_state = baseline.stock.serialize_json(baseline.restore_spec_free(state, baseline.region_process))
    task_id = UUID(spare.id)

    for task in warmup:
        done = engine.complete(task.id, data, USER)
        if done.status != "running" or not done.next_tasks:
            raise RuntimeError(f"{TASK} did not lead on: {done}")
        baseline.act_stock(stock_state, task_id, data)
        baseline.act_spec_free(state, baseline.region_process, task_id, data)
    measured, stock, spec_free = Sample(), Sample(), Sample()
    for task in timed:
        # Interleaved, so that the engine and its baselines see the same noise from the shared machine.
        measured.time(engine.complete, task.id, data, USER)
        stock.time(baseline.act_stock, stock_state, task_id, data)
        spec_free.time(baseline.act_spec_free, state, baseline.region_process, task_id, data)
    if options.profile:
        def complete_rest():
            for task in rest:
                engine.complete(task.id, data, USER)

        log_profile(f"Engine.complete of {PROFILED} tasks on {backend}", complete_rest)

    name = f"one action, {INSTANCES:,} instances stored"
    figures = f"median {duration(measured.median)}, p95 {duration(measured.p95)} (n={actions})"
    ratio = measured.median / stock.median
    return [
        Row(name, backend, figures, f"{duration(stock.median)} (SpiffWorkflow's serializer)", ratio,
            "ratio ≤ 3×", ratio <= 3),
        Row(f"{name}, against the spec-free floor", backend, figures,
            f"{duration(spec_free.median)} (engine's spec-free serializer)", measured.median / spec_free.median),
    ]


def fill(engine: Engine, store: Store) -> None:
    """Launch campaigns of 200 new regions each until ``INSTANCES`` region instances are stored."""
    campaigns = INSTANCES // PER_CAMPAIGN
    for n in range(campaigns):
        codes = add_regions(store, PER_CAMPAIGN, first=n * PER_CAMPAIGN)
        engine.start_campaign(VARIANT, YEAR, codes, actor=USER)
        if (n + 1) % 10 == 0:
            logger.info("stored %d of %d campaigns of %d regions", n + 1, campaigns, PER_CAMPAIGN)
    with store.read() as session:
        stored = session.scalar(select(func.count()).select_from(Instance).where(Instance.region.is_not(None)))
    if stored != INSTANCES:
        raise RuntimeError(f"expected {INSTANCES} region instances, found {stored}")
    if store.dialect == "postgresql":
        # What autovacuum would have done by now on a database that grew to this size over months.
        with store.write() as session:
            session.execute(text("ANALYZE"))
