"""The REST API: bearer tokens, the same authorization as the pages, JSON errors, the OpenAPI document."""

from __future__ import annotations

import hashlib
import io

import pytest
from drive import FORMS, Driver
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, set_passwords

from engine.people import signin
from engine.people.accounts import Grant
from engine.store.models import ApiToken, User

PDF = b"%PDF-1.7\n%%EOF\n"


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-tj", Grant("assessed", region=TIANJIN))
    return drive


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


def test_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/tasks", "/tasks/{task_id}", "/tasks/{task_id}/complete", "/instances/{instance_id}", "/campaigns",
            "/campaigns/{campaign_id}"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}])
def test_calls_without_a_valid_token_are_refused(client, drive, headers):
    response = client.get("/api/v1/tasks", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"


def test_a_signed_in_browser_session_does_not_authenticate_the_api(client, engine, drive):
    set_passwords(engine)
    login(client, "gov-bj")
    assert client.get("/api/v1/tasks").status_code == 401
    task = drive.ready("Task_target_filing", BEIJING)[0]
    assert client.post(f"/api/v1/tasks/{task.id}/complete", json={}).status_code == 401


def test_an_expired_token_is_refused(client, engine, drive, clock):
    headers = bearer(engine, "gov-bj")
    clock.advance(days=366)
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401


def test_tasks_listed_read_and_completed(client, engine, drive):
    headers = bearer(engine, "gov-bj")
    [task] = drive.ready("Task_target_filing", BEIJING)
    listed = client.get("/api/v1/tasks?scope=claimable", headers=headers).get_json()["tasks"]
    assert [t["id"] for t in listed] == [task.id] and listed[0]["region"] == BEIJING
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=headers).get_json()
    assert detail["schema"]["title"] == "质量目标备案" and "目标备案" in detail["instructions"] and detail["can_act"]
    bad = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json={"targets": [{"indicator": "T1"}]})
    assert bad.status_code == 400
    body = bad.get_json()
    assert body["error"] == "invalid_data" and body["errors"][0]["field"] == "targets/0"
    assert "必填项「目标值」未填写" in body["errors"][0]["message"]
    done = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=FORMS["Task_target_filing"](drive))
    assert done.status_code == 200 and done.get_json()["status"] == "running"
    again = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=FORMS["Task_target_filing"](drive))
    assert again.status_code == 409 and "gov-bj completed it" in again.get_json()["message"]
    outsider = client.post(f"/api/v1/tasks/{task.id}/complete", headers=bearer(engine, "gov-tj"),
                           json=FORMS["Task_target_filing"](drive))
    assert outsider.status_code == 404 and "gov-bj" not in outsider.text  # not told who did another region's task


def test_a_submission_writes_its_tokens_last_use_in_its_own_transaction(client, engine, drive, clock, monkeypatch):
    """A token's last use is written with the completion (one write, not two); a refused one still records it."""
    headers = bearer(engine, "gov-bj")
    [task] = drive.ready("Task_target_filing", BEIJING)
    writes = []
    write = engine.store.write
    monkeypatch.setattr(engine.store, "write", lambda *a, **k: writes.append(k) or write(*a, **k))

    def last_use():
        with engine.store.read() as db:
            return db.scalar(select(ApiToken.last_used_at).join(User).where(User.username == "gov-bj"))

    refused = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json={"targets": []})
    # refused before anything is written (the form is checked outside the write), then the use written on its own
    assert refused.status_code == 400 and last_use() == clock.now() and len(writes) == 1
    clock.advance(days=1)
    writes.clear()
    done = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=FORMS["Task_target_filing"](drive))
    assert done.status_code == 200 and last_use() == clock.now() and len(writes) == 1


def test_another_regions_task_and_instance_are_refused(client, engine, drive):
    headers = bearer(engine, "gov-bj")
    [task] = drive.ready("Task_target_filing", TIANJIN)
    assert client.get(f"/api/v1/tasks/{task.id}", headers=headers).status_code == 403
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers,
                           json=FORMS["Task_target_filing"](drive))
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    assert client.post(f"/api/v1/tasks/{task.id}/claim", headers=headers).status_code == 403
    assert client.get(f"/api/v1/instances/{task.instance_id}", headers=headers).status_code == 403
    assert client.get("/api/v1/instances/9999", headers=headers).status_code == 404
    assert client.get(f"/api/v1/campaigns/{drive.campaign.id}", headers=headers).status_code == 403
    assert client.get("/api/v1/campaigns", headers=headers).get_json() == {"campaigns": []}


def test_evidence_through_the_api(client, engine, drive):
    drive.file_targets(BEIJING)
    headers = bearer(engine, "gov-bj")
    [task] = drive.ready("Task_self_evaluation", BEIJING)
    refused = client.post(f"/api/v1/tasks/{task.id}/files", headers=headers,
                          data={"file": (io.BytesIO(b"<html></html>"), "a.html")})
    assert refused.status_code == 400
    stored = client.post(f"/api/v1/tasks/{task.id}/files", headers=headers,
                         data={"file": (io.BytesIO(PDF), "自评.pdf")})
    assert stored.status_code == 201 and stored.get_json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    data = FORMS["Task_self_evaluation"](drive)
    assert client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=data).status_code == 400
    data["evidence"] = [{"name": "自评.pdf", "sha256": stored.get_json()["sha256"]}]
    assert client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers, json=data).status_code == 200


def test_instances_and_campaigns(client, engine, drive, clock):
    drive.file_targets(BEIJING)
    instance = drive.ready("Task_self_evaluation", BEIJING)[0].instance_id
    body = client.get(f"/api/v1/instances/{instance}", headers=bearer(engine, "gov-bj")).get_json()
    assert body["done"] == ["Task_filing_opinion", "Task_filing_review", "Task_target_filing"]
    assert [t["step"] for t in body["current"]] == ["Task_self_evaluation"]
    assert "data" not in body and body["timeline"][0]["action"] == "complete"  # raw data: overseers only
    assert [s["step"] for s in body["submissions"]] == ["Task_filing_review", "Task_target_filing"]  # no opinions
    assert body["submissions"][1]["data"]["targets"][0]["indicator"] == "T1" and body["result"] is None
    assert client.get(f"/api/v1/instances/{instance}", headers=bearer(engine, "lead_agency")).get_json()[
        "data"]["region"] == BEIJING
    lead = bearer(engine, "lead_agency")
    [campaign] = client.get("/api/v1/campaigns", headers=lead).get_json()["campaigns"]
    detail = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=lead).get_json()
    row = next(r for r in detail["board"] if r["region"] == BEIJING)
    assert row["steps"]["Task_target_filing"]["state"] == "done" and detail["announced"] is False
    clock.advance(days=400)
    assert client.get("/api/v1/campaigns", headers=lead).status_code == 401  # the token has expired


def test_the_api_suspends_and_resumes_a_campaign_with_a_reason(client, engine):
    """``POST /api/v1/campaigns/<id>/suspend|resume|cancel`` with ``{"reason"}``; a region's token is refused."""
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING])
    add_web_user(engine, "gov-bj-api", Grant("assessed", region=BEIJING))
    lead, region = bearer(engine, "lead_agency"), bearer(engine, "gov-bj-api")
    url = f"/api/v1/campaigns/{campaign.id}"
    assert client.post(f"{url}/suspend", json={"reason": ""}, headers=lead).status_code == 400
    assert client.post(f"{url}/suspend", json={"reason": "暂停"}, headers=region).status_code == 403
    answer = client.post(f"{url}/suspend", json={"reason": "细则修订中"}, headers=lead)
    assert answer.status_code == 200 and answer.json["status"] == "suspended"
    assert answer.json["status_reason"] == "细则修订中" and answer.json["instances_changed"] == 2
    assert client.post(f"{url}/suspend", json={"reason": "再次"}, headers=lead).status_code == 409
    assert client.post(f"{url}/resume", json={"reason": "恢复"}, headers=lead).json["status"] == "running"
