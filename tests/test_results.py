"""A campaign's results: kept per region, ranked with vetoed regions last, consequences by rank and grade."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from drive import FORMS, Driver, race, unit_scores, veto_rows
from sqlalchemy import event

from engine.engine import Engine
from engine.errors import BundleError
from engine.running import results
from engine.store.models import MessageTally, Region

MASS = Path(__file__).parent / "bundles" / "mass-campaign"


def _better(a: dict, b: dict) -> bool:
    """Whether ``a`` ranks before ``b``: not vetoed before vetoed, then the higher score."""
    return (not a["vetoed"] and b["vetoed"]) or (a["vetoed"] == b["vetoed"] and float(a["score"]) > float(b["score"]))


def test_ranking_puts_vetoed_regions_last_and_shares_ranks_on_ties():
    rows = [{"region": "A", "score": "99", "vetoed": True}, {"region": "B", "score": "90", "vetoed": False},
            {"region": "C", "score": "90", "vetoed": False}, {"region": "D", "score": "75.5", "vetoed": False},
            {"region": "E", "score": "40", "vetoed": True}]
    ranked = results.rank(rows)
    assert [(r["region"], r["rank"], r["rank_from_last"]) for r in ranked] == [
        ("B", 1, 4), ("C", 1, 4), ("D", 3, 3), ("A", 4, 2), ("E", 5, 1)]


@pytest.mark.parametrize(("rule", "expected"), [
    (results.Rule(best=1), {"B", "C"}),            # both tied at the top
    (results.Rule(best=4), {"B", "C", "D"}),       # a vetoed region is never among the best
    (results.Rule(last=1), {"E"}),
    (results.Rule(last=2), {"A", "E"}),
    (results.Rule(grades=frozenset({"C"})), {"D"}),
    (results.Rule(vetoed=True), {"A", "E"}),
    (results.Rule(grades=frozenset({"C"}), last=1), {"D", "E"}),
    (results.Rule(), set()),
])
def test_a_consequence_applies_by_grade_rank_or_veto(rule, expected):
    rows = [{"region": "A", "score": "99", "vetoed": True, "grade": "D"},
            {"region": "B", "score": "90", "vetoed": False, "grade": "A"},
            {"region": "C", "score": "90", "vetoed": False, "grade": "A"},
            {"region": "D", "score": "75.5", "vetoed": False, "grade": "C"},
            {"region": "E", "score": "40", "vetoed": True, "grade": "D"}]
    assert {r["region"] for r in results.rank(rows) if rule.applies(r)} == expected


@pytest.mark.parametrize(("settings", "message"), [
    ({"consequences": {"commended": {"grades": ["Z"]}}}, "results.consequences.commended.grades"),
    ({"consequences": {"must_rectify": {"last": -1}}}, "results.consequences.must_rectify.last"),
    ({"consequences": {"must_rectify": {"bottom": 3}}}, "results.consequences.must_rectify"),
    ({"consequences": {"通报": {"best": 3}}}, "results.consequences.通报"),
    ({"ranking": "score"}, "(unknown keys in results): ranking"),
    ({"reported_by": ""}, "results.reported_by"),
])
def test_results_settings_an_administrator_got_wrong_are_refused(settings, message):
    with pytest.raises(BundleError) as caught:
        results.check({"grades": ["A", "B"], "results": settings})
    assert message in str(caught.value)


def test_results_naming_a_message_the_bpmn_lacks_are_refused():
    with pytest.raises(BundleError, match="results.reported_by.*region_scored"):
        results.check_messages({"results": {}}, {"results_announced"})


def test_a_campaign_of_a_thousand_regions_is_ranked_announced_and_finished(engine):
    """The campaign catches every region's result once (no loop deepening SpiffWorkflow's task tree), ranks
    them in rows, and tells each region its own consequences with the announcement."""
    engine.deploy(MASS)
    codes = [str(700001 + n) for n in range(1000)]
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in codes)
    campaign = engine.start_campaign("mass-campaign", 2025)
    assert len(campaign.regions) == 1000
    # Every region reported while the campaign was launched: its one catch has completed, once.
    [notify] = engine.tasks(campaign_id=campaign.id)
    assert notify.name == "通报与公告" and notify.region is None
    campaign_row = next(i for i in engine.campaign_instances(campaign.id) if i.region is None)
    assert engine.instance_data(campaign_row.id)["reported"]["reported"] == 1000

    table = engine.results(campaign.id)
    assert len(table) == 1000
    rows = [{"region": r["region"], "score": r["score"], "vetoed": r["veto"]} for r in table]
    for row in rows:  # the definition of a competition rank, checked against every other region
        row["rank"] = 1 + sum(_better(other, row) for other in rows)
        row["from_last"] = 1 + sum(_better(row, other) for other in rows)
    assert [r["rank"] for r in table] == [r["rank"] for r in rows]
    assert [r["region"] for r in table if r["veto"]] == [r["region"] for r in table[-10:]]  # vetoed ones last
    commended = {r["region"] for r in rows if not r["vetoed"] and r["rank"] <= 3}
    rectify = {r["region"] for r in rows if r["from_last"] <= 5}
    assert {r["region"] for r in table if r["consequences"]["commended"]} == commended
    assert {r["region"] for r in table if r["consequences"]["interview"]} == {r["region"] for r in rows if r["vetoed"]}

    engine.complete(notify.id, {"announcement": "考核结果通报", "announced_on": "2026-03-15"}, "lead_agency")
    left = engine.tasks(campaign_id=campaign.id)
    assert {t.region for t in left} == rectify and {t.name for t in left} == {"整改报告"}
    region_rows = {i.region: i for i in engine.campaign_instances(campaign.id) if i.region}
    told = engine.instance_data(region_rows[sorted(commended)[0]].id)
    assert (told["commended"], told["must_rectify"], told["rank"]) == (True, False, 1)
    for task in left:
        engine.complete(task.id, FORMS["Task_rectification_report"](None), "assessed")
    assert {i.status for i in engine.campaign_instances(campaign.id)} == {"completed"}


def test_the_last_two_regions_reporting_at_once_both_count(engine, monkeypatch):
    """Each report counts the senders under the campaign instance's lock: of two last reports committed at
    the same moment, the second sees the first, and the campaign's gathered catch completes."""
    regions = ["110000", "120000"]
    drive = Driver(engine, "national-2013", regions)
    for region in regions:
        drive.file_targets(region)
        drive.do("Task_self_evaluation", region=region)
        drive.do("Task_onsite_check", region=region)
        for unit, scores in unit_scores(drive.scheme, "88").items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
    confirm = {"confirmation": "confirm", "comment": "确认", "veto_items": veto_rows(drive.scheme)}
    tasks = [drive.ready("Task_score_confirmation", region)[0] for region in regions]
    other = Engine(engine.store.another(), clock=engine.clock)
    with other.store.read() as session:  # its specs loaded now, not while the race runs
        other.version(session, drive.campaign.version_id)
    counted = results.expected

    def slowly(*args):  # both reports are between counting and committing at once
        time.sleep(0.5)
        return counted(*args)

    monkeypatch.setattr(results, "expected", slowly)
    outcomes = race(lambda: engine.complete(tasks[0].id, confirm, "assessment_group"),
                    lambda: other.complete(tasks[1].id, confirm, "assessment_group"))
    other.store.dispose()
    assert not [r for r in outcomes if isinstance(r, Exception)], outcomes
    assert [t.bpmn_id for t in drive.ready() if t.region is None] == ["Task_compile_results"]
    assert [(r["region"], r["rank"]) for r in drive.results()] == [("110000", 1), ("120000", 1)]


def test_the_consequences_a_region_branches_on_are_defined_by_the_announcement_only(engine, tmp_path):
    """The deploy check knows that catching the announcement defines rank and the consequences; without a
    ``results:`` section nothing does, and a gateway reading ``must_rectify`` is refused before any campaign."""
    engine.check(MASS)
    copy = tmp_path / "no-results"
    shutil.copytree(MASS, copy)
    manifest = (copy / "bundle.yaml").read_text(encoding="utf-8")
    (copy / "bundle.yaml").write_text(manifest.split("results:")[0] + "lanes:" + manifest.split("lanes:")[1],
                                      encoding="utf-8")
    with pytest.raises(BundleError, match="must_rectify"):
        engine.check(copy)


def test_a_regions_report_counts_the_senders_only_when_all_may_have_sent(engine):
    """Each report compares a tally with the campaign's region count; the senders' messages are counted at the
    last report only (before, every report counted every earlier one: quadratic over a campaign)."""
    engine.deploy(MASS)
    codes = [str(700001 + n) for n in range(30)]
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in codes)
    counted = []

    def record(_conn, _cursor, statement, *_):
        if "count(DISTINCT message.source_id)" in statement:
            counted.append(statement)

    event.listen(engine.store.engine, "before_cursor_execute", record)
    try:
        campaign = engine.start_campaign("mass-campaign", 2025)
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", record)
    # the campaign's catch when it starts (nothing sent yet) and when it completes, and the 30th report: not 30
    assert len(counted) == 3
    [notify] = engine.tasks(campaign_id=campaign.id)
    campaign_row = next(i for i in engine.campaign_instances(campaign.id) if i.region is None)
    assert engine.instance_data(campaign_row.id)["reported"]["reported"] == 30
    with engine.store.read() as session:
        assert session.get(MessageTally, (campaign_row.id, "region_scored")) is None  # caught: starts again
