"""The scheme editor of a draft: the page, the YAML of an edited scheme, "try it" scored by the engine's rules,
Excel import (bad rows refused, nothing saved) and export, and saving through the draft file API."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from test_web_procedures import draft_row, new_draft
from web_fixtures import add_web_user, csrf, login, set_passwords

from engine.people.accounts import Grant
from engine.procedure import scheme_excel


@pytest.fixture
def draft_id(admin, engine) -> int:
    return new_draft(admin, engine)


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="scheme-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def call(client, draft_id: int, path: str, body):
    return client.post(f"/admin/procedures/drafts/{draft_id}/scheme/{path}", json=body,
                       headers={"X-CSRF-Token": csrf(client)})


def upload(client, draft_id: int, data: bytes, name: str = "指标体系.xlsx"):
    return client.post(f"/admin/procedures/drafts/{draft_id}/scheme/import",
                       data={"file": (io.BytesIO(data), name)}, headers={"X-CSRF-Token": csrf(client)},
                       content_type="multipart/form-data")


def test_the_editor_shows_the_drafts_scheme_against_the_variants_scale(admin, engine, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/scheme")
    assert page.status_code == 200
    data = page_data(page.text)
    assert data["scale"] == "100" and data["revision"] == 1 and data["file"] == "scheme.yaml"
    assert [p["points"] for p in data["scheme"]["parts"]] == [40, 50, 10]
    assert data["fileUrl"] == f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml"
    assert data["findings"] == []


def test_an_unreadable_scheme_is_said_not_drawn(admin, engine, draft_id):
    headers = {"X-CSRF-Token": csrf(admin), "If-Match": "1"}
    admin.put(f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml", data="parts: [", headers=headers)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/scheme")
    assert page.status_code == 200 and 'id="scheme-unreadable"' in page.text


def test_the_edited_scheme_becomes_yaml_under_the_files_comment_and_saves_with_its_findings(admin, engine, draft_id):
    scheme = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/scheme").text)["scheme"]
    scheme["indicators"] = [i for i in scheme["indicators"] if i["code"] != "T6"]  # 质量目标 now 34 of 40
    text = call(admin, draft_id, "text", {"scheme": scheme}).json["text"]
    assert text.startswith("# 资阳市质量工作考核要点") and yaml.safe_load(text) == scheme
    saved = admin.put(f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml", data=text.encode(),
                      headers={"X-CSRF-Token": csrf(admin), "If-Match": "1"})
    assert saved.status_code == 200
    assert any("targets" in p["reason"] and "34" in p["reason"] for p in saved.json["problems"])
    data = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/scheme").text)
    assert data["revision"] == 2 and data["findings"] and data["findings"][0]["file"] == "scheme.yaml"
    assert yaml.safe_load(draft_row(engine, draft_id).files["scheme.yaml"]) == scheme


def test_an_indicator_deleted_takes_its_english_along_so_the_draft_still_publishes(admin, engine, draft_id):
    scheme = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/scheme").text)["scheme"]
    assert call(admin, draft_id, "text", {"scheme": scheme}).json["english"] is None  # nothing deleted
    scheme["indicators"] = [i for i in scheme["indicators"] if i["code"] != "M17"]
    scheme["indicators"][-1]["points"] += 2.5  # 社会评价 takes the points: the scheme itself is sound
    scheme["parts"][1]["points"] -= 2.5
    scheme["parts"][2]["points"] += 2.5
    answer = call(admin, draft_id, "text", {"scheme": scheme}).json
    before = draft_row(engine, draft_id).files["english.yaml"]
    assert "    M17: " in before and "    M17: " not in answer["english"]
    assert [line for line in before.splitlines() if not line.startswith("    M17: ")] == answer["english"].splitlines()
    headers = {"X-CSRF-Token": csrf(admin)}
    assert admin.put(f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml", data=answer["text"].encode(),
                     headers={**headers, "If-Match": "1"}).status_code == 200
    saved = admin.put(f"/api/v1/procedures/drafts/{draft_id}/files/english.yaml", data=answer["english"].encode(),
                      headers={**headers, "If-Match": "2"})
    assert saved.status_code == 200 and saved.json["problems"] == []
    assert page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/scheme").text)["englishUrl"] == \
        f"/api/v1/procedures/drafts/{draft_id}/files/english.yaml"


@pytest.mark.parametrize(("indicator", "measured", "points"), [
    ({"code": "T1", "points": 7, "rule": {"kind": "shortfall", "target": 95, "per": 1, "deduct": 0.5}}, "92", "5.5"),
    ({"code": "T1", "points": 7, "rule": {"kind": "shortfall", "target": 95, "per": 1, "deduct": 0.5}}, "50", "0"),
    ({"code": "S1", "points": 10, "rule": {"kind": "interpolate", "low": [0, 0], "high": [100, 10]}}, "87.5", "8.75"),
    ({"code": "M7", "points": 3.5, "rule": {"kind": "per_occurrence", "deduct": 1, "cap": 2}}, "5", "1.5"),
    ({"code": "B1", "points": 2, "rule": {"kind": "bonus", "add": 0.5}}, "3", "1.5"),
    ({"code": "T6", "points": 6}, "7.5", "6"),
])
def test_try_it_scores_a_measured_value_with_the_engines_rules(admin, draft_id, indicator, measured, points):
    response = call(admin, draft_id, "try", {"indicator": indicator, "measured": measured})
    assert response.status_code == 200, response.json
    assert response.json["points"] == points
    assert response.json["maximum"] == str(indicator["points"])


@pytest.mark.parametrize(("body", "words"), [
    ({"indicator": {"code": "T1", "points": 7, "rule": {"kind": "guess"}}, "measured": "1"}, "计分规则"),
    ({"indicator": {"code": "T1", "points": 7, "rule": {"kind": "shortfall", "target": 95}}, "measured": "1"},
     "deduct"),
    ({"indicator": {"code": "T1", "points": 7}, "measured": "很多"}, "实测值"),
    ({"indicator": {"code": "T1", "points": 7}, "measured": None}, "实测值"),
    ({"indicator": {"code": "T1", "points": 0}, "measured": "1"}, "分值应大于 0"),
    ({"indicator": {"code": "B1", "points": 2, "rule": {"kind": "bonus", "add": 1}}, "measured": "1.5"}, "整数"),
    ({"indicator": "T1", "measured": "1"}, "indicator"),
    ([], "JSON"),
])
def test_try_it_refuses_what_it_cannot_score_in_words(admin, draft_id, body, words):
    response = call(admin, draft_id, "try", body)
    assert response.status_code == 400
    assert words in response.json["message"]


def test_importing_a_workbook_fills_the_editor_and_saves_nothing(admin, engine, draft_id):
    scheme = yaml.safe_load(draft_row(engine, draft_id).files["scheme.yaml"])
    scheme["indicators"][0]["points"] = 6
    scheme["indicators"][1]["points"] = 8
    response = upload(admin, draft_id, scheme_excel.to_xlsx(scheme))
    assert response.status_code == 200 and response.json["scheme"] == scheme and response.json["indicators"] == 24
    row = draft_row(engine, draft_id)
    assert row.revision == 1 and yaml.safe_load(row.files["scheme.yaml"])["indicators"][0]["points"] == 7


def test_bad_rows_of_a_workbook_are_refused_by_row_number(admin, engine, draft_id):
    book = scheme_excel.to_xlsx(yaml.safe_load(draft_row(engine, draft_id).files["scheme.yaml"]))
    from openpyxl import load_workbook

    sheet_book = load_workbook(io.BytesIO(book))
    sheet_book["指标体系"]["E4"] = "七"
    sheet_book["指标体系"]["F6"] = "市教育局"
    out = io.BytesIO()
    sheet_book.save(out)
    response = upload(admin, draft_id, out.getvalue())
    assert response.status_code == 400
    messages = [e["message"] for e in response.json["errors"]]
    assert "「指标体系」表第 4 行：分值「七」应为正数 (points must be a positive number)" in messages
    assert any(m.startswith("「指标体系」表第 6 行：责任单位「市教育局」") for m in messages)
    assert draft_row(engine, draft_id).revision == 1


@pytest.mark.parametrize(("data", "words"), [(b"PK\x03\x04 broken", "不是 Excel 工作簿"), (None, "请选择")])
def test_what_is_not_a_workbook_is_refused(admin, draft_id, data, words):
    if data is None:
        response = admin.post(f"/admin/procedures/drafts/{draft_id}/scheme/import", data={},
                              headers={"X-CSRF-Token": csrf(admin)})
    else:
        response = upload(admin, draft_id, data)
    assert response.status_code == 400 and words in response.json["message"]


def test_export_gives_the_drafts_scheme_as_a_workbook_that_imports_back_unchanged(admin, engine, draft_id):
    response = admin.get(f"/admin/procedures/drafts/{draft_id}/scheme/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    scheme = yaml.safe_load(draft_row(engine, draft_id).files["scheme.yaml"])
    assert scheme_excel.from_xlsx(response.data) == scheme
    assert upload(admin, draft_id, response.data).json["scheme"] == scheme


def test_only_an_administrator_edits_the_scheme(client, engine, admin, draft_id):
    admin.post("/logout", data={"csrf_token": csrf(admin)})
    add_web_user(engine, "lead", Grant("lead_agency"))
    set_passwords(engine)
    login(client, "lead")
    assert client.get(f"/admin/procedures/drafts/{draft_id}/scheme").status_code == 403
    assert client.get(f"/admin/procedures/drafts/{draft_id}/scheme/export.xlsx").status_code == 403
    assert call(client, draft_id, "try", {"indicator": {"code": "a", "points": 1}, "measured": "1"}).status_code == 403
    assert call(client, draft_id, "text", {"scheme": {}}).status_code == 403


def test_a_call_without_the_csrf_token_is_refused(admin, draft_id):
    response = admin.post(f"/admin/procedures/drafts/{draft_id}/scheme/text", json={"scheme": {}})
    assert response.status_code == 400
