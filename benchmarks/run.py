"""Run the benchmarks and print a Markdown table: ``python benchmarks/run.py [--quick] [--only NAME]``."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
from datetime import date
from importlib.metadata import version

import campaign_launch
import campaign_scale
import harness
import one_action
import simulation
import timers
import webapp
from harness import Options, Row, backends
from peer import compare as peer

from engine import config

logger = logging.getLogger("benchmarks")

#: name -> (run function, whether it runs once per database backend)
BENCHMARKS = {
    "action": (one_action.run, True),
    "launch": (campaign_launch.run, True),
    "scale": (campaign_scale.run, True),
    "simulate": (simulation.run, False),
    "timers": (timers.run, True),
    "web": (webapp.run, True),
    "peer": (peer.run, True),
}


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the benchmarks asked for, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions, for a smoke test.")
    parser.add_argument("--only", choices=list(BENCHMARKS), help="Run one benchmark.")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("KAOHE_TEST_DATABASE_URL"),
                        help="PostgreSQL URL (default: KAOHE_TEST_DATABASE_URL; without it PostgreSQL is skipped).")
    parser.add_argument("--profile", action="store_true",
                        help="After timing, profile each benchmark once and log the top entries.")
    args = parser.parse_args(argv)
    # Only the benchmarks' own progress: SpiffWorkflow logs every task state change at INFO, which costs time.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for module in (sys.modules[__name__], harness, one_action, campaign_launch, campaign_scale, simulation, timers,
                   webapp, peer):
        module.logger.setLevel(logging.INFO)
    options = Options(quick=args.quick, postgres=args.postgres, profile=args.profile)
    logger.info("%s; %d CPUs; Python %s; SpiffWorkflow %s; SQLAlchemy %s; code %s%s", date.today(), os.cpu_count(),
                platform.python_version(), version("SpiffWorkflow"), version("SQLAlchemy"), _revision(),
                " (quick)" if options.quick else "")

    rows: list[Row] = []
    for name, (run, per_backend) in BENCHMARKS.items():
        if args.only and name != args.only:
            continue
        if not per_backend:
            logger.info("%s", name)
            rows += run(options)
            continue
        for backend, store in backends(options):
            logger.info("%s on %s", name, backend)
            with store() as opened:
                rows += run(options, backend, opened)
    print(table(rows))


def _revision() -> str:
    """The commit measured, marked dirty when the working tree has changes."""
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=config.ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| benchmark | backend | measured | baseline | ratio | target | met |",
             "|---|---|---|---|---:|---|---|"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.benchmark} | {r.backend} | {r.measured} | {r.baseline} | {r.ratio:.1f}× "
                     f"| {r.target} | {met} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
