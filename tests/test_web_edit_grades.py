"""The grade table editor of a draft: its page, what it is given, who may open it, and saving its file."""

from __future__ import annotations

import json
import re

import pytest
from test_web_procedures import GAP, bearer, draft_row, new_draft
from web_fixtures import add_web_user, csrf, login

from engine.people.accounts import Grant
from engine.procedure import drafts


def page_data(page) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="grade-data">(.*?)</script>', page.text,
                                re.S).group(1))


def test_the_page_gives_the_table_its_grades_scale_and_veto_items(admin, engine):
    draft_id = new_draft(admin, engine)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    assert page.status_code == 200
    assert "/static/build/grades.js" in page.text and "/static/build/grades.css" in page.text
    data = page_data(page)
    assert data["grades"] == ["a", "b", "c", "d"] and data["scale"] == "100" and data["decision"] == "grade"
    assert [v["code"] for v in data["veto"]] == ["V1", "V2", "V3", "V4"]
    assert "85 &lt;= ? &lt; 95" in data["text"] and data["revision"] == 1 and data["editable"] is True
    assert data["api"] == f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn" and data["findings"] == []
    assert data["csrf"] == csrf(admin)


def test_the_draft_page_links_to_the_editors(admin, engine):
    draft_id = new_draft(admin, engine)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}")
    assert f'href="/admin/procedures/drafts/{draft_id}/grades" id="tool-grades"' in page.text
    assert f'href="/admin/procedures/drafts/{draft_id}/regions" id="tool-regions"' in page.text
    opened = admin.get(f"/admin/procedures/drafts/{draft_id}/grades")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/drafts/{draft_id}/grades/grade.dmn")


def test_a_gap_saved_comes_back_as_a_finding_on_the_page(admin, engine):
    draft_id = new_draft(admin, engine)
    url = f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn"
    text = draft_row(engine, draft_id).files["grade.dmn"].replace(*GAP)
    saved = admin.put(url, data=text.encode(), headers={"If-Match": "1", "X-CSRF-Token": csrf(admin)})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2
    data = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn"))
    assert data["revision"] == 2 and "86 &lt;= ? &lt; 95" in data["text"]
    assert [f["file"] for f in data["findings"]] == ["grade.dmn"]
    assert "85" in data["findings"][0]["reason"] and "86" in data["findings"][0]["reason"]


def test_a_save_over_somebody_elses_is_refused_naming_them(admin, engine):
    draft_id = new_draft(admin, engine)
    add_web_user(engine, "admin2", Grant("admin"))
    url = f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn"
    text = draft_row(engine, draft_id).files["grade.dmn"]
    assert admin.put(url, data=text.replace(*GAP).encode(), headers={"If-Match": "1", **bearer(engine, "admin2")}
                     ).status_code == 200
    stale = admin.put(url, data=text.encode(), headers={"If-Match": "1", "X-CSRF-Token": csrf(admin)})
    assert stale.status_code == 409 and stale.get_json()["saved_by"] == "admin2" and "admin2" in stale.get_json()[
        "message"]
    assert "86 &lt;= ?" in draft_row(engine, draft_id).files["grade.dmn"]


def test_a_save_without_the_pages_csrf_token_is_refused(admin, engine):
    draft_id = new_draft(admin, engine)
    url = f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn"
    refused = admin.put(url, data=b"<definitions/>", headers={"If-Match": "1"})
    assert refused.status_code in (400, 401, 403)
    assert draft_row(engine, draft_id).revision == 1


@pytest.mark.parametrize("path", ["grades/scheme.yaml", "grades/nothing.dmn", "grades/../bundle.yaml"])
def test_only_a_dmn_file_of_the_draft_opens(admin, engine, path):
    draft_id = new_draft(admin, engine)
    assert admin.get(f"/admin/procedures/drafts/{draft_id}/{path}").status_code == 404


def test_a_draft_that_does_not_exist_is_not_found(admin):
    assert admin.get("/admin/procedures/drafts/999/grades/grade.dmn").status_code == 404


def test_only_an_administrator_opens_the_editor(admin, engine, app):
    draft_id = new_draft(admin, engine)
    other = app.test_client()
    assert other.get(f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn").status_code == 302  # to sign in
    login(other, "lead_agency")
    assert other.get(f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn").status_code == 403
    assert other.get(f"/admin/procedures/drafts/{draft_id}/grades").status_code == 403


def test_the_editors_speak_chinese_and_english_when_chosen(admin, engine):
    draft_id = new_draft(admin, engine)
    grades = f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn"
    regions = f"/admin/procedures/drafts/{draft_id}/regions"
    assert "按得分评定等级" in admin.get(grades).text and "添加地区" in admin.get(regions).text
    admin.get("/lang/en")
    assert "Grades by score" in admin.get(grades).text and "Add a region" in admin.get(regions).text
    assert 'lang="en"' in admin.get(grades).text  # dmn-js's own words follow the page's language


def test_a_published_draft_is_shown_not_changed(admin, engine):
    draft_id = new_draft(admin, engine)
    url = f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn"
    text = draft_row(engine, draft_id).files["grade.dmn"].replace("? &gt;= 95", "? &gt;= 96").replace(
        "85 &lt;= ? &lt; 95", "85 &lt;= ? &lt; 96")
    assert admin.put(url, data=text.encode(), headers={"If-Match": "1", "X-CSRF-Token": csrf(admin)}).status_code == 200
    drafts.publish(engine, draft_id, "a 级改为 96 分", "admin")
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    assert page_data(page)["editable"] is False and 'id="read-only"' in page.text
    assert re.search(r'id="save"[^>]*disabled', page.text)
    regions = admin.get(f"/admin/procedures/drafts/{draft_id}/regions")
    assert 'id="read-only"' in regions.text and re.search(r'id="save"[^>]*disabled', regions.text)
