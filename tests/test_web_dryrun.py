"""The dry run of a draft in the web app and the API: the form, the report, past runs, refusals, permissions."""

from __future__ import annotations

import re
from concurrent.futures import Future

import pytest
from sqlalchemy import func, select
from web_fixtures import login, post, set_passwords

from engine.people import signin
from engine.procedure import drafts, versions
from engine.running import dryrun_runs
from engine.store.models import Campaign, DryRun, InboxTask, Instance, Mail, Notification, ProcessVersion, Region, User
from web.dryrun import QUEUE

YANJIANG, ANYUE, LEZHI, JIANYANG = "512002", "512021", "512022", "512081"
GAP = ("85 &lt;= ? &lt; 95", "92 &lt;= ? &lt; 95")  # 资阳's b band from 92: 85 to 92 gets no grade


@pytest.fixture
def draft_id(engine) -> int:
    with engine.store.write() as db:
        made = drafts.create(db, versions.current_version(db, "ziyang-2016"), "admin", engine.clock.now())
        db.flush()
        return made.id


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


def finish_runs(app) -> None:
    """Wait for the runs handed to the worker: it takes them one at a time, in order."""
    app.extensions["dry_runs"].submit(lambda: None).result(timeout=120)


def with_gap(engine, draft_id: int) -> None:
    with engine.store.write() as db:
        draft = drafts.get(db, draft_id)
        drafts.save_file(db, draft, "grade.dmn", draft.files["grade.dmn"].replace(*GAP), draft.revision, "admin",
                         engine.clock.now())


def stored_runs(engine, draft_id: int) -> list[DryRun]:
    with engine.store.read() as db:
        return dryrun_runs.runs(db, draft_id)


def test_the_draft_page_links_to_the_dry_run_and_its_form_names_every_region(admin, draft_id):
    page = admin.get(f"/admin/procedures/drafts/{draft_id}")
    assert f'href="/admin/procedures/drafts/{draft_id}/dry-run"' in page.text
    form = admin.get(f"/admin/procedures/drafts/{draft_id}/dry-run")
    assert form.status_code == 200 and 'id="dry-run-form"' in form.text
    for name in ("雁江区", "安岳县", "乐至县", "简阳市"):
        assert f">{name}</label>" in form.text
    assert "发生区域性、系统性工程质量安全事件" in form.text  # veto items by name
    assert 'name="decision-rectification_verdict-512021"' in form.text and "整改不到位" in form.text
    assert "No dry run yet." in form.text or "尚无试运行" in form.text


def test_a_county_fixed_at_91_5_gets_grade_b_on_the_report_page(admin, app, engine, draft_id):
    response = post(admin, f"/admin/procedures/drafts/{draft_id}/dry-run", {
        "year": "2025", "seed": "2", "regions": [YANJIANG, ANYUE, LEZHI, JIANYANG],
        f"score-{ANYUE}": "91.5", f"veto-{LEZHI}": "V1", f"decision-rectification_verdict-{LEZHI}": "inadequate"})
    assert response.status_code == 302
    run_url = response.headers["Location"]
    assert re.search(rf"/admin/procedures/drafts/{draft_id}/dry-run/\d+$", run_url)
    finish_runs(app)
    page = admin.get(run_url)
    assert page.status_code == 200 and 'data-status="done"' in page.text
    anyue = re.search(rf'<tr data-region="{ANYUE}".*?</tr>', page.text, re.S).group(0)
    assert '<td class="score">91.5</td>' in anyue and '<td class="grade">b</td>' in anyue
    lezhi = re.search(rf'<tr data-region="{LEZHI}".*?</tr>', page.text, re.S).group(0)
    assert '<td class="grade">d</td>' in lezhi and "发生区域性、系统性产品质量安全事件" in lezhi
    assert re.search(r'class="rectification-due"><span title="整改报告截止 [^"]+">20\d\d-\d\d-\d\d<', lezhi)
    assert "约谈" in lezhi  # the fixed verdict: rectification fell short
    assert 'id="grade-chart"' in page.text
    steps = re.search(r'<table id="steps">.*?</table>', page.text, re.S).group(0)
    assert '<td class="due">2025-03-31</td>' in steps and "第八条（一）每年年初" in steps
    assert '<td class="due">2025-12-31</td>' in steps and "第八条（二）年末" in steps
    assert 'id="dry-runs"' in page.text and f'data-run="{run_url.rsplit("/", 1)[1]}"' in page.text


def _counts(engine) -> dict:
    with engine.store.read() as db:
        return {model.__name__: db.scalar(select(func.count()).select_from(model))
                for model in (ProcessVersion, Campaign, Instance, InboxTask, Mail, Notification, Region, User)}


def test_no_region_ticked_runs_them_all_and_the_real_database_is_untouched(admin, app, engine, draft_id):
    before = _counts(engine)
    response = post(admin, f"/admin/procedures/drafts/{draft_id}/dry-run", {"year": "2024"})
    assert response.status_code == 302
    finish_runs(app)
    [run] = stored_runs(engine, draft_id)
    assert run.request["regions"] == [YANJIANG, ANYUE, LEZHI, JIANYANG] and run.status == "done"
    assert len(run.report["outcomes"]) == 4 and run.report["reminders"]  # reminders were sent, in the scratch run
    assert _counts(engine) == before  # no version, campaign, task, mail or notice of the run in the real one


def test_a_run_under_way_says_so_and_reloads(admin, engine, draft_id):
    asked = {"year": 2025, "regions": [ANYUE], "fixed": [], "seed": 1}
    with engine.store.write() as db:  # recorded, never handed to the worker: as seen while it runs
        run = DryRun(draft_id=draft_id, draft_revision=1, year=2025, request=asked, status="running",
                     started_by="admin", started_at=engine.clock.now(),
                     report={"progress": {"at": "2025-12-24T10:00:00+08:00", "events": 57}})
        db.add(run)
        db.flush()
        run_id = run.id
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/dry-run/{run_id}")
    assert 'id="run-waiting"' in page.text and '<meta http-equiv="refresh" content="2">' in page.text
    assert re.search(r'id="run-progress">[^<]*2025-12-24[^<]*57', page.text)
    engine.clock.advance(minutes=11)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/dry-run/{run_id}")
    assert 'data-status="interrupted"' in page.text and "refresh" not in page.text


def test_a_draft_with_a_gap_in_its_grade_table_cannot_be_dry_run(admin, engine, draft_id):
    with_gap(engine, draft_id)
    page = admin.get(f"/admin/procedures/drafts/{draft_id}/dry-run")
    assert 'id="dry-run-refused"' in page.text and 'id="dry-run-form"' not in page.text
    assert re.search(r'<li class="finding error" data-file="grade.dmn"', page.text)
    response = post(admin, f"/admin/procedures/drafts/{draft_id}/dry-run",
                    {"year": "2025", "regions": [ANYUE], f"score-{ANYUE}": "91.5"})
    assert response.status_code == 400 and 'id="dry-run-refused"' in response.text
    assert stored_runs(engine, draft_id) == []


@pytest.mark.parametrize(("fields", "words"), [
    ({"year": "1900"}, "考核年度应为"),
    ({"year": "2025", f"score-{ANYUE}": "101"}, "得分应为 0 至 100"),
    ({"year": "2025", f"score-{ANYUE}": "abc"}, "得分应为 0 至 100"),
    ({"year": "2025", f"decision-filing_decision-{ANYUE}": "approve-all"}, "不是该流程的选项"),
    ({"year": "2025", "regions": ["999999"]}, "regions.yaml 中没有这些地区"),
])
def test_bad_settings_are_refused_and_nothing_is_stored(admin, engine, draft_id, fields, words):
    response = post(admin, f"/admin/procedures/drafts/{draft_id}/dry-run", {"regions": [ANYUE], **fields})
    assert response.status_code == 400 and 'id="dry-run-errors"' in response.text and words in response.text
    assert stored_runs(engine, draft_id) == []
    assert 'id="dry-run-form"' in response.text  # the form again, with what was typed
    if f"score-{ANYUE}" in fields:
        assert f'name="score-{ANYUE}" inputmode="decimal" size="7" value="{fields[f"score-{ANYUE}"]}"' in response.text


def test_the_lead_agency_reads_runs_but_only_an_administrator_starts_one(client, app, engine, draft_id):
    set_passwords(engine)
    login(client, "lead_agency")
    page = client.get(f"/admin/procedures/drafts/{draft_id}/dry-run")
    assert page.status_code == 200 and 'id="dry-run-form"' not in page.text
    refused = post(client, f"/admin/procedures/drafts/{draft_id}/dry-run", {"year": "2025", "regions": [ANYUE]})
    assert refused.status_code == 403 and stored_runs(engine, draft_id) == []
    region = app.test_client()
    login(region, "assessed")
    assert region.get(f"/admin/procedures/drafts/{draft_id}/dry-run").status_code == 403


def test_the_api_starts_a_run_lists_runs_and_reads_the_report(client, app, engine, draft_id):
    url = f"/api/v1/procedures/drafts/{draft_id}/dry-runs"
    body = {"year": 2025, "regions": [ANYUE, LEZHI], "fixed": [{"region": ANYUE, "score": 91.5},
                                                             {"region": LEZHI, "veto": ["V2"]}]}
    started = client.post(url, json=body, headers=bearer(engine, "admin"))
    assert started.status_code == 202, started.text
    assert started.json["status"] == "running" and started.json["year"] == 2025
    assert started.headers["Location"] == f"{url}/{started.json['id']}"
    finish_runs(app)
    listed = client.get(url, headers=bearer(engine, "lead_agency"))
    assert [r["id"] for r in listed.json["runs"]] == [started.json["id"]] and "report" not in listed.json["runs"][0]
    run = client.get(started.headers["Location"], headers=bearer(engine, "admin")).json
    assert run["status"] == "done"
    assert run["request"]["fixed"] == [{"region": ANYUE, "score": "91.5", "veto": None, "decisions": {}},
                                       {"region": LEZHI, "score": None, "veto": ["V2"], "decisions": {}}]
    grades = {o["region"]: (o["score"], o["grade"]) for o in run["report"]["outcomes"]}
    assert grades[ANYUE] == ("91.5", "b") and grades[LEZHI][1] == "d"
    lezhi = next(o for o in run["report"]["outcomes"] if o["region"] == LEZHI)
    assert lezhi["rectification_due"] and lezhi["must_rectify"]
    assert {"steps", "timeline", "reminders", "escalations", "distribution"} <= set(run["report"])


@pytest.mark.parametrize(("who", "body", "status", "error"), [
    ("lead_agency", {"year": 2025}, 403, "forbidden"),
    ("admin", {"year": 2025, "fixed": [{"region": ANYUE, "score": 200}]}, 400, "invalid_data"),
    ("admin", ["not", "an", "object"], 400, "invalid_data"),
])
def test_the_api_refuses_and_stores_nothing(client, engine, draft_id, who, body, status, error):
    response = client.post(f"/api/v1/procedures/drafts/{draft_id}/dry-runs", json=body, headers=bearer(engine, who))
    assert response.status_code == status and response.json["error"] == error
    assert stored_runs(engine, draft_id) == []


def test_the_api_lists_what_a_run_can_fix(client, engine, draft_id):
    options = client.get(f"/api/v1/procedures/drafts/{draft_id}/dry-runs/options", headers=bearer(engine, "admin"))
    assert options.status_code == 200
    assert [r["name"] for r in options.json["regions"]] == ["雁江区", "安岳县", "乐至县", "简阳市"]
    assert [v["code"] for v in options.json["veto"]] == ["V1", "V2", "V3", "V4"]
    assert "rectification_verdict" in [d["field"] for d in options.json["decisions"]]
    assert client.get(f"/api/v1/procedures/drafts/{draft_id}/dry-runs/options",
                      headers=bearer(engine, "assessed")).status_code == 403


def test_the_api_says_why_a_draft_with_errors_cannot_run(client, engine, draft_id):
    with_gap(engine, draft_id)
    refused = client.get(f"/api/v1/procedures/drafts/{draft_id}/dry-runs/options", headers=bearer(engine, "admin"))
    assert refused.status_code == 400 and refused.json["error"] == "dry_run_refused"
    response = client.post(f"/api/v1/procedures/drafts/{draft_id}/dry-runs", json={"year": 2025},
                           headers=bearer(engine, "admin"))
    assert response.status_code == 400 and response.json["error"] == "dry_run_refused"
    assert any(e["file"] == "grade.dmn" and e["severity"] == "error" for e in response.json["errors"])
    assert stored_runs(engine, draft_id) == []


def test_the_last_five_runs_are_listed(client, app, engine, draft_id):
    url = f"/api/v1/procedures/drafts/{draft_id}/dry-runs"
    started = []
    for n in range(6):
        started.append(client.post(url, json={"year": 2019 + n, "regions": [ANYUE]},
                                   headers=bearer(engine, "admin")).json["id"])
        finish_runs(app)
    listed = client.get(url, headers=bearer(engine, "admin")).json["runs"]
    assert [r["id"] for r in listed] == started[:0:-1]  # the first one is gone
    assert [r["year"] for r in listed] == [2024, 2023, 2022, 2021, 2020]
    assert all(r["status"] == "done" for r in listed)
    assert client.get(f"{url}/{started[0]}", headers=bearer(engine, "admin")).status_code == 404


def test_the_openapi_document_describes_the_dry_runs(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    runs = doc["paths"]["/procedures/drafts/{draft_id}/dry-runs"]
    assert "202" in runs["post"]["responses"] and "get" in runs
    assert {"/procedures/drafts/{draft_id}/dry-runs/{run_id}",
            "/procedures/drafts/{draft_id}/dry-runs/options"} <= set(doc["paths"])


def test_a_full_queue_refuses_another_run_and_stores_nothing(client, app, engine, draft_id):
    app.extensions["dry_run_pending"] = [Future() for _ in range(QUEUE)]  # four runs waiting
    response = client.post(f"/api/v1/procedures/drafts/{draft_id}/dry-runs", json={"year": 2025},
                           headers=bearer(engine, "admin"))
    assert response.status_code == 409 and "排队" in response.json["message"]
    assert stored_runs(engine, draft_id) == []
