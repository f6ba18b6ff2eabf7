"""Incidents on the web: the user is told the step is held up, the administrator sees it and acts on it."""

from __future__ import annotations

import html
import json

import pytest
from sqlalchemy import select
from test_incidents import ANNOUNCE, broken  # noqa: F401 — the fixture
from web_fixtures import login, post, set_passwords

from engine.people import signin
from engine.running import incidents
from engine.store.models import AuditEntry, Instance


def _bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


@pytest.fixture
def held(client, broken):  # noqa: F811
    engine, campaign, notify = broken
    set_passwords(engine)
    response = client.post(f"/api/v1/tasks/{notify.id}/complete", json=ANNOUNCE,
                           headers=_bearer(engine, "lead_agency"))
    assert response.status_code == 409
    assert response.get_json() == {"error": "held_up", "message": incidents.HELD_UP}
    assert "此步骤暂时无法办理，已通知管理员" in incidents.HELD_UP
    return engine, notify


def test_the_user_of_a_held_up_instance_is_told_so_on_the_task_page(client, held):
    engine, notify = held
    login(client, "lead_agency")
    page = client.get(f"/tasks/{notify.id}")
    assert page.status_code == 200 and 'id="held-up"' in page.text
    response = post(client, f"/tasks/{notify.id}", {"action": "submit", "announcement": "通报",
                                                    "announced_on": "2026-03-15"})
    assert response.status_code == 409 and 'id="held-up"' in response.text and "Traceback" not in response.text


def test_the_administrator_sees_the_incident_by_step_name_and_retries_it(client, held):
    engine, notify = held
    login(client, "lead_agency")
    assert client.get("/admin/incidents").status_code == 403
    post(client, "/logout")
    login(client, "admin")
    page = client.get("/admin/incidents")
    assert page.status_code == 200 and "发布考核结果" in page.text and "division by zero" in page.text
    [incident] = engine.incidents()
    # the instance's diagram marks the element it is held up at
    shown = client.get(f"/instances/{incident['instance_id']}").text
    marks = json.loads(html.unescape(shown.split('data-marks="')[1].split('"')[0]))
    assert marks["incident"] == [incident["bpmn_id"]] == ["Throw_announced"]
    response = post(client, f"/admin/incidents/{incident['id']}/retry", {"reason": ""})
    assert response.status_code == 400 and engine.incidents()
    response = post(client, f"/admin/incidents/{incident['id']}/retry", {"reason": "原因已排除"})
    assert response.status_code == 302 and engine.incidents() == []


def test_the_api_lists_incidents_and_cancels_with_a_reason(client, held):
    engine, notify = held
    assert client.get("/api/v1/incidents", headers=_bearer(engine, "lead_agency")).status_code == 403
    admin = _bearer(engine, "admin")
    [row] = client.get("/api/v1/incidents", headers=admin).get_json()
    assert (row["instance"], row["step"], row["step_name"]) == (notify.instance_id, "Throw_announced", "发布考核结果")
    assert client.post(f"/api/v1/incidents/{row['id']}/cancel", json={}, headers=admin).status_code == 400
    response = client.post(f"/api/v1/incidents/{row['id']}/cancel", json={"reason": "改为线下通报"}, headers=admin)
    assert response.status_code == 200 and response.get_json()["instance"] == notify.instance_id
    assert client.get("/api/v1/incidents", headers=admin).get_json() == []
    with engine.store.read() as session:
        assert session.get(Instance, notify.instance_id).status == "cancelled"
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "incident_cancel")).one().actor == "admin"
