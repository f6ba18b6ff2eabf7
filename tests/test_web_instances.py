"""Instance pages: who sees which instance, the diagram marks, the timeline and the data by role."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from drive import Driver
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, set_passwords

from engine.people.accounts import Grant


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "unit-moa", Grant("member_unit", unit="moa"))
    set_passwords(engine)
    return drive


def _instance(drive, region):
    return next(i for i in drive.engine.campaign_instances(drive.campaign.id) if i.region == region)


def _marks(html: str) -> dict:
    raw = re.search(r'data-marks="([^"]+)"', html).group(1)
    return json.loads(raw.replace("&#34;", '"').replace("&quot;", '"'))


@pytest.mark.parametrize(("user", "region", "status"), [
    ("gov-bj", BEIJING, 200),
    ("gov-bj", TIANJIN, 403),
    ("gov-bj", None, 403),          # the campaign instance
    ("lead_agency", TIANJIN, 200),
    ("lead_agency", None, 200),
    ("member_unit", TIANJIN, 200),
    ("approver", None, 200),
    ("recipient", BEIJING, 403),
    ("admin", TIANJIN, 200),
])
def test_who_sees_which_instance(client, drive, user, region, status):
    instance = _instance(drive, region)
    login(client, user)
    assert client.get(f"/instances/{instance.id}").status_code == status
    assert client.get(f"/instances/{instance.id}/diagram.bpmn").status_code == status


def test_a_missing_instance_is_not_found(client, drive):
    login(client, "admin")
    assert client.get("/instances/9999").status_code == 404


def test_the_instance_list_shows_a_region_its_own_instance_only(client, drive):
    login(client, "gov-bj")
    page = client.get("/instances").text
    assert re.findall(r'href="/instances/(\d+)"', page) == [str(_instance(drive, BEIJING).id)]


def test_done_current_and_overdue_steps_are_marked(client, drive, clock):
    drive.file_targets(BEIJING)
    instance = _instance(drive, BEIJING)
    login(client, "gov-bj")
    page = client.get(f"/instances/{instance.id}").text
    marks = _marks(page)
    assert marks["done"] == ["Task_filing_opinion", "Task_filing_review", "Task_target_filing"]
    assert marks["current"] == ["Task_self_evaluation"] and marks["overdue"] == []
    assert 'src="/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"' in page
    due = drive.ready("Task_self_evaluation", BEIJING)[0].due_at
    clock.set(due + timedelta(days=1))
    login(client, "gov-bj")
    assert _marks(client.get(f"/instances/{instance.id}").text)["overdue"] == ["Task_self_evaluation"]


def test_the_diagram_is_the_versions_bpmn(client, drive):
    login(client, "gov-bj")
    response = client.get(f"/instances/{_instance(drive, BEIJING).id}/diagram.bpmn")
    assert response.mimetype == "application/xml"
    assert 'id="national_region"' in response.text and "bpmndi:BPMNDiagram" in response.text


def test_the_timeline_and_submissions(client, drive):
    drive.file_targets(BEIJING)
    login(client, "gov-bj")
    page = client.get(f"/instances/{_instance(drive, BEIJING).id}").text
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert "assessed · 办理 · 目标备案" in timeline and "lead_agency · 办理 · 备案审核" in timeline
    # names, not the machine's words, for an assessed government (issue 12)
    heading = page.split("<h1>")[1].split("</h1>")[0]
    assert "北京市 · 质量工作考核：省（区、市）考核" in heading
    visible = re.sub(r"<[^>]+>", " ", page.split("<main")[1])  # the text shown, not the diagram's attributes
    assert "Task_" not in visible and "national_region" not in visible


def test_a_member_unit_reads_only_its_own_opinion_and_scores(client, drive):
    drive.file_targets(BEIJING)
    drive.score(BEIJING, "88")
    login(client, "unit-moa")
    page = client.get(f"/instances/{_instance(drive, BEIJING).id}").text
    assert 'id="data"' not in page and 'id="score"' not in page  # no raw data; no total before the announcement
    submissions = page.split("<h2>已提交材料</h2>")[1].split("<h2>")[0]
    steps = re.findall(r'data-step="([^"]+)"', submissions)
    assert steps.count("Task_indicator_scoring") == 1 and steps.count("Task_filing_opinion") == 1  # moa's own
    assert {"Task_target_filing", "Task_self_evaluation", "Task_onsite_check"} <= set(steps)


def test_submitted_text_is_shown_escaped(client, drive):
    drive.do("Task_target_filing", region=BEIJING)
    for task in drive.ready("Task_filing_opinion", BEIJING):
        drive.do("Task_filing_opinion", region=BEIJING, unit=task.unit)
    drive.do("Task_filing_review", {"filing_decision": "accept", "comment": '<script>alert("x")</script>'},
             region=BEIJING)
    for user in ("gov-bj", "lead_agency"):  # in a submission; in the data panel
        login(client, user)
        page = client.get(f"/instances/{_instance(drive, BEIJING).id}").text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_signed_in_pages_are_not_cached(client, drive):
    login(client, "gov-bj")
    response = client.get(f"/instances/{_instance(drive, BEIJING).id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
