"""``kaohe serve`` and the demo data ``make run`` shows."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import config, demo
from engine.cli import main
from engine.records import board
from engine.store.models import Campaign
from web.serve import Workers, tell_timer_changes


def test_the_serve_command_is_registered():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--demo" in result.output
    assert "--no-scheduler" in result.output  # the scheduler runs inside serve unless told not to


def test_demo_data_has_an_announced_campaign_and_one_under_way(sqlite_engine):
    lines = demo.seed(sqlite_engine, regions=2)
    assert len(lines) == 2 and demo.seed(sqlite_engine) == []  # only into an empty database
    with sqlite_engine.store.read() as session:
        finished, running = session.query(Campaign).order_by(Campaign.id).all()
        assert board.announced(session, sqlite_engine, finished) and not board.announced(session, sqlite_engine,
                                                                                         running)
        view = board.build(session, sqlite_engine, finished, sqlite_engine.clock.now())
    assert [(r["rank"], r["score"], r["grade"]) for r in view.results] == [(1, "95.5", "A"), (2, "88", "B")]
    assert {t.bpmn_id for t in sqlite_engine.tasks(campaign_id=running.id)} == {"Task_self_evaluation"}


def test_demo_data_has_an_announced_campaign_of_a_local_variant_when_deployed(sqlite_engine):
    folder = config.PROCESSES / "dazhou-2015"
    sqlite_engine.load_regions(sqlite_engine.check(folder))
    sqlite_engine.deploy(folder)
    lines = demo.seed(sqlite_engine, regions=3)
    assert len(lines) == 3 and lines[2].startswith("dazhou-2015 2024年度: 3 regions scored and announced")
    with sqlite_engine.store.read() as session:
        local = session.query(Campaign).filter(Campaign.variant == "dazhou-2015").one()
        assert board.announced(session, sqlite_engine, local)
        view = board.build(session, sqlite_engine, local, sqlite_engine.clock.now())
    # 达州's grades: A ≥ 90, B from 60 (grade.dmn), published with the ranking.
    assert [(r["region"], r["rank"], r["score"], r["grade"]) for r in view.results] == [
        ("511702", 1, "95.5", "A"), ("511703", 2, "88", "B"), ("511722", 3, "76.5", "B")]


@contextmanager
def kaohe_serve(tmp_path, *args: str):
    """``kaohe serve --demo`` in a subprocess on a free port of a fresh data folder; yields (process, port, banner)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, KAOHE_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    env.pop("KAOHE_DATABASE_URL", None)
    server = subprocess.Popen([str(Path(sys.executable).parent / "kaohe"), "serve", "--demo", "--port", str(port),
                               *args], cwd=config.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        banner = []
        for line in server.stdout:
            banner.append(line)
            if f"http://127.0.0.1:{port}/" in line:
                break
        assert server.poll() is None, "".join(banner)
        yield server, port, "".join(banner)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def get(port: int, path: str) -> tuple[int, str, str]:
    """GET on a new connection, waiting up to 5 s for the port to take it: status, Location, body."""
    for _ in range(50):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.getheader("Location") or "", response.read().decode()
        except ConnectionRefusedError:
            time.sleep(0.1)
        finally:
            connection.close()
    raise AssertionError(f"nothing answers on port {port}")


def children(pid: int) -> set[int]:
    return {int(p) for t in Path(f"/proc/{pid}/task").iterdir() for p in (t / "children").read_text().split()}


def test_kaohe_serve_demo_starts_a_real_server_that_leads_to_the_sign_in(tmp_path):
    """What the README's Run command starts: a fresh data folder, demo data, waitress on a free port."""
    with kaohe_serve(tmp_path) as (_server, port, banner):
        assert "演示账号 demo accounts, password Kaohe@2025" in banner and "  lead " in banner, banner
        assert "spiff" not in banner  # SpiffWorkflow's line per task state change, a dozen per submission
        status, location, _ = get(port, "/")
        assert status == 302 and location.endswith("/login")
        status, _, page = get(port, "/login")
        assert status == 200 and "登录" in page
        assert (tmp_path / "var" / "kaohe.db").exists()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from Linux's /proc")
def test_several_serving_processes_share_the_port_and_one_that_dies_is_replaced(tmp_path):
    with kaohe_serve(tmp_path, "--processes", "3") as (server, port, banner):
        assert "3 个进程 processes serve the port" in banner
        workers = children(server.pid)
        assert len(workers) == 2
        assert all(get(port, "/login")[0] == 200 for _ in range(20))
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        for _ in range(100):
            replaced = children(server.pid)
            if victim not in replaced and len(replaced) == 2:
                break
            time.sleep(0.1)
        assert victim not in replaced and len(replaced) == 2, replaced
        assert all(get(port, "/login")[0] == 200 for _ in range(20))
    assert server.returncode is not None
    assert not any(Path(f"/proc/{pid}").exists() for pid in replaced)  # stopped with the first process


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from Linux's /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_serving_processes_end_with_the_first_however_it_is_stopped(tmp_path, stop):
    """A service manager's SIGTERM stops the workers with it; after a SIGKILL they notice and exit."""
    with kaohe_serve(tmp_path, "--processes", "2") as (server, port, _banner):
        assert get(port, "/login")[0] == 200
        [worker] = children(server.pid)
        server.send_signal(stop)
        server.wait(20)
        for _ in range(50):
            if not Path(f"/proc/{worker}").exists() or "Z (zombie)" in Path(f"/proc/{worker}/status").read_text():
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"worker {worker} still runs after {stop!r} to the first process")
        with pytest.raises(ConnectionRefusedError):  # nobody holds the port any more
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_workers_timer_changes_reach_the_first_process_through_the_pipe(sqlite_engine):
    woken = threading.Event()
    with socket.socket() as listener:
        workers = Workers(listener, 0, 1, on_timers=woken.set)
        workers.start()
        tell_timer_changes(sqlite_engine, workers._write)  # what a worker does with its end of the pipe
        sqlite_engine.timers_changed()
        assert woken.wait(5)
        workers.stop()


def test_waitress_does_not_name_itself(app):
    """No ``Server: waitress`` header: what the server runs on is nobody's business."""
    from waitress.server import create_server

    from web.serve import waitress_options

    server = create_server(app, host="127.0.0.1", port=0, threads=1, **waitress_options(app))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
        connection.request("GET", "/login")
        response = connection.getresponse()
        response.read()
        connection.close()
    finally:
        server.close()
        thread.join(10)
    assert response.status == 200 and response.getheader("Server") is None
