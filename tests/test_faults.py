"""Fault injection on a real ``kaohe serve``: a kill between a commit and its delivery, a database that goes away."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from conftest import PG_URL, make_engine
from drive import FORMS, Driver
from sqlalchemy import func, make_url, select, text

from engine import config
from engine.clock import CHINA, VirtualClock
from engine.people import signin
from engine.running.scheduler import Scheduler
from engine.store.models import AuditEntry, Instance, Message

WORDS = "数据库暂时不可用，本次提交未保存，请稍后重试"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _schema_url(store, url: str) -> str:
    """The URL a subprocess needs to reach the test's own schema."""
    with store.read() as session:
        schema = session.scalar(text("SELECT current_schema()"))
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


#: ``kaohe serve`` whose process kills itself with SIGKILL where it would deliver what a commit sent: the moment
#: between the commit and the delivery, hit exactly (on SQLite no other transaction can hold a row to make it last).
KILLED_BEFORE_DELIVERY = ("import os, signal\n"
                          "from engine.engine import Engine\n"
                          "def deliver(self, targets):\n"
                          "    if targets:\n"
                          "        os.kill(os.getpid(), signal.SIGKILL)\n"
                          "    return 0\n"
                          "Engine.deliver = deliver\n"
                          "from engine.cli import main\n"
                          "main()")


@contextmanager
def serving(database_url: str, folder: Path, command: list[str] | None = None):
    """``kaohe serve --no-scheduler`` on ``database_url`` until it says it serves; yields (process, port, output)."""
    port = _free_port()
    env = dict(os.environ, KAOHE_DATABASE_URL=database_url, KAOHE_DATA_DIR=str(folder), PYTHONUNBUFFERED="1")
    command = command or [str(Path(sys.executable).parent / "kaohe")]
    server = subprocess.Popen([*command, "serve", "--no-scheduler", "--port", str(port)], cwd=config.ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    started = threading.Event()

    def read() -> None:  # keep the pipe drained
        for line in server.stdout:
            output.append(line)
            if "Serving on" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(60), "".join(output)
        yield server, port, output
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        reader.join(10)
        server.stdout.close()


def _post(port: int, path: str, token: str, body: dict, timeout: float = 30) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, json.dumps(body, ensure_ascii=False).encode(),
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _undelivered(store) -> list[Message]:
    with store.read() as session:
        return list(session.scalars(select(Message).where(Message.delivered_at.is_(None))))


@pytest.fixture
def now_engine(pg_store):
    """The shipped procedures on PostgreSQL, on a clock at the real now (the server's)."""
    return make_engine(pg_store, VirtualClock(datetime.now(CHINA)))


@pytest.fixture
def any_now_engine(store):
    """The same on each backend."""
    return make_engine(store, VirtualClock(datetime.now(CHINA)))


def _announcement_due(engine) -> tuple[Driver, list[str]]:
    """A national campaign of two regions, scored and approved: only the announcement is left to submit."""
    regions = ["110000", "120000"]
    drive = Driver(engine, "national-2013", regions)
    for region in regions:
        drive.file_targets(region)
        drive.score(region, "95")
    drive.do("Task_compile_results")
    drive.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    return drive, regions


def _finish(engine, drive: Driver, held: list[int]) -> None:
    """The regions never heard of the announcement; the restarted scheduler's first pass tells them, and the
    campaign reaches its end."""
    assert [engine.waiting_on(i) for i in held] == [["收到考核结果通报"]] * 2  # without the sweep: for good
    engine.clock.set(datetime.now(CHINA))
    done = Scheduler(engine).run_due()
    assert done.messages == 2 and _undelivered(engine.store) == []
    drive.do("Task_receive_results")
    assert {i.status for i in engine.campaign_instances(drive.campaign.id)} == {"completed"}


@pytest.mark.postgres
def test_a_server_killed_after_a_commit_before_delivery_loses_nothing(now_engine, tmp_path):
    """The issue's reproduction: the regions' instances held by another transaction, the announcement submitted
    over HTTP (it commits; delivery skips the held targets), the server killed with SIGKILL; after the restart
    the scheduler delivers the messages and the campaign reaches its end."""
    engine = now_engine
    drive, regions = _announcement_due(engine)
    [last] = drive.ready("Task_notify_results")
    token = signin.issue_token(engine.store, engine.clock.now(), last.role, "fault test")
    held = [i.id for i in engine.campaign_instances(drive.campaign.id) if i.region is not None]
    assert _undelivered(engine.store) == []

    with serving(_schema_url(engine.store, PG_URL), tmp_path / "var") as (server, port, output):
        with engine.store.engine.connect() as holder:  # another transaction holds the regions' instances
            holder.execute(text("SELECT id FROM instance WHERE id = ANY(:ids) FOR NO KEY UPDATE"), {"ids": held})
            status, answer = _post(port, f"/api/v1/tasks/{last.id}/complete", token,
                                   FORMS["Task_notify_results"](drive))
            assert status == 200, (answer, "".join(output))  # the announcement is committed, and said so
            assert sorted(m.target_id for m in _undelivered(engine.store)) == held
            server.send_signal(signal.SIGKILL)
            server.wait(20)
            holder.rollback()
    assert server.returncode == -signal.SIGKILL
    _finish(engine, drive, held)
    with engine.store.read() as session:
        completions = session.scalars(select(AuditEntry.task_id).where(AuditEntry.action == "complete")).all()
    assert completions.count(last.id) == 1  # the killed server's completion counted once


def test_a_server_killed_between_the_commit_and_the_delivery_loses_nothing(any_now_engine, tmp_path):
    """The same kill on either backend, at the exact moment: the server process SIGKILLs itself where it would
    deliver the messages its commit sent. The submitter gets no answer; the commit stands, and the restarted
    scheduler delivers."""
    engine = any_now_engine
    drive, _ = _announcement_due(engine)
    [last] = drive.ready("Task_notify_results")
    token = signin.issue_token(engine.store, engine.clock.now(), last.role, "fault test")
    held = [i.id for i in engine.campaign_instances(drive.campaign.id) if i.region is not None]
    url = _schema_url(engine.store, PG_URL) if engine.store.dialect == "postgresql" else engine.store.url
    with serving(url, tmp_path / "var", [sys.executable, "-c", KILLED_BEFORE_DELIVERY]) as (server, port, _):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            _post(port, f"/api/v1/tasks/{last.id}/complete", token, FORMS["Task_notify_results"](drive))
        server.wait(20)
    assert server.returncode == -signal.SIGKILL
    assert drive.ready("Task_notify_results") == []  # committed
    assert sorted(m.target_id for m in _undelivered(engine.store)) == held  # and not delivered
    _finish(engine, drive, held)


class Proxy:
    """A TCP proxy on 127.0.0.1 to the PostgreSQL server, which the test closes (dropping every open connection and
    refusing new ones: the database is gone) and opens again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = _free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """The database goes away: nothing listens, and every connection is cut."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            dropped, self._sockets = self._sockets, set()
        for sock in dropped:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _get(port: int, path: str, token: str) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}"), dict(response.getheaders())
    finally:
        connection.close()


@pytest.mark.postgres
def test_a_database_gone_for_a_few_seconds_is_said_in_words_and_the_server_serves_again(now_engine, tmp_path):
    """The server's connections go through a proxy the test cuts: while the database is gone every request is a 503
    that says nothing was saved, nothing is half-applied, and once it is back the same server process serves."""
    engine = now_engine
    drive = Driver(engine, "national-2013", ["110000"])
    [task] = drive.ready("Task_target_filing", "110000")
    token = signin.issue_token(engine.store, engine.clock.now(), task.role, "fault test")
    [row] = [i for i in engine.campaign_instances(drive.campaign.id) if i.region == "110000"]
    url = make_url(PG_URL)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    body = FORMS["Task_target_filing"](drive)

    def counts() -> tuple:
        with engine.store.read() as session:
            return (session.scalar(select(func.count()).select_from(AuditEntry)),
                    session.scalar(select(func.count()).select_from(Message)),
                    session.scalar(select(Instance.revision).where(Instance.id == row.id)))

    try:
        with serving(_schema_url(engine.store, through), tmp_path / "var") as (server, port, output):
            assert _get(port, "/api/v1/tasks", token)[0] == 200  # connections are open in the server's pool
            before = counts()
            proxy.close()
            for _ in range(2):  # a dead connection from the pool, then a connection refused
                status, answer = _post(port, f"/api/v1/tasks/{task.id}/complete", token, body)
                assert status == 503 and answer["error"] == "unavailable" and WORDS in answer["message"], answer
            status, answer, headers = _get(port, "/api/v1/tasks", token)
            assert status == 503 and WORDS in answer["message"] and headers["Retry-After"]
            # Nothing half-applied: the task is still ready, no audit entry, no message, the instance as it was.
            assert engine.task(task.id).id == task.id and counts() == before
            time.sleep(2)
            proxy.open()
            status, answer = _post(port, f"/api/v1/tasks/{task.id}/complete", token, body)
            assert status == 200 and answer["task"] == task.id, answer  # the same process, no restart
            assert server.poll() is None
            assert drive.ready("Task_target_filing") == []
        log = "".join(output)
        assert "Traceback" not in log
        assert f"database unreachable: POST /api/v1/tasks/{task.id}/complete" in log
    finally:
        proxy.close()
