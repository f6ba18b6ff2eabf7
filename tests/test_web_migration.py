"""Migrating running instances on the web and through the API (web/migrating.py)."""

from __future__ import annotations

import html

import pytest
from drive import Driver
from sqlalchemy import select
from test_migration import REGIONS, changed_gateway, presentation_only
from test_web_browser import Person, browser, server  # noqa: F401 — the fixtures
from web_fixtures import login, post, set_passwords

from engine.people import signin
from engine.store.models import AuditEntry, Instance, ProcessVersion


def _bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


@pytest.fixture
def behind(engine, client, tmp_path):
    """A ziyang campaign (雁江区 past filing) and a version 2 whose filing gateway's condition changed."""
    set_passwords(engine)
    driver = Driver(engine, "ziyang-2016", REGIONS)
    driver.file_targets("512002")
    engine.deploy(changed_gateway(tmp_path))
    return engine, driver.campaign


def _versions(engine, campaign_id: int) -> dict:
    with engine.store.read() as session:
        return {i.region: session.get(ProcessVersion, i.version_id).version
                for i in session.scalars(select(Instance).where(Instance.campaign_id == campaign_id))}


def _states(engine, campaign_id: int) -> dict:
    with engine.store.read() as session:
        return {i.region: i.state for i in session.scalars(select(Instance).where(Instance.campaign_id == campaign_id))}


def test_an_administrator_previews_confirms_and_sees_the_result(client, behind):
    engine, campaign = behind
    login(client, "admin")
    listed = client.get("/admin/procedures/migrations")
    assert listed.status_code == 200
    assert f'/admin/campaigns/{campaign.id}/migrate' in listed.text and "第 1 版: 4" in listed.text
    board = client.get(f"/campaigns/{campaign.id}")
    assert f'href="/admin/campaigns/{campaign.id}/migrate" id="migrate-link"' in board.text
    page = client.get(f"/admin/campaigns/{campaign.id}/migrate")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert ("已办理的步骤“备案审核结论”在新版本中已改变：条件 "
            "(the step '备案审核结论' it has passed changed: conditions)") in text
    assert "雁江区" in text and "安岳县" in text and "自我评价" in text  # names, and where each stands
    boxes = [i.id for i in engine.campaign_instances(campaign.id) if i.region != "512002"]
    refused = next(i.id for i in engine.campaign_instances(campaign.id) if i.region == "512002")
    assert all(f'name="instance" value="{i}" checked' in page.text for i in boxes)
    assert f'name="instance" value="{refused}"' not in page.text  # nothing to tick for an instance that cannot move
    assert _versions(engine, campaign.id) == {None: 1, "512002": 1, "512021": 1, "512022": 1}  # a preview only

    before = _states(engine, campaign.id)["512002"]
    # Even ticked by hand, the one that cannot move is refused and left as it was.
    done = post(client, f"/admin/campaigns/{campaign.id}/migrate",
                {"to_version": "2", "instance": [str(i) for i in boxes + [refused]]})
    assert done.status_code == 200
    assert "已迁移到第 2 版：3 个；未迁移、保持原状：1 个；未勾选：0 个。" in html.unescape(done.text)
    assert "已办理的步骤“备案审核结论”在新版本中已改变" in html.unescape(done.text)  # said again on the result
    assert _versions(engine, campaign.id) == {None: 2, "512002": 1, "512021": 2, "512022": 2}
    assert _states(engine, campaign.id)["512002"] == before
    with engine.store.read() as session:
        actors = {e.actor for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "instance_migrate"))}
    assert actors == {"admin"}


@pytest.mark.parametrize("data, message", [
    ({"instance": "1"}, "请选择目标版本"),
    ({"to_version": "2"}, "请至少选择一个流程实例"),
    ({"to_version": "two", "instance": "1"}, "应为正整数"),
    ({"to_version": "7", "instance": "1"}, "没有第 7 版"),
])
def test_bad_input_is_refused_and_nothing_moves(client, behind, data, message):
    engine, campaign = behind
    login(client, "admin")
    states = _states(engine, campaign.id)
    response = post(client, f"/admin/campaigns/{campaign.id}/migrate", data)
    assert response.status_code in (400, 404)
    assert message in html.unescape(response.text) and "Traceback" not in response.text
    assert _states(engine, campaign.id) == states


def test_a_non_administrator_is_refused_on_the_pages_and_the_api(client, behind):
    engine, campaign = behind
    states = _states(engine, campaign.id)
    login(client, "lead_agency")
    assert client.get("/admin/procedures/migrations").status_code == 403
    assert client.get(f"/admin/campaigns/{campaign.id}/migrate").status_code == 403
    assert post(client, f"/admin/campaigns/{campaign.id}/migrate", {"to_version": "2"}).status_code == 403
    lead = _bearer(engine, "lead_agency")
    response = client.get(f"/api/v1/procedures/migration-preview?campaign={campaign.id}", headers=lead)
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    response = client.post("/api/v1/procedures/migrations", json={"campaign": campaign.id}, headers=lead)
    assert response.status_code == 403
    assert client.post("/api/v1/procedures/migrations", json={"campaign": campaign.id}).status_code == 401
    assert _states(engine, campaign.id) == states


def test_the_api_previews_and_migrates(client, behind):
    engine, campaign = behind
    admin = _bearer(engine, "admin")
    preview = client.get(f"/api/v1/procedures/migration-preview?campaign={campaign.id}&to_version=2", headers=admin)
    assert preview.status_code == 200
    body = preview.get_json()
    assert (body["variant"], body["to_version"], body["migratable"], body["refused"]) == ("ziyang-2016", 2, 3, 1)
    [refused] = [i for i in body["instances"] if not i["migratable"]]
    assert refused["region_name"] == "雁江区" and "备案审核结论" in refused["reasons"][0]
    done = client.post("/api/v1/procedures/migrations", json={"campaign": campaign.id, "to_version": 2},
                       headers=admin).get_json()
    assert {i["region"]: i["outcome"] for i in done["instances"]} == {
        None: "migrated", "512002": "refused", "512021": "migrated", "512022": "migrated"}
    assert done["migrated"] == 3
    assert _versions(engine, campaign.id) == {None: 2, "512002": 1, "512021": 2, "512022": 2}


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "缺少参数 campaign"),
    ("campaign=abc", 400, "应为正整数"),
    ("campaign=999", 404, "考核 999 不存在"),
    ("campaign={campaign}&to_version=9", 404, "没有第 9 版"),
])
def test_the_api_refuses_a_bad_preview(client, behind, query, status, message):
    engine, campaign = behind
    response = client.get("/api/v1/procedures/migration-preview?" + query.format(campaign=campaign.id),
                          headers=_bearer(engine, "admin"))
    assert response.status_code == status and message in response.get_json()["message"]


@pytest.mark.parametrize("body, message", [
    ([1], "请求体应为 JSON 对象"),
    ({}, "请指定 campaign 或 instances"),
    ({"campaign": "x"}, "应为正整数"),
    ({"campaign": 1, "instances": "all"}, "instances 应为流程实例编号的非空列表"),
    ({"campaign": 1, "instances": [True]}, "应为正整数"),
])
def test_the_api_refuses_a_bad_migration_and_moves_nothing(client, behind, body, message):
    engine, campaign = behind
    states = _states(engine, campaign.id)
    response = client.post("/api/v1/procedures/migrations", json=body, headers=_bearer(engine, "admin"))
    assert response.status_code == 400 and message in response.get_json()["message"]
    assert _states(engine, campaign.id) == states


def test_the_migration_routes_are_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {"/procedures/migration-preview", "/procedures/migrations"} <= set(doc["paths"])
    assert "MigrationPlan" in doc["components"]["schemas"]


def test_a_campaign_up_to_date_has_nothing_to_migrate(client, engine, tmp_path):
    set_passwords(engine)
    campaign = Driver(engine, "ziyang-2016", ["512002"]).campaign
    login(client, "admin")
    listed = client.get("/admin/procedures/migrations").text
    assert f"/admin/campaigns/{campaign.id}/migrate" not in listed
    engine.deploy(presentation_only(tmp_path))
    assert f"/admin/campaigns/{campaign.id}/migrate" in client.get("/admin/procedures/migrations").text


@pytest.mark.browser
def test_an_administrator_migrates_a_campaign_in_the_browser(browser, server, engine, tmp_path):  # noqa: F811
    if engine.store.dialect != "sqlite":
        pytest.skip("the browser sees the same pages on either backend; the route tests run on both")
    sqlite_engine = engine
    set_passwords(sqlite_engine)
    driver = Driver(sqlite_engine, "ziyang-2016", REGIONS)
    driver.file_targets("512002")
    sqlite_engine.deploy(changed_gateway(tmp_path))
    admin = Person(browser, server, "admin")
    admin.sign_in()
    admin.page.goto(f"{server}/campaigns/{driver.campaign.id}")
    admin.page.click("#migrate-link")
    admin.page.wait_for_selector("#migration-plan")
    refused = admin.page.inner_text(f"#instance-{_instance(sqlite_engine, driver, '512002')} .reasons")
    assert "已办理的步骤“备案审核结论”在新版本中已改变：条件" in refused
    admin.shot("migration-preview")
    admin.page.click("#confirm-migration")
    admin.page.wait_for_selector("#outcome")
    assert "已迁移到第 2 版：3 个；未迁移、保持原状：0 个；未勾选：1 个。" in admin.page.inner_text("#outcome")
    assert "未勾选" in admin.page.inner_text(f"#instance-{_instance(sqlite_engine, driver, '512002')}")
    admin.shot("migration-result")
    admin.close()
    assert _versions(sqlite_engine, driver.campaign.id) == {None: 2, "512002": 1, "512021": 2, "512022": 2}


def _instance(engine, driver, region: str) -> int:
    return next(i.id for i in engine.campaign_instances(driver.campaign.id) if i.region == region)
