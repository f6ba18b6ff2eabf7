"""Check, all problems at once: every finding of a bundle, with its file, line, element, name and severity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.errors import BundleError
from engine.procedure import bundle
from engine.procedure.problems import check_all, errors

ROOT = Path(__file__).parent.parent
CORPUS = Path(__file__).parent / "corpus"


def _national() -> dict[str, str]:
    return bundle.read_folder(ROOT / "processes" / "national-2013", ROOT / "forms")


def _line(text: str, words: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if words in line)


def _corpus(name: str, text: str | None = None) -> dict[str, str]:
    """A corpus BPMN file (or ``text`` as region.bpmn) wrapped in the corpus base bundle."""
    files = bundle.read_folder(CORPUS / "base")
    del files["decision-caller.bpmn"]
    files[name] = text if text is not None else (CORPUS / name).read_text(encoding="utf-8")
    return files


def _where(findings) -> list[tuple]:
    return [(f.file, f.line, f.element, f.name, f.severity) for f in findings]


def _broken_national() -> dict[str, str]:
    files = _national()
    files["bundle.yaml"] = files["bundle.yaml"].replace("  国务院: approver\n", "")
    files["assessment.bpmn"] = files["assessment.bpmn"].replace(">must_rectify<", ">must_rectfy<").replace(
        'name="审定结论" default="Flow_c11"', 'name="审定结论"')
    files["regions.yaml"] = files["regions.yaml"].replace('"120000"', '"110000"')
    files["grade.dmn"] = (Path(__file__).parent / "bundles" / "grade-tables" / "gap.dmn").read_text("utf-8")
    return files


def test_a_bundle_with_many_problems_in_several_files_reports_every_one():
    files = _broken_national()
    found = check_all(files)
    bpmn, dmn = files["assessment.bpmn"], files["grade.dmn"]
    assert _where(found) == [
        ("regions.yaml", _line(files["regions.yaml"], 'code: "110000"') + 1, None, None, "error"),
        ("assessment.bpmn", _line(bpmn, 'id="Flow_c11"'), "Flow_c11", "审定同意", "error"),
        ("assessment.bpmn", _line(bpmn, '<bpmn:lane id="Lane_c_approver"'), "Lane_c_approver", "国务院", "error"),
        ("grade.dmn", _line(dmn, '<decision id="grade"'), "grade", "评定等级", "error"),
        ("assessment.bpmn", _line(bpmn, ">must_rectfy<"), "Flow_r22", "须书面整改", "error"),
    ]
    reasons = [f.reason for f in found]
    assert "duplicate region codes" in reasons[0]
    assert 'flow Flow_c11 of exclusive gateway "审定结论" has no condition and is not the default' in reasons[1]
    assert "lane '国务院' is not mapped to a role" in reasons[2]
    assert reasons[3] == "等级表在 90.5 至 92 分之间没有等级 (the grade table gives no grade between 90.5 and 92)"
    assert reasons[4].startswith('网关 "考核结果运用" 的条件引用了未定义的变量 must_rectfy，是否应为 must_rectify？')
    assert errors(found) == found


def test_deploy_still_refuses_with_one_error_that_lists_them_all():
    files = _broken_national()
    with pytest.raises(BundleError) as caught:
        bundle.check_bundle(files)
    error = caught.value
    assert (error.file, error.line, error.element) == ("regions.yaml", 5, None)
    assert [p["element"] for p in error.details["problems"]] == [None, "Flow_c11", "Lane_c_approver", "grade",
                                                                  "Flow_r22"]
    assert "must_rectfy" in error.message and "90.5 至 92" in error.message


def test_a_sound_bundle_has_no_findings():
    assert check_all(_national()) == []


def test_a_grade_table_gap_names_the_scores_no_row_covers():
    files = _national()
    files["grade.dmn"] = files["grade.dmn"].replace("&gt;= 90", "&gt;= 91.5")  # A from 91.5, B below 90
    assert files["grade.dmn"] != _national()["grade.dmn"]
    found = check_all(files)
    assert [(f.file, f.element, f.name, f.severity) for f in found] == [("grade.dmn", "grade", "评定等级", "error")]
    assert found[0].reason == "等级表在 90 至 91.5 分之间没有等级 (the grade table gives no grade between 90 and 91.5)"
    files["grade.dmn"] = files["grade.dmn"].replace("60 &lt;= ? &lt; 80", "60 &lt;= ? &lt; 85")  # and B, C overlap
    assert [f.reason.split(" (")[0] for f in check_all(files)] == [
        "等级表在 80 至 85 分之间有多条规则同时适用：第 3、4 行", "等级表在 90 至 91.5 分之间没有等级"]


def test_every_broken_form_and_every_unknown_name_is_reported_not_the_first():
    files = _national()
    files["forms/notification.schema.json"] = files["forms/notification.schema.json"].replace("{", "{,", 1)
    files["forms/target-filing.schema.json"] = files["forms/target-filing.schema.json"].replace("{", "{,", 1)
    found = check_all(files)
    assert [(f.file, f.line, f.severity) for f in found] == [
        ("forms/notification.schema.json", 1, "error"), ("forms/target-filing.schema.json", 1, "error")]
    files = _national()
    files["assessment.bpmn"] = files["assessment.bpmn"].replace(">must_rectify<", ">must_rectfy<").replace(
        ">commended<", ">comended<")
    assert [(f.element, f.name) for f in check_all(files)] == [("Flow_r22", "须书面整改"), ("Flow_r23", "通报表扬")]


PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://x">
  <bpmn:process id="corpus_region" isExecutable="true">
{body}
  </bpmn:process>
</bpmn:definitions>
"""
START = '<bpmn:startEvent id="S" name="开始"/><bpmn:sequenceFlow id="F0" sourceRef="S" targetRef="T"/>'
TASK = '<bpmn:scriptTask id="T" name="计分"><bpmn:script>score = 1</bpmn:script></bpmn:scriptTask>'
END = '<bpmn:sequenceFlow id="F9" sourceRef="T" targetRef="E"/><bpmn:endEvent id="E" name="结束"/>'


@pytest.mark.parametrize(("body", "expected"), [
    # no start event: nowhere to begin (SpiffWorkflow's own "No start event found" is not said twice)
    (TASK + END, [("error", "corpus_region", "has no start event"), ("error", "T", "has no incoming flow")]),
    # no end event: runs, but where it ends is hidden
    (START + TASK, [("warning", "corpus_region", "has no end event"),
                    ("warning", "T", "has no outgoing flow")]),
    # a step no flow reaches never runs
    (START + TASK + END + '<bpmn:scriptTask id="Lost" name="遗漏"><bpmn:script>x = 1</bpmn:script>'
     '</bpmn:scriptTask>', [("error", "Lost", "is not connected to any flow")]),
    (START + TASK + END + '<bpmn:scriptTask id="Lost" name="遗漏"><bpmn:script>x = 1</bpmn:script>'
     '</bpmn:scriptTask><bpmn:sequenceFlow id="F8" sourceRef="Lost" targetRef="E"/>',
     [("error", "Lost", "has no incoming flow")]),
    # a flow to nowhere
    (START + TASK + END + '<bpmn:sequenceFlow id="F7" sourceRef="Nowhere" targetRef="E"/>',
     [("error", "F7", "a flow to nowhere")]),
    # an exclusive gateway: a way out with no condition and no default; all conditions and no default
    (START.replace('targetRef="T"', 'targetRef="G"') + '<bpmn:exclusiveGateway id="G" name="是否达标"/>'
     '<bpmn:sequenceFlow id="Fa" sourceRef="G" targetRef="T"><bpmn:conditionExpression>1 &gt; 0'
     '</bpmn:conditionExpression></bpmn:sequenceFlow><bpmn:sequenceFlow id="Fb" sourceRef="G" targetRef="E"/>'
     + TASK + END, [("error", "Fb", "has no condition and is not the default")]),
    (START.replace('targetRef="T"', 'targetRef="G"') + '<bpmn:exclusiveGateway id="G" name="是否达标"/>'
     '<bpmn:sequenceFlow id="Fa" sourceRef="G" targetRef="T"><bpmn:conditionExpression>1 &gt; 0'
     '</bpmn:conditionExpression></bpmn:sequenceFlow><bpmn:sequenceFlow id="Fb" sourceRef="G" targetRef="E">'
     '<bpmn:conditionExpression>1 &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>' + TASK + END,
     [("warning", "G", "has no default flow")]),
    # unnamed steps and two steps of one name
    (START + TASK.replace(' name="计分"', "") + END, [("warning", "T", "has no name")]),
    (START + TASK + '<bpmn:sequenceFlow id="F1" sourceRef="T" targetRef="T2"/>'
     + TASK.replace('id="T"', 'id="T2"') + END.replace('sourceRef="T"', 'sourceRef="T2"'),
     [("warning", "T2", 'has the same name as T on line 6')]),
], ids=["start", "end", "disconnected", "unreached", "nowhere", "no-condition", "no-default", "unnamed",
        "same-name"])
def test_each_structure_rule(body, expected):
    text = PROCESS.format(body=body.replace("><", ">\n<"))
    found = check_all(_corpus("region.bpmn", text))
    assert [(f.severity, f.element) for f in found] == [(s, e) for s, e, _ in expected], found
    for finding, (_, element, words) in zip(found, expected, strict=True):
        assert words in finding.reason
        assert finding.file == "region.bpmn" and f'id="{element}"' in text.splitlines()[finding.line - 1]


def test_a_camunda_modeler_file_lists_exactly_what_it_lacks_to_run_here():
    name = "camunda-modeler.bpmn"
    text = (CORPUS / name).read_text(encoding="utf-8")
    found = check_all(_corpus(name))
    assert [(f.line, f.element, f.name, f.severity) for f in found] == [
        (_line(text, "${score &gt;= 60}"), "Flow_yes", "达标", "error"),
        (_line(text, "${score &lt; 60}"), "Flow_no", "不达标", "error"),
        (_line(text, 'id="Activity_grade"'), "Activity_grade", "定等级", "error"),
        (_line(text, 'id="Activity_fill"'), "Activity_fill", "填报自评", "warning"),
        (_line(text, 'id="Activity_grade"'), "Activity_grade", "定等级", "warning"),
        (_line(text, 'id="Gateway_pass"'), "Gateway_pass", "是否达标", "warning"),
        (_line(text, 'id="Activity_fill"'), "Activity_fill", "填报自评", "error"),
        (_line(text, 'id="Activity_fill"'), "Activity_fill", "填报自评", "error"),
    ]
    reasons = [f.reason for f in found]
    assert "Camunda's JUEL; expressions here are Python: write score >= 60" in reasons[0]
    assert "<spiffworkflow:calledDecisionId>corpus_decision</spiffworkflow:calledDecisionId>" in reasons[2]
    assert "camunda:candidateGroups" in reasons[3] and "lane" in reasons[3]
    assert "camunda:executionListener" in reasons[4] and "postScript" in reasons[4]
    assert "has no default flow" in reasons[5]
    assert "in no lane" in reasons[6]
    assert 'formKey="camunda-forms:deployment:self-evaluation.form"' in reasons[7]
    assert "formJsonSchemaFilename" in reasons[7]


def test_a_plain_bpmn_js_file_lists_exactly_what_it_lacks_to_run_here():
    name = "bpmn-js.bpmn"
    text = (CORPUS / name).read_text(encoding="utf-8")
    found = check_all(_corpus(name))
    assert [(f.line, f.element, f.name, f.severity) for f in found] == [
        (_line(text, '<bpmn:process id="corpus_region"'), "corpus_region", None, "error"),
        (_line(text, 'id="Activity_review_again"'), "Activity_review_again", "审核", "warning"),
        (_line(text, 'id="Activity_note"'), "Activity_note", "备注", "error"),
        (_line(text, 'id="Flow_yes"'), "Flow_yes", "是", "error"),
        (_line(text, 'id="Flow_no"'), "Flow_no", "否", "error"),
        (_line(text, 'id="Activity_0x1y2z3"'), "Activity_0x1y2z3", None, "warning"),
        (_line(text, 'id="Activity_review_again"'), "Activity_review_again", "审核", "warning"),
        (_line(text, 'id="Activity_review"'), "Activity_review", "审核", "error"),
        (_line(text, 'id="Activity_review"'), "Activity_review", "审核", "error"),
    ]
    reasons = [f.reason for f in found]
    assert 'isExecutable="true"' in reasons[0]
    assert "has no outgoing flow" in reasons[1] and "never runs" in reasons[2]
    assert "has no name" in reasons[5] and "same name as Activity_review" in reasons[6]
    assert "in no lane" in reasons[7] and "names no form" in reasons[8]


def test_feel_and_camunda_8_expressions_are_explained_with_the_python_to_write():
    found = check_all(_corpus("dollar-expression.bpmn", (CORPUS / "dollar-expression.bpmn").read_text("utf-8")
                              .replace("${score &gt; 60}", "= score &gt; 60")))
    assert [f.element for f in found] == ["F2"] and "write score > 60" in found[0].reason
    files = bundle.read_folder(CORPUS / "base")
    files["dmn-feel.dmn"] = (CORPUS / "dmn-feel.dmn").read_text("utf-8")
    found = check_all(files)
    assert [f.element for f in found] == ["E1"] and "write 60 <= ? <= 100" in found[0].reason


def test_kaohe_procedures_check_prints_every_finding_by_file(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS / "base", folder)
    (folder / "decision-caller.bpmn").unlink()
    shutil.copy(CORPUS / "bpmn-js.bpmn", folder / "bpmn-js.bpmn")
    result = CliRunner().invoke(main, ["procedures", "check", str(folder)])
    assert result.exit_code == 1
    assert result.output.startswith("bpmn-js.bpmn\n")
    assert "  4 [corpus_region] 错误 error: " in result.output
    assert "警告 warning" in result.output and "6 个错误 (errors), 3 个警告 (warnings)" in result.output
    shutil.copytree(ROOT / "processes" / "ziyang-2016", tmp_path / "ziyang")
    result = CliRunner().invoke(main, ["procedures", "check", str(tmp_path / "ziyang")])
    assert result.exit_code == 0 and "没有问题 (no problems)" in result.output


def test_the_findings_partial_groups_by_file_and_links_each_element(sqlite_engine, tmp_path):
    from conftest import web_app
    from flask import render_template
    from lxml import html

    found = check_all(_corpus("bpmn-js.bpmn")) + check_all(_national() | {"regions.yaml": "regions: 1"})
    with web_app(sqlite_engine, tmp_path).test_request_context():
        page = html.fromstring(render_template("admin/_findings.html", findings=found))
    assert page.get("data-errors") == "7"
    assert page.findtext(".//p") == "7 个错误，3 个警告"
    assert [h.text_content() for h in page.findall(".//h3")] == ["bpmn-js.bpmn", "regions.yaml"]
    items = page.findall(".//li")
    assert [(li.get("class"), li.get("data-file"), li.get("data-element")) for li in items][:3] == [
        ("finding error", "bpmn-js.bpmn", "corpus_region"), ("finding error", "bpmn-js.bpmn", "Activity_review"),
        ("finding error", "bpmn-js.bpmn", "Activity_review")]
    link = items[1].find(".//a")
    assert (link.get("href"), link.text, link.get("data-element")) == ("#el-Activity_review", "审核", "Activity_review")
    assert items[1].findtext(".//span[@class='line']") == "第 8 行"
    assert [li.findtext(".//span[@class='severity']") for li in items].count("警告") == 3
    assert items[-1].get("data-element") == "" and "regions" in items[-1].findtext(".//span[@class='reason']")
    with web_app(sqlite_engine, tmp_path).test_request_context():
        assert "未发现问题" in render_template("admin/_findings.html", findings=[])


def test_every_wrong_setting_of_bundle_yaml_is_reported_on_its_line():
    files = _national()
    text = (files["bundle.yaml"].replace("国务院: approver", "国务院: emperor")
            .replace('Task_self_evaluation: {date: "07-15"', 'Task_self_evaluation: {date: "02-30"')
            .replace("before_days: [7, 1]", "before_days: [90]")) + "colour: blue\n"
    found = check_all(files | {"bundle.yaml": text})
    assert [(f.file, f.line, f.severity) for f in found] == [
        ("bundle.yaml", _line(text, "colour:"), "error"), ("bundle.yaml", _line(text, "lanes:"), "error"),
        ("bundle.yaml", _line(text, "reminders:"), "error"),
        ("bundle.yaml", _line(text, "Task_self_evaluation: {"), "error")]
    assert ["unknown keys" in found[0].reason, "emperor" in found[1].reason, "from 1 to 31" in found[2].reason,
            "Task_self_evaluation" in found[3].reason] == [True] * 4


def test_a_zip_is_checked_like_its_folder(tmp_path):
    import zipfile

    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((CORPUS / "base").iterdir()):
            if path.name != "decision-caller.bpmn":
                out.writestr(f"corpus/{path.name}", path.read_text("utf-8"))
        out.writestr("corpus/bpmn-js.bpmn", (CORPUS / "bpmn-js.bpmn").read_text("utf-8"))
    assert check_all(bundle.read_zip(archive)) == check_all(_corpus("bpmn-js.bpmn"))
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as out:
        out.writestr("../bundle.yaml", "key: x")
    with pytest.raises(BundleError, match="leaves the bundle"):
        bundle.read_zip(tmp_path / "evil.zip")


@pytest.mark.parametrize(("policy", "instead"), [("FIRST", "请改为 UNIQUE；"), ("RULE ORDER", "UNIQUE 或 COLLECT")])
def test_a_hit_policy_spiffworkflow_does_not_evaluate_is_refused_with_what_to_use(policy, instead):
    files = bundle.read_folder(CORPUS / "base")
    text = (CORPUS / "dmn-ok.dmn").read_text("utf-8")
    files["dmn-ok.dmn"] = text.replace('<decisionTable id="', f'<decisionTable hitPolicy="{policy}" id="', 1)
    assert files["dmn-ok.dmn"] != text
    found = check_all(files)
    assert [(f.file, f.severity) for f in found] == [("dmn-ok.dmn", "error")]
    assert instead in found[0].reason and f"hit policy {policy} is not supported" in found[0].reason
    assert "decisionTable" in files["dmn-ok.dmn"].splitlines()[found[0].line - 1]


def test_deploy_says_the_warnings_and_deploys(tmp_path, monkeypatch, migrated_sqlite):
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS / "base", folder)
    (folder / "decision-caller.bpmn").unlink()
    shutil.copy(CORPUS / "terminate-in-subprocess.bpmn", folder / "region.bpmn")
    result = CliRunner().invoke(main, ["deploy", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "deployed version 1" in result.stdout
    assert "警告 warning: region.bpmn:15 [Sub_script]: 脚本任务 Sub_script 没有名称" in result.stderr


def test_every_problem_of_the_scheme_is_reported_on_the_row_it_names():
    files = _national()
    text = (files["scheme.yaml"].replace("points: 15, unit: aqsiq", "points: 15, unit: nobody")
            .replace("{code: M1, part: measures", "{code: M1, part: nowhere"))
    found = check_all(files | {"scheme.yaml": text})
    assert [(f.file, f.line) for f in found] == [
        ("scheme.yaml", _line(text, "unit: nobody")), ("scheme.yaml", _line(text, "code: M1,")),
        ("scheme.yaml", _line(text, "{code: measures"))]
    assert ["unknown unit 'nobody'" in found[0].reason, "unknown part 'nowhere'" in found[1].reason,
            "part 'measures' add up to 56.0 points, not 60" in found[2].reason] == [True] * 3


def test_a_process_bundle_yaml_names_that_no_file_defines_is_reported_on_its_line():
    files = _corpus("no-region-process.bpmn")
    found = check_all(files)
    assert [(f.file, f.line, f.severity) for f in found] == [
        ("bundle.yaml", _line(files["bundle.yaml"], "region_process:"), "error")]
    assert "'corpus_region' was not found" in found[0].reason
