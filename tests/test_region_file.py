"""A draft's regions and bodies as rows: read from its files, imported from and exported to Excel and CSV."""

import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from engine.errors import BundleError, ValidationError
from engine.procedure import bundle, region_file

ROOT = Path(__file__).resolve().parent.parent


def files(name="ziyang-2016"):
    folder = ROOT / ("processes" if (ROOT / "processes" / name).exists() else "tests/bundles") / name
    return bundle.read_folder(folder)


def xlsx(*sheets) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_rows_and_bodies_of_a_draft():
    read = region_file.read(files("two-bodies"))
    assert read["file"] == "regions.yaml" and read["columns"] == ["code", "name"]
    assert read["rows"][0] == {"code": "994001", "name": "甲区"}
    assert read["bodies"] == [{"code": "quality_group", "name": "市质量强市工作领导小组", "like": "approver"},
                              {"code": "city_government", "name": "市人民政府", "powers": ["sees_all_regions"]}]


def test_extra_fields_of_the_regions_file_are_columns():
    given = files()
    given["regions.yaml"] = ('regions:\n  - {code: "512002", name: 雁江区, leader: 张三}\n'
                             '  - {code: "512021", name: 安岳县}\n')
    read = region_file.read(given)
    assert read["columns"] == ["code", "name", "leader"]
    exported = region_file.export(read, "ziyang-2016", "xlsx")
    assert region_file.import_file("x.xlsx", exported, "ziyang-2016", read["columns"])["rows"] == [
        {"code": "512002", "name": "雁江区", "leader": "张三"}, {"code": "512021", "name": "安岳县", "leader": ""}]


def test_an_unreadable_regions_file_is_named():
    given = files()
    given["regions.yaml"] = "regions: {code: 1}\n"
    with pytest.raises(BundleError, match="regions.yaml"):
        region_file.read(given)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_reads_back(fmt):
    read = region_file.read(files("two-bodies"))
    got = region_file.import_file(f"x.{fmt}", region_file.export(read, "two-bodies", fmt), "two-bodies",
                                  read["columns"])
    assert got["rows"] == read["rows"]
    assert got["bodies"] == (read["bodies"] if fmt == "xlsx" else None)


def test_exported_codes_are_text_in_excel():
    book = load_workbook(io.BytesIO(region_file.export(region_file.read(files()), "ziyang-2016", "xlsx")))
    assert [s.title for s in book.worksheets] == ["地区 regions", "机构 bodies"]
    assert book.worksheets[0]["A2"].value == "512002" and book.worksheets[0]["A2"].number_format == "@"


def test_a_file_with_bad_rows_is_refused_whole_each_row_named():
    content = xlsx(("地区", [["代码", "名称", "考核流程"], ["512002", "雁江区", "ziyang-2016"], ["5120", "安岳县", ""],
                             ["512022", "", ""], [512002, "again", ""], ["110000", "北京市", "national-2013"]]))
    with pytest.raises(ValidationError) as refused:
        region_file.import_file("regions.xlsx", content, "ziyang-2016", ["code", "name"])
    assert "nothing imported" in refused.value.message
    assert [(e["field"], e["message"].split(" (")[0]) for e in refused.value.errors] == [
        ("第 3 行 (row 3)", "代码 5120 应为 6 位 GB/T 2260 代码（或 9、12 位统计用区划代码）"),
        ("第 4 行 (row 4)", "名称为空"),
        ("第 5 行 (row 5)", "代码 512002 与第 2 行重复"),
        ("第 6 行 (row 6)", "属于流程 national-2013，不是 ziyang-2016")]


def test_bad_bodies_are_named_by_their_row():
    content = xlsx(("地区 regions", [["code", "name"], ["512002", "雁江区"]]),
                   ("机构 bodies", [["code", "name", "like", "powers"], ["quality_group", "领导小组", "approver", ""],
                                    ["approver", "x", "approver", ""], ["quality_group", "y", "", "sees_all_regions"],
                                    ["third_party", "第三方", "", "flies"]]))
    with pytest.raises(ValidationError) as refused:
        region_file.import_file("regions.xlsx", content, "ziyang-2016", ["code", "name"])
    assert [e["field"] for e in refused.value.errors] == ["机构 bodies 第 3 行 (bodies, row 3)",
                                                          "机构 bodies 第 4 行 (bodies, row 4)",
                                                          "机构 bodies 第 5 行 (bodies, row 5)"]
    assert "内置角色" in refused.value.errors[0]["message"] and "重复" in refused.value.errors[1]["message"]


@pytest.mark.parametrize("name, content, words", [
    ("regions.xlsx", b"not a zip", "not a valid .xlsx"),
    ("regions.txt", b"code,name\n", "only .csv and .xlsx"),
    ("regions.csv", b"", "empty"),
    ("regions.csv", "地区,人口\n雁江区,1\n".encode(), "row 1 must name the columns"),
    ("regions.csv", "代码,名称\n512002,雁江区\n".encode("utf-16"), "neither UTF-8 nor GBK"),
])
def test_files_that_are_not_region_lists_are_refused(name, content, words):
    with pytest.raises(ValidationError, match=words):
        region_file.import_file(name, content, "ziyang-2016", ["code", "name"])


def test_a_gbk_csv_from_chinese_excel_is_read():
    got = region_file.import_file("r.csv", "区划代码,名称\r\n512002,雁江区\r\n".encode("gb18030"), "ziyang-2016",
                                  ["code", "name"])
    assert got["rows"] == [{"code": "512002", "name": "雁江区"}]
