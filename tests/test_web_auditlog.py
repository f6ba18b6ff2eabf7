"""The audit log page (issue 12, item 12): administrators filter it by who, what, when and campaign, page through
it, export it as CSV or Excel with the same filters (the export itself audited), and check its chain."""

from __future__ import annotations

import csv
import io
import re

import pytest
from drive import Driver
from openpyxl import load_workbook
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, login, post, set_passwords

from engine.store.models import AuditEntry


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    drive.file_targets(BEIJING)
    set_passwords(engine)
    return drive


def test_only_administrators_read_the_log(client, drive):
    for user in ("lead_agency", "member_unit"):
        login(client, user)
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit/export.csv").status_code == 403
    login(client, "admin")
    page = client.get("/admin/audit").text
    assert 'id="audit"' in page and "admin-nav" in page


def test_filters_by_actor_action_and_campaign_and_names_the_actions(client, engine, drive):
    other = engine.start_campaign("ziyang-2016", 2025)
    login(client, "admin")
    page = client.get("/admin/audit", query_string={"actor": "assessed", "action": "complete"}).text
    rows = page.split('id="audit"')[1].split("</table>")[0]
    assert rows.count('data-action="complete"') == 1 and "<td>办理</td>" in rows
    assert 'data-action="claim"' not in rows and 'data-action="campaign_start"' not in rows
    mine = client.get("/admin/audit", query_string={"campaign": drive.campaign.id}).text.split('id="audit"')[1]
    assert 'data-action="campaign_start"' in mine and f"#{drive.campaign.id}" not in mine.split("<tr")[0]
    theirs = client.get("/admin/audit", query_string={"campaign": other.id}).text.split('id="audit"')[1]
    assert theirs.count('data-action="campaign_start"') == 1 and 'data-action="complete"' not in theirs
    # A date that is not one is said above the form, and the page still answers
    bad = client.get("/admin/audit", query_string={"from": "30/06/2025"})
    assert bad.status_code == 200 and 'id="audit-problem"' in bad.text and "YYYY-MM-DD" in bad.text


def test_pages_through_the_log_newest_first(client, engine, drive):
    from engine.records import audit

    with engine.store.write() as session:
        for n in range(120):
            audit.record(session, engine.clock.now(), f"clerk{n}", "login")
    login(client, "admin")
    first = client.get("/admin/audit").text
    ids = [int(x) for x in re.findall(r'<tr data-action="[a-z_]+"><td>(\d+)</td>', first)]
    assert len(ids) == 100 and ids == sorted(ids, reverse=True) and 'id="older"' in first
    older = first.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).text
    more = [int(x) for x in re.findall(r'<tr data-action="[a-z_]+"><td>(\d+)</td>', second)]
    assert more and max(more) < min(ids)


def test_exports_what_is_filtered_and_records_who_exported(client, engine, drive):
    with engine.store.write() as session:  # a hostile actor name must stay text in a spreadsheet
        from engine.records import audit
        audit.record(session, engine.clock.now(), "=HYPERLINK(\"http://x\")", "login_failed")
    login(client, "admin")
    answer = client.get("/admin/audit/export.csv", query_string={"action": ["complete", "login_failed"]})
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0][0].startswith("序号") and {r[3] for r in rows[1:]} == {"办理", "登录失败"}
    assert [r[2] for r in rows[1:] if "HYPERLINK" in r[2]] == ["'=HYPERLINK(\"http://x\")"]  # text, not a formula
    book = load_workbook(io.BytesIO(client.get("/admin/audit/export.xlsx").data))
    sheet = book.active
    hostile = [c for c in sheet["C"] if c.value and "HYPERLINK" in str(c.value)]
    assert hostile and hostile[0].data_type == "s"
    with engine.store.read() as session:
        exports = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "audit_export")))
    assert [(e.actor, e.data["format"]) for e in exports] == [("admin", "csv"), ("admin", "xlsx")]


def test_checking_the_chain_names_a_broken_entry(client, engine, drive):
    login(client, "admin")
    assert "审计日志完好" in post(client, "/admin/audit/verify", follow_redirects=True).text
    from test_audit import _raw  # as someone with the database file would, triggers out of the way

    _raw(engine.store, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    page = post(client, "/admin/audit/verify", follow_redirects=True).text
    assert "审计日志在第 #2 条断开" in page
