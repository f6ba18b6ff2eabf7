"""``kaohe serve``: the web app under waitress, optionally with demo data and its accounts printed."""

from __future__ import annotations

import logging

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


def run(host: str = "127.0.0.1", port: int = 8000, demo: bool = False, threads: int = 8) -> None:
    """Serve until interrupted; with ``demo``, initialise the database and add the demo campaigns first."""
    from waitress import serve as waitress_serve

    from engine import bootstrap
    from engine import demo as demo_data

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
    click.echo(f"Kaohe 考核: http://{host}:{port}/")
    waitress_serve(app, host=host, port=port, threads=threads)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--demo", is_flag=True, help="Initialise the database, add demo campaigns and list the demo accounts.")
def serve(host: str, port: int, demo: bool) -> None:
    """Run the web app with waitress."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(host, port, demo)


if __name__ == "__main__":
    serve()
