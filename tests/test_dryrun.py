"""The dry run of a bundle given as files: fixed scores, veto hits and decisions, deadlines explained, refusals."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import ZIYANG
from sqlalchemy import select

from engine.engine import FORMS_LIBRARY
from engine.errors import NotFound, ValidationError
from engine.procedure import drafts, scoring_rules, versions
from engine.procedure.bundle import read_folder
from engine.running import dryrun_runs
from engine.running.calendar import WorkCalendar
from engine.running.dryrun import DryRunRefused, allocate, check, choices, dry_run, parse_request
from engine.store.models import AuditEntry, Base

FIXTURES = Path(__file__).parent / "bundles"
YANJIANG, ANYUE, LEZHI, JIANYANG = "512002", "512021", "512022", "512081"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return read_folder(ZIYANG)


@pytest.fixture(scope="module")
def report(files) -> dict:
    """One 资阳 2025 run: 安岳县 fixed at 91.5; 乐至县 hit by veto V2 and found to have rectified; 简阳市's
    filing returned once; 雁江区 scripted."""
    return dry_run(files, {"year": 2025, "seed": 4, "fixed": [
        {"region": ANYUE, "score": "91.5", "veto": []},
        {"region": LEZHI, "score": 97, "veto": ["V2"], "decisions": {"rectification_verdict": "adequate"}},
        {"region": JIANYANG, "decisions": {"filing_decision": "return"}}]})


def _outcome(report: dict, code: str) -> dict:
    return next(o for o in report["outcomes"] if o["region"] == code)


def test_a_county_fixed_at_91_5_points_gets_grade_b(report):
    anyue = _outcome(report, ANYUE)
    assert (anyue["name"], anyue["score"], anyue["grade"], anyue["fixed"]) == ("安岳县", "91.5", "b", True)
    assert anyue["veto"] is False and anyue["must_rectify"] is False and anyue["rectification_due"] is None


def test_a_veto_hit_county_fails_and_reports_within_a_month_of_the_announcement(report):
    lezhi = _outcome(report, LEZHI)
    assert lezhi["score"] == "97" and lezhi["veto"] and lezhi["grade"] == "d"  # 97 points, and still d
    assert lezhi["veto_items"] == ["发生区域性、系统性工程质量安全事件"]
    assert lezhi["must_rectify"] and not lezhi["commended"]
    announced = date.fromisoformat(lezhi["announced_on"])
    assert lezhi["rectification_due"] == WorkCalendar().deadline(announced, months=1).last_day.isoformat()
    assert "deadline(announcement['announced_on'], months=1)" in lezhi["rectification_rule"]
    assert "整改到位" in lezhi["outcome"] and not lezhi["interview"]  # the fixed verdict: no 约谈


def test_outcomes_rank_every_chosen_region_and_the_distribution_counts_them(report):
    assert sorted(o["region"] for o in report["outcomes"]) == sorted([YANJIANG, ANYUE, LEZHI, JIANYANG])
    assert sorted(o["rank"] for o in report["outcomes"]) == [1, 2, 3, 4]
    assert _outcome(report, LEZHI)["rank"] == 4  # vetoed: after every other
    assert [d["grade"] for d in report["distribution"]] == ["a", "b", "c", "d"]
    counted = {d["grade"]: d["count"] for d in report["distribution"]}
    assert counted == {g: sum(o["grade"] == g for o in report["outcomes"]) for g in "abcd"}
    for o in report["outcomes"]:
        assert o["commended"] == (o["grade"] == "a") and o["must_rectify"] == (o["grade"] == "d")


def test_a_fixed_decision_is_taken_once(report):
    filings = [e for e in report["timeline"] if e.get("task") == "Task_target_filing" and e["kind"] == "task"]
    per_region = {code: sum(e["region"] == code for e in filings) for code in (YANJIANG, ANYUE, LEZHI, JIANYANG)}
    assert per_region[JIANYANG] == 2  # returned once, filed again, then accepted
    reviews = [e["event"] for e in report["timeline"] if e.get("task") == "Task_filing_review"
               and e.get("region") == JIANYANG]
    assert reviews[0].endswith("：return") and reviews[-1].endswith("：accept")


def test_the_timeline_deadlines_are_the_legal_dates_with_how_they_were_computed(report):
    calendar = WorkCalendar()
    steps = {s["task"]: s for s in report["steps"]}
    filing, evaluation = steps["Task_target_filing"], steps["Task_self_evaluation"]
    assert filing["due_last_day"] == calendar.fixed(2025, "03-31").last_day.isoformat() == "2025-03-31"
    assert filing["rule"] == ("目标备案截止 2025年3月31日：第八条（一）每年年初；"
                              "bundle.yaml deadlines: 03-31（考核年度起始之年）")
    assert evaluation["due_last_day"] == "2025-12-31" and "第八条（二）年末" in evaluation["rule"]
    assert sorted(filing["regions"]) == sorted([YANJIANG, ANYUE, LEZHI, JIANYANG])
    rectification = steps["Task_rectification_report"]
    announced = date.fromisoformat(_outcome(report, LEZHI)["announced_on"])
    legal = calendar.deadline(announced, months=1)
    assert rectification["due_last_day"] == legal.last_day.isoformat()
    assert f"自 {announced.year}年{announced.month}月{announced.day}日 起 1个月" in rectification["rule"]
    if legal.reason:  # the last day fell in a holiday: moved, and said so
        assert "顺延至" in rectification["rule"] and "民法典第二百零三条" in rectification["rule"]
    times = [e["at"] for e in report["timeline"]]
    assert times == sorted(times)
    for event in report["timeline"]:
        if event["kind"] == "task" and event.get("due_last_day"):
            assert event["late"] == (event["at"][:10] > event["due_last_day"]), event


def test_reminders_and_escalations_are_listed(report):
    assert report["reminders"] and all(e["kind"] == "reminder" and e["step"] != "escalate"
                                       for e in report["reminders"])
    assert all(e["step"] == "escalate" and "督办" in e["event"] for e in report["escalations"])
    late = {e["region"] for e in report["timeline"] if e["kind"] == "task" and e.get("late")}
    escalated = {e["region"] for e in report["escalations"]}
    assert late <= escalated  # every region that acted after its last day was escalated (逾期即督办)


def test_a_subset_of_regions_is_run_alone_and_reports_its_progress(files):
    seen = []
    report = dry_run(files, {"year": 2024, "regions": [ANYUE], "fixed": [{"region": ANYUE, "score": 95}]},
                     progress=lambda at, events: seen.append((at, events)))
    assert [events for _, events in seen] == list(range(1, len(seen) + 1))
    assert [at for at, _ in seen] == sorted(at for at, _ in seen) and seen[0][0].startswith("2024-01-05")
    assert len(seen) <= len(report["timeline"])  # the random draws are placed in the timeline afterwards
    assert [(o["name"], o["score"], o["grade"], o["commended"]) for o in report["outcomes"]] == \
        [("安岳县", "95", "a", True)]
    assert {e.get("region") for e in report["timeline"]} <= {ANYUE, None}


def test_a_grade_table_with_a_gap_is_refused_with_the_finding(files):
    gap = dict(files, **{"grade.dmn": files["grade.dmn"].replace("85 &lt;= ? &lt; 95", "92 &lt;= ? &lt; 95")})
    with pytest.raises(DryRunRefused) as refused:
        dry_run(gap, {"year": 2025, "fixed": [{"region": ANYUE, "score": "91.5"}]})
    findings = refused.value.errors
    assert findings and all(f["severity"] == "error" for f in findings)
    assert any(f["file"] == "grade.dmn" and "85" in f["reason"] for f in findings), findings
    assert "不能试运行" in refused.value.message


@pytest.mark.parametrize(("request_", "field"), [
    ({"year": 1999}, "year"),
    ({"year": "二〇二五"}, "year"),
    ({"year": 2025, "regions": ["510185"]}, "regions"),
    ({"year": 2025, "regions": []}, "regions"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "score": 101}]}, "fixed/0/score"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "score": "91.555"}]}, "fixed/0/score"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "score": "九十"}]}, "fixed/0/score"),
    ({"year": 2025, "regions": [LEZHI], "fixed": [{"region": ANYUE, "score": 90}]}, "fixed/0/region"),
    ({"year": 2025, "fixed": [{"region": ANYUE}, {"region": ANYUE}]}, "fixed/1/region"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "veto": ["V9"]}]}, "fixed/0/veto"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "decisions": {"rectification_verdict": "maybe"}}]},
     "fixed/0/decisions/rectification_verdict"),
    ({"year": 2025, "fixed": [{"region": ANYUE, "decisions": {"approval": "return"}}]}, "fixed/0/decisions/approval"),
    ({"year": 2025, "seed": -1}, "seed"),
])
def test_bad_settings_are_refused_field_by_field(files, request_, field):
    bundle = check(files)
    with pytest.raises(ValidationError) as refused:
        parse_request(bundle, request_)
    assert field in [e["field"] for e in refused.value.errors]


def test_the_decisions_offered_are_the_region_process_ones(files):
    offered = choices(check(files))
    assert [r["name"] for r in offered["regions"]] == ["雁江区", "安岳县", "乐至县", "简阳市"]
    assert [(d["step"], d["field"]) for d in offered["decisions"]] == [  # in the order of the diagram
        ("审核备案", "filing_decision"), ("考核组确认", "confirmation"), ("整改审核", "rectification_verdict")]
    verdict = next(d for d in offered["decisions"] if d["field"] == "rectification_verdict")
    assert {o["value"] for o in verdict["options"]} == {"adequate", "inadequate"}
    assert offered["grades"] == ["a", "b", "c", "d"] and offered["scale"] == "100"


@pytest.mark.parametrize("target", ["5", "59.5", "91.5", "100", "73"])
def test_a_fixed_score_is_spread_over_the_indicators_exactly(target):
    bundle = check(read_folder(FIXTURES / "scoring-rules", FORMS_LIBRARY))
    entered = allocate(bundle.scheme, Decimal(target))
    total = Decimal(0)
    for indicator in bundle.scheme["indicators"]:
        row = entered[indicator["code"]]
        points = scoring_rules.points(indicator, Decimal(str(row["measured"]))) if indicator.get("rule") \
            else Decimal(str(row["score"]))
        assert 0 <= points <= Decimal(str(indicator["points"]))
        total += points
    assert total == Decimal(target)


# Above the scale; and 0, below what the rules give at least (a per-occurrence rule that deducts at most 3 of 4 points).
@pytest.mark.parametrize("target", ["100.01", "0"])
def test_a_score_the_indicators_cannot_add_up_to_is_refused(target):
    bundle = check(read_folder(FIXTURES / "scoring-rules", FORMS_LIBRARY))
    with pytest.raises(ValidationError, match="无法由各指标的得分凑出"):
        allocate(bundle.scheme, Decimal(target))
    region = bundle.regions[0]["code"]
    with pytest.raises(ValidationError) as refused:
        parse_request(bundle, {"year": 2025, "fixed": [{"region": region, "score": target}]})
    assert [e["field"] for e in refused.value.errors] == ["fixed/0/score"]


# -- the runs kept per draft -----------------------------------------------------------------------------------
def _drafts(engine, count: int) -> list[int]:
    """Drafts of 资阳's current version, as the library makes them."""
    with engine.store.write() as session:
        base = versions.current_version(session, "ziyang-2016")
        made = [drafts.create(session, base, "admin", engine.clock.now()) for _ in range(count)]
        session.flush()
        return [d.id for d in made]


def test_only_the_last_five_runs_of_a_draft_are_kept_and_a_discarded_draft_takes_them(engine):
    bundle = check(read_folder(ZIYANG))
    first, second = _drafts(engine, 2)
    with engine.store.write() as session:
        for year in range(2020, 2027):
            dryrun_runs.start(session, first, 3, parse_request(bundle, {"year": year}), "admin", engine.clock.now())
        dryrun_runs.start(session, second, 1, parse_request(bundle, {"year": 2019}), "admin", engine.clock.now())
    with engine.store.read() as session:
        kept = dryrun_runs.runs(session, first)
        assert [r.year for r in kept] == [2026, 2025, 2024, 2023, 2022]  # newest first
        assert [r.year for r in dryrun_runs.runs(session, second)] == [2019]  # another draft's runs are its own
        assert all(r.status == "running" and r.draft_revision == 3 for r in kept)
        logged = [e.data for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "dry_run"))]
        assert len(logged) == 8 and logged[0] == {"draft": first, "run": logged[0]["run"], "year": 2020, "regions": 4}
        with pytest.raises(NotFound):
            dryrun_runs.get(session, second, kept[0].id)
    with engine.store.write() as session:
        drafts.discard(session, drafts.get(session, first), "admin", engine.clock.now())
    with engine.store.read() as session:
        assert dryrun_runs.runs(session, first) == [] and len(dryrun_runs.runs(session, second)) == 1


def test_a_run_is_finished_with_its_report_or_its_error(engine, files):
    clock = engine.clock
    bundle = check(files)
    asked = parse_request(bundle, {"year": 2025, "regions": [ANYUE], "fixed": [{"region": ANYUE, "score": 90}]})
    (draft,) = _drafts(engine, 1)
    with engine.store.write() as session:
        good = dryrun_runs.start(session, draft, 1, asked, "admin", clock.now()).id
        bad = dryrun_runs.start(session, draft, 1, asked, "admin", clock.now()).id
    dryrun_runs.execute(engine.store, good, files, asked, clock)
    broken = dict(files, **{"assessment.bpmn": files["assessment.bpmn"].replace("total_score(unit_scores)",
                                                                               "total_score(unit_scores) / 0")})
    dryrun_runs.execute(engine.store, bad, broken, asked, clock)
    with engine.store.read() as session:
        done, failed = dryrun_runs.get(session, draft, good), dryrun_runs.get(session, draft, bad)
        assert done.status == "done" and done.report["outcomes"][0]["grade"] == "b" and done.error is None
        assert failed.status == "failed" and failed.report is None
        assert "流程步骤出错" in failed.error and "Task_total_score" in failed.error and "TypeError" in failed.error
        assert dryrun_runs.status(done, clock.now() + timedelta(hours=1)) == "done"
    clock.advance(minutes=11)
    with engine.store.write() as session:
        stuck = dryrun_runs.start(session, draft, 1, asked, "admin", clock.now() - timedelta(minutes=11))
        assert dryrun_runs.status(stuck, clock.now()) == "interrupted"


def test_a_run_under_way_writes_how_far_it_got(engine, files, monkeypatch):
    (draft,) = _drafts(engine, 1)
    asked = parse_request(check(files), {"year": 2025})
    with engine.store.write() as session:
        run_id = dryrun_runs.start(session, draft, 1, asked, "admin", engine.clock.now()).id
    seen = {}

    def run(files, request, progress):
        progress("2025-07-01T09:00:00+08:00", 120)
        with engine.store.read() as session:
            seen.update(dryrun_runs.get(session, draft, run_id).report)
        return {"outcomes": []}

    monkeypatch.setattr(dryrun_runs, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(dryrun_runs, "dry_run", run)
    dryrun_runs.execute(engine.store, run_id, files, asked, engine.clock)
    assert seen == {"progress": {"at": "2025-07-01T09:00:00+08:00", "events": 120}}
    with engine.store.read() as session:
        assert dryrun_runs.get(session, draft, run_id).report == {"outcomes": []}  # the report replaces it


def _dry_run_only(thing, name, kind, reflected, compare_to) -> bool:
    return (name if kind == "table" else getattr(getattr(thing, "table", None), "name", None)) == "dry_run"


@pytest.mark.filterwarnings("ignore:autogenerate skipping", "ignore:Skipped unsupported reflection")
def test_the_dry_run_table_matches_its_model(store):
    only = {"include_object": _dry_run_only}
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts=only), Base.metadata)
    assert differences == []


def test_a_stored_request_can_be_sent_again(files):
    bundle = check(files)
    asked = parse_request(bundle, {"year": 2025, "regions": [LEZHI, ANYUE], "seed": 9, "fixed": [
        {"region": ANYUE, "score": "91.5"}, {"region": LEZHI, "veto": [], "decisions": {"confirmation": "rescore"}}]})
    assert asked.regions == [ANYUE, LEZHI]  # in the bundle's order
    assert parse_request(bundle, asked.as_dict()) == asked
