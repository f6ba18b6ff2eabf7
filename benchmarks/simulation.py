"""``kaohe simulate national-2013 --year 2025``, 31 provinces, as a whole process against interpreter start-up."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from harness import VARIANT, YEAR, Options, Row, Sample, duration, log_profile

from engine import config
from engine.running.simulate import run_simulation

logger = logging.getLogger(__name__)

TARGET_SECONDS = 5.0  # issue 13: the national year in at most 5 s (9.5 s before the reminder scan read only new tasks)
KAOHE = Path(sys.executable).parent / "kaohe"
SIMULATE = [str(KAOHE), "simulate", VARIANT, "--year", str(YEAR)]
IMPORT = [sys.executable, "-c", "import engine.cli"]


def run(options: Options) -> list[Row]:
    """Run both commands in turn; the ratio shows the work beyond starting Python and importing the engine."""
    repeats = 1 if options.quick else 3
    measured, start_up = Sample(), Sample()
    for _ in range(repeats):
        start_up.time(_run, IMPORT)
        measured.time(_run, SIMULATE)
        logger.info("simulate took %s", duration(measured.values[-1]))
    if options.profile:
        log_profile("run_simulation (in process)", run_simulation, VARIANT, YEAR)

    return [Row(f"`kaohe simulate {VARIANT} --year {YEAR}` (31 provinces)", "SQLite",
                f"median {duration(measured.median)}, max {duration(measured.max)} (n={repeats})",
                f"{duration(start_up.median)} (`python -c \"import engine.cli\"`)",
                measured.median / start_up.median, f"≤ {TARGET_SECONDS:g} s", measured.median <= TARGET_SECONDS)]


def _run(command: list[str]) -> None:
    subprocess.run(command, cwd=config.ROOT, check=True, stdout=subprocess.DEVNULL)
