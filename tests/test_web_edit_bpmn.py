"""web/edit_bpmn.py: what the BPMN modeler's panel asks the server (issue 11)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from web_fixtures import csrf, login, set_passwords

from engine.people.accounts import ROLE_NAMES
from engine.procedure import drafts, versions


def _post(client, url, body):
    return client.post(url, json=body, headers={"X-CSRF-Token": csrf(client)})


@pytest.fixture
def draft_id(engine) -> int:
    """A draft of 资阳's current version."""
    with engine.store.write() as db:
        return drafts.create(db, versions.current_version(db, "ziyang-2016"), "admin", engine.clock.now()).id


def _files(engine, draft_id):
    with engine.store.read() as db:
        row = drafts.get(db, draft_id)
        return dict(row.files), row.revision


def test_the_draft_page_links_the_modeler_and_the_modeler_page_carries_the_draft(admin, engine, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}").text
    url = f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn"
    assert f'href="{url}"' in page
    html = admin.get(url).text
    assert 'id="canvas"' in html and "/static/build/modeler.js" in html
    setup = json.loads(re.search(r'<script type="application/json" id="modeler-setup">(.*?)</script>', html, re.S)
                       .group(1))
    files, revision = _files(engine, draft_id)
    assert setup["xml"] == files["assessment.bpmn"] and setup["revision"] == revision
    assert setup["lanes"]["市政府"] == "approver" and setup["deadlines"]["Task_target_filing"]["date"] == "03-31"
    assert {"code": "assessment_group", "name": ROLE_NAMES["assessment_group"]} in setup["bodies"]
    assert "admin" not in {b["code"] for b in setup["bodies"]}
    assert "self-evaluation.schema.json" in setup["forms"]
    # the lanes in bundle.yaml's order (the JSON's keys are sorted), and which process is which, for the panel
    assert setup["laneOrder"] == list(yaml.safe_load(files["bundle.yaml"])["lanes"])
    assert (setup["campaignProcess"], setup["regionProcess"]) == ("ziyang_campaign", "ziyang_region")


def test_a_missing_draft_or_file_is_refused(admin, draft_id):
    assert admin.get("/admin/procedures/drafts/999/bpmn/assessment.bpmn").status_code == 404
    assert admin.get(f"/admin/procedures/drafts/{draft_id}/bpmn/nope.bpmn").status_code == 400
    refused = admin.get(f"/admin/procedures/drafts/{draft_id}/bpmn/bundle.yaml")
    assert refused.status_code == 400 and "only a .bpmn file" in refused.text


def test_the_variables_in_scope_follow_the_unsaved_diagram(admin, engine, draft_id):
    files, _ = _files(engine, draft_id)
    url = f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn/scope"
    found = _post(admin, url, {"xml": files["assessment.bpmn"], "element": "Flow_c10"}).get_json()
    assert "approval" in found["variables"] and "deadline" in found["provided"]
    renamed = files["assessment.bpmn"].replace('id="Flow_c10"', 'id="Flow_back"')
    response = _post(admin, url, {"xml": renamed, "element": "Flow_c10"})
    assert response.status_code == 400 and "Flow_c10" in response.get_json()["message"]


@pytest.mark.parametrize(("expression", "ok", "said"), [
    ("approval == 'return'", True, None),
    ("aproval == 'return'", False, "aproval"),
    ("open('/etc/passwd')", False, "open"),
    ("approval ==", False, "syntax error"),
])
def test_one_expression_is_checked_as_it_is_typed(admin, engine, draft_id, expression, ok, said):
    files, _ = _files(engine, draft_id)
    found = _post(admin, f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn/check",
                  {"xml": files["assessment.bpmn"], "element": "Flow_c10", "expression": expression}).get_json()
    assert found["ok"] is ok
    if said:
        assert said in found["message"]


def test_bundle_yaml_is_rewritten_for_the_page_to_save_and_nothing_is_stored(admin, engine, draft_id):
    files, revision = _files(engine, draft_id)
    lanes = yaml.safe_load(files["bundle.yaml"])["lanes"] | {"专家组": "assessment_group"}
    text = _post(admin, f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn/manifest",
                 {"lanes": lanes, "deadlines": {"Task_x": {"date": "01-20", "year": 1}}}).get_json()["text"]
    manifest = yaml.safe_load(text)
    assert manifest["lanes"] == lanes and manifest["deadlines"] == {"Task_x": {"date": "01-20", "year": 1}}
    assert manifest["reminders"] == yaml.safe_load(files["bundle.yaml"])["reminders"]
    assert _files(engine, draft_id) == (files, revision)


def test_the_english_of_renamed_elements_and_rewritten_instructions_is_taken_out_for_the_page_to_save(
        admin, engine, draft_id):
    files, revision = _files(engine, draft_id)
    url = f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn/english"
    assert _post(admin, url, {"renamed": ["Task_nothing"]}).get_json()["text"] is None  # no English of it
    text = _post(admin, url, {"renamed": ["Lane_c_approver", "Task_self_evaluation"],
                              "reworded": ["Task_target_filing"]}).get_json()["text"]
    before, after = yaml.safe_load(files["english.yaml"]), yaml.safe_load(text)
    assert "Lane_c_approver" in before["lanes"] and "Lane_c_approver" not in after["lanes"]
    assert "Task_self_evaluation" not in after["steps"] and "Task_self_evaluation" in after["instructions"]
    assert "Task_target_filing" not in after["instructions"] and "Task_target_filing" in after["steps"]
    gone = [line for line in files["english.yaml"].splitlines() if line not in text.splitlines()]
    assert all(re.match(r"  (Lane_c_approver|Task_self_evaluation|Task_target_filing):|    ", g) for g in gone)
    assert _files(engine, draft_id) == (files, revision)  # nothing stored: the page saves it
    assert _post(admin, url, {"renamed": "Lane_c_approver"}).status_code == 400


@pytest.mark.parametrize("body", [{"lanes": ["x"]}, {"deadlines": "01-20"}])
def test_a_section_of_the_wrong_shape_is_refused(admin, draft_id, body):
    response = _post(admin, f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn/manifest", body)
    assert response.status_code == 400 and response.get_json()["message"]


@pytest.mark.parametrize(("rule", "last_day"), [
    # 2025-03-31 is a Monday; 2024-12-31 a Tuesday
    ({"kind": "fixed", "date": "03-31", "year": 1, "sample_year": 2024}, "2025-03-31"),
    ({"kind": "fixed", "date": "12-31", "year": 0, "sample_year": 2024}, "2024-12-31"),
    # 第二百零二条: 31 August + 1 month -> 30 September
    ({"kind": "after", "unit": "months", "amount": 1, "event_on": "2025-08-31"}, "2025-09-30"),
    # 第二百零三条: a last day in the 国庆 holiday moves to the first working day after it
    ({"kind": "after", "unit": "days", "amount": 5, "event_on": "2025-09-28"}, "2025-10-09"),
    ({"kind": "after", "unit": "working_days", "amount": 1, "event_on": "2025-09-30"}, "2025-10-09"),
])
def test_the_due_date_preview_gives_the_legal_last_day(admin, rule, last_day):
    response = _post(admin, "/admin/procedures/bpmn/due-preview", rule)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["last_day"] == last_day


def test_a_moved_last_day_says_why(admin):
    found = _post(admin, "/admin/procedures/bpmn/due-preview",
                  {"kind": "after", "unit": "days", "amount": 5, "event_on": "2025-09-28"}).get_json()
    assert found["moved_from"] == "2025-10-03" and "国庆" in found["reason"]


@pytest.mark.parametrize("rule", [
    {"kind": "fixed", "date": "02-30", "year": 0, "sample_year": 2025},
    {"kind": "fixed", "date": "03-31"},
    {"kind": "after", "unit": "weeks", "amount": 1, "event_on": "2025-01-01"},
    {"kind": "after", "unit": "months", "amount": 0, "event_on": "2025-01-01"},
    {"kind": "after", "unit": "months", "amount": 1, "event_on": "tomorrow"},
    {"kind": "raw"},
])
def test_an_incomplete_due_date_is_refused_in_json(admin, rule):
    response = _post(admin, "/admin/procedures/bpmn/due-preview", rule)
    assert response.status_code == 400
    assert "invalid" in response.get_json()["message"]


def test_instructions_preview_uses_the_task_pages_renderer(admin):
    html = _post(admin, "/admin/procedures/bpmn/markdown",
                 {"text": "## 文审初评\n**年末**<script>alert(1)</script>"}).get_json()["html"]
    assert "<strong>年末</strong>" in html and "<script>" not in html


def test_a_body_that_is_not_an_object_is_refused(admin):
    response = admin.post("/admin/procedures/bpmn/markdown", data="[]", content_type="application/json",
                          headers={"X-CSRF-Token": csrf(admin)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_data"


@pytest.mark.parametrize("url", ["/admin/procedures/bpmn/due-preview", "/admin/procedures/bpmn/markdown",
                                 "/admin/procedures/drafts/{}/bpmn/assessment.bpmn/scope",
                                 "/admin/procedures/drafts/{}/bpmn/assessment.bpmn/check",
                                 "/admin/procedures/drafts/{}/bpmn/assessment.bpmn/manifest"])
def test_only_the_administrator_asks(client, engine, draft_id, url):
    url = url.format(draft_id)
    set_passwords(engine)
    assert client.get(f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn").status_code == 302
    login(client, "lead_agency")
    assert client.get(f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn").status_code == 403
    assert _post(client, url, {"text": "x"}).status_code == 403
    client.post("/logout")
    login(client, "admin")
    assert client.post(url, json={"text": "x"}).status_code == 400  # no CSRF token


def test_the_modeler_speaks_the_users_language(admin, draft_id):
    url = f"/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn"

    def setup():
        html = admin.get(url).text
        return json.loads(re.search(r'id="modeler-setup">(.*?)</script>', html, re.S).group(1))

    assert setup()["lang"] == "zh" and "撤销" in admin.get(url).text
    admin.get("/lang/en")
    assert setup()["lang"] == "en" and ">Undo<" in admin.get(url).text
