"""Who reads what one task wrote (engine/access.py), through every page and API answer that shows it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from drive import FORMS, Driver, veto_rows
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, set_passwords

from engine.people import signin
from engine.people.access import Viewer, Work
from engine.people.accounts import Grant
from engine.records import files
from engine.store.models import AuditEntry

SECRET_BASIS = "AQSIQ-CONFIDENTIAL-BASIS"
SECRET_OPINION = "AQSIQ-CONFIDENTIAL-OPINION"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "unit-aqsiq", Grant("member_unit", unit="aqsiq"))
    add_web_user(engine, "unit-ndrc", Grant("member_unit", unit="ndrc"))
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    set_passwords(engine)
    return drive


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


def _as(drive, username: str, bpmn_id: str, data: dict, unit: str | None = None, region: str = BEIJING):
    """Complete the one ready task as ``username`` (a real account, not the driver's role-named one)."""
    [task] = [t for t in drive.ready(bpmn_id, region) if unit is None or t.unit == unit]
    return drive.engine.complete(task.id, data, username)


def _aqsiq_opinion(drive):
    _as(drive, "gov-bj", "Task_target_filing", FORMS["Task_target_filing"](drive))
    _as(drive, "unit-aqsiq", "Task_filing_opinion", {"opinion": "revise", "comment": SECRET_OPINION}, "aqsiq")


def _aqsiq_scores(drive):
    _aqsiq_opinion(drive)
    for task in drive.ready("Task_filing_opinion", BEIJING):
        drive.do("Task_filing_opinion", region=BEIJING, unit=task.unit)
    drive.do("Task_filing_review", {"filing_decision": "accept", "comment": "予以备案"}, region=BEIJING)
    _as(drive, "gov-bj", "Task_self_evaluation", FORMS["Task_self_evaluation"](drive) | {"evidence": []})
    drive.do("Task_onsite_check", region=BEIJING)
    scores = [{"indicator": i["code"], "score": float(i["points"]), "basis": SECRET_BASIS}
              for i in drive.scheme["indicators"] if i["unit"] == "aqsiq"]
    _as(drive, "unit-aqsiq", "Task_indicator_scoring", {"scores": scores}, "aqsiq")


def _instance_id(drive, region=BEIJING) -> int:
    return next(i.id for i in drive.engine.campaign_instances(drive.campaign.id) if i.region == region)


def _page(client, username: str, url: str) -> str:
    login(client, username)
    response = client.get(url)
    assert response.status_code == 200
    return response.text


# -- the leak of issue 8, item 1 -------------------------------------------------------------------
def test_a_member_unit_does_not_read_another_units_scores_by_api(client, engine, drive):
    _aqsiq_scores(drive)
    response = client.get(f"/api/v1/instances/{_instance_id(drive)}", headers=bearer(engine, "unit-ndrc"))
    assert response.status_code == 200
    assert SECRET_BASIS not in response.text and "unit_result" not in response.text
    assert '"aqsiq"' not in response.text


def test_a_member_unit_does_not_read_another_units_scores_on_the_instance_page(client, drive):
    _aqsiq_scores(drive)
    page = _page(client, "unit-ndrc", f"/instances/{_instance_id(drive)}")
    assert SECRET_BASIS not in page and "unit_result" not in page and SECRET_OPINION not in page


def test_a_member_unit_does_not_read_another_units_opinion(client, engine, drive):
    _aqsiq_opinion(drive)
    instance = _instance_id(drive)
    body = client.get(f"/api/v1/instances/{instance}", headers=bearer(engine, "unit-ndrc")).text
    assert SECRET_OPINION not in body and '"revise"' not in body
    page = _page(client, "unit-ndrc", f"/instances/{instance}")
    assert SECRET_OPINION not in page
    [own] = [t for t in drive.ready("Task_filing_opinion", BEIJING) if t.unit == "ndrc"]
    task_page = client.get(f"/tasks/{own.id}").text  # the task page lists earlier submissions
    assert SECRET_OPINION not in task_page


def test_a_member_unit_does_not_read_another_units_submitted_task_page(client, engine, drive):
    _aqsiq_scores(drive)
    with engine.store.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.actor == "unit-aqsiq",
                                                         AuditEntry.bpmn_id == "Task_indicator_scoring")).one()
    for username, status in (("unit-ndrc", 403), ("gov-bj", 403), ("unit-aqsiq", 200), ("lead_agency", 200)):
        login(client, username)
        response = client.get(f"/tasks/{entry.task_id}")
        assert response.status_code == status, username
        assert (SECRET_BASIS in response.text) == (status == 200), username


def test_a_file_uploaded_on_another_units_task_is_that_units(app, engine, drive, tmp_path):
    _aqsiq_opinion(drive)
    [task] = [t for t in drive.ready("Task_filing_opinion", BEIJING) if t.unit == "mofcom"]
    add_web_user(engine, "unit-mofcom", Grant("member_unit", unit="mofcom"))
    set_passwords(engine)
    row = files.save(engine.store, Path(app.config["UPLOAD_FOLDER"]), engine.clock.now(), task.instance_id,
                     task.id, "unit-mofcom", "商务部意见.pdf", PDF)
    url = f"/instances/{task.instance_id}/files/{row.sha256}"
    for username, status in (("unit-ndrc", 404), ("gov-bj", 404), ("unit-mofcom", 200), ("lead_agency", 200)):
        client = app.test_client()
        page = _page(client, username, f"/instances/{task.instance_id}")
        assert (row.sha256[:16] in page) == (status == 200), username
        with client.get(url) as response:
            assert response.status_code == status, username
        body = client.get(f"/api/v1/instances/{task.instance_id}", headers=bearer(engine, username)).get_json()
        assert [f["sha256"] for f in body["files"]] == ([row.sha256] if status == 200 else []), username


def test_a_draft_upload_is_read_by_others_once_submitted(app, engine, drive):
    _as(drive, "gov-bj", "Task_target_filing", FORMS["Task_target_filing"](drive))
    for task in drive.ready("Task_filing_opinion", BEIJING):
        drive.do("Task_filing_opinion", region=BEIJING, unit=task.unit)
    drive.do("Task_filing_review", {"filing_decision": "accept", "comment": "予以备案"}, region=BEIJING)
    [task] = drive.ready("Task_self_evaluation", BEIJING)
    row = files.save(engine.store, Path(app.config["UPLOAD_FOLDER"]), engine.clock.now(), task.instance_id,
                     task.id, "gov-bj", "自评.pdf", PDF)
    url = f"/instances/{task.instance_id}/files/{row.sha256}"
    client = app.test_client()
    login(client, "unit-ndrc")
    with client.get(url) as response:
        assert response.status_code == 404  # a draft's file is its writer's until the task is submitted
    _as(drive, "gov-bj", "Task_self_evaluation", FORMS["Task_self_evaluation"](drive)
        | {"evidence": [{"name": "自评.pdf", "sha256": row.sha256}]})
    with client.get(url) as response:
        assert response.status_code == 200 and response.data == PDF


# -- what each role still reads ----------------------------------------------------------------------
def test_the_lead_agency_reads_everything(client, engine, drive):
    _aqsiq_scores(drive)
    instance = _instance_id(drive)
    body = client.get(f"/api/v1/instances/{instance}", headers=bearer(engine, "lead_agency")).get_json()
    assert body["data"]["unit_result"]["unit"] == "aqsiq"
    assert SECRET_OPINION in json.dumps(body["submissions"]) and SECRET_BASIS in json.dumps(body["submissions"])
    page = _page(client, "lead_agency", f"/instances/{instance}")
    assert 'id="data"' in page and SECRET_BASIS in html.unescape(page) and SECRET_OPINION in page


def test_a_member_unit_reads_its_own_units_work_and_the_regions_filings(client, engine, drive):
    _aqsiq_scores(drive)
    add_web_user(engine, "unit-aqsiq-2", Grant("member_unit", unit="aqsiq"))  # a colleague in the same unit
    set_passwords(engine)
    body = client.get(f"/api/v1/instances/{_instance_id(drive)}", headers=bearer(engine, "unit-aqsiq-2")).get_json()
    steps = [(s["step"], s["unit"]) for s in body["submissions"]]
    assert ("Task_indicator_scoring", "aqsiq") in steps and ("Task_filing_opinion", "aqsiq") in steps
    assert {unit for _, unit in steps} == {None, "aqsiq"}  # no other unit's opinion
    assert {"Task_target_filing", "Task_self_evaluation", "Task_onsite_check", "Task_filing_review"} <= {
        step for step, _ in steps}
    assert SECRET_BASIS in json.dumps(body["submissions"]) and "data" not in body and body["result"] is None


def test_the_assessed_region_reads_its_filings_and_its_assessment_once_announced(client, engine, drive):
    _aqsiq_scores(drive)
    instance = _instance_id(drive)
    gov = bearer(engine, "gov-bj")
    body = client.get(f"/api/v1/instances/{instance}", headers=gov).get_json()
    assert {s["step"] for s in body["submissions"]} == {"Task_target_filing", "Task_filing_review",
                                                        "Task_self_evaluation"}
    assert "data" not in body and body["result"] is None
    for task in drive.ready("Task_indicator_scoring", BEIJING):
        scores = [{"indicator": i["code"], "score": float(i["points"]), "basis": "依据"}
                  for i in drive.scheme["indicators"] if i["unit"] == task.unit]
        drive.do("Task_indicator_scoring", {"scores": scores}, region=BEIJING, unit=task.unit)
    drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                         "veto_items": veto_rows(drive.scheme)},
             region=BEIJING)
    drive.file_targets(TIANJIN)
    drive.score(TIANJIN, "75")
    drive.do("Task_compile_results")
    drive.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    before = client.get(f"/api/v1/instances/{instance}", headers=gov).get_json()
    assert before["result"] is None and SECRET_BASIS not in json.dumps(before)  # approved, not yet announced
    drive.do("Task_notify_results")
    after = client.get(f"/api/v1/instances/{instance}", headers=gov).get_json()
    assert after["result"] == {"score": "100", "grade": "A", "veto": False, "veto_items": [], "rank": 1,
                               "consequences": {"commended": True, "must_rectify": False}}
    assert SECRET_BASIS in json.dumps(after["submissions"]) and SECRET_OPINION in json.dumps(after["submissions"])
    assert "data" not in after
    page = _page(client, "gov-bj", f"/instances/{instance}")
    assert '<strong id="score">100</strong>' in page and SECRET_BASIS in page
    ndrc = client.get(f"/api/v1/instances/{instance}", headers=bearer(engine, "unit-ndrc")).get_json()
    assert SECRET_BASIS not in json.dumps(ndrc) and ndrc["result"]["grade"] == "A"  # never another unit's


# -- the rule itself ---------------------------------------------------------------------------------
def _viewer(*grants: Grant, username: str = "someone") -> Viewer:
    return Viewer(1, username, username, grants)


AQSIQ_SCORES = Work("national-2013", "member_unit", BEIJING, "aqsiq", "unit-aqsiq")
FILING = Work("national-2013", "assessed", BEIJING, None, "gov-bj")
ONSITE = Work("national-2013", "assessment_group", BEIJING, None, "expert")
REVIEW = Work("national-2013", "lead_agency", BEIJING, None, "lead")
APPROVAL = Work("national-2013", "approver", None, None, "approver")
DRAFT_FILE = Work("national-2013", "assessed", BEIJING, None, "gov-bj", submitted=False)


#: (grant, work, read before the announcement, read after): the rule role by role (tests/test_bodies.py reads it
#: again with declared bodies in place of the roles).
READS = [
    (Grant("member_unit", unit="ndrc"), AQSIQ_SCORES, False, False),   # never another unit's
    (Grant("member_unit", unit="aqsiq"), AQSIQ_SCORES, True, True),    # its own unit's, whoever wrote it
    (Grant("member_unit", unit="aqsiq", region=TIANJIN), AQSIQ_SCORES, False, False),
    (Grant("member_unit"), AQSIQ_SCORES, True, True),                  # a grant for every unit
    (Grant("member_unit", unit="ndrc"), FILING, True, True),           # the region's filings
    (Grant("member_unit", unit="ndrc"), ONSITE, True, True),           # what it scores from
    (Grant("member_unit", unit="ndrc"), REVIEW, True, True),
    (Grant("member_unit", unit="ndrc"), DRAFT_FILE, False, False),
    (Grant("member_unit", unit="ndrc"), APPROVAL, False, True),        # the campaign's: once announced
    (Grant("assessed", region=BEIJING), AQSIQ_SCORES, False, True),    # its assessment: once announced
    (Grant("assessed", region=BEIJING), ONSITE, False, True),
    (Grant("assessed", region=BEIJING), FILING, True, True),
    (Grant("assessed", region=BEIJING), REVIEW, True, True),
    (Grant("assessed", region=TIANJIN), FILING, False, False),         # another region: nothing
    (Grant("assessed", region=TIANJIN), AQSIQ_SCORES, False, False),
    (Grant("assessed"), APPROVAL, False, False),                       # no campaign instance for regions
    (Grant("lead_agency"), AQSIQ_SCORES, True, True),
    (Grant("assessment_group"), DRAFT_FILE, True, True),
    (Grant("approver", variant="ziyang-2016"), AQSIQ_SCORES, False, False),  # another procedure
    (Grant("recipient"), FILING, False, False),
    (Grant("recipient"), APPROVAL, False, False),
]


@pytest.mark.parametrize(("grant", "work", "before", "after"), READS)
def test_who_reads_what_a_task_wrote(grant, work, before, after):
    who = _viewer(grant)
    assert (who.reads(work, announced=False), who.reads(work, announced=True)) == (before, after)


def test_the_writer_reads_what_they_wrote_and_nobody_reads_an_unknown_task():
    assert _viewer(Grant("member_unit", unit="ndrc"), username="unit-aqsiq").reads(AQSIQ_SCORES, False)
    unknown = Work("national-2013", None, BEIJING, None, "someone-else")
    assert not _viewer(Grant("member_unit", unit="aqsiq")).reads(unknown, True)
    assert not _viewer(Grant("assessed", region=BEIJING)).reads(unknown, True)
    assert _viewer(Grant("lead_agency")).reads(unknown, False)
