"""engine/procedure/diff: what one procedure changes from another, as an administrator reads it.

The national-2013 → ziyang-2016 expectations were read off the two bundles by hand (bundle.yaml, grade.dmn,
scheme.yaml, assessment.bpmn and the overridden form): 资阳 drops 征求成员单位意见 and 实地核查, moves the grade
bands, adds three veto items, has its own deadlines and lane names.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import LAB, NATIONAL, ZIYANG

from engine import config
from engine.cli import main
from engine.engine import FORMS_LIBRARY
from engine.errors import ValidationError
from engine.procedure.bundle import check_bundle, read_folder
from engine.procedure.diff import compare, is_empty
from engine.procedure.diff.sources import path_source

BUNDLES = Path(__file__).parent / "bundles"
SHIPPED = sorted(p.name for p in config.PROCESSES.iterdir() if (p / "bundle.yaml").exists())


def files_of(folder: Path) -> dict[str, str]:
    return read_folder(folder, FORMS_LIBRARY)


def section(result: dict, key: str) -> dict[str, dict]:
    """The changes of one section by element."""
    found = next(s for s in result["sections"] if s["key"] == key)
    return {c["element"]: c for c in found["changes"]}


def fields(change: dict) -> dict[str, tuple]:
    """A change's fields as {label: (before, after)}."""
    return {f["label"]: (f["before"], f["after"]) for f in change["fields"]}


def edited(files: dict[str, str], name: str, *pairs: tuple[str, str]) -> dict[str, str]:
    """A copy of the bundle with each (old, new) replaced once in one file; the old text must be there."""
    text = files[name]
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return {**files, name: text}


@pytest.fixture(scope="module")
def national() -> dict[str, str]:
    return files_of(NATIONAL)


@pytest.fixture(scope="module")
def ziyang_diff(national) -> dict:
    return compare(national, files_of(ZIYANG))


@pytest.mark.parametrize("variant", SHIPPED)
def test_a_bundle_compared_with_itself_has_no_difference(variant):
    files = files_of(config.PROCESSES / variant)
    result = compare(files, dict(files))
    assert is_empty(result) and all(s["count"] == 0 for s in result["sections"])


def test_ziyang_drops_the_consultation_and_the_onsite_check_and_rewires_the_flows(ziyang_diff):
    bpmn = section(ziyang_diff, "bpmn")
    removed = {k: c["name"] for k, c in bpmn.items() if c["change"] == "removed"}
    assert removed == {"Task_filing_opinion": "征求成员单位意见", "Task_reset_opinions": "退回重新备案",
                       "Task_onsite_check": "实地核查", "Flow_r03": "征求成员单位意见 → 备案审核",
                       "Flow_r06": "退回重新备案 → 目标备案", "Flow_r09": "实地核查 → 指标评分"}
    assert not [c for c in bpmn.values() if c["change"] == "added"]
    assert bpmn["Task_onsite_check"]["lane"] == "考核工作组"
    assert fields(bpmn["Task_onsite_check"])["表单 (form)"] == ("onsite-findings.schema.json", None)
    # Flows kept by id, with their new targets named.
    assert fields(bpmn["Flow_r02"]) == {"终点 (to)": ("征求成员单位意见", "审核备案")}
    assert fields(bpmn["Flow_r05"]) == {"终点 (to)": ("退回重新备案", "目标备案")}
    assert fields(bpmn["Flow_r08"]) == {"终点 (to)": ("实地核查", "指标评分")}
    assert fields(bpmn["Task_filing_review"])["名称 (name)"] == ("备案审核", "审核备案")
    assert fields(bpmn["EndEvent_commended"]) == {"名称 (name)": ("A级：通报表扬", "a级：通报表扬")}
    # The processes are matched by their part in bundle.yaml, though 资阳 renames them.
    assert fields(bpmn["region_process"])["标识 (id)"] == ("national_region", "ziyang_region")
    # Task_grade, the timers-free gateways and the messages are the same in both.
    assert {"Task_grade", "Gateway_grade", "Event_region_scored", "Flow_c10"}.isdisjoint(bpmn)


def test_ziyang_moves_the_grade_bands_row_by_row(ziyang_diff):
    rows = section(ziyang_diff, "dmn")
    score, grade = "总分（Decimal(score)）", "等级（grade）"
    assert set(rows) == {"Rule_veto", "Rule_band_a", "Rule_band_b", "Rule_band_c", "Rule_band_d"}
    assert all(c["change"] == "changed" and c["context"] == "评定等级" for c in rows.values())
    assert fields(rows["Rule_band_a"])[score] == ("? >= 90", "? >= 95")
    assert fields(rows["Rule_band_b"])[score] == ("80 <= ? < 90", "85 <= ? < 95")
    assert fields(rows["Rule_band_c"])[score] == ("60 <= ? < 80", "60 <= ? < 85")
    assert score not in fields(rows["Rule_band_d"])  # ? < 60 in both
    assert fields(rows["Rule_band_b"])[grade] == ('"B"', '"b"')
    assert fields(rows["Rule_band_b"])["标识 (id)"] == ("Rule_band_B", "Rule_band_b")
    assert rows["Rule_band_b"]["name"] == '第 3 行 → "b"'
    assert fields(rows["Rule_veto"])[grade] == ('"D"', '"d"')


def test_ziyang_adds_three_veto_items_and_a_social_part(ziyang_diff):
    scheme = section(ziyang_diff, "scheme")
    veto = {k: c for k, c in scheme.items() if k.startswith("veto:")}
    assert {k: c["change"] for k, c in veto.items()} == {"veto:V2": "added", "veto:V3": "added", "veto:V4": "added"}
    assert fields(veto["veto:V3"]) == {"名称 (name)": (None, "发生区域性、系统性服务质量安全事件"),
                                       "领域 (domain)": (None, "服务")}
    assert fields(scheme["part:measures"]) == {"分值 (points)": ("60", "50")}
    assert scheme["part:social"]["change"] == "added"
    t1 = fields(scheme["indicator:T1"])
    assert t1["分值 (points)"] == ("15", "7")
    assert t1["评分单位 (scored by)"] == ("国家质量监督检验检疫总局（aqsiq）", "市农业局（agriculture）")
    assert scheme["indicator:M18"]["change"] == "removed" and scheme["indicator:S1"]["change"] == "added"
    assert fields(scheme["group:measures/质量基础建设"])["分值 (points)"] == ("12", "9")


def test_ziyang_has_its_own_deadlines_lanes_and_settings(ziyang_diff):
    deadlines = section(ziyang_diff, "deadlines")
    assert {k: (c["change"], c["name"]) for k, c in deadlines.items()} == {
        "Task_target_filing": ("changed", "目标备案"), "Task_self_evaluation": ("changed", "自我评价"),
        "Task_compile_results": ("removed", "汇总与初步认定")}
    assert fields(deadlines["Task_target_filing"]) == {
        "期限 (due)": ("当年 6月30日 (06-30, year +0)", "当年 3月31日 (03-31, year +0)")}
    assert fields(deadlines["Task_self_evaluation"]) == {
        "期限 (due)": ("次年 7月15日 (07-15, year +1)", "当年 12月31日 (12-31, year +0)")}

    lanes = section(ziyang_diff, "lanes")
    assert {k: fields(c) for k, c in lanes.items()} == {
        "Lane_c_lead": {"名称 (name)": ("国家质量监督检验检疫总局", "市质量强市工作领导小组办公室")},
        "Lane_c_approver": {"名称 (name)": ("国务院", "市政府")},
        "Lane_r_assessed": {"名称 (name)": ("省级人民政府", "县（市、区）人民政府")},
        "Lane_r_lead": {"名称 (name)": ("国家质量监督检验检疫总局", "市质量强市工作领导小组办公室")},
        "Lane_r_member": {"名称 (name)": ("联席会议成员单位", "市级相关部门")},
        "Lane_r_group": {"名称 (name)": ("考核工作组", "市质量工作考核组")},
    }  # renamed, each still mapped to the same role; the recipients' lane is the same in both

    settings = section(ziyang_diff, "settings")
    assert set(settings) == {"key", "title", "assessment_year", "campaign_process", "region_process", "grades",
                             "failing_grade", "results"}
    assert fields(settings["assessment_year"]) == {
        "考核年度 (assessment year)": ("7月1日至次年6月30日 (july)", "1月1日至12月31日 (calendar)")}
    assert fields(settings["results"]) == {"后果 › 通报表扬 (commended) › 等级 (grades)": ("A", "a"),
                                           "后果 › 书面整改 (must rectify) › 等级 (grades)": ("D", "d")}
    assert not section(ziyang_diff, "reminders") and not section(ziyang_diff, "bodies")
    assert set(section(ziyang_diff, "files")) == {"english.yaml"}  # the English catalogue, compared as text
    regions = section(ziyang_diff, "regions")
    assert regions["110000"]["change"] == "removed" and regions["110000"]["name"] == "北京市（110000）"
    assert regions["512002"]["change"] == "added"


def test_ziyang_overrides_one_form(ziyang_diff):
    forms = section(ziyang_diff, "forms")
    assert set(forms) == {"forms/score-confirmation.schema.json",
                          "forms/score-confirmation.schema.json#veto_items[].hit",
                          "forms/score-confirmation.uischema.json"}
    hit = forms["forms/score-confirmation.schema.json#veto_items[].hit"]
    assert hit["name"] == "是否发生" and hit["context"] == "考核组确认"
    assert fields(hit) == {"说明 (description)": ("认定发生的，考核结果按等级表处理（一律为最低等级）",
                                                "认定发生的，考核结果一律为 d 级")}
    assert forms["forms/score-confirmation.uischema.json"]["name"] == "考核组确认：界面 (layout)"


def test_the_diff_is_json(ziyang_diff):
    assert json.loads(json.dumps(ziyang_diff, ensure_ascii=False)) == ziyang_diff


def test_a_task_inserted_between_two_tasks_is_that_task_and_its_flows(national):
    after = edited(
        national, "assessment.bpmn",
        ("<bpmn:flowNodeRef>Task_onsite_check</bpmn:flowNodeRef>",
         "<bpmn:flowNodeRef>Task_onsite_check</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_prepare</bpmn:flowNodeRef>"),
        ('<bpmn:userTask id="Task_onsite_check"',
         '<bpmn:userTask id="Task_prepare" name="核查准备"><bpmn:extensionElements><spiffworkflow:properties>'
         '<spiffworkflow:property name="formJsonSchemaFilename" value="results-receipt.schema.json" />'
         '</spiffworkflow:properties></bpmn:extensionElements><bpmn:incoming>Flow_r08</bpmn:incoming>'
         '<bpmn:outgoing>Flow_prepare</bpmn:outgoing></bpmn:userTask>\n'
         '    <bpmn:userTask id="Task_onsite_check"'),
        ('<bpmn:incoming>Flow_r08</bpmn:incoming>\n      <bpmn:outgoing>Flow_r09</bpmn:outgoing>',
         '<bpmn:incoming>Flow_prepare</bpmn:incoming>\n      <bpmn:outgoing>Flow_r09</bpmn:outgoing>'),
        ('<bpmn:sequenceFlow id="Flow_r08" sourceRef="Task_self_evaluation" targetRef="Task_onsite_check" />',
         '<bpmn:sequenceFlow id="Flow_r08" sourceRef="Task_self_evaluation" targetRef="Task_prepare" />'
         '<bpmn:sequenceFlow id="Flow_prepare" sourceRef="Task_prepare" targetRef="Task_onsite_check" />'),
        ('<bpmndi:BPMNShape id="Task_onsite_check_di"',
         '<bpmndi:BPMNShape id="Task_prepare_di" bpmnElement="Task_prepare"><dc:Bounds x="1140" y="1010" '
         'width="100" height="80" /></bpmndi:BPMNShape><bpmndi:BPMNShape id="Task_onsite_check_di"'))
    check_bundle(after)  # a real change: the edited bundle still deploys
    result = compare(national, after)
    bpmn = section(result, "bpmn")
    assert {k: c["change"] for k, c in bpmn.items()} == {"Task_prepare": "added", "Flow_r08": "changed",
                                                         "Flow_prepare": "added"}
    assert result["total"] == 3
    task = bpmn["Task_prepare"]
    assert (task["name"], task["kind"], task["lane"]) == ("核查准备", "用户任务 (user task)", "考核工作组")
    assert fields(task)["表单 (form)"] == (None, "results-receipt.schema.json")
    assert fields(bpmn["Flow_r08"]) == {"终点 (to)": ("实地核查", "核查准备")}
    assert fields(bpmn["Flow_prepare"]) == {"起点 (from)": (None, "核查准备"), "终点 (to)": (None, "实地核查")}
    # In this order: the table reads along the diagram.
    assert list(bpmn) == ["Task_prepare", "Flow_r08", "Flow_prepare"]


def test_a_renamed_task_is_one_change_not_every_flow_into_it(national):
    after = edited(national, "assessment.bpmn", ('name="目标备案"', 'name="年度目标备案"'))
    result = compare(national, after)
    assert result["total"] == 1
    assert fields(section(result, "bpmn")["Task_target_filing"]) == {"名称 (name)": ("目标备案", "年度目标备案")}


def test_a_gateway_condition_a_due_date_and_a_lane_move(national):
    after = edited(
        national, "assessment.bpmn",
        ("approval == 'return'", "approval in ('return', 'reject')"),
        ("deadline(announcement['announced_on'], months=1)", "deadline(announcement['announced_on'], days=15)"),
        ("<bpmn:flowNodeRef>Task_filing_opinion</bpmn:flowNodeRef>", ""),
        ("<bpmn:flowNodeRef>Task_filing_review</bpmn:flowNodeRef>",
         "<bpmn:flowNodeRef>Task_filing_review</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_filing_opinion"
         "</bpmn:flowNodeRef>"))
    bpmn = section(compare(national, after), "bpmn")
    assert set(bpmn) == {"Flow_c10", "Task_rectification_report", "Task_filing_opinion"}
    assert bpmn["Flow_c10"]["name"] == "退回"
    assert fields(bpmn["Flow_c10"]) == {"条件 (condition)": ("approval == 'return'",
                                                            "approval in ('return', 'reject')")}
    assert fields(bpmn["Task_rectification_report"]) == {"办理期限 (due date)": (
        "deadline(announcement['announced_on'], months=1)", "deadline(announcement['announced_on'], days=15)")}
    assert fields(bpmn["Task_filing_opinion"]) == {"泳道 (lane)": ("联席会议成员单位", "国家质量监督检验检疫总局")}


def test_timers_and_their_expressions():
    before = files_of(LAB)
    after = edited(before, "lab.bpmn", ("'P30D'", "'P45D'"), ("'R2/P7D'", "'R3/P7D'"),
                   ('cancelActivity="true"', 'cancelActivity="false"'))
    bpmn = section(compare(before, after), "bpmn")
    assert set(bpmn) == {"Late_file", "Remind_report"}
    assert bpmn["Late_file"]["kind"] == "边界事件 (boundary event)"
    assert fields(bpmn["Late_file"]) == {"计时器 (timer)": ("时长 (duration): 'P30D'", "时长 (duration): 'P45D'"),
                                         "中断任务 (interrupting)": ("是 (yes)", "否 (no)")}
    assert fields(bpmn["Remind_report"]) == {"计时器 (timer)": ("周期 (cycle): 'R2/P7D'", "周期 (cycle): 'R3/P7D'")}


def test_form_fields_bounds_required_and_new_fields(national):
    name = "forms/target-filing.schema.json"
    schema = json.loads(national[name])
    row = schema["properties"]["targets"]["items"]
    field, spec = next((k, v) for k, v in row["properties"].items() if v.get("type") == "string")
    spec["maxLength"] = 77
    spec["title"] = "新标签"
    row["required"] = [r for r in row.get("required", []) if r != field]
    schema["properties"]["contact"] = {"type": "string", "title": "联系人", "maxLength": 50}
    schema["required"] = [*schema.get("required", []), "contact"]
    after = {**national, name: json.dumps(schema, ensure_ascii=False, indent=2)}
    forms = section(compare(national, after), "forms")
    assert set(forms) == {f"{name}#targets[].{field}", f"{name}#contact"}
    changed = fields(forms[f"{name}#targets[].{field}"])
    assert changed["标签 (label)"][1] == "新标签"
    assert changed["最多字数 (max length)"][1] == "77"
    assert changed["必填 (required)"] == ("是 (yes)", "否 (no)")
    added = forms[f"{name}#contact"]
    assert added["change"] == "added" and added["name"] == "联系人"
    assert fields(added) == {"标签 (label)": (None, "联系人"), "类型 (type)": (None, "string"),
                             "必填 (required)": (None, "是 (yes)"), "最多字数 (max length)": (None, "50")}


def test_reminders_bodies_and_a_role_change(national):
    after = edited(national, "bundle.yaml", ("before_days: [7, 1]", "before_days: [3]"),
                   ("    approver: admin", "    approver: lead_agency"),
                   ("  国务院: approver", "  国务院: lead_agency"))
    result = compare(national, after)
    assert fields(section(result, "reminders")["reminders"]) == {
        "提前几天提醒 (days before)": ("7、1", "3"),
        "督办：审定机关（approver） 逾期时报 (escalation)": ("系统管理员（admin）", "牵头部门（lead_agency）")}
    assert fields(section(result, "lanes")["Lane_c_approver"]) == {
        "角色 (role)": ("审定机关（approver）", "牵头部门（lead_agency）")}


def test_scoring_rules_in_words_and_a_scorer_moved():
    before = files_of(BUNDLES / "scoring-rules")
    after = edited(before, "scheme.yaml", ("deduct: 0.25}", "deduct: 0.5}"),
                   ("points: 12, unit: mohurd}", "points: 12, unit: aqsiq}"))
    scheme = section(compare(before, after), "scheme")
    assert set(scheme) == {"indicator:T1", "indicator:T3"}
    assert fields(scheme["indicator:T1"]) == {"计分规则 (scoring rule)": (
        "目标 95，每低 1 扣 0.25 分，扣完为止；填写实测值", "目标 95，每低 1 扣 0.5 分，扣完为止；填写实测值")}
    assert fields(scheme["indicator:T3"]) == {"评分单位 (scored by)": ("住房和城乡建设部（mohurd）",
                                                                "国家质量监督检验检疫总局（aqsiq）")}


def test_a_body_given_other_powers():
    before = files_of(BUNDLES / "two-bodies")
    after = edited(before, "bundle.yaml", ("    powers: [sees_all_regions]", "    powers: []"))
    bodies = section(compare(before, after), "bodies")
    assert {k: (c["name"], fields(c)) for k, c in bodies.items()} == {
        "city_government": ("市人民政府", {"权限 (powers)": ("sees_all_regions", "无 (none)")})}


def test_a_file_that_cannot_be_read_is_said_and_the_rest_compared(national):
    after = edited(national, "grade.dmn", ("</definitions>", ""))
    after = edited(after, "bundle.yaml", ("scale: 100", "scale: 1000"))
    result = compare(national, after)
    broken = section(result, "files")["grade.dmn"]
    assert broken["fields"][0]["before"] is None
    assert broken["fields"][0]["after"].startswith("第 87 行 (line 87): XML 格式错误 (malformed XML")
    assert fields(section(result, "settings")["scale"]) == {"总分 (scale)": ("100", "1000")}
    assert not section(result, "dmn")  # not every row "removed": the file was not read
    assert result["total"] == 2


def test_other_files_are_compared_as_text(national):
    after = {**national, "README.md": "# 说明\n"}
    changes = section(compare(national, after), "files")
    assert changes["README.md"]["change"] == "added"


def test_a_zipped_bundle_reads_like_its_folder(tmp_path):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for path in sorted(ZIYANG.rglob("*")):
            if path.is_file():
                archive.write(path, f"ziyang-2016/{path.relative_to(ZIYANG).as_posix()}")
    (tmp_path / "ziyang.zip").write_bytes(data.getvalue())
    assert path_source(tmp_path / "ziyang.zip", FORMS_LIBRARY).files == files_of(ZIYANG)


@pytest.mark.parametrize("name", ["../bundle.yaml", "/etc/bundle.yaml"])
def test_a_zip_that_leaves_the_bundle_is_refused(tmp_path, name):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr(name, "key: x\n")
    (tmp_path / "x.zip").write_bytes(data.getvalue())
    with pytest.raises(ValidationError, match="not a file name inside a bundle"):
        path_source(tmp_path / "x.zip")


def test_the_command_compares_folders_and_zips(tmp_path):
    copy = tmp_path / "ziyang"
    shutil.copytree(ZIYANG, copy)
    archive = shutil.make_archive(str(tmp_path / "national"), "zip", NATIONAL)
    result = CliRunner().invoke(main, ["procedures", "diff", archive, str(copy)])
    assert result.exit_code == 0, result.output
    assert "85 <= ? < 95" in result.stdout and "- 否决项 (veto item)" not in result.stdout
    assert "+ 否决项 (veto item) V2 发生区域性、系统性工程质量安全事件 [veto:V2]" in result.stdout
    result = CliRunner().invoke(main, ["procedures", "diff", str(copy), str(copy), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["total"] == 0


def test_the_command_compares_deployed_versions_and_drafts(tmp_path, monkeypatch, migrated_sqlite):
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    runner = CliRunner()

    def kaohe(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert kaohe("deploy", str(NATIONAL))[0] == 0 and kaohe("deploy", str(ZIYANG))[0] == 0
    code, out, _ = kaohe("procedures", "diff", "national-2013", "ziyang-2016:1")
    assert code == 0
    assert out.startswith("比较 comparing: 质量工作考核（国办发〔2013〕47号） 第 1 版 (version 1) → 资阳市质量工作考核")
    assert "    总分（Decimal(score)）: 80 <= ? < 90 → 85 <= ? < 95" in out
    copy = tmp_path / "ziyang"
    shutil.copytree(ZIYANG, copy)
    (copy / "bundle.yaml").write_text((ZIYANG / "bundle.yaml").read_text(encoding="utf-8")
                                      .replace('{date: "03-31", year: 0}', '{date: "04-30", year: 0}'),
                                      encoding="utf-8")
    assert kaohe("procedures", "import", str(copy))[0] == 0
    code, out, _ = kaohe("procedures", "diff", "ziyang-2016", "draft:1")
    assert code == 0 and "共 1 处不同" in out
    assert "    期限 (due): 当年 3月31日 (03-31, year +0) → 当年 4月30日 (04-30, year +0)" in out
    code, _, err = kaohe("procedures", "diff", "ziyang-2016:9", "draft:1")
    assert code == 2 and "流程 ziyang-2016 没有第 9 版" in err
