"""Schemes to and from Excel workbooks: every shipped scheme round-trips; a circulated sheet without codes is
read; a bad row refuses the whole workbook, naming the sheet and the row."""

from __future__ import annotations

import io
import zipfile

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from engine import config
from engine.errors import ValidationError
from engine.procedure import scheme_excel, scheme_yaml, scoring

SCHEMES = sorted(config.PROCESSES.glob("*/scheme.yaml")) + [
    config.ROOT / "tests" / "bundles" / "scoring-rules" / "scheme.yaml"]


def workbook(rows: list[list], **sheets: list[list]) -> bytes:
    book = Workbook()
    book.active.title = "指标体系"
    for row in rows:
        book.active.append(row)
    for title, sheet_rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in sheet_rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("path", SCHEMES, ids=lambda p: p.parent.name)
def test_export_then_import_gives_the_same_scheme(path):
    scheme = yaml.safe_load(path.read_text("utf-8"))
    assert scheme_excel.from_xlsx(scheme_excel.to_xlsx(scheme)) == scheme


def test_the_circulated_sheet_comes_first_with_its_columns_and_rules_in_words():
    scheme = yaml.safe_load((config.ROOT / "tests/bundles/scoring-rules/scheme.yaml").read_text("utf-8"))
    sheet = load_workbook(io.BytesIO(scheme_excel.to_xlsx(scheme))).worksheets[0]
    assert sheet.title == "指标体系"
    assert [c.value for c in sheet[1]][:7] == ["一级指标", "二级指标", "代码", "指标", "分值", "责任单位", "评分规则"]
    rules = [row[6] for row in sheet.iter_rows(min_row=2, values_only=True) if row[6]]
    assert any(rule.startswith("差额扣分：目标=") for rule in rules)


def test_a_circulated_sheet_without_codes_makes_parts_and_bodies_from_the_names():
    data = workbook([["一级指标", "二级指标", "指标", "分值", "责任单位", "评分规则"],
                     ["质量目标", "产品", "工业品抽查合格率", 60, "市质监局", "差额扣分：目标=95，每=1，扣=2"],
                     ["质量目标", "环境", "水、空气质量", 30, "市环保局", None],
                     ["社会评价", None, "满意度", 10, "市统计局", "interpolate: low=0/0, high=100/10"]])
    scheme = scheme_excel.from_xlsx(data)
    assert scheme["parts"] == [{"code": "P1", "name": "质量目标", "points": 90},
                               {"code": "P2", "name": "社会评价", "points": 10}]
    assert [u["name"] for u in scheme["units"]] == ["市质监局", "市环保局", "市统计局"]
    assert [i["code"] for i in scheme["indicators"]] == ["I1", "I2", "I3"]
    assert scheme["indicators"][0]["rule"] == {"kind": "shortfall", "target": 95, "per": 1, "deduct": 2}
    assert scheme["indicators"][2]["rule"] == {"kind": "interpolate", "low": [0, 0], "high": [100, 10]}
    scoring.validate_scheme(scheme)  # a scheme the engine takes


def test_bad_rows_refuse_the_workbook_each_named_by_sheet_and_row():
    data = workbook([["一级指标", "指标", "代码", "分值", "责任单位", "评分规则"],
                     ["质量目标", "甲", "T1", 50, "质监局", None],
                     ["质量目标", "乙", "T1", "五十", "质监局", None],
                     ["未知", "", "T 3", 10, "无此单位", "大概扣一点"]],
                    一级指标=[["代码", "名称", "分值"], ["targets", "质量目标", 100]],
                    责任单位=[["代码", "名称"], ["quality", "质监局"]])
    with pytest.raises(ValidationError) as refused:
        scheme_excel.from_xlsx(data)
    messages = [e["message"] for e in refused.value.errors]
    assert "「指标体系」表第 3 行：分值「五十」应为正数 (points must be a positive number)" in messages
    row4 = [m for m in messages if m.startswith("「指标体系」表第 4 行")]
    assert any("指标名称为空" in m for m in row4) and any("一级指标「未知」" in m for m in row4)
    assert any("责任单位「无此单位」" in m for m in row4) and any("代码「T 3」" in m for m in row4)
    assert any("评分规则应以" in m for m in row4)
    assert "未导入" in refused.value.message


def test_a_repeated_code_names_both_rows():
    data = workbook([["一级指标", "代码", "指标", "分值", "责任单位"], ["甲", "T1", "a", 50, "u"],
                     ["甲", "T1", "b", 50, "u"]])
    with pytest.raises(ValidationError) as refused:
        scheme_excel.from_xlsx(data)
    assert "「指标体系」表第 3 行：代码 T1 与第 2 行重复 (duplicate code)" in refused.value.message


@pytest.mark.parametrize(("data", "words"), [
    (b"not a workbook", "不是 Excel 工作簿"),
    (workbook([["名称", "说明"], ["a", "b"]]), "缺少「一级指标」列"),
    (workbook([]), "没有指标行"),
])
def test_what_is_not_a_scheme_workbook_is_refused(data, words):
    with pytest.raises(ValidationError) as refused:
        scheme_excel.from_xlsx(data)
    assert words in refused.value.message


def test_a_damaged_workbook_is_refused_in_words():
    good = zipfile.ZipFile(io.BytesIO(scheme_excel.to_xlsx({"parts": [], "units": [], "indicators": []})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for entry in good.infolist():
            damaged = entry.filename == "xl/worksheets/sheet1.xml"
            archive.writestr(entry.filename, b"<worksheet><sheetData><row" if damaged else good.read(entry))
    with pytest.raises(ValidationError) as refused:
        scheme_excel.from_xlsx(out.getvalue())
    assert "无法读取" in refused.value.message


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_before_it_is_read():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"\0" * (scheme_excel.MAX_UNPACKED + 1))
    assert len(out.getvalue()) < 1024 * 1024
    with pytest.raises(ValidationError) as refused:
        scheme_excel.from_xlsx(out.getvalue())
    assert "解压后超过" in refused.value.message


@pytest.mark.parametrize(("text", "rule"), [
    ("差额扣分：目标=95，每=1，扣=0.25", {"kind": "shortfall", "target": 95, "per": 1, "deduct": 0.25}),
    ("shortfall: target=95, deduct=1", {"kind": "shortfall", "target": 95, "deduct": 1}),
    ("按次扣分：扣=1，上限=5", {"kind": "per_occurrence", "deduct": 1, "cap": 5}),
    ("加分：加=0.5", {"kind": "bonus", "add": 0.5}),
    ("插值：低=60/0，高=95/15", {"kind": "interpolate", "low": [60, 0], "high": [95, 15]}),
])
def test_a_rule_in_words_reads_back_to_the_rule(text, rule):
    assert scheme_excel.parse_rule(text) == rule
    assert scheme_excel.parse_rule(scheme_excel.rule_words(rule)) == rule


def test_the_scheme_written_back_as_yaml_reads_the_same_and_keeps_the_files_comment():
    path = config.PROCESSES / "ziyang-2016" / "scheme.yaml"
    text = path.read_text("utf-8")
    written = scheme_yaml.dump(yaml.safe_load(text), text)
    assert yaml.safe_load(written) == yaml.safe_load(text)
    assert written.startswith("# 资阳市质量工作考核要点")
    assert ("  - {code: T6, part: targets, group: 环境质量量化指标, name: 水、空气质量及减排总量指标, points: 6, "
            "unit: environment}") in written
