"""Every path of the two shipped procedures, driven through the engine as their users would."""

from __future__ import annotations

import ast
import shutil
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from conftest import ZIYANG
from drive import Driver, unit_scores, veto_rows
from lxml import etree

from engine.clock import CHINA
from engine.errors import ValidationError
from engine.store.models import InboxTask

FIXTURES = Path(__file__).parent / "bundles"

BEIJING, TIANJIN, HEBEI, SHANXI, NEIMENGGU = "110000", "120000", "130000", "140000", "150000"
YANJIANG, ANYUE = "512002", "512021"


def test_national_campaign_grades_ranks_and_consequences(engine):
    regions = [BEIJING, TIANJIN, HEBEI, SHANXI, NEIMENGGU]
    drive = Driver(engine, "national-2013", regions)
    totals = {BEIJING: "95", TIANJIN: "85", HEBEI: "70", SHANXI: "50", NEIMENGGU: "85"}
    for region in regions:
        drive.file_targets(region)
        drive.score(region, totals[region])
    # Nothing campaign-level happens before every region has reported.
    assert [t.bpmn_id for t in drive.ready(region=None) if t.region is None] == ["Task_compile_results"]
    ranking = {r["region"]: (r["grade"], r["rank"]) for r in drive.results()}
    assert ranking == {BEIJING: ("A", 1), TIANJIN: ("B", 2), NEIMENGGU: ("B", 2), HEBEI: ("C", 4),
                       SHANXI: ("D", 5)}

    drive.approve_and_announce()
    assert drive.region_data(BEIJING)["commended"] is True
    # Only the D region has to report on its rectification; the others are finished.
    assert [(t.bpmn_id, t.region) for t in drive.ready() if t.region] == [("Task_rectification_report", SHANXI)]
    assert {t.bpmn_id for t in drive.ready() if t.region is None} == {"Task_receive_results"}
    drive.do("Task_rectification_report", region=SHANXI)
    drive.do("Task_rectification_review", {"rectification_verdict": "adequate", "comment": "整改到位"},
             region=SHANXI)
    drive.do("Task_receive_results")
    assert drive.ready() == []
    assert {i.status for i in engine.campaign_instances(drive.campaign.id)} == {"completed"}
    assert "Task_interview" not in str(drive.region_data(SHANXI))


def test_veto_gives_d_whatever_the_score_and_falling_short_leads_to_an_interview(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    drive.score(BEIJING, "100", veto=True)
    assert drive.region_data(BEIJING)["grade"] == "D"
    assert drive.region_data(BEIJING)["score"] == "100"
    drive.approve_and_announce()
    drive.do("Task_rectification_report", region=BEIJING)
    drive.do("Task_rectification_review", {"rectification_verdict": "inadequate", "comment": "整改不到位"},
             region=BEIJING)
    [interview] = drive.ready("Task_interview", BEIJING)
    assert interview.role == "member_unit"
    drive.do("Task_interview", region=BEIJING)
    assert drive.ready(region=BEIJING) == []


def test_a_returned_filing_is_filed_again(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.do("Task_target_filing", region=BEIJING)
    for task in drive.ready("Task_filing_opinion", BEIJING):
        drive.do("Task_filing_opinion", {"opinion": "revise", "comment": "目标偏低"}, region=BEIJING, unit=task.unit)
    drive.do("Task_filing_review", {"filing_decision": "return", "comment": "请提高目标"}, region=BEIJING)
    [again] = drive.ready(region=BEIJING)
    assert again.bpmn_id == "Task_target_filing" and again.role == "assessed"
    drive.file_targets(BEIJING)
    assert [t.bpmn_id for t in drive.ready(region=BEIJING)] == ["Task_self_evaluation"]


def test_the_approver_sends_the_results_back(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    drive.score(BEIJING, "88")
    drive.do("Task_compile_results")
    drive.do("Task_approve_results", {"approval": "return", "comment": "请补充说明"})
    assert [t.bpmn_id for t in drive.ready() if t.region is None] == ["Task_compile_results"]
    drive.approve_and_announce()
    assert drive.ready(region=BEIJING) == []


def test_the_working_group_sends_scores_back_for_rescoring(engine):
    drive = Driver(engine, "national-2013", [TIANJIN])
    drive.file_targets(TIANJIN)
    drive.do("Task_self_evaluation", region=TIANJIN)
    drive.do("Task_onsite_check", region=TIANJIN)
    for unit, scores in unit_scores(drive.scheme, "60").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=TIANJIN, unit=unit)
    drive.do("Task_score_confirmation", {"confirmation": "rescore", "comment": "复核",
                                                  "veto_items": veto_rows(drive.scheme)}, region=TIANJIN)
    assert {t.unit for t in drive.ready("Task_indicator_scoring", TIANJIN)} == set(unit_scores(drive.scheme, "60"))
    for unit, scores in unit_scores(drive.scheme, "90").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=TIANJIN, unit=unit)
    drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                                  "veto_items": veto_rows(drive.scheme)}, region=TIANJIN)
    assert (drive.region_data(TIANJIN)["score"], drive.region_data(TIANJIN)["grade"]) == ("90", "A")


@pytest.mark.parametrize(("total", "grade"), [
    ("100", "A"), ("90", "A"), ("89.99", "B"), ("89.5", "B"), ("80", "B"), ("79.99", "C"), ("60", "C"),
    ("59.99", "D"), ("0", "D"),
])
def test_national_grade_bands_are_half_open_on_the_exact_score(sqlite_engine, total, grade):
    drive = Driver(sqlite_engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    drive.score(BEIJING, total)
    data = drive.region_data(BEIJING)
    assert (data["score"], data["grade"]) == (total, grade)


@pytest.mark.parametrize(("total", "grade"), [
    ("95", "a"), ("94.9", "b"), ("85", "b"), ("84.99", "c"), ("60", "c"), ("59.99", "d"),
])
def test_ziyang_grade_bands(sqlite_engine, total, grade):
    drive = Driver(sqlite_engine, "ziyang-2016", [YANJIANG])
    drive.file_targets(YANJIANG, opinions=False)
    drive.score(YANJIANG, total, onsite=False)
    assert drive.region_data(YANJIANG)["grade"] == grade


def test_ziyang_runs_its_own_four_steps_over_a_calendar_year(engine):
    drive = Driver(engine, "ziyang-2016", [YANJIANG, ANYUE])
    assert drive.campaign.label == "2025年度"
    # 资阳: no consultation of member units on filing, no separate on-site step.
    drive.do("Task_target_filing", region=YANJIANG)
    assert [t.bpmn_id for t in drive.ready(region=YANJIANG)] == ["Task_filing_review"]
    drive.do("Task_filing_review", {"filing_decision": "accept", "comment": "同意"}, region=YANJIANG)
    drive.do("Task_self_evaluation", region=YANJIANG)
    assert {t.bpmn_id for t in drive.ready(region=YANJIANG)} == {"Task_indicator_scoring"}
    drive.file_targets(ANYUE, opinions=False)
    drive.do("Task_self_evaluation", region=ANYUE)
    for region, total, veto in ((YANJIANG, "96", False), (ANYUE, "99", True)):
        for unit, scores in unit_scores(drive.scheme, total).items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                             "veto_items": veto_rows(drive.scheme, "V4" if veto else [])},
                 region=region)
    # A vetoed county is graded d whatever its score, and ranked after every other (99 points or not); the
    # results name the veto item hit (here 环境, V4).
    assert [(r["region"], r["grade"], r["rank"], r["veto"]) for r in drive.results()] == [
        (YANJIANG, "a", 1, False), (ANYUE, "d", 2, True)]
    assert drive.results()[1]["veto_items"] == [v["name"] for v in drive.scheme["veto"] if v["code"] == "V4"]
    assert (drive.region_data(ANYUE)["vetoed"], drive.region_data(ANYUE)["veto_hits"]) == (True, ["V4"])
    drive.approve_and_announce()
    assert [t.bpmn_id for t in drive.ready(region=ANYUE)] == ["Task_rectification_report"]
    assert drive.region_data(YANJIANG)["commended"] is True


def test_member_unit_tasks_belong_to_their_unit(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.do("Task_target_filing", region=BEIJING)
    opinions: list[InboxTask] = drive.ready("Task_filing_opinion", BEIJING)
    assert sorted(t.unit for t in opinions) == sorted({i["unit"] for i in drive.scheme["indicators"]})
    assert {t.role for t in opinions} == {"member_unit"}


@pytest.mark.parametrize(("rows", "message"), [
    (lambda rows: rows[:-1], "否决项 V4（发生区域性、系统性环境质量安全事件）未认定"),
    (lambda rows: rows + [{"veto": "V9", "hit": False, "evidence": ""}], "否决项 V9 不在指标体系中"),
    (lambda rows: rows + [dict(rows[0])], "否决项 V1 重复"),
    (lambda rows: [dict(rows[0], hit=True, evidence="")] + rows[1:], "至少 1 个字符"),
])
def test_every_veto_item_is_recorded_once_with_its_evidence(engine, rows, message):
    drive = Driver(engine, "ziyang-2016", [YANJIANG])
    drive.file_targets(YANJIANG, opinions=False)
    drive.do("Task_self_evaluation", region=YANJIANG)
    for unit, scores in unit_scores(drive.scheme, "90").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=YANJIANG, unit=unit)
    with pytest.raises(ValidationError) as caught:
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                             "veto_items": rows(veto_rows(drive.scheme))}, region=YANJIANG)
    assert message in str(caught.value.message) + str(caught.value.errors)
    assert [t.bpmn_id for t in drive.ready(region=YANJIANG)] == ["Task_score_confirmation"]   # nothing changed


def _deploy(engine, name: str) -> None:
    folder = FIXTURES / name
    engine.load_regions(engine.check(folder))
    engine.deploy(folder)


def test_a_thousand_point_scale_checks_scores_against_its_own_indicator_points(engine):
    _deploy(engine, "thousand-points")
    drive = Driver(engine, "thousand-points", ["991001"])
    drive.file_targets("991001", opinions=False)
    drive.do("Task_self_evaluation", region="991001")
    [s1] = [i for i in drive.scheme["indicators"] if i["code"] == "S1"]
    assert s1["points"] == 100 and s1["unit"] == "statistics"
    statistics = unit_scores(drive.scheme, "1000")["statistics"]   # M4 (30 points) and S1 (100 points)
    too_many = [dict(row, score=row["score"] + 0.5) if row["indicator"] == "S1" else row for row in statistics]
    with pytest.raises(ValidationError, match="S1 .*：得分不得超过 100 分"):
        drive.do("Task_indicator_scoring", {"scores": too_many}, region="991001", unit="statistics")
    for unit, scores in unit_scores(drive.scheme, "905.5").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region="991001", unit=unit)
    drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                         "veto_items": veto_rows(drive.scheme)}, region="991001")
    assert (drive.region_data("991001")["score"], drive.region_data("991001")["grade"]) == ("905.5", "优秀")


def test_self_evaluation_scores_stay_within_each_indicators_points(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.file_targets(BEIJING)
    rows = [{"indicator": i["code"], "score": float(i["points"])} for i in drive.scheme["indicators"]]
    rows[0]["score"] = 250   # the form no longer caps scores at 100: the scheme does
    with pytest.raises(ValidationError, match="T1 制造业产品质量合格率：自评分不得超过 15 分"):
        drive.do("Task_self_evaluation", {"self_scores": rows, "report": "自评", "evidence": []}, region=BEIJING)


def test_a_september_year_labels_its_campaign_and_dates_its_deadlines_from_the_start(engine):
    _deploy(engine, "sept-year")
    drive = Driver(engine, "sept-year", ["992001"])
    assert drive.campaign.label == "2025—2026年度"
    [filing] = drive.ready("Task_target_filing")
    assert filing.due_at == datetime(2025, 9, 1, tzinfo=CHINA)   # 31 August 2025, 24:00 (a Sunday)
    drive.file_targets("992001")
    [evaluation] = drive.ready("Task_self_evaluation")
    assert evaluation.due_at == datetime(2026, 9, 16, tzinfo=CHINA)   # 15 September of the year after


def test_a_pass_fail_procedure_grades_by_its_table_and_the_veto(engine):
    _deploy(engine, "sept-year")
    drive = Driver(engine, "sept-year", ["992001", "992002", "992003"])
    for region, total, veto in (("992001", "60", False), ("992002", "59.99", False), ("992003", "100", True)):
        drive.file_targets(region)
        drive.score(region, total, veto=veto)
    grades = {r["region"]: r["grade"] for r in drive.results()}
    assert grades == {"992001": "合格", "992002": "不合格", "992003": "不合格"}


def test_a_rank_only_procedure_reports_scores_without_a_grade(engine):
    _deploy(engine, "rank-only")
    drive = Driver(engine, "rank-only", ["993001", "993002"])
    for region, total in (("993001", "80"), ("993002", "90.5")):
        drive.file_targets(region, opinions=False)
        drive.score(region, total, onsite=False)
    assert [(r["region"], r["rank"], r["grade"]) for r in drive.results()] == [("993002", 1, None), ("993001", 2, None)]
    assert "grade" not in drive.region_data("993001")


ITEM_TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="D" name="按否决项分别定级" namespace="http://t">
  <decision id="grade" name="评定等级">
    <decisionTable id="T" hitPolicy="UNIQUE">
      <input id="I1" label="总分"><inputExpression id="E1" typeRef="number"><text>Decimal(score)</text>
      </inputExpression></input>
      <input id="I2" label="成立的否决项"><inputExpression id="E2"><text>veto_hits</text></inputExpression></input>
      <output id="O" label="等级" name="grade" typeRef="string"/>
      {rules}
    </decisionTable>
  </decision>
</definitions>
"""
ITEM_RULES = [("-", "len(?) > 0 and ? != ['V4']", "d"), ("-", "? == ['V4']", "c"),   # 环境 alone: c
              ("? >= 95", "? == []", "a"), ("85 <= ? < 95", "? == []", "b"), ("60 <= ? < 85", "? == []", "c"),
              ("? < 60", "? == []", "d")]


def test_a_grade_table_can_tell_the_veto_items_apart(engine, tmp_path):
    folder = tmp_path / "ziyang-items"
    shutil.copytree(ZIYANG, folder)
    manifest = folder / "bundle.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace("key: ziyang-2016", "key: ziyang-items"), "utf-8")
    rules = "".join(f'<rule id="R{n}"><inputEntry id="A{n}"><text>{escape(score)}</text></inputEntry>'
                    f'<inputEntry id="B{n}"><text>{escape(hits)}</text></inputEntry>'
                    f'<outputEntry id="C{n}"><text>"{grade}"</text></outputEntry></rule>'
                    for n, (score, hits, grade) in enumerate(ITEM_RULES))
    (folder / "grade.dmn").write_text(ITEM_TABLE.replace("{rules}", rules), "utf-8")
    engine.deploy(folder)   # checked over the scale, with each item hit and with all of them
    drive = Driver(engine, "ziyang-items", [YANJIANG, ANYUE])
    for region, hits in ((YANJIANG, "V4"), (ANYUE, ["V1", "V4"])):
        drive.file_targets(region, opinions=False)
        drive.do("Task_self_evaluation", region=region)
        for unit, scores in unit_scores(drive.scheme, "97").items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                             "veto_items": veto_rows(drive.scheme, hits)}, region=region)
    named = {v["code"]: v["name"] for v in drive.scheme["veto"]}
    results = {r["region"]: (r["grade"], r["veto_items"]) for r in drive.results()}
    assert results == {YANJIANG: ("c", [named["V4"]]), ANYUE: ("d", [named["V1"], named["V4"]])}


@pytest.mark.parametrize("folder", sorted(p for p in (Path(__file__).parent.parent / "processes").iterdir()
                                          if p.is_dir()), ids=lambda p: p.name)
def test_no_shipped_procedure_computes_outcomes_in_python(folder):
    """Ranking and consequences are data (bundle.yaml results:): every script of a shipped BPMN is one line, with
    no loop and no comprehension over a ranking."""
    loops = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
    spiff = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
    scripts = []
    for path in folder.glob("*.bpmn"):
        tree = etree.parse(str(path))
        scripts += [e for e in tree.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}script",
                                         f"{spiff}preScript", f"{spiff}postScript") if (e.text or "").strip()]
    assert scripts
    for element in scripts:
        text = element.text.strip()
        assert "\n" not in text, (element.sourceline, text)
        assert not [n for n in ast.walk(ast.parse(text)) if isinstance(n, loops)], (element.sourceline, text)
