"""``kaohe serve``: the web app under waitress, optionally with demo data and its accounts printed.

One process serves with ``threads`` threads; a Python process runs Python on one core at a time, so with
``processes`` above one, more processes (fresh interpreters, started here and restarted if they die) accept
connections on the same listening socket. The scheduler runs in this first process only; the others tell it
through a pipe when a completion of theirs created or moved timers.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

logger = logging.getLogger(__name__)

#: One demo account per role (password engine.bootstrap.DEMO_PASSWORD), for the start-up banner.
DEMO_ACCOUNTS = [
    ("admin", "系统管理员 administrator"),
    ("lead", "牵头部门 lead agency"),
    ("gov-110000", "北京市人民政府 assessed government (one of 31)"),
    ("unit-aqsiq", "成员单位 member unit (also unit-ndrc, unit-miit, unit-moa, unit-mohurd, unit-mofcom)"),
    ("expert", "考核工作组 assessment group"),
    ("approver", "国务院 approver"),
    ("recipient", "干部主管部门 results recipient"),
    ("ziyang-lead", "资阳 procedure: ziyang-* accounts for every role"),
]


def waitress_options(app) -> dict:
    """No ``Server: waitress`` header (an empty ident sends none), and no body buffered that is larger than the
    largest any route takes (web.limits)."""
    return {"ident": "", "max_request_body_size": app.config["MAX_CONTENT_LENGTH"]}


def run(host: str = "127.0.0.1", port: int = 8000, demo: bool = False, threads: int = 8,
        scheduler: bool = True, processes: int = 1) -> None:
    """Serve until interrupted; with ``demo``, initialise the database and add the demo campaigns first.

    With ``scheduler`` (the default) timers, reminders and mail run inside this process; a deployment that
    runs ``kaohe scheduler`` on its own turns it off (``--no-scheduler``).
    """
    from waitress import serve as waitress_serve

    from engine import bootstrap
    from engine import demo as demo_data
    from engine.records import mail
    from engine.running.scheduler import Scheduler

    from . import create_app

    if processes > 1 and os.name != "posix":
        raise click.UsageError("--processes above 1 needs Linux or another POSIX system; use 1 here")
    app = create_app()
    engine = app.extensions["kaohe"]
    if demo:
        bootstrap.init(engine)
        for line in demo_data.seed(engine):
            click.echo(f"演示数据 demo data: {line}")
        click.echo(f"演示账号 demo accounts, password {bootstrap.DEMO_PASSWORD}:")
        for username, what in DEMO_ACCOUNTS:
            click.echo(f"  {username:<12} {what}")
    try:
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    url = os.environ.get("KAOHE_PUBLIC_URL") or f"http://{host}:{port}"
    background = workers = None
    if scheduler:
        settings = mail.SmtpSettings.from_env()
        background = Scheduler(engine, mailer=mail.Mailer(settings) if settings else None, link_base=url,
                               upload_folder=Path(app.config["UPLOAD_FOLDER"]))
        background.start()
        click.echo("调度器已启动 scheduler running in this process (timers, reminders, mail)"
                   + ("" if settings else "; SMTP not configured: mail stays queued"))
    if processes > 1:
        workers = Workers(listener, processes - 1, threads, background.arm if background else None)
        workers.start()
        click.echo(f"{processes} 个进程 processes serve the port, {threads} threads each")
    click.echo(f"Kaohe 考核: {url}/")
    settle()
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: shut down as on Ctrl-C
    try:
        waitress_serve(app, sockets=[listener], threads=threads, **waitress_options(app))
    except KeyboardInterrupt:
        click.echo("已停止 stopped")
    finally:
        if workers is not None:
            workers.stop()
        if background is not None:
            background.shutdown()
        listener.close()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def settle() -> None:
    """Once started: what is loaded by now (modules, templates, bundles, demo data) lives as long as the process,
    so take it out of the garbage collector's full passes, which otherwise stall a request every so often for as
    long as they take to walk all of it (tens of milliseconds: the inbox page's p95, see docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


class Workers:
    """The other serving processes: ``kaohe serve --worker-socket FD``, each a fresh interpreter sharing the
    listening socket, restarted when one dies; their timer changes arrive on a pipe and call ``on_timers``."""

    RESTART_PAUSE = 1.0

    def __init__(self, listener: socket.socket, count: int, threads: int, on_timers=None):
        self.listener = listener
        self.count = count
        self.threads = threads
        self.on_timers = on_timers
        self._read, self._write = os.pipe()
        self._stopping = threading.Event()
        self._children: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._children = [self._spawn() for _ in range(self.count)]
        threading.Thread(target=self._watch, name="kaohe-workers", daemon=True).start()
        threading.Thread(target=self._relay, name="kaohe-timer-pipe", daemon=True).start()

    def stop(self) -> None:
        """Ask every worker to finish (SIGTERM), then make sure they have."""
        self._stopping.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        os.close(self._write)  # with every worker gone, the relay reads the end of the pipe and closes it

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [c.pid for c in self._children]

    def _spawn(self) -> subprocess.Popen:
        fd = self.listener.fileno()
        command = [sys.executable, "-c", "from engine.cli import main; main()", "serve", "--worker-socket", str(fd),
                   "--worker-notify", str(self._write), "--worker-parent", str(os.getpid()),
                   "--threads", str(self.threads)]
        return subprocess.Popen(command, pass_fds=(fd, self._write))

    def _watch(self) -> None:
        """Restart a worker that exits while the server runs."""
        while not self._stopping.wait(0.5):
            with self._lock:
                for n, child in enumerate(self._children):
                    code = child.poll()
                    if code is not None and not self._stopping.is_set():
                        logger.warning("serving process %d exited with %s; starting another", child.pid, code)
                        time.sleep(self.RESTART_PAUSE)
                        self._children[n] = self._spawn()

    def _relay(self) -> None:
        """A byte on the pipe: a worker changed timers; re-arm the scheduler (once for a burst of them)."""
        while True:
            try:
                if not os.read(self._read, 4096):
                    os.close(self._read)
                    return
            except OSError:
                return
            if self.on_timers is not None:
                try:
                    self.on_timers()
                except Exception:  # the next sweep re-arms anyway
                    logger.exception("re-arming the scheduler after a worker's timer change failed")


def worker(fd: int, notify: int | None, parent: int | None, threads: int) -> None:
    """A serving process started by ``Workers``: the app on the inherited socket until SIGTERM, or until the
    process ``parent`` is gone."""
    from waitress import serve as waitress_serve

    from . import create_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the first process stops us
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="kaohe-parent", daemon=True).start()
    app = create_app()
    if notify is not None:
        tell_timer_changes(app.extensions["kaohe"], notify)
    listener = socket.socket(fileno=fd)
    settle()
    waitress_serve(app, sockets=[listener], threads=threads, **waitress_options(app))


def _exit_with(parent: int) -> None:
    """End this worker when the first process is gone (killed outright, it could not stop us)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def tell_timer_changes(engine, fd: int) -> None:
    """Write a byte to the pipe ``fd`` whenever ``engine`` changes timers, never blocking."""
    os.set_blocking(fd, False)

    def tell() -> None:
        try:
            os.write(fd, b"t")
        except BlockingIOError:  # the pipe is full: the scheduler has unread news already
            pass

    engine.on_timers_changed.append(tell)
