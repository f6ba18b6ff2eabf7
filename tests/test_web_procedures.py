"""The procedure library in the web app and the API: drafts, files, uploads, publish, make current, permissions."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from web_fixtures import add_web_user, csrf, login, post, set_passwords

from engine.people import signin
from engine.people.accounts import Grant
from engine.procedure import drafts
from engine.store.models import AuditEntry, ProcedureDraft, ProcessVersion

GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")  # 资阳's b band starting at 86: no grade for 85 to 86


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


def current(engine, variant: str) -> ProcessVersion:
    with engine.store.read() as db:
        return db.query(ProcessVersion).filter_by(variant=variant, is_current=True).one()


def new_draft(client, engine, base="ziyang-2016", **form) -> int:
    response = post(client, "/admin/procedures/drafts", {"version_id": current(engine, base).id, **form})
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
    assert page.status_code == 200 and 'data-errors="0"' in page.text and 'id="draft-tools"' in page.text
    assert "grade.dmn" in page.text and "调整等级" in page.text
    files_url = re.search(r'data-files-url="([^"]+)"', page.text).group(1)
    token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    assert files_url == f"/api/v1/procedures/drafts/{draft_id}/files/"
    saved = admin.put(files_url + "scheme.yaml", data=row.files["scheme.yaml"].encode() + b"\n# x\n",
                      headers={"If-Match": '"1"', "X-CSRF-Token": token})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2  # what an editor on the page does


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


def test_a_stale_upload_on_the_page_is_refused_naming_who_saved(admin, engine, app):
    draft_id = new_draft(admin, engine)
    grade = draft_row(engine, draft_id).files["grade.dmn"]
    add_web_user(engine, "admin2", Grant("admin"))
    other = app.test_client()
    login(other, "admin2")
    first = upload(other, draft_id, "grade.dmn", grade.replace(*GAP).encode(), 1)
    assert first.status_code == 302
    second = upload(admin, draft_id, "grade.dmn", grade.encode(), 1)
    assert second.status_code == 409 and "admin2" in second.text and "Traceback" not in second.text
    assert GAP[1] in draft_row(engine, draft_id).files["grade.dmn"]


def test_an_uploaded_grade_table_with_a_gap_is_reported_and_blocks_publishing(admin, engine):
    draft_id = new_draft(admin, engine)
    grade = draft_row(engine, draft_id).files["grade.dmn"]
    assert upload(admin, draft_id, "grade.dmn", grade.replace(*GAP).encode(), 1).status_code == 302
    page = admin.get(f"/admin/procedures/drafts/{draft_id}").text
    findings = page[page.index('id="findings"'):page.index("</section>", page.index('id="findings"'))]
    assert "grade.dmn" in findings and "85 至 86" in findings and 'id="publish-blocked"' in page
    refused = post(admin, f"/admin/procedures/drafts/{draft_id}/publish", {"comment": "有缺口"})
    assert refused.status_code == 400 and "85 至 86" in refused.text
    assert current(engine, "ziyang-2016").version == 1
    assert upload(admin, draft_id, "grade.dmn", grade.replace("a级：95分及以上", "a级：95分以上").encode(),
                  2).status_code == 302
    assert 'data-errors="0"' in admin.get(f"/admin/procedures/drafts/{draft_id}").text


def test_a_hostile_zip_upload_is_refused_and_nothing_stored(admin, engine):
    draft_id = new_draft(admin, engine)
    before = draft_row(engine, draft_id).files
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("bundle.yaml", "key: ziyang-2016\n")
        out.writestr("../../etc/cron.d/x.yaml", "evil")
    refused = upload(admin, draft_id, "bundle.zip", archive.getvalue(), 1)
    assert refused.status_code == 400 and "无效" in refused.text
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("bundle.yaml", "\n" * (2 * 1024 * 1024))
    assert upload(admin, draft_id, "bomb.zip", bomb.getvalue(), 1).status_code == 400
    row = draft_row(engine, draft_id)
    assert row.files == before and row.revision == 1


def test_publish_makes_a_new_current_version_and_a_running_campaign_stays_on_its_own(admin, engine):
    running = engine.start_campaign("ziyang-2016", 2024, actor="admin")
    draft_id = new_draft(admin, engine)
    grade = draft_row(engine, draft_id).files["grade.dmn"].replace("a级：95分及以上", "a级：95分以上")
    upload(admin, draft_id, "grade.dmn", grade.encode(), 1)
    assert post(admin, f"/admin/procedures/drafts/{draft_id}/publish", {"comment": ""}).status_code == 400
    published = post(admin, f"/admin/procedures/drafts/{draft_id}/publish", {"comment": "修订等级说明"})
    assert published.status_code == 302
    version = current(engine, "ziyang-2016")
    assert (version.version, version.comment, version.deployed_by) == (2, "修订等级说明", "admin")
    assert engine.start_campaign("ziyang-2016", 2025).version_id == version.id != running.version_id
    library = admin.get("/admin/procedures").text
    assert "修订等级说明" in library and f'<li data-draft="{draft_id}"' not in library  # published: no longer open
    assert "已发布" in admin.get(f"/admin/procedures/drafts/{draft_id}").text


def test_an_earlier_version_is_made_current_again_with_a_reason(admin, engine, tmp_path):
    from conftest import deploy_renamed_national

    deploy_renamed_national(engine, tmp_path)
    first = current(engine, "national-2013")
    assert first.version == 2
    with engine.store.read() as db:
        one = db.query(ProcessVersion).filter_by(variant="national-2013", version=1).one()
    assert post(admin, f"/admin/procedures/versions/{one.id}/current", {"reason": ""}).status_code == 400
    assert current(engine, "national-2013").id == first.id
    done = post(admin, f"/admin/procedures/versions/{one.id}/current", {"reason": "第2版名称有误"})
    assert done.status_code == 302 and current(engine, "national-2013").version == 1
    with engine.store.read() as db:
        entry = db.query(AuditEntry).filter_by(action="publish").order_by(AuditEntry.id.desc()).first()
    assert entry.actor == "admin" and entry.data["reason"] == "第2版名称有误" and entry.data["previous"] == 2


def test_files_and_the_whole_bundle_download(admin, engine):
    draft_id = new_draft(admin, engine)
    version = current(engine, "ziyang-2016")
    one = admin.get(f"/admin/procedures/drafts/{draft_id}/files/grade.dmn")
    assert one.status_code == 200 and one.text == version.files["grade.dmn"]
    assert "attachment" in one.headers["Content-Disposition"]
    whole = admin.get(f"/admin/procedures/drafts/{draft_id}.zip")
    assert whole.mimetype == "application/zip"
    assert drafts.unzip(whole.data) == version.files
    assert drafts.unzip(admin.get(f"/admin/procedures/versions/{version.id}.zip").data) == version.files
    assert admin.get(f"/admin/procedures/versions/{version.id}/files/scheme.yaml").text == version.files["scheme.yaml"]
    assert admin.get(f"/admin/procedures/drafts/{draft_id}/files/nothing.bpmn").status_code == 404


def test_a_file_is_edited_as_text_and_deleted(admin, engine):
    draft_id = new_draft(admin, engine)
    form = admin.get(f"/admin/procedures/drafts/{draft_id}/edit/scheme.yaml")
    assert form.status_code == 200 and 'name="revision" value="1"' in form.text
    text = draft_row(engine, draft_id).files["scheme.yaml"] + "\n# 备注\n"
    saved = post(admin, f"/admin/procedures/drafts/{draft_id}/edit/scheme.yaml", {"text": text, "revision": "1"})
    assert saved.status_code == 302 and draft_row(engine, draft_id).files["scheme.yaml"] == text
    stale = post(admin, f"/admin/procedures/drafts/{draft_id}/edit/scheme.yaml", {"text": "我的改动", "revision": "1"})
    assert stale.status_code == 409 and draft_row(engine, draft_id).files["scheme.yaml"] == text
    assert 'id="stale"' in stale.text and "admin" in stale.text and "我的改动</textarea>" in stale.text  # kept
    gone = post(admin, f"/admin/procedures/drafts/{draft_id}/delete-file", {"name": "regions.yaml", "revision": "2"})
    assert gone.status_code == 302 and "regions.yaml" not in draft_row(engine, draft_id).files


def test_a_new_variant_is_made_from_a_published_version(admin, engine):
    draft_id = new_draft(admin, engine, variant="meishan-2024", title="眉山市质量工作考核", comment="眉山")
    row = draft_row(engine, draft_id)
    assert (row.variant, row.parent_variant) == ("meishan-2024", "ziyang-2016")
    library = admin.get("/admin/procedures").text
    assert 'id="variant-meishan-2024"' in library and "尚未发布" in library
    taken = post(admin, "/admin/procedures/drafts", {"version_id": current(engine, "ziyang-2016").id,
                                                     "variant": "national-2013"})
    assert taken.status_code == 409


def test_a_draft_is_deleted(admin, engine):
    draft_id = new_draft(admin, engine)
    assert post(admin, f"/admin/procedures/drafts/{draft_id}/discard").status_code == 302
    assert admin.get(f"/admin/procedures/drafts/{draft_id}").status_code == 404


def test_the_lead_agency_reads_the_library_but_changes_nothing(client, engine, app):
    set_passwords(engine)
    admin = app.test_client()
    login(admin, "admin")
    draft_id = new_draft(admin, engine)
    login(client, "lead_agency")
    library = client.get("/admin/procedures")
    assert library.status_code == 200 and 'id="read-only"' in library.text and "new-draft" not in library.text
    page = client.get(f"/admin/procedures/drafts/{draft_id}")
    assert page.status_code == 200 and 'id="upload-form"' not in page.text and 'id="publish-form"' not in page.text
    assert client.get(f"/admin/procedures/drafts/{draft_id}/files/grade.dmn").status_code == 200
    for url, data in [("/admin/procedures/drafts", {"version_id": current(engine, "ziyang-2016").id}),
                      (f"/admin/procedures/drafts/{draft_id}/publish", {"comment": "x"}),
                      (f"/admin/procedures/drafts/{draft_id}/discard", {}),
                      (f"/admin/procedures/versions/{current(engine, 'ziyang-2016').id}/current", {"reason": "x"})]:
        assert post(client, url, data).status_code == 403, url
    assert upload(client, draft_id, "grade.dmn", b"x", 1).status_code == 403
    put = client.put(f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn", data=b"x",
                     headers={"If-Match": "1", "X-CSRF-Token": csrf(client)})
    assert put.status_code == 403 and draft_row(engine, draft_id).revision == 1


@pytest.mark.parametrize("user", ["assessed", "member_unit", "recipient"])
def test_others_do_not_see_the_library(client, engine, user):
    set_passwords(engine)
    login(client, user)
    assert client.get("/admin/procedures").status_code == 403
    assert client.get("/api/v1/procedures", headers=bearer(engine, user)).status_code == 403
    assert "考核办法库" not in client.get("/inbox").text


def test_the_file_api_needs_a_session_with_its_csrf_token_or_a_bearer_token(client, engine, admin):
    draft_id = new_draft(admin, engine)
    url = f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml"
    forged = admin.put(url, data=b"x", headers={"If-Match": "1"})
    assert forged.status_code == 400 and forged.is_json
    assert app_client_without_session(admin).get(url).status_code == 401
    assert admin.put(url, data=b"x", headers={"X-CSRF-Token": csrf(admin)}).status_code == 400  # no If-Match
    assert draft_row(engine, draft_id).revision == 1


def app_client_without_session(client):
    return client.application.test_client()


def test_the_api_lists_versions_and_makes_publishes_and_rolls_back_drafts(client, engine):
    admin = bearer(engine, "admin")
    listed = client.get("/api/v1/procedures", headers=admin).get_json()["procedures"]
    assert [p["variant"] for p in listed][:1] == ["national-2013"]
    ziyang = next(p for p in listed if p["variant"] == "ziyang-2016")
    assert ziyang["parent"] == "national-2013" and ziyang["current"] == 1 and ziyang["versions"][0]["campaigns"] == 0
    assert client.get("/api/v1/procedures/ziyang-2016/versions", headers=admin).get_json()["current"] == 1
    assert client.get("/api/v1/procedures/nowhere/versions", headers=admin).status_code == 404
    one = client.get("/api/v1/procedures/ziyang-2016/versions/1", headers=admin).get_json()
    assert "grade.dmn" in one["files"] and one["current"]
    assert client.get("/api/v1/procedures/ziyang-2016/versions/9", headers=admin).status_code == 404

    made = client.post("/api/v1/procedures/drafts", headers=admin, json={"variant": "ziyang-2016", "comment": "试"})
    assert made.status_code == 201
    draft_id = made.get_json()["id"]
    draft = client.get(f"/api/v1/procedures/drafts/{draft_id}", headers=admin).get_json()
    assert draft["revision"] == 1 and draft["files"]["grade.dmn"] == one["files"]["grade.dmn"]
    assert client.get(f"/api/v1/procedures/drafts/{draft_id}/check", headers=admin).get_json() == {
        "revision": 1, "problems": [], "publishable": True}

    gap = one["files"]["grade.dmn"].replace(*GAP)
    sent = client.post(f"/api/v1/procedures/drafts/{draft_id}/upload", headers={**admin, "If-Match": "1"},
                       data={"file": (io.BytesIO(gap.encode()), "grade.dmn")}, content_type="multipart/form-data")
    assert sent.status_code == 200 and sent.get_json()["revision"] == 2
    check = client.get(f"/api/v1/procedures/drafts/{draft_id}/check", headers=admin).get_json()
    assert not check["publishable"] and check["problems"][0]["file"] == "grade.dmn"
    refused = client.post(f"/api/v1/procedures/drafts/{draft_id}/publish", headers=admin, json={"comment": "有缺口"})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["file"] == "grade.dmn"

    fixed = gap.replace(GAP[1], GAP[0]).replace("a级：95分及以上", "a级：95分以上")
    saved = client.put(f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn", headers={**admin, "If-Match": '"2"'},
                       data=fixed.encode("utf-8"))
    assert saved.get_json() == {"revision": 3, "problems": []}
    published = client.post(f"/api/v1/procedures/drafts/{draft_id}/publish", headers=admin, json={"comment": "修订"})
    assert published.status_code == 201 and published.get_json()["version"] == 2
    assert current(engine, "ziyang-2016").version == 2

    back = client.post("/api/v1/procedures/ziyang-2016/versions/1/current", headers=admin, json={})
    assert back.status_code == 400
    back = client.post("/api/v1/procedures/ziyang-2016/versions/1/current", headers=admin, json={"reason": "回退"})
    assert back.get_json() == {"variant": "ziyang-2016", "current": 1, "previous": 2}
    assert current(engine, "ziyang-2016").version == 1


def test_the_api_downloads_deletes_files_and_drafts(client, engine):
    admin = bearer(engine, "admin")
    draft_id = client.post("/api/v1/procedures/drafts", headers=admin,
                           json={"variant": "ziyang-2016", "version": 1}).get_json()["id"]
    as_json = client.get(f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml",
                         headers={**admin, "Accept": "application/json"}).get_json()
    assert as_json["revision"] == 1 and as_json["name"] == "scheme.yaml" and as_json["text"]
    packed = client.get(f"/api/v1/procedures/drafts/{draft_id}/zip", headers=admin)
    assert "scheme.yaml" in drafts.unzip(packed.data)
    gone = client.delete(f"/api/v1/procedures/drafts/{draft_id}/files/regions.yaml", headers={**admin, "If-Match": "1"})
    assert gone.status_code == 200 and gone.get_json()["revision"] == 2
    stale = client.delete(f"/api/v1/procedures/drafts/{draft_id}/files/scheme.yaml", headers={**admin, "If-Match": "1"})
    assert stale.status_code == 409 and stale.get_json()["saved_by"] == "admin"
    assert client.delete(f"/api/v1/procedures/drafts/{draft_id}", headers=admin).status_code == 200
    assert client.get(f"/api/v1/procedures/drafts/{draft_id}", headers=admin).status_code == 404


def test_the_api_lets_the_lead_agency_read_and_only_administrators_change(client, engine):
    draft_id = client.post("/api/v1/procedures/drafts", headers=bearer(engine, "admin"),
                           json={"variant": "ziyang-2016"}).get_json()["id"]
    lead = bearer(engine, "lead_agency")
    assert client.get("/api/v1/procedures", headers=lead).status_code == 200
    assert client.get(f"/api/v1/procedures/drafts/{draft_id}/check", headers=lead).status_code == 200
    for method, url, kwargs in [
            ("post", "/api/v1/procedures/drafts", {"json": {"variant": "ziyang-2016"}}),
            ("put", f"/api/v1/procedures/drafts/{draft_id}/files/grade.dmn", {"data": b"x",
                                                                             "headers": {"If-Match": "1"}}),
            ("post", f"/api/v1/procedures/drafts/{draft_id}/publish", {"json": {"comment": "x"}}),
            ("post", "/api/v1/procedures/ziyang-2016/versions/1/current", {"json": {"reason": "x"}}),
            ("delete", f"/api/v1/procedures/drafts/{draft_id}", {})]:
        headers = {**lead, **kwargs.pop("headers", {})}
        response = getattr(client, method)(url, headers=headers, **kwargs)
        assert response.status_code == 403 and response.get_json()["error"] == "forbidden", url
    assert draft_row(engine, draft_id).revision == 1
    assert client.get("/api/v1/procedures").status_code == 401
    assert client.get("/api/v1/procedures", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_openapi_document_describes_the_library(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/procedures", "/procedures/drafts", "/procedures/drafts/{draft_id}/files/{name}",
            "/procedures/drafts/{draft_id}/publish", "/procedures/drafts/{draft_id}/check",
            "/procedures/{variant}/versions/{number}/current"} <= set(paths)
    assert paths["/procedures/drafts/{draft_id}/files/{name}"]["put"]["parameters"][2]["name"] == "If-Match"


def test_a_lead_agency_of_one_variant_reads_only_that_variants_library(client, engine):
    admin = bearer(engine, "admin")
    national = client.post("/api/v1/procedures/drafts", headers=admin, json={"variant": "national-2013"}).get_json()
    ziyang = client.post("/api/v1/procedures/drafts", headers=admin, json={"variant": "ziyang-2016"}).get_json()
    assert [d["id"] for d in client.get("/api/v1/procedures/drafts", headers=admin).get_json()["drafts"]] == [
        ziyang["id"], national["id"]]
    add_web_user(engine, "lead-ziyang", Grant("lead_agency", variant="ziyang-2016"))
    lead = bearer(engine, "lead-ziyang")
    listed = client.get("/api/v1/procedures", headers=lead).get_json()["procedures"]
    assert [p["variant"] for p in listed] == ["ziyang-2016"]
    assert [d["id"] for d in client.get("/api/v1/procedures/drafts", headers=lead).get_json()["drafts"]] == [
        ziyang["id"]]
    assert client.get(f"/api/v1/procedures/drafts/{ziyang['id']}", headers=lead).status_code == 200
    assert client.get(f"/api/v1/procedures/drafts/{national['id']}", headers=lead).status_code == 403
    assert client.get("/api/v1/procedures/national-2013/versions", headers=lead).status_code == 403
    login(client, "lead-ziyang")
    page = client.get("/admin/procedures").text
    assert 'id="variant-ziyang-2016"' in page and 'id="variant-national-2013"' not in page
    assert client.get(f"/admin/procedures/drafts/{national['id']}").status_code == 403
