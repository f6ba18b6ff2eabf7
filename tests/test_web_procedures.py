"""The procedure library in the web app and the API: drafts, files, uploads, publish, make current, permissions."""

from __future__ import annotations

import io
import re

import pytest
from web_fixtures import add_web_user, csrf, login, post, set_passwords

from engine import signin
from engine.accounts import Grant
from engine.procedure import drafts
from engine.store.models import ProcedureDraft, ProcessVersion

GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")  # 资阳's b band starting at 86: no grade for 85 to 86


@pytest.fixture
def admin(client, engine):
    set_passwords(engine)
    login(client, "admin")
    return client


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


def current(engine, variant: str) -> ProcessVersion:
    with engine.store.read() as db:
        return db.query(ProcessVersion).filter_by(variant=variant, is_current=True).one()


def new_draft(client, engine, variant="ziyang-2016", **form) -> int:
    response = post(client, "/admin/procedures/drafts", {"version_id": current(engine, variant).id, **form})
    assert response.status_code == 302, response.text
    return int(re.search(r"/drafts/(\d+)$", response.headers["Location"]).group(1))


def draft_row(engine, draft_id: int) -> ProcedureDraft:
    with engine.store.read() as db:
        return drafts.get(db, draft_id)


def upload(client, draft_id: int, name: str, data: bytes, revision: int):
    return client.post(f"/admin/procedures/drafts/{draft_id}/upload", data={
        "csrf_token": csrf(client), "revision": str(revision), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data")


def test_the_library_lists_each_variant_with_its_versions_and_usage(admin, engine):
    engine.start_campaign("ziyang-2016", 2025, actor="admin")
    page = admin.get("/admin/procedures")
    assert page.status_code == 200
    text = page.text
    assert 'id="variant-national-2013"' in text and 'id="variant-ziyang-2016"' in text
    ziyang = text[text.index('id="variant-ziyang-2016"'):]
    assert "资阳市质量工作考核" in ziyang and "national-2013" in ziyang  # its parent, the national template
    row = re.search(r'<tr data-version="1" class="current">(.*?)</tr>', ziyang, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[5] == "1" and int(cells[6]) > 1  # one campaign; its instances run on version 1


def test_a_draft_copies_every_file_of_a_version_and_shows_its_problems(admin, engine):
    draft_id = new_draft(admin, engine, comment="调整等级")
    row = draft_row(engine, draft_id)
    assert row.files == current(engine, "ziyang-2016").files and row.owner == "admin" and row.comment == "调整等级"
    page = admin.get(f"/admin/procedures/drafts/{draft_id}")
    assert page.status_code == 200 and 'id="no-findings"' in page.text and 'id="draft-tools"' in page.text
    assert "grade.dmn" in page.text and "调整等级" in page.text


def test_the_file_api_saves_with_the_revision_read_and_refuses_a_stale_copy(admin, engine):
    draft_id = new_draft(admin, engine)
    add_web_user(engine, "admin2", Grant("admin"))
    url = f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn"
    got = admin.get(url)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"' and "<definitions" in got.text
    gap = got.text.replace(*GAP)
    saved = admin.put(url, data=gap.encode(), headers={"If-Match": "1", "X-CSRF-Token": csrf(admin)})
    assert saved.status_code == 200, saved.text
    body = saved.get_json()
    assert body["revision"] == 2 and any("85" in p["reason"] and p["file"] == "grade.dmn" for p in body["problems"])
    stale = admin.put(url, data=got.text.encode(), headers={"If-Match": "1", **bearer(engine, "admin2")})
    assert stale.status_code == 409
    refused = stale.get_json()
    assert refused["error"] == "stale_draft" and refused["saved_by"] == "admin" and refused["revision"] == 2
    assert "admin" in refused["message"] and "2025-06-02 09:00" in refused["message"]
    assert draft_row(engine, draft_id).files["grade.dmn"] == gap  # the stale copy stored nothing
