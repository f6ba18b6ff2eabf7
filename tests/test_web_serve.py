"""``kaohe serve`` and the demo data ``make run`` shows."""

from __future__ import annotations

from click.testing import CliRunner

from engine import board, demo
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
