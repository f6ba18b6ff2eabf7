"""Launching a campaign of 200 regions: ``Engine.start_campaign`` against starting the workflows in memory."""

from __future__ import annotations

import logging

from harness import USER, VARIANT, YEAR, Options, Row, Sample, add_regions, duration, log_profile, ready_engine
from inmemory import InMemory

from engine.engine import Engine
from engine.store import Store

logger = logging.getLogger(__name__)

REGIONS = 200
TARGET_SECONDS = 2.0


def run(options: Options, backend: str, store: Store) -> list[Row]:
    """Time repeated launches over the same regions, each by a fresh engine as in ``kaohe campaign start``."""
    repeats = 2 if options.quick else 5
    engine = ready_engine(store)
    codes = add_regions(store, REGIONS)
    baseline = InMemory(engine.runner.script_engine)
    campaign_data, region_data = baseline.start_data(codes)

    engine.start_campaign(VARIANT, YEAR, codes, USER)  # warm-up: lazy imports, compiled expressions
    baseline.launch(campaign_data, region_data)
    measured, in_memory = Sample(), Sample()
    for _ in range(repeats):
        fresh = Engine(store, clock=engine.clock)  # reads the version's specs from the database again
        measured.time(fresh.start_campaign, VARIANT, YEAR, codes, USER)
        in_memory.time(baseline.launch, campaign_data, region_data)
    if options.profile:
        fresh = Engine(store, clock=engine.clock)
        log_profile(f"Engine.start_campaign on {backend}", fresh.start_campaign, VARIANT, YEAR, codes, USER)

    return [Row(f"launch a campaign of {REGIONS} regions", backend,
                f"median {duration(measured.median)}, max {duration(measured.max)} (n={repeats})",
                f"{duration(in_memory.median)} ({REGIONS + 1} workflows in memory)",
                measured.median / in_memory.median, f"≤ {TARGET_SECONDS:g} s", measured.median <= TARGET_SECONDS)]

