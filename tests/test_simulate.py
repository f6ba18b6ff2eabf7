"""``kaohe simulate``: whole campaigns with scripted actors, and trying an edited procedure."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ZIYANG

from engine.cli import main
from engine.engine import FORMS_LIBRARY
from engine.errors import BundleError
from engine.procedure.bundle import load_bundle
from engine.running.simulate import run_simulation, simulation_start

BANDS = {"national-2013": [(90, "A"), (80, "B"), (60, "C"), (0, "D")],
         "ziyang-2016": [(95, "a"), (85, "b"), (60, "c"), (0, "d")]}


def _expected_grade(variant: str, score: str, veto: bool) -> str:
    bands = BANDS[variant]
    if veto:
        return bands[-1][1]
    return next(grade for floor, grade in bands if Decimal(score) >= floor)


@pytest.mark.parametrize(("variant", "regions", "year"), [("national-2013", 6, 2025), ("ziyang-2016", None, 2025)])
def test_a_simulated_campaign_grades_ranks_and_rectifies(variant, regions, year):
    result = run_simulation(variant, year, regions=regions, seed=7)
    assert len(result["regions"]) == (regions or 4)
    for region in result["regions"]:
        assert region["status"] == "completed"
        assert region["grade"] == _expected_grade(variant, region["score"], region["veto"])
    ranks = [r["rank"] for r in result["regions"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    failing = BANDS[variant][-1][1]
    assert sorted(r["region"] for r in result["rectification"]) == \
        sorted(r["region"] for r in result["regions"] if r["grade"] == failing)
    times = [e["at"] for e in result["timeline"]]
    assert times == sorted(times) and all(t.endswith("+08:00") for t in times)
    events = " ".join(e["event"] for e in result["timeline"])
    assert "启动考核" in events and "通报与公告" in events and "结果送达" in events


def test_the_same_seed_gives_the_same_campaign():
    assert run_simulation("ziyang-2016", 2024, seed=3) == run_simulation("ziyang-2016", 2024, seed=3)


def test_deadlines_reminders_and_escalation_appear_in_the_timeline():
    result = run_simulation("national-2013", 2025, seed=5)  # a seed with which some regions file late
    timeline = result["timeline"]
    filed: dict[str, str] = {}
    for e in timeline:
        if e.get("task") == "Task_target_filing" and "step" not in e:
            filed.setdefault(e["region"], e["at"][:10])  # the first filing of each region
    evaluations = [e["at"][:10] for e in timeline if e.get("task") == "Task_self_evaluation" and "step" not in e]
    assert evaluations and "2026-07-01" <= min(evaluations)
    late = {region for region, day in filed.items() if day > "2025-06-30"}
    assert late and len(late) < len(filed) / 2  # a few regions miss the 30 June filing
    chased = {e["region"] for e in timeline if e.get("task") == "Task_target_filing" and e.get("step") == "escalate"}
    assert late <= chased  # every late region got an escalation (督办) ...
    for region in filed:
        steps = [e["step"] for e in timeline if e.get("region") == region and e.get("step")
                 and e.get("task") == "Task_target_filing" and e["at"][:10] <= filed[region]]
        assert ("overdue" in steps) == (region in late), region  # ... and only the late ones before filing
        if filed[region] >= "2025-06-23":
            assert "before-7d" in steps


def test_an_administrator_tries_an_edited_procedure_before_publishing(tmp_path):
    local = tmp_path / "ziyang-strict"
    shutil.copytree(ZIYANG, local)
    dmn = local / "grade.dmn"
    text = dmn.read_text(encoding="utf-8")
    assert "&gt;= 95" in text or ">= 95" in text
    dmn.write_text(text.replace("95", "99"), encoding="utf-8")  # a stricter local 'a' band
    result = run_simulation(str(local), 2025, seed=11)
    for region in result["regions"]:
        if region["grade"] == "a":
            assert Decimal(region["score"]) >= 99


def test_a_broken_procedure_is_reported_not_simulated(tmp_path):
    local = tmp_path / "broken"
    shutil.copytree(ZIYANG, local)
    (local / "assessment.bpmn").write_text("<bpmn:definitions", encoding="utf-8")
    with pytest.raises(BundleError, match="malformed XML"):
        run_simulation(str(local), 2025)


def test_simulate_json_output_has_regions_and_timeline():
    result = CliRunner().invoke(main, ["simulate", "ziyang-2016", "--year", "2025", "--json", "--seed", "2"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"region", "score", "grade"} <= set(data["regions"][0])
    assert {"at", "event"} <= set(data["timeline"][0])


FIXTURES = Path(__file__).parent / "bundles"
THOUSAND_BANDS = [(900, "优秀"), (800, "良好"), (600, "合格"), (0, "不合格")]


def test_a_thousand_point_procedure_deploys_and_simulates_on_its_own_scale():
    result = run_simulation(str(FIXTURES / "thousand-points"), 2025, seed=3)
    scores = [Decimal(r["score"]) for r in result["regions"]]
    assert all(r["status"] == "completed" for r in result["regions"])
    assert max(scores) > 100 and all(0 <= s <= 1000 for s in scores)   # not entered at one tenth
    for region in result["regions"]:
        expected = "不合格" if region["veto"] else next(g for floor, g in THOUSAND_BANDS
                                                     if Decimal(region["score"]) >= floor)
        assert region["grade"] == expected
    assert sorted(r["region"] for r in result["rectification"]) == \
        sorted(r["region"] for r in result["regions"] if r["grade"] == "不合格")


def test_a_september_year_starts_its_simulation_a_month_before_and_grades_pass_or_fail():
    result = run_simulation(str(FIXTURES / "sept-year"), 2025, seed=1)   # a seed with a veto
    first = result["timeline"][0]
    assert first["at"].startswith("2025-08-01") and "2025—2026年度" in first["event"]
    filings = [e["at"][:10] for e in result["timeline"] if e.get("task") == "Task_target_filing" and "step" not in e]
    assert filings and min(filings) >= "2025-08-01"
    evaluations = [e["at"][:10] for e in result["timeline"] if e.get("task") == "Task_self_evaluation"
                   and "step" not in e]
    assert evaluations and min(evaluations) >= "2026-09-01"   # after the year ends on 31 August
    for region in result["regions"]:
        passed = not region["veto"] and Decimal(region["score"]) >= 60
        assert region["grade"] == ("合格" if passed else "不合格")
    vetoed = [r for r in result["regions"] if r["veto"]]
    v1 = next(v["name"] for v in load_bundle(FIXTURES / "sept-year", FORMS_LIBRARY).scheme["veto"] if v["code"] == "V1")
    assert vetoed and all(r["veto_items"] == [v1] for r in vetoed)


def test_a_rank_only_procedure_ranks_without_grades():
    result = run_simulation(str(FIXTURES / "rank-only"), 2025, seed=2)
    assert [r["grade"] for r in result["regions"]] == [None] * 4
    assert sorted(r["rank"] for r in result["regions"]) == [1, 2, 3, 4]
    assert result["rectification"] == []


def test_simulate_warns_of_years_without_holiday_data():
    result = CliRunner().invoke(main, ["simulate", str(FIXTURES / "rank-only"), "--year", "2031"])
    assert result.exit_code == 0, result.stderr
    assert "2031年节假日安排尚未录入" in result.stderr and "春节、清明、端午、中秋" in result.stderr
    assert "2031年节假日" not in result.stdout


@pytest.mark.parametrize(("manifest", "start"), [
    ({"assessment_year": "july"}, "2025-06-01"),
    ({"assessment_year": "calendar"}, "2025-01-05"),
    ({"assessment_year": {"start": "09-01"}}, "2025-08-01"),
    ({"assessment_year": {"start": "01-01", "label": "span"}}, "2024-12-01"),
    ({"assessment_year": "july", "simulation_start": "03-15"}, "2025-03-15"),
    ({"assessment_year": "calendar", "simulation_start": {"date": "12-01", "year": -1}}, "2024-12-01"),
])
def test_how_the_simulation_chooses_its_first_day(manifest, start):
    assert simulation_start(manifest, 2025).isoformat() == start


def test_a_campaign_that_cannot_finish_is_a_failure_naming_where_it_waits(tmp_path):
    """The simulator reports only what the engine did: instances left waiting make `kaohe simulate` fail."""
    folder = tmp_path / "stuck"
    shutil.copytree(Path(__file__).parent / "bundles" / "sampled-onsite", folder)
    bpmn = folder / "sampled.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    # the campaign announces its draw under another name: no region ever hears of it
    text = text.replace('<bpmn:message id="Message_drawn" name="sample_drawn"/>',
                        '<bpmn:message id="Message_drawn" name="sample_drawn"/>\n'
                        '  <bpmn:message id="Message_other" name="sample_other"/>')
    text = text.replace('<bpmn:messageEventDefinition id="Def_throw_drawn" messageRef="Message_drawn">',
                        '<bpmn:messageEventDefinition id="Def_throw_drawn" messageRef="Message_other">')
    bpmn.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(folder), "--year", "2025"])
    assert result.exit_code == 2
    assert "11 instances did not finish" in result.stderr and "收到抽取结果" in result.stderr
