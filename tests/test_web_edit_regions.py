"""The regions and bodies editor of a draft: its page, import from Excel and CSV, export, who may use it."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from test_web_procedures import draft_row, new_draft
from web_fixtures import csrf, login

from engine.procedure import problems, region_file

ROOT = Path(__file__).resolve().parent.parent


def page_data(page) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="regions-data">(.*?)</script>', page.text,
                                re.S).group(1))


def xlsx(rows, bodies=None) -> bytes:
    book = Workbook()
    book.active.title = "地区 regions"
    for row in rows:
        book.active.append(row)
    if bodies is not None:
        sheet = book.create_sheet("机构 bodies")
        for row in bodies:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def send(client, draft_id, name, content, token=None):
    return client.post(f"/admin/procedures/drafts/{draft_id}/regions/import",
                       data={"file": (io.BytesIO(content), name)}, headers={"X-CSRF-Token": token or csrf(client)},
                       content_type="multipart/form-data")


def test_the_page_gives_the_rows_of_the_regions_file_and_the_bodies(admin, engine):
    draft_id = new_draft(admin, engine)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/regions")
    assert page.status_code == 200 and "/static/build/regions.js" in page.text
    data = page_data(page)
    assert data["file"] == "regions.yaml" and data["columns"] == ["code", "name"] and data["bodies"] == []
    assert data["rows"][:2] == [{"code": "512002", "name": "雁江区"}, {"code": "512021", "name": "安岳县"}]
    assert data["regionsText"] == draft_row(engine, draft_id).files["regions.yaml"] and data["editable"] is True
    assert data["api"] == f"/api/v1/procedures/drafts/{draft_id}/files/" and data["named"] is True


def test_an_excel_file_is_read_into_rows_and_nothing_is_saved(admin, engine):
    draft_id = new_draft(admin, engine)
    got = send(admin, draft_id, "资阳.xlsx", xlsx([["区划代码", "名称"], ["512002", "雁江区"], [512021, "安岳县"],
                                                 ["512022", "乐至县"]],
                                                [["code", "name", "like", "powers"], ["quality_group", "领导小组",
                                                                                      "approver", ""]]))
    assert got.status_code == 200, got.text
    assert got.get_json() == {"rows": [{"code": "512002", "name": "雁江区"}, {"code": "512021", "name": "安岳县"},
                                       {"code": "512022", "name": "乐至县"}],
                              "bodies": [{"code": "quality_group", "name": "领导小组", "like": "approver"}]}
    assert draft_row(engine, draft_id).revision == 1


def test_a_csv_file_is_read_into_rows(admin, engine):
    draft_id = new_draft(admin, engine)
    got = send(admin, draft_id, "r.csv", "代码,名称\r\n512002,雁江区\r\n".encode("gb18030"))
    assert got.status_code == 200 and got.get_json() == {"rows": [{"code": "512002", "name": "雁江区"}], "bodies": None}


def test_bad_rows_are_refused_with_their_row_numbers_in_words(admin, engine):
    draft_id = new_draft(admin, engine)
    got = send(admin, draft_id, "bad.xlsx", xlsx([["代码", "名称"], ["512002", "雁江区"], ["51", "安岳县"],
                                                  ["512002", "again"]]))
    assert got.status_code == 400
    body = got.get_json()
    assert "nothing imported" in body["message"]
    assert [(e["field"], e["message"].split(" (")[0]) for e in body["errors"]] == [
        ("第 3 行 (row 3)", "代码 51 应为 6 位 GB/T 2260 代码（或 9、12 位统计用区划代码）"),
        ("第 4 行 (row 4)", "代码 512002 与第 2 行重复")]
    assert draft_row(engine, draft_id).revision == 1


@pytest.mark.parametrize("name, content, words", [
    ("regions.xlsx", b"PK\x03\x04 broken", "not a valid .xlsx"),
    ("regions.pdf", b"%PDF", "only .csv and .xlsx"),
    ("regions.csv", "人口,面积\n1,2\n".encode(), "row 1 must name the columns"),
])
def test_a_file_that_is_not_a_region_list_is_refused(admin, engine, name, content, words):
    draft_id = new_draft(admin, engine)
    got = send(admin, draft_id, name, content)
    assert got.status_code == 400 and words in got.get_json()["message"]
    assert draft_row(engine, draft_id).revision == 1


def test_an_import_without_the_csrf_token_is_refused(admin, engine):
    draft_id = new_draft(admin, engine)
    assert send(admin, draft_id, "r.csv", b"code,name\n512002,x\n", token="forged").status_code == 400


def test_export_gives_what_is_saved(admin, engine):
    draft_id = new_draft(admin, engine)
    url = f"/api/v1/procedures/drafts/{draft_id}/files/regions.yaml"
    text = draft_row(engine, draft_id).files["regions.yaml"].replace("雁江区", "雁江区（新）")
    assert admin.put(url, data=text.encode(), headers={"If-Match": "1", "X-CSRF-Token": csrf(admin)}).status_code == 200
    got = admin.get(f"/admin/procedures/drafts/{draft_id}/regions/export.xlsx")
    assert got.status_code == 200 and "ziyang-2016-regions.xlsx" in got.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(got.data)).worksheets[0]
    assert [c.value for c in sheet[2]] == ["512002", "雁江区（新）", "ziyang-2016"]
    csv = admin.get(f"/admin/procedures/drafts/{draft_id}/regions/export.csv")
    assert csv.data.decode("utf-8-sig").splitlines()[1] == "512002,雁江区（新）,ziyang-2016"
    assert admin.get(f"/admin/procedures/drafts/{draft_id}/regions/export.pdf").status_code == 404


def test_only_an_administrator_uses_the_editor(admin, engine, app):
    draft_id = new_draft(admin, engine)
    other = app.test_client()
    login(other, "lead_agency")
    base = f"/admin/procedures/drafts/{draft_id}/regions"
    assert other.get(base).status_code == 403
    assert other.get(f"{base}/export.csv").status_code == 403
    assert send(other, draft_id, "r.csv", b"code,name\n512002,x\n").status_code == 403


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_what_the_page_writes_the_server_reads_back(admin, engine):
    """regions.yaml and bundle.yaml as lib/regions.js writes them: the same rows and bodies, and no problem."""
    rows = [{"code": "512002", "name": "雁江区"}, {"code": "YL-FGJ", "name": "yes"},
            {"code": "512022", "name": "a: b #c"}, {"code": "512081", "name": '简阳市 "旧"'},
            {"code": "512099", "name": "110000"}]
    bodies = [{"code": "quality_group", "name": "领导小组: 办公室", "like": "approver"},
              {"code": "third_party", "name": "第三方", "powers": ["scores", "assesses"]}]
    draft_id = new_draft(admin, engine)
    files = dict(draft_row(engine, draft_id).files)
    script = ("import { regionsYaml, withBodies } from './web/frontend/lib/regions.js';"
              "const [r, b, rows, bodies] = JSON.parse(process.argv[1]);"
              "console.log(JSON.stringify([regionsYaml(r, rows), withBodies(b, bodies)]));")
    given = json.dumps([files["regions.yaml"], files["bundle.yaml"], rows, bodies])
    done = subprocess.run(["node", "--input-type=module", "-e", script, given], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    files["regions.yaml"], files["bundle.yaml"] = json.loads(done.stdout)
    read = region_file.read(files)
    assert read["rows"] == rows and read["bodies"] == bodies
    assert [f for f in problems.check_all(files) if f.file in ("regions.yaml", "bundle.yaml")] == []
