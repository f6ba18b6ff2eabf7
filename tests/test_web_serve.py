"""``kaohe serve`` and the demo data ``make run`` shows."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from engine import board, config, demo
from engine.cli import main
from engine.store.models import Campaign


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


def test_kaohe_serve_demo_starts_a_real_server_that_leads_to_the_sign_in(tmp_path):
    """What the README's Run command starts: a fresh data folder, demo data, waitress on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, KAOHE_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    env.pop("KAOHE_DATABASE_URL", None)
    server = subprocess.Popen([str(Path(sys.executable).parent / "kaohe"), "serve", "--demo", "--port", str(port)],
                              cwd=config.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        for line in server.stdout:
            banner.append(line)
            if f"http://127.0.0.1:{port}/" in line:
                break
        assert server.poll() is None, "".join(banner)
        text = "".join(banner)
        assert "演示账号 demo accounts, password Kaohe@2025" in text and "  lead " in text, text
        for _ in range(50):  # the banner comes just before waitress binds the port
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", "/")
                break
            except ConnectionRefusedError:
                connection.close()
                time.sleep(0.1)
        first = connection.getresponse()
        first.read()
        assert first.status == 302 and first.getheader("Location").endswith("/login")
        connection.request("GET", "/login")
        page = connection.getresponse()
        assert page.status == 200 and "登录" in page.read().decode()
        connection.close()
        assert (tmp_path / "var" / "kaohe.db").exists()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
