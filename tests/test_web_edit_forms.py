"""The form builder of a draft: forms listed as shared or the variant's own, the builder page, the preview drawn
by the task page's renderer, and saving a form through the draft file API."""

from __future__ import annotations

import json
import re

import pytest
from test_web_procedures import draft_row, new_draft
from web_fixtures import add_web_user, csrf, login, set_passwords

from engine.people.accounts import Grant
from engine.procedure import drafts

NUMBER_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "文审初评", "type": "object",
    "properties": {"rate": {"type": "number", "title": "资料完整率", "multipleOf": 0.01, "minimum": 0, "maximum": 100},
                   "remark": {"type": "string", "title": "初评意见", "maxLength": 500}},
    "required": ["rate"], "additionalProperties": False}


@pytest.fixture
def draft_id(admin, engine) -> int:
    return new_draft(admin, engine)


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="form-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(found)


def preview(client, draft_id: int, body, **kwargs):
    return client.post(f"/admin/procedures/drafts/{draft_id}/forms/preview", json=body,
                       headers={"X-CSRF-Token": csrf(client)}, **kwargs)


def test_the_draft_page_links_the_form_builder_and_the_scheme_editor(admin, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}").text
    assert f'href="/admin/procedures/drafts/{draft_id}/forms"' in page
    assert f'href="/admin/procedures/drafts/{draft_id}/scheme"' in page


def test_the_forms_of_a_draft_are_listed_as_shared_or_the_variants_own(admin, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/forms").text
    status = dict(re.findall(r'data-form="([^"]+)" data-status="([^"]+)"', page))
    assert status["self-evaluation"] == "shared"
    assert status["score-confirmation"] == "own"  # 资阳's own, with its wider veto items
    assert "替换共享表单" in page or "replaces the shared one" in page


def test_a_shared_form_opens_read_only_with_the_offer_to_copy_it(admin, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/forms/self-evaluation")
    assert page.status_code == 200 and 'id="copy-form"' in page.text
    data = page_data(page.text)
    assert data["status"] == "shared" and data["revision"] == 1
    assert json.loads(data["schema"])["title"] == "自我评价"
    assert data["fileUrl"] == f"/api/v1/procedures/drafts/{draft_id}/files/forms/"


def test_an_own_form_and_a_new_one_open_for_editing(admin, draft_id):
    own = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/forms/score-confirmation").text)
    assert own["status"] == "own" and "veto_items" in own["schema"]
    new = admin.get(f"/admin/procedures/drafts/{draft_id}/forms?name=document-review")
    assert new.status_code == 302 and new.headers["Location"].endswith("/forms/document-review")
    data = page_data(admin.get(new.headers["Location"]).text)
    assert data["status"] == "new" and data["schema"] == ""


@pytest.mark.parametrize("name", ["Bad Name", "../bundle", "x" * 80])
def test_a_bad_form_name_is_refused(admin, draft_id, name):
    response = admin.get(f"/admin/procedures/drafts/{draft_id}/forms", query_string={"name": name})
    assert response.status_code == 400 and "表单文件名" in response.text


def test_the_preview_is_the_task_pages_form_with_the_sample_data(admin, draft_id):
    response = preview(admin, draft_id, {"schema": NUMBER_FORM, "ui": {"remark": {"ui:widget": "textarea"}},
                                         "data": {"rate": 95.5}})
    assert response.status_code == 200
    html = response.text
    assert '<label class="title" for="rate">资料完整率 <span class="req">*</span></label>' in html
    assert 'name="rate"' in html and 'value="95.5"' in html and 'inputmode="decimal"' in html
    assert '<textarea name="remark"' in html


def test_checking_the_sample_data_puts_each_error_on_its_field(admin, draft_id):
    response = preview(admin, draft_id, {"schema": NUMBER_FORM, "ui": {}, "check": True,
                                         "posted": [["rate", "100.5"], ["remark", ""]]})
    assert response.status_code == 200
    field = re.search(r'<div class="field has-error" data-key="rate">.*?</div>', response.text, re.S).group(0)
    assert "不能大于100" in field and 'value="100.5"' in field
    ok = preview(admin, draft_id, {"schema": NUMBER_FORM, "ui": {}, "check": True, "posted": [["rate", "99.25"]]})
    assert 'id="preview-valid"' in ok.text
    decimals = preview(admin, draft_id, {"schema": NUMBER_FORM, "ui": {}, "check": True, "posted": [["rate", "9.125"]]})
    assert "最多保留 2 位小数" in decimals.text


def test_a_table_of_indicator_rows_gets_one_row_per_indicator_of_the_drafts_scheme(admin, engine, draft_id):
    files = draft_row(engine, draft_id).files
    schema = json.loads(files["forms/self-evaluation.schema.json"])
    html = preview(admin, draft_id, {"schema": schema, "ui": {}, "data": {}}).text
    assert html.count('name="self_scores-') >= 2 * 24  # 资阳's 24 indicators, code and score each
    assert "T6 水、空气质量及减排总量指标（6 分）" in html


@pytest.mark.parametrize(("body", "words"), [
    ("not json", "JSON"),
    ({"schema": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}, "not a valid JSON Schema"),
    ({"name": "review", "schema": {"type": "object", "properties": {"a": {"$ref": "https://example.com/x.json"}}}},
     "forms/review.schema.json:4: $ref"),
    ({"schema": [], "ui": {}}, "JSON 对象"),
    ({"schema": NUMBER_FORM, "posted": [["rate", 5]]}, "posted"),
])
def test_a_preview_of_a_bad_form_is_refused_in_words(admin, draft_id, body, words):
    if isinstance(body, str):
        response = admin.post(f"/admin/procedures/drafts/{draft_id}/forms/preview", data=body,
                              headers={"X-CSRF-Token": csrf(admin), "Content-Type": "application/json"})
    else:
        response = preview(admin, draft_id, body)
    assert response.status_code == 400
    assert words in response.json["message"]


def test_only_an_administrator_builds_forms(client, engine, admin, draft_id):
    admin.post("/logout", data={"csrf_token": csrf(admin)})
    add_web_user(engine, "lead", Grant("lead_agency"))
    set_passwords(engine)
    login(client, "lead")
    assert client.get(f"/admin/procedures/drafts/{draft_id}/forms").status_code == 403
    assert client.get(f"/admin/procedures/drafts/{draft_id}/forms/self-evaluation").status_code == 403
    assert preview(client, draft_id, {"schema": NUMBER_FORM}).status_code == 403


def test_a_preview_without_the_csrf_token_is_refused(admin, draft_id):
    response = admin.post(f"/admin/procedures/drafts/{draft_id}/forms/preview", json={"schema": NUMBER_FORM})
    assert response.status_code == 400


def test_an_unknown_draft_is_not_found(admin):
    assert admin.get("/admin/procedures/drafts/999/forms/self-evaluation").status_code == 404


def test_the_builders_save_goes_through_the_file_api_and_its_findings_come_back_to_the_form(admin, engine, draft_id):
    data = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/forms/document-review").text)
    url = data["fileUrl"] + "document-review.schema.json"
    headers = {"X-CSRF-Token": csrf(admin), "If-Match": str(data["revision"])}
    saved = admin.put(url, data=json.dumps(NUMBER_FORM, ensure_ascii=False), headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json["revision"] == data["revision"] + 1
    stale = admin.put(url, data="{}", headers=headers)
    assert stale.status_code == 409 and "admin" in stale.json["message"]
    broken = dict(NUMBER_FORM, properties={"rate": {"type": "nonsense", "title": "x"}})
    admin.put(url, data=json.dumps(broken), headers={**headers, "If-Match": str(saved.json["revision"])})
    again = page_data(admin.get(f"/admin/procedures/drafts/{draft_id}/forms/document-review").text)
    assert again["status"] == "own" and again["revision"] == saved.json["revision"] + 1
    assert [f["file"] for f in again["findings"]] == ["forms/document-review.schema.json"]


def test_a_published_draft_is_shown_in_the_editors_not_offered_for_change(admin, engine, draft_id):
    headers = {"X-CSRF-Token": csrf(admin), "If-Match": "1"}
    url = f"/api/v1/procedures/drafts/{draft_id}/files/forms/document-review.schema.json"
    assert admin.put(url, data=json.dumps(NUMBER_FORM, ensure_ascii=False), headers=headers).status_code == 200
    drafts.publish(engine, draft_id, "加文审初评表", "admin")
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/forms/document-review").text
    assert page_data(page)["published"] is True and 'id="published-note"' in page
    scheme = admin.get(f"/admin/procedures/drafts/{draft_id}/scheme").text
    assert 'id="published-note"' in scheme and '"published": true' in scheme
