"""Kaohe against django-viewflow 2.4: one action and one HTTP submission with 10,000 instances stored, and the
bytes each stores per instance, measured side by side (``benchmarks/run.py --only peer``).

Kaohe: the national region process, each instance waiting at its first user task (目标备案, 30 indicator
targets). viewflow: ``peerflow.flows.PeerFlow``, six user steps of 30 decimals each, every process waiting
at step 1. viewflow runs in its own venv (``benchmarks/peer/setup.sh``) as a child process, ``worker.py``.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from harness import USER, VARIANT, YEAR, Options, Row, Sample, add_regions, duration, ready_engine
from one_action import INSTANCES, PER_CAMPAIGN, TASK
from sqlalchemy import select, text
from webapp import kaohe_serve

from engine.engine import Engine
from engine.people import signin
from engine.store import Store
from engine.store.models import InboxTask, ProcessVersion

logger = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parent
PYTHON = FOLDER / ".venv" / "bin" / "python"
#: Actions timed in blocks, alternating Kaohe's and viewflow's, so that both see the same noise.
BLOCK = 10
WARMUP = 3


def run(options: Options, backend: str, store: Store) -> list[Row]:
    """Fill both sides, then time one action, one HTTP submission and the bytes per instance of each."""
    if not PYTHON.exists():
        logger.warning("peer skipped: no viewflow venv at %s (run benchmarks/peer/setup.sh)", PYTHON.parent.parent)
        return []
    actions, submissions = (30, 20) if options.quick else (200, 100)
    engine = ready_engine(store)
    ready, kaohe_bytes = fill(engine, store)
    data = {"targets": [{"indicator": code, "target": "≥ 95%"} for code in indicators(store)]}
    with peer_worker(options, backend) as peer:
        kaohe, viewflow = Sample(), Sample()
        for task in ready[:WARMUP]:
            engine.complete(task.id, data, USER)
        peer.ask({"act": WARMUP})
        timed = ready[WARMUP:WARMUP + actions]
        for start in range(0, actions, BLOCK):
            block = timed[start:start + BLOCK]
            for task in block:
                kaohe.time(engine.complete, task.id, data, USER)
            viewflow.values += peer.ask({"act": len(block)})["durations"]
        kaohe_http, viewflow_http = over_http(store, peer, ready[WARMUP + actions:][:WARMUP + submissions], data)
    faster, faster_http = viewflow.median / kaohe.median, viewflow_http.median / kaohe_http.median
    per_instance, peer_per_instance = kaohe_bytes / INSTANCES, peer.bytes_per_instance
    return [
        Row("peer: one action, 10,000 instances stored", backend,
            f"Kaohe `Engine.complete` median {duration(kaohe.median)}, p95 {duration(kaohe.p95)} (n={actions}); "
            f"{faster:.1f}× faster", f"viewflow's task view {duration(viewflow.median)}, p95 {duration(viewflow.p95)}",
            kaohe.median / viewflow.median, "≥ 2× faster (ratio ≤ 0.5×)", faster >= 2),
        Row("peer: one submission over HTTP, one client", backend,
            f"Kaohe, `kaohe serve` median {duration(kaohe_http.median)}, p95 {duration(kaohe_http.p95)} "
            f"(n={submissions}); {faster_http:.1f}× faster",
            f"viewflow on waitress {duration(viewflow_http.median)}, p95 {duration(viewflow_http.p95)}",
            kaohe_http.median / viewflow_http.median),
        Row("peer: bytes stored per instance", backend, f"Kaohe {per_instance / 1000:.2f} KB",
            f"viewflow {peer_per_instance / 1000:.2f} KB", per_instance / peer_per_instance, "ratio ≤ 2×",
            per_instance <= 2 * peer_per_instance),
    ]


def fill(engine: Engine, store: Store) -> tuple[list[InboxTask], int]:
    """The 10,000 regions, then their campaigns; the ready target filings, shuffled, and the bytes the
    campaigns added to the database (instances, inbox rows, audit entries and their indexes)."""
    codes = add_regions(store, INSTANCES)
    before = stored_bytes(store)
    for start in range(0, INSTANCES, PER_CAMPAIGN):
        engine.start_campaign(VARIANT, YEAR, codes[start:start + PER_CAMPAIGN], actor=USER)
    added = stored_bytes(store) - before
    if store.dialect == "postgresql":
        with store.write() as session:
            session.execute(text("ANALYZE"))
    ready = [t for t in engine.tasks() if t.bpmn_id == TASK]
    if len(ready) != INSTANCES:
        raise RuntimeError(f"expected {INSTANCES} ready {TASK} tasks, found {len(ready)}")
    random.Random(1).shuffle(ready)
    return ready, added


def stored_bytes(store: Store) -> int:
    """The database's size: SQLite's pages in use, or every table of the schema with its indexes and TOAST."""
    with store.read() as session:
        if store.dialect == "sqlite":
            return session.execute(text("SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT "
                                        "freelist_count FROM pragma_freelist_count())")).scalar() * \
                session.execute(text("PRAGMA page_size")).scalar()
        return int(session.execute(text(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar())


def indicators(store: Store) -> list[str]:
    with store.read() as session:
        scheme = session.scalars(select(ProcessVersion.scheme).where(ProcessVersion.variant == VARIANT)).first()
    return [i["code"] for i in scheme["indicators"]]


class Peer:
    """The viewflow worker: one JSON request per line on its stdin, one JSON answer per line on its stdout."""

    def __init__(self, process: subprocess.Popen, errors):
        self.process, self.errors = process, errors
        first = self.ask(None)
        self.bytes_per_instance = first["bytes_per_instance"]
        logger.info("viewflow %s on Django %s: %d processes stored", first["viewflow"], first["django"], INSTANCES)

    def ask(self, request: dict | None) -> dict:
        if request is not None:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.errors.seek(0)
            raise RuntimeError(f"the viewflow worker stopped: {self.errors.read()[-3000:]}")
        return json.loads(line)


@contextmanager
def peer_worker(options: Options, backend: str) -> Iterator[Peer]:
    """``worker.py`` in the peer venv on a SQLite file of its own or a PostgreSQL schema of its own."""
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-peer-") as folder, \
            tempfile.TemporaryFile("w+") as errors:
        schema = None
        if backend == "PostgreSQL":
            schema = f"peer_{uuid.uuid4().hex[:12]}"
            admin = Store(options.postgres)
            with admin.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            database = options.postgres.replace("+psycopg", "", 1) + f"{'&' if '?' in options.postgres else '?'}" \
                f"schema={schema}"
        else:
            database = f"{folder}/peer.db"
        logger.info("viewflow worker filling %d processes on %s", INSTANCES, backend)
        process = subprocess.Popen([str(PYTHON), str(FOLDER / "worker.py"), database, str(INSTANCES)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            yield Peer(process, errors)
        finally:
            process.stdin.close()
            process.wait(60)
            if schema:
                with admin.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def over_http(store: Store, peer: Peer, tasks: list[InboxTask], data: dict) -> tuple[Sample, Sample]:
    """One client, alternating: Kaohe's API submission to ``kaohe serve``, then viewflow's form POST to waitress
    (8 threads each), every request on its side's keep-alive connection; the first ``WARMUP`` not counted."""
    served = peer.ask({"serve": len(tasks)})
    token = signin.issue_token(store, datetime.now(UTC), USER, "bench")
    body, form = json.dumps(data), urlencode(served["body"])
    kaohe_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    peer_headers = dict(served["headers"], **{"Content-Type": "application/x-www-form-urlencoded"})
    kaohe, viewflow = Sample(), Sample()
    with kaohe_serve(store, 1) as (port, _server):
        ours = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        theirs = http.client.HTTPConnection("127.0.0.1", served["port"], timeout=60)
        for k, (task, url) in enumerate(zip(tasks, served["urls"], strict=True)):
            took = post(ours, f"/api/v1/tasks/{task.id}/complete", body, kaohe_headers, 200)
            their_took = post(theirs, url, form, peer_headers, 302)
            if k >= WARMUP:
                kaohe.values.append(took)
                viewflow.values.append(their_took)
        ours.close()
        theirs.close()
    return kaohe, viewflow


def post(connection: http.client.HTTPConnection, path: str, body: str, headers: dict, expected: int) -> float:
    """POST and read the answer; its duration, or an error naming what the server answered instead."""
    start = time.perf_counter()
    connection.request("POST", path, body=body.encode(), headers=headers)
    response = connection.getresponse()
    answer = response.read()
    took = time.perf_counter() - start
    if response.status != expected:
        raise RuntimeError(f"POST {path}: {response.status} {answer[:300]!r}")
    return took
