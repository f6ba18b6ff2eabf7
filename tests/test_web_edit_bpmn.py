"""web/edit_bpmn.py: what the BPMN modeler's panel asks the server (issue 11)."""

from __future__ import annotations

import pytest
from web_fixtures import csrf, login, set_passwords


@pytest.fixture
def admin(client, engine):
    set_passwords(engine)
    login(client, "admin")
    return client


def _post(client, url, body):
    return client.post(url, json=body, headers={"X-CSRF-Token": csrf(client)})


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


@pytest.mark.parametrize("url", ["/admin/procedures/bpmn/due-preview", "/admin/procedures/bpmn/markdown"])
def test_only_the_administrator_asks(client, engine, url):
    set_passwords(engine)
    login(client, "lead_agency")
    assert _post(client, url, {"text": "x"}).status_code == 403
    client.post("/logout")
    login(client, "admin")
    assert client.post(url, json={"text": "x"}).status_code == 400  # no CSRF token
