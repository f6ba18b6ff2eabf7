"""Every path of the two shipped procedures, driven through the engine as their users would."""

from __future__ import annotations

import pytest
from drive import Driver, unit_scores, veto_rows

from engine.store.models import InboxTask

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
    ranking = {r["region"]: (r["grade"], r["rank"]) for r in drive.campaign_data()["ranking"]}
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
    assert [(r["region"], r["grade"]) for r in drive.campaign_data()["ranking"]] == [(ANYUE, "d"), (YANJIANG, "a")]
    drive.approve_and_announce()
    assert [t.bpmn_id for t in drive.ready(region=ANYUE)] == ["Task_rectification_report"]
    assert drive.region_data(YANJIANG)["commended"] is True


def test_member_unit_tasks_belong_to_their_unit(engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    drive.do("Task_target_filing", region=BEIJING)
    opinions: list[InboxTask] = drive.ready("Task_filing_opinion", BEIJING)
    assert sorted(t.unit for t in opinions) == sorted({i["unit"] for i in drive.scheme["indicators"]})
    assert {t.role for t in opinions} == {"member_unit"}
