"""The three local variants shipped besides the national and 资阳 ones, checked against their texts.

杨陵区 (2016), 达州 (达市府办〔2015〕68号) and 广东 (2019年度起, 粤府函〔2020〕102号): each runs end to end in
``kaohe simulate`` and through the engine task by task, and its outcomes are what its text says (where
the text was not found, what its bundle says it follows instead).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from drive import Driver, unit_scores, veto_rows
from lxml import etree

from engine import config
from engine.clock import CHINA
from engine.procedure import yamlfile
from engine.running.simulate import run_simulation, simulation_start

SHIPPED = ["yangling-2016", "dazhou-2015", "guangdong-2019"]

#: Each variant's bands, best first (floor, grade), and the grades commended and rectifying.
BANDS = {"yangling-2016": [(90, "A"), (80, "B"), (60, "C"), (0, "D")],      # 国办发〔2013〕47号 第五条
         "dazhou-2015": [(90, "A"), (60, "B"), (0, "C")],                   # grade.dmn: national edges
         "guangdong-2019": [(90, "A"), (80, "B"), (60, "C"), (0, "D")]}
COMMENDED = {"yangling-2016": "A", "dazhou-2015": "A", "guangdong-2019": "A"}

TONGCHUAN, DACHUAN, QUXIAN, JINGKAIQU = "511702", "511703", "511725", "DZ-JKQ"
GUANGZHOU, SHENZHEN, SHANTOU = "440100", "440300", "440500"
FGJ, NLJ = "YL-FGJ", "YL-NLJ"


@pytest.fixture
def shipped(engine):
    """The engine with the three local variants deployed and their regions loaded."""
    for key in SHIPPED:
        folder = config.PROCESSES / key
        engine.load_regions(engine.check(folder))
        engine.deploy(folder)
    return engine


def _band(variant: str, score: str, veto: bool) -> str:
    bands = BANDS[variant]
    if veto:
        return bands[-1][1]
    return next(grade for floor, grade in bands if Decimal(score) >= floor)


# -- kaohe simulate, end to end ----------------------------------------------------------------------

@pytest.mark.parametrize("variant", SHIPPED)
def test_the_simulation_runs_each_variant_to_its_end_with_its_own_outcomes(variant):
    result = run_simulation(variant, 2025, seed=7)
    regions = result["regions"]
    assert regions and {r["status"] for r in regions} == {"completed"}
    failing = BANDS[variant][-1][1]
    for r in regions:
        assert r["grade"] == _band(variant, r["score"], r["veto"]), r
        assert r["consequences"]["commended"] == (r["grade"] == COMMENDED[variant])
        assert r["consequences"]["must_rectify"] == (r["grade"] == failing)
        assert ("通报表扬" in r["outcome"]) == (r["grade"] == COMMENDED[variant])
        assert ("书面整改" in r["outcome"]) == (r["grade"] == failing)
    # The ranking: by score, best first; a vetoed region after every other whatever its score.
    clean = [r for r in regions if not r["veto"]]
    assert [Decimal(r["score"]) for r in clean] == sorted((Decimal(r["score"]) for r in clean), reverse=True)
    assert all(r["veto"] for r in regions[len(clean):])
    assert [r["rank"] for r in regions] == sorted(r["rank"] for r in regions) and regions[0]["rank"] == 1
    assert sorted(r["region"] for r in result["rectification"]) == \
        sorted(r["region"] for r in regions if r["grade"] == failing)


def test_the_simulated_guangdong_campaign_has_no_filing_and_no_on_site_step():
    result = run_simulation("guangdong-2019", 2025, seed=3)
    steps = {e["task"] for e in result["timeline"] if e.get("task")}
    assert {"Task_self_evaluation", "Task_indicator_scoring", "Task_score_confirmation"} <= steps
    assert not steps & {"Task_onsite_check", "Task_target_filing", "Task_filing_review"}
    events = " ".join(e["event"] for e in result["timeline"])
    assert "自我评价" in events and "初步评审" in events and "综合考核" in events and "实地核查" not in events
    # A calendar year, assessed the next spring.
    assert result["timeline"][0]["at"].startswith("2026-01-05")
    assert len(result["regions"]) == 21


def test_the_simulated_yangling_campaign_assesses_departments_with_both_filings_due_on_15_june():
    result = run_simulation("yangling-2016", 2025, seed=5)
    assert {r["region"] for r in result["regions"]} >= {FGJ, NLJ}
    assert all(r["region"].startswith("YL-") and r["name"].startswith("区") for r in result["regions"])
    due = {(e["task"], e["event"].split("截止 ")[1].split("，")[0]) for e in result["timeline"]
           if e.get("step") and e.get("task") in ("Task_target_filing", "Task_self_evaluation")}
    assert due == {("Task_target_filing", "2025年6月15日 24:00"), ("Task_self_evaluation", "2026年6月15日 24:00")}


# -- 杨陵区 ----------------------------------------------------------------------------------------

def test_yangling_departments_file_targets_and_evaluate_themselves_by_15_june(shipped):
    drive = Driver(shipped, "yangling-2016", [FGJ, NLJ])
    assert drive.campaign.label == "2025—2026年度"
    [filing] = drive.ready("Task_target_filing", FGJ)
    assert filing.due_at == datetime(2025, 6, 16, tzinfo=CHINA)   # 6月15日 24:00, before the year starts
    drive.file_targets(FGJ)
    [evaluation] = drive.ready("Task_self_evaluation", FGJ)
    assert evaluation.due_at == datetime(2026, 6, 16, tzinfo=CHINA)   # 6月15日 24:00 of the year after
    drive.score(FGJ, "90")
    drive.file_targets(NLJ)
    drive.score(NLJ, "59.5")
    assert [(r["region"], r["grade"], r["rank"]) for r in drive.results()] == [(FGJ, "A", 1), (NLJ, "D", 2)]
    drive.approve_and_announce()
    assert drive.region_data(FGJ)["commended"] is True
    [report] = drive.ready("Task_rectification_report", NLJ)
    assert report.due_at == datetime(2026, 11, 16, tzinfo=CHINA)   # a month after the 2026-10-15 announcement


# -- 达州 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "grade"), [
    ("100", "A"), ("90", "A"), ("89.99", "B"), ("60", "B"), ("59.99", "C"), ("0", "C"),
])
def test_dazhou_grades_a_b_c_on_the_exact_score(shipped, total, grade):
    drive = Driver(shipped, "dazhou-2015", [TONGCHUAN])
    drive.file_targets(TONGCHUAN, opinions=False)
    drive.score(TONGCHUAN, total, onsite=False)
    assert drive.region_data(TONGCHUAN)["grade"] == grade


def test_dazhou_publishes_grades_and_ranking_commends_a_and_has_c_rectify_within_a_month(shipped):
    regions = [TONGCHUAN, DACHUAN, QUXIAN, JINGKAIQU]
    drive = Driver(shipped, "dazhou-2015", regions)
    assert drive.campaign.label == "2025年度"   # 2018 通报: “2017年度质量工作”, a calendar year
    # 达州: no consultation of member units on the targets and no separate on-site step (as 资阳).
    drive.do("Task_target_filing", region=TONGCHUAN)
    assert [t.bpmn_id for t in drive.ready(region=TONGCHUAN)] == ["Task_filing_review"]
    totals = {TONGCHUAN: "92", DACHUAN: "90", QUXIAN: "59.5", JINGKAIQU: "99"}
    for region in regions:
        if region != TONGCHUAN:
            drive.do("Task_target_filing", region=region)
        drive.do("Task_filing_review", {"filing_decision": "accept", "comment": "同意"}, region=region)
        drive.do("Task_self_evaluation", region=region)
        for unit, scores in unit_scores(drive.scheme, totals[region]).items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                             "veto_items": veto_rows(drive.scheme, region == JINGKAIQU)},
                 region=region)
    # The 经开区 with 99 points hit a veto item: C, ranked after every other.
    assert [(r["region"], r["grade"], r["rank"]) for r in drive.results()] == [
        (TONGCHUAN, "A", 1), (DACHUAN, "A", 2), (QUXIAN, "C", 3), (JINGKAIQU, "C", 4)]
    drive.approve_and_announce()
    assert [drive.region_data(r)["commended"] for r in regions] == [True, True, False, False]
    rectifying = sorted(t.region for t in drive.ready("Task_rectification_report"))
    assert rectifying == sorted([QUXIAN, JINGKAIQU])
    assert {t.due_at for t in drive.ready("Task_rectification_report")} == {datetime(2026, 11, 16, tzinfo=CHINA)}
    drive.do("Task_rectification_report", region=QUXIAN)
    drive.do("Task_rectification_review", {"rectification_verdict": "inadequate", "comment": "整改不到位"},
             region=QUXIAN)
    [interview] = drive.ready("Task_interview", QUXIAN)
    assert interview.role == "member_unit"


# -- 广东 -----------------------------------------------------------------------------------------

def test_guangdong_goes_from_self_evaluation_to_preliminary_review_to_the_overall_assessment(shipped):
    drive = Driver(shipped, "guangdong-2019", [GUANGZHOU, SHENZHEN, SHANTOU])
    assert drive.campaign.label == "2025年度"
    # No 目标备案: each city starts with its self-evaluation, which has no fixed date in the notices.
    assert {(t.region, t.bpmn_id, t.due_at) for t in drive.ready()} == {
        (c, "Task_self_evaluation", None) for c in (GUANGZHOU, SHENZHEN, SHANTOU)}
    drive.do("Task_self_evaluation", region=GUANGZHOU)
    # No 实地核查: the self-evaluation goes straight to 初步评审 by the member units.
    ready = drive.ready(region=GUANGZHOU)
    assert {(t.bpmn_id, t.name, t.role) for t in ready} == {("Task_indicator_scoring", "初步评审", "member_unit")}
    for region, total in ((GUANGZHOU, "90"), (SHENZHEN, "89.99"), (SHANTOU, "59.99")):
        if region != GUANGZHOU:
            drive.do("Task_self_evaluation", region=region)
        for unit, scores in unit_scores(drive.scheme, total).items():
            drive.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        [overall] = drive.ready("Task_score_confirmation", region)
        assert (overall.name, overall.role) == ("综合考核", "assessment_group")
        drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                             "veto_items": veto_rows(drive.scheme)}, region=region)
    assert [(r["region"], r["grade"], r["rank"]) for r in drive.results()] == [
        (GUANGZHOU, "A", 1), (SHENZHEN, "B", 2), (SHANTOU, "D", 3)]
    drive.approve_and_announce()
    assert drive.region_data(GUANGZHOU)["commended"] is True   # 省政府对A级予以通报表扬
    assert [t.region for t in drive.ready("Task_rectification_report")] == [SHANTOU]


# -- the diagrams ---------------------------------------------------------------------------------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC"}
_NOT_DRAWN = {"laneSet", "documentation", "extensionElements", "incoming", "outgoing", "conditionExpression",
              "multiInstanceLoopCharacteristics", "script", "flowNodeRef", "messageEventDefinition"}


@pytest.mark.parametrize("variant", ["national-2013", "ziyang-2016", *SHIPPED])
def test_every_element_of_a_shipped_diagram_is_drawn_inside_its_lane(variant):
    root = etree.parse(str(config.PROCESSES / variant / "assessment.bpmn")).getroot()
    bounds = {s.get("bpmnElement"): s.find("dc:Bounds", DI) for s in root.iterfind(".//bpmndi:BPMNShape", DI)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", DI)}
    for process in root.iterfind(f"{{{BPMN}}}process"):
        for element in process:
            name = etree.QName(element).localname
            if name in _NOT_DRAWN:
                continue
            drawn = edges if name == "sequenceFlow" else bounds
            assert element.get("id") in drawn, f"{variant}: {element.get('id')} has no shape"
        for lane in process.iterfind(f".//{{{BPMN}}}lane"):
            box = bounds[lane.get("id")]
            x, y, w, h = (float(box.get(k)) for k in ("x", "y", "width", "height"))
            for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef"):
                node = bounds[ref.text]
                cx = float(node.get("x")) + float(node.get("width")) / 2
                cy = float(node.get("y")) + float(node.get("height")) / 2
                assert x <= cx <= x + w and y <= cy <= y + h, f"{variant}: {ref.text} outside {lane.get('name')}"
    for flow in root.iterfind(f".//{{{BPMN}}}messageFlow"):
        assert flow.get("id") in edges


@pytest.mark.parametrize("variant", SHIPPED)
def test_no_shipped_variant_scripts_its_outcomes(variant):
    """Consequences come from ``results:``; what scripts there are hold one line."""
    text = (config.PROCESSES / variant / "assessment.bpmn").read_text(encoding="utf-8")
    root = etree.fromstring(text.encode("utf-8"))
    scripts = [s.text or "" for s in root.iter(f"{{{BPMN}}}script")]
    assert scripts and all("\n" not in s.strip() for s in scripts)
    assert "sorted(" not in text and " for " not in "".join(scripts)


def test_the_assessment_year_of_each_variant_is_the_one_its_text_gives():
    starts = {}
    for key in SHIPPED:
        manifest = yamlfile.load((config.PROCESSES / key / "bundle.yaml").read_text(encoding="utf-8"), "bundle.yaml")
        starts[key] = (manifest["assessment_year"], simulation_start(manifest, 2025))
    assert starts == {"yangling-2016": ("july", date(2025, 6, 1)),
                      "dazhou-2015": ("calendar", date(2025, 1, 5)),
                      "guangdong-2019": ("calendar", date(2026, 1, 5))}
