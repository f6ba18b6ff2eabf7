"""The web app with 100,000 open tasks: the inbox page, the API task list, and submissions through waitress.

Run by ``run.py`` (``--only web``). The concurrent clients of the submission part run in a child process,
``python benchmarks/webapp.py --clients`` (a JSON job on stdin, JSON figures on stdout), so that their own
Python work does not compete with the server for its interpreter lock.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import math
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from harness import USER, VARIANT, YEAR, Options, Row, Sample, add_regions, duration, log_profile, ready_engine
from sqlalchemy import func, insert, select

from engine.engine import Engine
from engine.people import accounts, signin
from engine.people.accounts import Grant
from engine.store import Store
from engine.store.models import InboxTask, Instance, ProcessVersion

logger = logging.getLogger(__name__)

OPEN_TASKS = 100_000
#: Real instances, launched through the engine: 22 campaigns of 200 synthetic regions (4,400 ready tasks: the
#: submissions of both servers set 4,308 aside).
CAMPAIGNS, PER_CAMPAIGN = 22, 200
TASK = "Task_target_filing"
PASSWORD = "Kaohe@2025"
LEAD = "lead"
CLIENTS = 20
#: The production default of ``kaohe serve``.
SERVER_THREADS = 8
#: ``kaohe serve --processes``: the default, and one per core of the benchmark machines (2).
SERVERS = (1, 2)
#: The open loop: submissions arriving at random, this many a second on average, for this many seconds.
OPEN_RATE, OPEN_SECONDS = 50, 30.0
STATIC = "/static/app.css"
INBOX_TARGET, API_TARGET = 0.050, 0.020
#: Issue 13: submissions a second under 20 closed-loop clients; p95 of the open loop; one submission against the
#: spec-free in-memory floor.
SATURATION_TARGET, OPEN_TARGET, FLOOR_TARGET = 300, 0.030, 5

#: The other user tasks of the region process, as the bulk-inserted rows use them: (bpmn id, name, weight).
#: Most open tasks of a real year are member units' (six units per region for opinions and scoring).
STEPS = [
    ("Task_filing_opinion", "征求成员单位意见", 34),
    ("Task_filing_review", "备案审核", 6),
    ("Task_self_evaluation", "自我评价", 4),
    ("Task_onsite_check", "实地核查", 8),
    ("Task_indicator_scoring", "指标评分", 34),
    ("Task_score_confirmation", "考核组确认", 8),
    ("Task_rectification_report", "整改报告", 2),
    ("Task_rectification_review", "整改审核", 2),
    ("Task_interview", "约谈", 2),
]
UNIT_STEPS = {"Task_filing_opinion", "Task_indicator_scoring"}
#: Who has claimed a bulk row (5% of them are claimed), by role.
CLAIMANTS = {"lead_agency": LEAD, "assessment_group": "expert", "member_unit": "unit-{unit}",
             "assessed": "gov-{region}"}
CLAIMED = 0.05


def run(options: Options, backend: str, store: Store) -> list[Row]:
    """Fill the store with 100,000 open tasks, then time the pages, the API and concurrent submissions."""
    from web import create_app, serve

    engine = ready_engine(store)
    ready = fill(engine, store)
    province = ready[0].region
    users = [User(f"gov-{province}", "assessed", province, "a province"),
             User(LEAD, "lead_agency", None, "the lead agency")]
    with store.write() as session:
        password = accounts.hash_password(PASSWORD)
        for user in users:
            accounts.create_user(session, user.name, user.name,
                                 [Grant(user.role, region=user.region)]).password_hash = password
    for user in users:
        user.floor = bare_sql(store, user)
    if options.quick:
        logger.info("--quick: the lead agency's lists of 7,000-odd tasks to claim are not timed")
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-web-") as folder:
        app = create_app({"ENGINE": engine, "SECRET_KEY": "bench", "UPLOAD_FOLDER": folder})
        serve.settle()  # as ``kaohe serve`` does once started
        rows = pages(options, backend, app, users)
        rows += api(options, backend, app, store, engine, users)
        floor = Floor(engine, ready[1], scheme_of(store), 5 if options.quick else 20)
        rows += submissions(options, backend, store, ready[2:], floor)
    return rows


@dataclass
class User:
    """A user the lists are timed for; ``floor``: their tasks to claim by one bare SELECT."""

    name: str
    role: str
    region: str | None
    who: str
    floor: Sample | None = None


# -- the data ----------------------------------------------------------------------------------------
def fill(engine: Engine, store: Store) -> list[InboxTask]:
    """Real campaigns, then bulk-inserted inbox rows of their instances up to ``OPEN_TASKS``; the real
    ready target-filing tasks, shuffled."""
    started = time.perf_counter()
    for n in range(CAMPAIGNS):
        codes = add_regions(store, PER_CAMPAIGN, first=n * PER_CAMPAIGN)
        engine.start_campaign(VARIANT, YEAR, codes, actor=USER)
    with store.read() as session:
        instances = session.execute(select(Instance.id, Instance.campaign_id, Instance.region)
                                    .where(Instance.region.is_not(None)).order_by(Instance.id)).all()
        user_tasks = session.scalars(select(ProcessVersion.manifest)
                                     .where(ProcessVersion.variant == VARIANT)).one()["user_tasks"]
        real = session.scalar(select(func.count()).select_from(InboxTask))
        scheme = session.scalars(select(ProcessVersion.scheme).where(ProcessVersion.variant == VARIANT)).one()
    units = [u["code"] for u in scheme["units"]]
    logger.info("%d campaigns launched, %d real instances, %d real open tasks, in %.1f s", CAMPAIGNS,
                len(instances), real, time.perf_counter() - started)

    rng, ids = random.Random(4), random.Random(5)
    now = engine.clock.now()
    names, weights = [(b, n) for b, n, _ in STEPS], [w for _, _, w in STEPS]
    bulk = []
    for k in range(OPEN_TASKS - real):
        instance_id, campaign_id, region = instances[k % len(instances)]
        bpmn_id, name = rng.choices(names, weights)[0]
        info = user_tasks[bpmn_id]
        unit = rng.choice(units) if bpmn_id in UNIT_STEPS else None
        claimed = rng.random() < CLAIMED
        bulk.append(dict(
            id=str(UUID(int=ids.getrandbits(128), version=4)), instance_id=instance_id, campaign_id=campaign_id,
            variant=VARIANT, bpmn_id=bpmn_id,
            name=name, lane=info["lane"], role=info["role"], region=region, unit=unit, form=info["form"],
            assignee=CLAIMANTS[info["role"]].format(unit=unit, region=region) if claimed else None,
            created_at=now - timedelta(minutes=rng.randrange(200 * 24 * 60)),
            due_at=None if rng.random() < 0.1 else now + timedelta(hours=rng.randrange(-30 * 24, 120 * 24))))
    started = time.perf_counter()
    with store.engine.begin() as connection:  # Core on the table: one executemany (the ORM's bulk insert would
        connection.execute(insert(InboxTask.__table__), bulk)  # split it wherever the None columns change)
    if store.dialect == "postgresql":
        # What autovacuum does within a minute of so many inserts (PostgreSQL 13+): statistics, and the
        # visibility map that lets an index-only scan skip the table.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    with store.read() as session:
        total = session.scalar(select(func.count()).select_from(InboxTask))
        ready = list(session.scalars(select(InboxTask).where(InboxTask.bpmn_id == TASK)))
    if total != OPEN_TASKS:
        raise RuntimeError(f"expected {OPEN_TASKS} open tasks, found {total}")
    logger.info("%d inbox rows bulk-inserted in %.1f s: %d open tasks", len(bulk), time.perf_counter() - started,
                total)
    random.Random(1).shuffle(ready)
    return ready


# -- the pages and the API, through Flask's test client ------------------------------------------------
class Series:
    """Requests of one URL timed against a baseline request, interleaved, until ``n`` or the time budget."""

    def __init__(self, options: Options):
        self.n = 10 if options.quick else 40
        self.at_least = 2 if options.quick else 3
        self.budget = 2.0 if options.quick else 10.0  # seconds for one series: an inbox page may take seconds

    def time(self, client, url: str, headers: dict | None = None, check=None) -> tuple[Sample, Sample]:
        """After one warm-up request of each (templates compiled, statements prepared)."""
        measured, baseline = Sample(), Sample()
        started = time.perf_counter()
        while len(measured.values) < self.at_least or (len(measured.values) < self.n
                                                        and time.perf_counter() - started < self.budget):
            measured.time(_get, client, url, headers, check)
            baseline.time(_get, client, STATIC)
        return measured, baseline


def _get(client, url: str, headers: dict | None = None, check=None):
    response = client.get(url, headers=headers or {})
    if response.status_code != 200 or (check and not check(response)):
        raise RuntimeError(f"GET {url}: {response.status_code} {response.data[:300]!r}")
    return response


def sign_in(app, username: str):
    """A test client signed in through the login form, as a browser would be."""
    client = app.test_client()
    page = _get(client, "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    if done.status_code != 302:
        raise RuntimeError(f"sign-in of {username} failed: {done.status_code}")
    return client


def bare_sql(store: Store, user: User, n: int = 5) -> Sample:
    """The rows ``user`` may claim, by one SELECT on the inbox index: the floor under both lists."""
    query = select(InboxTask).where(InboxTask.role == user.role, InboxTask.assignee.is_(None)).order_by(
        InboxTask.due_at.is_(None), InboxTask.due_at, InboxTask.created_at, InboxTask.id)
    if user.region:
        query = query.where(InboxTask.region == user.region)
    sample = Sample()

    def select_rows():
        with store.read() as session:
            return list(session.scalars(query))

    select_rows()
    for _ in range(n):
        sample.time(select_rows)
    return sample


def pages(options: Options, backend: str, app, users: list[User]) -> list[Row]:
    """The inbox page listing the tasks to claim: a province's few, the lead agency's thousands."""
    series, rows = Series(options), []
    url = "/inbox?scope=claimable"
    for user in users[:1] if options.quick else users:
        client = sign_in(app, user.name)
        shown = _get(client, url).text.count("data-task=")
        _get(client, STATIC)
        measured, baseline = series.time(client, url, check=lambda r: "data-task=" in r.text)
        logger.info("GET %s as %s, %d tasks: median %s, p95 %s (n=%d); static %s; bare SQL %s", url, user.name,
                    shown, duration(measured.median), duration(measured.p95), len(measured.values),
                    duration(baseline.median), duration(user.floor.median))
        rows.append(_row(f"inbox page, {user.who} ({shown:,} tasks to claim)", backend, measured, baseline,
                         user.floor, INBOX_TARGET))
        if options.profile:
            log_profile(f"GET {url} as {user.name} on {backend}", _get, client, url)
    return rows


def api(options: Options, backend: str, app, store: Store, engine: Engine, users: list[User]) -> list[Row]:
    """GET /api/v1/tasks with a bearer token: one's claimed tasks (the default) and the ones to claim."""
    series, rows = Series(options), []
    client = app.test_client()
    for user in users:
        headers = {"Authorization": f"Bearer {signin.issue_token(store, engine.clock.now(), user.name, 'bench')}"}
        for url, what in (("/api/v1/tasks", "claimed"), ("/api/v1/tasks?scope=claimable", "to claim")):
            if options.quick and what == "to claim" and user.role == "lead_agency":
                continue
            listed = len(_get(client, url, headers).get_json()["tasks"])
            _get(client, STATIC)
            measured, baseline = series.time(client, url, headers)
            logger.info("GET %s as %s, %d tasks: median %s, p95 %s (n=%d); static %s", url, user.name, listed,
                        duration(measured.median), duration(measured.p95), len(measured.values),
                        duration(baseline.median))
            rows.append(_row(f"API task list, {user.who}, {what} ({listed:,} tasks)", backend, measured, baseline,
                             user.floor if what == "to claim" else None, API_TARGET))
            if options.profile and what == "to claim":
                log_profile(f"GET {url} as {user.name} on {backend}", _get, client, url, headers)
    return rows


def _row(name: str, backend: str, measured: Sample, baseline: Sample, floor: Sample | None,
         target: float) -> Row:
    also = f"; the same rows by bare SQL {duration(floor.median)}" if floor else ""
    return Row(name, backend,
               f"median {duration(measured.median)}, p95 {duration(measured.p95)} (n={len(measured.values)})",
               f"{duration(baseline.median)} (GET {STATIC}){also}", measured.median / baseline.median,
               f"p95 ≤ {duration(target)}", measured.p95 <= target)


# -- submissions through the real server -------------------------------------------------------------
@dataclass
class Plan:
    """How many submissions each phase of one server's run makes."""

    closed: int  # 20 clients back to back (a closed loop: the queue)
    open_seconds: float  # Poisson arrivals at OPEN_RATE for this long (an open loop: what users feel)
    alone: int  # one client

    @property
    def open(self) -> int:
        """Tasks set aside for the open loop: the expected arrivals and five standard deviations (Poisson)."""
        expected = OPEN_RATE * self.open_seconds
        return int(expected + 5 * math.sqrt(expected)) + 1

    @property
    def needed(self) -> int:
        return CLIENTS + self.closed + self.open + self.alone


def submissions(options: Options, backend: str, store: Store, ready: list[InboxTask], floor: Floor) -> list[Row]:
    """``kaohe serve`` on a free port of 127.0.0.1, on this benchmark's database, with one and then with two
    processes; the clients in a child process, each submitting the target filing of distinct regions, every one
    by that region's own government with its own token."""
    plan = Plan(100, 10.0, 10) if options.quick else Plan(CLIENTS * 20, OPEN_SECONDS, 40)
    if len(ready) < plan.needed * len(SERVERS):
        raise RuntimeError(f"only {len(ready)} ready {TASK} tasks, {plan.needed * len(SERVERS)} needed")
    started = time.perf_counter()
    with store.write() as session:
        for task in ready[:plan.needed * len(SERVERS)]:
            accounts.create_user(session, f"gov-{task.region}", f"gov-{task.region}",
                                 [Grant("assessed", region=task.region)])
    logger.info("%d province users in %.1f s", plan.needed * len(SERVERS), time.perf_counter() - started)
    body = json.dumps(submitted(scheme_of(store)))
    rows = []
    for n, processes in enumerate(SERVERS):
        tasks = ready[n * plan.needed:(n + 1) * plan.needed]
        # The server runs on the real clock (the benchmark's engine is in June 2025): tokens of today.
        tokens = [signin.issue_token(store, datetime.now(UTC), f"gov-{task.region}", "bench") for task in tasks]
        with kaohe_serve(store, processes) as (port, server):
            results = _drive(port, server, tasks, tokens, body, plan, floor)
        answered = sum(len(results[p]["latencies"]) for p in SUBMITTING)
        with store.read() as session:
            left = session.scalar(select(func.count()).select_from(InboxTask)
                                  .where(InboxTask.id.in_([t.id for t in tasks])))
        if left != len(tasks) - answered:
            raise RuntimeError(f"{answered} submissions answered 200 but {len(tasks) - left} of the tasks are done")
        rows += _submission_rows(backend, processes, results)
    return rows


def scheme_of(store: Store) -> dict:
    with store.read() as session:
        return session.scalars(select(ProcessVersion.scheme).where(ProcessVersion.variant == VARIANT)).one()


def submitted(scheme: dict) -> dict:
    """The form every submission sends: a target for each of the scheme's indicators (30)."""
    return {"targets": [{"indicator": i["code"], "target": "≥ 95%"} for i in scheme["indicators"]]}


class Floor:
    """The same completion in plain SpiffWorkflow in memory (benchmark 1's spec-free floor): ``task``'s stored
    state restored with the specs already in memory, the task completed with the same form, run to the next
    wait and serialized; no database, no HTTP. ``task`` itself is never completed. Timed ``n`` times right
    before and right after the one-client phase of each server, so that it sees the same load."""

    def __init__(self, engine: Engine, task: InboxTask, scheme: dict, n: int):
        from inmemory import InMemory

        self.baseline = InMemory(engine.runner.script_engine)
        with engine.store.read() as session:
            self.state = session.get(Instance, task.instance_id).state
        self.data, self.task_id, self.n = submitted(scheme), UUID(task.id), n
        self.act()  # warm-up

    def act(self) -> None:
        self.baseline.act_spec_free(self.state, self.baseline.region_process, self.task_id, self.data)

    def time(self) -> dict:
        """``n`` runs: their durations and the CPU time they took."""
        sample, cpu = Sample(), time.process_time()
        for _ in range(self.n):
            sample.time(self.act)
        return {"latencies": sample.values, "cpu": time.process_time() - cpu}


@contextmanager
def kaohe_serve(store: Store, processes: int):
    """``kaohe serve --no-scheduler`` (the timers of June 2025 would all fall due on today's clock) on the
    benchmark's database until every serving process says it is serving; yields the port and the process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="kaohe-bench-serve-") as folder:
        env = dict(os.environ, KAOHE_DATABASE_URL=store.server_url, KAOHE_DATA_DIR=folder, PYTHONUNBUFFERED="1")
        command = [str(Path(sys.executable).parent / "kaohe"), "serve", "--no-scheduler", "--port", str(port),
                   "--processes", str(processes), "--threads", str(SERVER_THREADS)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        serving, output = threading.Semaphore(0), []

        def read() -> None:  # keep the pipe drained; count "Serving on" lines
            for line in server.stdout:
                output.append(line)
                if "Serving on" in line:
                    serving.release()

        threading.Thread(target=read, daemon=True).start()
        try:
            for _ in range(processes):
                if not serving.acquire(timeout=60):
                    raise RuntimeError(f"kaohe serve did not start: {''.join(output)[-2000:]}")
            logger.info("kaohe serve --processes %d on port %d", processes, port)
            yield port, server
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and of its serving children so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(int(c)) for c in children)


#: The phases that submit (the others GET the static file).
SUBMITTING = ("warm-up", "submit", "submit open", "submit alone")


def _drive(port: int, server: subprocess.Popen, tasks: list[InboxTask], tokens: list[str], body: str,
           plan: Plan, floor: Floor) -> dict:
    """The phases of requests, run by the client child process, one at a time, with the server's CPU time
    and the machine's load average around each."""

    def submit(k: int) -> list:
        return ["POST", f"/api/v1/tasks/{tasks[k].id}/complete", body,
                {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"}]

    static = ["GET", STATIC, None, {}]
    ends = list(itertools.accumulate((CLIENTS, plan.closed, plan.open, plan.alone)))
    warm, closed = range(ends[0]), range(ends[0], ends[1])
    opened, alone = range(ends[1], ends[2]), range(ends[2], ends[3])
    per_client = plan.closed // CLIENTS
    # name, then either one list of requests per client thread (a closed loop: each client sends its next request
    # when the answer to the last is in) or {"rate", "seconds", "requests"} (an open loop: Poisson arrivals)
    phases = [
        ("warm-up", [[submit(k)] for k in warm]),
        ("static before", [[static] * per_client for _ in range(CLIENTS)]),
        ("submit", [[submit(k) for k in closed[c::CLIENTS]] for c in range(CLIENTS)]),
        ("static after", [[static] * per_client for _ in range(CLIENTS)]),
        ("static open", {"rate": OPEN_RATE, "seconds": min(plan.open_seconds, 5.0), "requests": [static]}),
        ("submit open", {"rate": OPEN_RATE, "seconds": plan.open_seconds, "requests": [submit(k) for k in opened]}),
        ("submit alone", [[submit(k) for k in alone]]),
        ("static alone", [[static] * len(alone)]),
    ]
    results = {}
    for name, requests in phases:
        if name == "submit alone":
            results["floor before"] = floor.time()
        job = json.dumps({"port": port, "phases": [[name, requests]]})
        cpu = cpu_seconds(server.pid)
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--clients"], input=job, text=True,
                              capture_output=True, timeout=600, check=True)
        result = results[name] = json.loads(done.stdout)[name]
        result["cpu"], result["load"] = cpu_seconds(server.pid) - cpu, os.getloadavg()[0]
        logger.info("%s: %d answered in %.2f s, %d failed%s; server CPU %.2f s, load average %.1f", name,
                    len(result["latencies"]), result["wall"], len(result["failures"]),
                    f", e.g. {result['failures'][0]}" if result["failures"] else "", result["cpu"], result["load"])
        if name == "submit alone":
            results["floor after"] = floor.time()
    return results


def _submission_rows(backend: str, processes: int, results: dict) -> list[Row]:
    def figures(phase: str) -> tuple[Sample, str]:
        result = results[phase]
        sample = Sample()
        sample.values = result["latencies"]
        rate = len(sample.values) / result["wall"]
        cpu = f", server CPU {duration(result['cpu'] / len(sample.values))} each" if result["cpu"] else ""
        return sample, (f"median {duration(sample.median)}, p95 {duration(sample.p95)} (n={len(sample.values)}), "
                        f"{len(result['failures'])} failed, {rate:.0f}/s{cpu}; load {result['load']:.1f}")

    def failed(phase: str) -> int:
        return len(results[phase]["failures"])

    server = f"kaohe serve, {processes} process{'es' if processes > 1 else ''}"
    busy, busy_text = figures("submit")
    throughput = len(busy.values) / results["submit"]["wall"]
    opened, open_text = figures("submit open")
    static_open, _ = figures("static open")
    quiet, quiet_text = figures("submit alone")
    static_busy = Sample()
    static_busy.values = results["static before"]["latencies"] + results["static after"]["latencies"]
    static_quiet, _ = figures("static alone")
    floor = Sample()
    floor.values = results["floor before"]["latencies"] + results["floor after"]["latencies"]
    floor_cpu = (results["floor before"]["cpu"] + results["floor after"]["cpu"]) / len(floor.values)
    quiet_cpu = results["submit alone"]["cpu"] / len(quiet.values)
    static_rate = len(static_busy.values) / (results["static before"]["wall"] + results["static after"]["wall"])
    return [
        Row(f"task submission, {server}, {CLIENTS} closed-loop clients (saturation)", backend, busy_text,
            f"{static_rate:.0f}/s, p95 {duration(static_busy.p95)} (GET {STATIC}, {CLIENTS} clients)",
            static_rate / throughput, f"≥ {SATURATION_TARGET}/s, none failed",
            throughput >= SATURATION_TARGET and failed("submit") == 0),
        Row(f"task submission, {server}, open loop: Poisson arrivals at {OPEN_RATE}/s", backend, open_text,
            f"{duration(static_open.median)}, p95 {duration(static_open.p95)} (GET {STATIC}, same arrivals)",
            opened.median / static_open.median, f"p95 ≤ {duration(OPEN_TARGET)}, none failed",
            opened.p95 <= OPEN_TARGET and failed("submit open") == 0 and results["submit open"]["late"] == 0),
        Row(f"task submission, {server}, one client", backend, quiet_text,
            f"{duration(floor.median)}, CPU {duration(floor_cpu)} (spec-free SpiffWorkflow in memory, the same "
            f"completion, before and after; CPU ratio {quiet_cpu / floor_cpu:.1f}×); {duration(static_quiet.median)} "
            f"(GET {STATIC})", quiet.median / floor.median,
            f"≤ {FLOOR_TARGET}× the floor, none failed",
            quiet.median <= FLOOR_TARGET * floor.median and failed("submit alone") == 0),
    ]


def clients() -> None:
    """The child process: run each phase's clients against the server, print the figures as JSON."""
    job = json.load(sys.stdin)
    json.dump({name: (_open_loop(job["port"], **requests) if isinstance(requests, dict)
                      else _phase(job["port"], requests)) for name, requests in job["phases"]}, sys.stdout)


def _send(connection: http.client.HTTPConnection, request: list) -> str | None:
    """One request on a keep-alive connection; None if it succeeded, else what went wrong."""
    method, path, body, headers = request
    connection.request(method, path, body=body.encode() if body else None, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    ok = response.status == 200 and (method == "GET" or json.loads(answer).get("status") == "running")
    return None if ok else f"{method} {path}: {response.status} {answer[:200]!r}"


def _attempt(connection: http.client.HTTPConnection, port: int,
             request: list) -> tuple[str | None, http.client.HTTPConnection]:
    """``_send``, and the connection to use next: a new one after a broken one."""
    try:
        return _send(connection, request), connection
    except (OSError, http.client.HTTPException, ValueError) as exc:
        connection.close()
        return f"{request[0]} {request[1]}: {exc!r}", http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def _tally(lock: threading.Lock, latencies: list, failures: list, problem: str | None, elapsed: float) -> None:
    with lock:
        if problem:
            failures.append(problem)
        else:
            latencies.append(elapsed)


def _phase(port: int, lists: list[list]) -> dict:
    """A closed loop: one thread per list of requests, started together, each on its own keep-alive connection,
    sending its next request as soon as the answer to the last is in."""
    barrier = threading.Barrier(len(lists) + 1)
    latencies, failures = [], []
    lock = threading.Lock()

    def client(requests: list) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        for request in requests:
            start = time.perf_counter()
            problem, connection = _attempt(connection, port, request)
            _tally(lock, latencies, failures, problem, time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=client, args=(requests,)) for requests in lists]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "failures": failures, "wall": time.perf_counter() - started}


#: Connections the open loop keeps ready: more than are ever busy at once at its rate, so that a request waits
#: for the server, not for a free client.
OPEN_CONNECTIONS = 40


def _open_loop(port: int, rate: float, seconds: float, requests: list) -> dict:
    """An open loop: requests arrive at random (Poisson, ``rate`` a second) for ``seconds``, whether or not the
    earlier ones are answered, each sent on a free keep-alive connection. A latency runs from the request's
    arrival, so time spent waiting for a connection counts (``late`` counts arrivals with none free). A list of
    one request is repeated; a longer list gives each arrival the next one."""
    draw = random.Random(7)
    arrivals, at = [], draw.expovariate(rate)
    while at < seconds:
        arrivals.append(at)
        at += draw.expovariate(rate)
    if len(requests) > 1 and len(arrivals) > len(requests):
        raise RuntimeError(f"{len(arrivals)} arrivals but only {len(requests)} requests")
    free: queue.Queue = queue.Queue()
    for _ in range(OPEN_CONNECTIONS):
        free.put(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    latencies, failures, late = [], [], []
    lock = threading.Lock()

    def one(request: list, due: float) -> None:
        try:
            connection = free.get_nowait()
        except queue.Empty:
            late.append(due)
            connection = free.get()
        problem, connection = _attempt(connection, port, request)
        elapsed = time.perf_counter() - due
        free.put(connection)
        _tally(lock, latencies, failures, problem, elapsed)

    threads = []
    started = time.perf_counter()
    for n, at in enumerate(arrivals):
        time.sleep(max(0.0, started + at - time.perf_counter()))
        thread = threading.Thread(target=one, args=(requests[n % len(requests)], started + at))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    while not free.empty():
        free.get().close()
    return {"latencies": latencies, "failures": failures, "wall": wall, "late": len(late)}


if __name__ == "__main__" and sys.argv[1:] == ["--clients"]:
    clients()
