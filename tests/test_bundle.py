"""Deploying bundles: versions by content, and every kind of bad bundle refused with nothing stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import LAB, NATIONAL, ZIYANG
from sqlalchemy import func, select

from engine.errors import BundleError, ForbiddenCode
from engine.store.models import AuditEntry, ProcessVersion

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "timer-bundle"


@pytest.fixture
def bundle(tmp_path):
    """A copy of the national bundle to break."""
    folder = tmp_path / "national-local"
    shutil.copytree(NATIONAL, folder)
    return folder


def _versions(engine) -> int:
    with engine.store.read() as session:
        return session.scalar(select(func.count()).select_from(ProcessVersion))


def _edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_identical_content_is_the_same_version_and_a_change_is_a_new_one(engine, bundle):
    before = _versions(engine)
    version, created = engine.deploy(bundle)
    assert (created, version.version) == (False, 1)  # the fixture deployed the same content
    _edit(bundle / "assessment.bpmn", 'name="目标备案"', 'name="年度目标备案"')
    version, created = engine.deploy(bundle)
    assert (created, version.variant, version.version) == (True, "national-2013", 2)
    assert _versions(engine) == before + 1


def test_running_instances_stay_on_the_version_they_started_on(engine, bundle):
    first = engine.start_campaign("national-2013", 2025, ["110000"])
    _edit(bundle / "assessment.bpmn", 'name="目标备案"', 'name="年度目标备案"')
    newer, _ = engine.deploy(bundle)
    second = engine.start_campaign("national-2013", 2026, ["110000"])
    assert second.version_id == newer.id != first.version_id
    names = {t.campaign_id: t.name for t in engine.tasks(region="110000")}
    assert names == {first.id: "目标备案", second.id: "年度目标备案"}


BAD_BUNDLES = [
    # (file, old, new, error, expected message, file named in the error)
    ("assessment.bpmn", "<bpmn:process ", "<bpmn:process <", BundleError, "malformed XML", "assessment.bpmn"),
    ("assessment.bpmn", '<?xml version="1.0" encoding="UTF-8"?>',
     '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
     BundleError, "DTDs and entity declarations are not allowed", "assessment.bpmn"),
    ("grade.dmn", '<?xml version="1.0" encoding="UTF-8"?>',
     '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
     BundleError, "DTDs and entity declarations are not allowed", "grade.dmn"),
    ("assessment.bpmn", "<bpmn:userTask ", "<bpmn:notAnElement/><bpmn:userTask ", BundleError,
     "notAnElement", "assessment.bpmn"),
    ("assessment.bpmn", "unit_scores = []", "import os", ForbiddenCode, "import is not allowed", "assessment.bpmn"),
    ("assessment.bpmn", "filing_decision == 'return'", "__import__('os').system('id')", ForbiddenCode,
     "not allowed", "assessment.bpmn"),
    ("grade.dmn", "Decimal(score)", "open('/etc/passwd')", ForbiddenCode, "call of 'open'", "grade.dmn"),
    ("assessment.bpmn", "deadline(announcement['announced_on'], months=1)", "open('x')", ForbiddenCode,
     "call of 'open'", "assessment.bpmn"),
    ("assessment.bpmn", 'value="filing-review.schema.json"', 'value="no-such-form.schema.json"', BundleError,
     "form 'no-such-form.schema.json' not found", "assessment.bpmn"),
    ("bundle.yaml", "  考核工作组: assessment_group\n", "", BundleError,
     "lane '考核工作组' is not mapped to a role", "assessment.bpmn"),
    ("bundle.yaml", "国务院: approver", "国务院: emperor", BundleError, "unknown roles in lanes: emperor",
     "bundle.yaml"),
    ("bundle.yaml", "region_process: national_region", "region_process: no_such_process", BundleError,
     "no_such_process", None),
    ("scheme.yaml", "points: 40", "points: 45", BundleError, "not 100", "scheme.yaml"),
    ("bundle.yaml", "before_days: [7, 1]", "before_days: [90]", BundleError, "from 1 to 31", "bundle.yaml"),
    ("bundle.yaml", "assessed: lead_agency\n    member_unit", "assessed: governor\n    member_unit", BundleError,
     "unknown roles: governor", "bundle.yaml"),
    ("bundle.yaml", "Task_self_evaluation: {date: \"07-15\"", "Task_self_evaluation: {date: \"02-30\"", BundleError,
     "must be {date", "bundle.yaml"),
    ("bundle.yaml", "key: national-2013", "key: [national", BundleError, "malformed YAML", "bundle.yaml"),
]


@pytest.mark.parametrize(("name", "old", "new", "error", "message", "file"), BAD_BUNDLES,
                         ids=[f"{b[0]}:{b[4][:30]}" for b in BAD_BUNDLES])
def test_a_bad_bundle_is_refused_naming_the_file_and_nothing_is_stored(
        engine, bundle, name, old, new, error, message, file):
    before = _versions(engine)
    with engine.store.read() as session:
        audits = session.scalar(select(func.count()).select_from(AuditEntry))
    _edit(bundle / name, old, new)
    with pytest.raises(error, match=message) as caught:
        engine.deploy(bundle)
    if file:
        assert caught.value.file == file
    assert _versions(engine) == before
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits


def _alias_bomb(levels: int) -> str:
    """The billion laughs in YAML: each level a list of ten aliases of the level below."""
    lines = ["bomb:", "  l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"  l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(engine, bundle):
    path, versions = bundle / "bundle.yaml", _versions(engine)
    before = path.read_text(encoding="utf-8")
    path.write_text(before + _alias_bomb(6), encoding="utf-8")  # 2 KB that made an 8 MB manifest
    with pytest.raises(BundleError, match="anchors and aliases are not allowed") as caught:
        engine.deploy(bundle)
    assert (caught.value.file, caught.value.line) == ("bundle.yaml", len(before.splitlines()) + 2)
    assert _versions(engine) == versions


@pytest.mark.parametrize(("name", "old", "new"), [
    ("scheme.yaml", "points: 40", "points: &forty 40"), ("scheme.yaml", "points: 60", "points: *sixty"),
    ("regions.yaml", "- {code: \"110000\"", "- &bj {code: \"110000\""),
    ("bundle.yaml", "key: national-2013", "key: !!str &k national-2013")])
def test_every_yaml_file_of_a_bundle_refuses_anchors_and_aliases(engine, bundle, name, old, new):
    _edit(bundle / name, old, new)
    line = next(n for n, text in enumerate((bundle / name).read_text(encoding="utf-8").splitlines(), 1)
                if new in text)
    with pytest.raises(BundleError, match="anchors and aliases are not allowed") as caught:
        engine.deploy(bundle)
    assert (caught.value.file, caught.value.line) == (name, line)


def test_forbidden_code_names_the_element_and_line(engine, bundle):
    _edit(bundle / "assessment.bpmn", "unit_scores = []", "results = ().__class__")
    with pytest.raises(ForbiddenCode) as caught:
        engine.deploy(bundle)
    error = caught.value
    assert error.file == "assessment.bpmn" and error.line > 1
    text = (bundle / "assessment.bpmn").read_text(encoding="utf-8").splitlines()
    assert "().__class__" in text[error.line - 1] or error.element in "\n".join(text[error.line - 5:error.line])
    assert "__class__" in error.message


def test_a_user_task_outside_any_lane_is_refused(engine, bundle):
    text = (bundle / "assessment.bpmn").read_text(encoding="utf-8")
    ref = "<bpmn:flowNodeRef>Task_self_evaluation</bpmn:flowNodeRef>"
    assert ref in text
    (bundle / "assessment.bpmn").write_text(text.replace(ref, ""), encoding="utf-8")
    with pytest.raises(BundleError, match="in no lane") as caught:
        engine.deploy(bundle)
    assert caught.value.element == "Task_self_evaluation"


def test_a_form_that_is_not_a_schema_is_refused(engine, bundle):
    (bundle / "forms").mkdir()
    (bundle / "forms" / "filing-review.schema.json").write_text('{"type": "nonsense"}', encoding="utf-8")
    with pytest.raises(BundleError, match="not a valid JSON Schema") as caught:
        engine.deploy(bundle)
    assert caught.value.file == "forms/filing-review.schema.json"


def test_a_symlink_in_a_bundle_is_refused(engine, bundle):
    (bundle / "forms").mkdir()
    (bundle / "forms" / "passwd.json").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="symbolic links"):
        engine.deploy(bundle)


def test_a_missing_folder_is_a_clear_error(engine, tmp_path):
    with pytest.raises(BundleError, match="bundle folder not found"):
        engine.deploy(tmp_path / "nowhere")


@pytest.mark.parametrize("folder", [NATIONAL, ZIYANG, LAB, BENCH], ids=lambda p: p.name)
def test_the_shipped_and_test_bundles_pass_the_name_and_reference_checks(engine, folder):
    assert engine.check(folder).key


#: The expected line: the one the edit is on.
AT_EDIT = "the edited line"

UNDEFINED_NAMES = [
    # (file, old, new, line, element, expected message)
    ("assessment.bpmn", "rectification_verdict == 'inadequate'", "rectification_verdic == 'inadequate'", AT_EDIT,
     "Flow_r28",
     '网关 "整改是否到位？" 的条件引用了未定义的变量 rectification_verdic，是否应为 rectification_verdict？ '
     '(the condition of gateway "整改是否到位？" reads undefined variable rectification_verdic; '
     'did you mean rectification_verdict?)'),
    ("assessment.bpmn", "unit_scores = []", "unit_scores = [s for s in unit_scroes if s]", AT_EDIT,
     "Task_reset_scores", '脚本任务 "退回重新评分" 的脚本引用了未定义的变量 unit_scroes，是否应为 unit_scores？'),
    ("assessment.bpmn", "{'announced_on': announced_on}", "{'announced_on': announced_date}", AT_EDIT,
     "Event_announce_results", "the message payload of event \"发布考核结果\" reads undefined variable announced_date; "
     "did you mean announced_on?"),
    ("assessment.bpmn", "deadline(announcement['announced_on'], months=1)",
     "deadline(anouncement['announced_on'], months=1)", None, "Task_rectification_report",
     "dueDate of user task \"整改报告\" reads undefined variable anouncement; did you mean announcement?"),
    ("assessment.bpmn", "deadline(announcement['announced_on'], months=1)",
     "dedline(announcement['announced_on'], months=1)", None, "Task_rectification_report",
     "did you mean deadline?"),  # the sandbox's helpers are names too
    ("assessment.bpmn", "rectification_verdict == 'inadequate'", "zzqqxx == 'inadequate'", AT_EDIT, "Flow_r28",
     "reads undefined variable zzqqxx)"),  # nothing close: no suggestion
    # Defined, but only later on: the check follows the flows.
    ("assessment.bpmn", "filing_decision == 'return'", "filing_decision == 'return' or score >= 60", AT_EDIT,
     "Flow_r05", "读取的变量 score 在到达此处的任何路径上都未定义 (the condition of gateway \"备案审核结论\" "
     "reads score, which no path to it defines)"),
    # Region start data is not in the campaign instance.
    ("assessment.bpmn", "{'announced_on': announced_on}", "{'announced_on': announced_on, 'r': region}", AT_EDIT,
     "Event_announce_results", "reads region, which no path to it defines"),
]


def _line_of(path, text: str) -> int:
    """The line of ``path`` on which ``text`` (as edited in) stands."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(("name", "old", "new", "line", "element", "message"), UNDEFINED_NAMES,
                         ids=[f"{b[0]}:{b[2][:30]}" for b in UNDEFINED_NAMES])
def test_a_name_nothing_defines_before_it_is_read_is_refused_with_a_suggestion(
        engine, bundle, name, old, new, line, element, message):
    before = _versions(engine)
    _edit(bundle / name, old, new)
    with pytest.raises(BundleError) as caught:
        engine.deploy(bundle)
    error = caught.value
    assert message in error.message
    assert (error.file, error.element) == (name, element)
    if line:
        assert error.line == _line_of(bundle / name, new.replace("<text>", "").replace("</text>", ""))
    assert _versions(engine) == before


def test_names_defined_by_forms_dmn_messages_multi_instance_items_and_scripts_all_count(engine, bundle):
    """A condition reading one name of each kind deploys: each is defined on the path to it."""
    names = ["region", "units", "targets", "opinions", "unit_scores", "score",
             "grade", "announcement", "veto_incident"]
    _edit(bundle / "assessment.bpmn", "rectification_verdict == 'inadequate'",
          "rectification_verdict == 'inadequate' and " + " and ".join(f"{n} is not None" for n in names))
    assert engine.check(bundle).key == "national-2013"


def test_start_variables_declare_what_start_instance_passes(engine, tmp_path):
    folder = tmp_path / "timer-bench"
    shutil.copytree(BENCH, folder)
    _edit(folder / "bundle.yaml", "start_variables: [due]", "start_variables: []")
    with pytest.raises(BundleError, match="the timer of event \"到期\" reads undefined variable due") as caught:
        engine.check(folder)
    assert (caught.value.file, caught.value.line, caught.value.element) == ("bench.bpmn", 21, "Wait_due")
    _edit(folder / "bundle.yaml", "start_variables: []", "start_variables: [due, 'not a name']")
    with pytest.raises(BundleError, match="start_variables must be a list of variable names"):
        engine.check(folder)


BROKEN_REFERENCES = [
    # (old, new, element, expected message); the error is on the edited line
    ("<bpmn:flowNodeRef>EndEvent_campaign</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>Task_removed</bpmn:flowNodeRef>",
     "Lane_c_recipient",
     'lane "干部主管部门和纪检监察机关" lists Task_removed, which is not in process national_campaign'),
    ("<bpmn:incoming>Flow_c14</bpmn:incoming>", "<bpmn:incoming>Flow_c99</bpmn:incoming>", "EndEvent_campaign",
     'incoming flow Flow_c99 of "年度考核结束" is not a sequence flow of process national_campaign'),
    ("<bpmn:outgoing>Flow_c01</bpmn:outgoing>", "<bpmn:outgoing>Flow_c08</bpmn:outgoing>", "StartEvent_campaign",
     'outgoing flow Flow_c08 of "启动年度考核" has sourceRef="Task_compile_results"'),
]


@pytest.mark.parametrize(("old", "new", "element", "message"), BROKEN_REFERENCES,
                         ids=[b[1][6:30] for b in BROKEN_REFERENCES])
def test_a_lane_or_flow_reference_to_a_missing_element_is_refused(engine, bundle, old, new, element, message):
    before = _versions(engine)
    _edit(bundle / "assessment.bpmn", old, new)
    with pytest.raises(BundleError) as caught:
        engine.deploy(bundle)
    error = caught.value
    assert message in error.message
    assert (error.file, error.line, error.element) == ("assessment.bpmn", _line_of(bundle / "assessment.bpmn", new),
                                                      element)
    assert _versions(engine) == before


def test_a_helper_the_engine_provides_counts_as_defined(engine, bundle):
    _edit(bundle / "assessment.bpmn", "unit_scores = []", "unit_scores = []\nsample = draw(units, 3)")
    with pytest.raises(BundleError, match="reads undefined variable draw"):
        engine.check(bundle)
    engine.runner.script_engine.environment.globals["draw"] = lambda regions, k: regions[:k]
    assert engine.check(bundle).key == "national-2013"


GRADE_TABLES = Path(__file__).parent / "bundles" / "grade-tables"


@pytest.mark.parametrize(("table", "message"), [
    ("gap.dmn", "等级表在 90.5 至 92 分之间没有等级 (the grade table gives no grade between 90.5 and 92)"),
    ("overlap.dmn", "等级表在 90 分有多条规则同时适用：第 2、3 行"),
])
def test_a_grade_table_with_a_gap_or_an_overlap_is_refused_naming_the_band(engine, bundle, table, message):
    shutil.copy(GRADE_TABLES / table, bundle / "grade.dmn")
    _edit(bundle / "assessment.bpmn", 'name="目标备案"', 'name="年度目标备案"')  # new content, not version 1
    before = _versions(engine)
    with pytest.raises(BundleError) as caught:
        engine.deploy(bundle)
    assert message in caught.value.message and caught.value.details["file"] == "grade.dmn"
    assert _versions(engine) == before


def test_a_gap_that_would_fail_a_region_is_what_the_check_prevents(bundle):
    """What deploy refuses: with the gap, SpiffWorkflow's own DMN engine gives a 91.5-point region no grade."""
    from SpiffWorkflow.spiff.parser import SpiffBpmnParser

    from engine.procedure import bundle as bundles
    from engine.running import sandbox

    parser = SpiffBpmnParser()
    parser.add_dmn_xml(bundles.parse_xml("gap.dmn", (GRADE_TABLES / "gap.dmn").read_text(encoding="utf-8")),
                       filename="gap.dmn")
    decision = parser.get_engine("grade", None)
    workflow = type("W", (), {"script_engine": sandbox.script_engine()})()
    task = type("T", (), {"data": {"score": "91.5", "vetoed": False, "veto_hits": []}, "workflow": workflow})()
    assert decision.result(task) == {}
    task.data["score"] = "92"
    assert decision.result(task) == {"grade": "A"}


@pytest.mark.parametrize(("old", "new", "message"), [
    # The old style: bands with "-" in the veto column overlap the veto row whenever an item is hit.
    ("<text>False</text>", "<text>-</text>",
     "否决项 V1 成立时，等级表在 90 至 100 分之间有多条规则同时适用：第 1、2 行"),
    ('<output id="Output_grade" label="等级" name="grade"', '<output id="Output_grade" label="等级" name="level"',
     "no output named 'grade'"),
    ('<text>"B"</text>', '<text>"良"</text>', "第 3 行给出等级 '良'，不在 grades 之中"),
    # A table still reading the old single boolean: the name it lacks is said.
    ("<text>vetoed</text>", "<text>veto_incident</text>", "veto_incident"),
])
def test_grade_table_mistakes_are_refused(engine, bundle, old, new, message):
    _edit(bundle / "grade.dmn", old, new)
    with pytest.raises(BundleError) as caught:
        engine.check(bundle)
    assert message in caught.value.message


@pytest.mark.parametrize(("old", "new", "message"), [
    ("grade_decision: grade ", "grade_decision: no_such_decision ", "grade_decision names no decision"),
    ("<spiffworkflow:calledDecisionId>grade</spiffworkflow:calledDecisionId>",
     "<spiffworkflow:calledDecisionId>other</spiffworkflow:calledDecisionId>", None),
    ("grades: [A, B, C, D] ", "", "grade_decision needs grades"),
    ("grade_decision: grade ", "", "grades need grade_decision"),
    ("failing_grade: D", "failing_grade: E", "failing_grade must be one of grades"),
    ("scale: 100", "scale: -5", "scale must be a positive number"),
    ("scale: 100", "scale: lots", "scale must be a positive number"),
    ("assessment_year: july", "assessment_year: {start: \"02-29\"}", "29 February is not allowed"),
    ("assessment_year: july", "assessment_year: {start: \"09-01\", label: both}", "label must be one of"),
    ("assessment_year: july", "assessment_year: autumn", "assessment_year must be"),
    ("campaign_process:", "campain_process: x\ncampaign_process:", "(unknown keys): campain_process"),
    ("assessment_year: july", "assessment_year: july\nsimulation_start: 13-45", "simulation_start must be a day"),
])
def test_manifest_mistakes_are_refused(engine, bundle, old, new, message):
    _edit(bundle / "bundle.yaml", old, new) if old.startswith(("grade", "failing", "scale", "assess", "campaign")) \
        else _edit(bundle / "assessment.bpmn", old, new)
    with pytest.raises(BundleError) as caught:
        engine.check(bundle)
    assert message is None or message in caught.value.message


def test_a_form_that_caps_scores_below_an_indicators_points_is_refused(engine, tmp_path):
    folder = tmp_path / "thousand"
    shutil.copytree(Path(__file__).parent / "bundles" / "thousand-points", folder)
    form = json.loads((Path(__file__).parent.parent / "forms" / "indicator-scoring.schema.json").read_text("utf-8"))
    form["properties"]["scores"]["items"]["properties"]["score"]["maximum"] = 60   # S1 has 100 points
    (folder / "forms" / "indicator-scoring.schema.json").write_text(json.dumps(form, ensure_ascii=False), "utf-8")
    with pytest.raises(BundleError) as caught:
        engine.check(folder)
    assert "表单中得分的最大值 60 小于指标的分值 100" in caught.value.message
    assert caught.value.details["file"] == "forms/indicator-scoring.schema.json"
