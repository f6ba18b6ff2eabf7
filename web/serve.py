"""``kaohe serve``: the web app under waitress, optionally with demo data and its accounts printed."""

from __future__ import annotations

import gc
import logging
import os

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


def run(host: str = "127.0.0.1", port: int = 8000, demo: bool = False, threads: int = 8,
        scheduler: bool = True) -> None:
    """Serve until interrupted; with ``demo``, initialise the database and add the demo campaigns first.

    With ``scheduler`` (the single-process default) timers, reminders and mail run inside this process;
    a deployment that runs ``kaohe scheduler`` on its own turns it off (``--no-scheduler``).
    """
    from waitress import serve as waitress_serve

    from engine import bootstrap, mail
    from engine import demo as demo_data
    from engine.scheduler import Scheduler

    from . import create_app

    app = create_app()
    engine = app.extensions["kaohe"]
    if demo:
        bootstrap.init(engine)
        for line in demo_data.seed(engine):
            click.echo(f"演示数据 demo data: {line}")
        click.echo(f"演示账号 demo accounts, password {bootstrap.DEMO_PASSWORD}:")
        for username, what in DEMO_ACCOUNTS:
            click.echo(f"  {username:<12} {what}")
    url = os.environ.get("KAOHE_PUBLIC_URL") or f"http://{host}:{port}"
    background = None
    if scheduler:
        settings = mail.SmtpSettings.from_env()
        background = Scheduler(engine, mailer=mail.Mailer(settings) if settings else None, link_base=url)
        background.start()
        click.echo("调度器已启动 scheduler running in this process (timers, reminders, mail)"
                   + ("" if settings else "; SMTP not configured: mail stays queued"))
    click.echo(f"Kaohe 考核: {url}/")
    settle()
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        if background is not None:
            background.shutdown()


def settle() -> None:
    """Once started: what is loaded by now (modules, templates, bundles, demo data) lives as long as the process,
    so take it out of the garbage collector's full passes, which otherwise stall a request every so often for as
    long as they take to walk all of it (tens of milliseconds: the inbox page's p95, see docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
