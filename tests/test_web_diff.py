"""The diff page (/admin/procedures/diff) and its API (/api/v1/procedures/diff): who may compare, and what
they read. What the diff itself finds is tested in test_diff.py."""

from __future__ import annotations

import html
import re

import pytest
from conftest import LAB, deploy_renamed_national
from sqlalchemy import select
from web_fixtures import BEIJING, add_web_user, login, set_passwords

from engine.people import signin
from engine.people.accounts import Grant
from engine.procedure import drafts
from engine.store.models import ProcessVersion


def version_id(engine, variant: str, number: int = 1) -> int:
    with engine.store.read() as session:
        return session.scalars(select(ProcessVersion.id).where(ProcessVersion.variant == variant,
                                                               ProcessVersion.version == number)).one()


def visible(text: str) -> str:
    """A page's text as read: without tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def bearer(engine, username: str) -> dict:
    return {"Authorization": f"Bearer {signin.issue_token(engine.store, engine.clock.now(), username, 'test')}"}


@pytest.fixture
def ids(engine) -> dict[str, int]:
    return {"national": version_id(engine, "national-2013"), "ziyang": version_id(engine, "ziyang-2016")}


@pytest.fixture
def people(engine):
    set_passwords(engine)
    add_web_user(engine, "lead-national", Grant("lead_agency", variant="national-2013"))
    add_web_user(engine, "gov-bj", Grant("assessed", variant="national-2013", region=BEIJING))


def test_what_ziyang_changes_from_the_national_template_on_one_page(client, engine, ids, people):
    login(client, "admin")
    page = client.get(f"/admin/procedures/diff?from={ids['national']}&to={ids['ziyang']}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert ("质量工作考核（国办发〔2013〕47号） 第 1 版 (version 1) → "
            "资阳市质量工作考核（资府办发〔2016〕4号） 第 1 版") in visible(text)
    # Both diagrams, from the two versions, and the elements the table colours in them.
    assert f'data-src="/admin/procedures/diff/diagram?ref={ids["national"]}&file=assessment.bpmn"' in text
    assert f'data-src="/admin/procedures/diff/diagram?ref={ids["ziyang"]}&file=assessment.bpmn"' in text
    assert '{"element": "Task_onsite_check", "change": "removed"}' in text
    assert "/static/build/diff.js" in text
    # The table, section by section, with names.
    for words in ("流程图 (diagram)", "等级表 (decision tables)", "指标体系 (indicator scheme)", "期限 (deadlines)",
                  "泳道与角色 (lanes and roles)", "实地核查", "征求成员单位意见",
                  "<del>80 <= ? < 90</del><ins>85 <= ? < 95</ins>", "V2 发生区域性、系统性工程质量安全事件",
                  "<del>当年 6月30日 (06-30, year +0)</del>"):
        assert words in text, words
    xml = client.get(f"/admin/procedures/diff/diagram?ref={ids['ziyang']}&file=assessment.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and 'id="ziyang_region"' in xml.text


def test_the_page_offers_every_version_to_choose_from(client, engine, ids, people, tmp_path):
    deploy_renamed_national(engine, tmp_path)
    login(client, "admin")
    page = client.get("/admin/procedures/diff")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "national-2013 v1</option>" in text and "national-2013 v2（现行）</option>" in text
    assert "ziyang-2016 v1（现行）</option>" in text
    # A new version against the one before: one change, named.
    second = version_id(engine, "national-2013", 2)
    page = client.get(f"/admin/procedures/diff?from={ids['national']}&to={second}")
    text = html.unescape(page.text)
    assert "1 处不同" in visible(text)
    assert "<del>目标备案</del><ins>年度目标备案</ins>" in text


def test_a_version_against_itself(client, engine, ids, people):
    login(client, "admin")
    text = client.get(f"/admin/procedures/diff?from={ids['ziyang']}&to={ids['ziyang']}").text
    assert "没有不同" in text
    assert "diff-table" not in text


def test_only_administrators_compare(client, engine, ids, people, tmp_path):
    """A diff shows the procedure's machinery (process ids, message names, settings): administrators only; the lead
    agency reads the library by names and is refused the diff, on the page, its diagrams and the API alike."""
    deploy_renamed_national(engine, tmp_path)
    second = version_id(engine, "national-2013", 2)
    for lead in ("lead-national", "lead_agency"):
        login(client, lead)
        assert client.get(f"/admin/procedures/diff?from={ids['national']}&to={second}").status_code == 403
        assert client.get("/admin/procedures/diff").status_code == 403
        assert client.get(f"/admin/procedures/diff/diagram?ref={ids['ziyang']}&file=assessment.bpmn").status_code \
            == 403
        api = client.get(f"/api/v1/procedures/diff?from={ids['national']}&to={second}", headers=bearer(engine, lead))
        assert api.status_code == 403 and api.get_json()["error"] == "forbidden"
        client.post("/logout")


@pytest.mark.parametrize("url", ["/admin/procedures/diff", "/admin/procedures/diff?from={national}&to={ziyang}",
                                 "/admin/procedures/diff/diagram?ref={ziyang}&file=assessment.bpmn"])
def test_others_are_refused(client, engine, ids, people, url):
    url = url.format(**ids)
    assert client.get(url).status_code == 302  # signed out: to the sign-in page
    login(client, "gov-bj")
    refused = client.get(url)
    assert refused.status_code == 403 and "Traceback" not in refused.text


@pytest.mark.parametrize(("query", "status", "words"), [
    ("from=999999&to={ziyang}", 404, "没有编号为 999999 的流程版本 (no process version 999999)"),
    ("from=national-2013:7&to={ziyang}", 404, "流程 national-2013 没有第 7 版"),
    ("from=national-2013:x&to={ziyang}", 400, "版本应写作 流程:版本号"),
])
def test_an_unknown_version_is_said_in_words(client, engine, ids, people, query, status, words):
    login(client, "admin")
    response = client.get("/admin/procedures/diff?" + query.format(**ids))
    assert response.status_code == status and words in html.unescape(response.text)
    assert "Traceback" not in response.text


def test_the_api_gives_the_same_diff_as_json(client, engine, ids, people):
    url = "/api/v1/procedures/diff?from=national-2013:1&to=ziyang-2016"
    assert client.get(url).status_code == 401
    response = client.get(url, headers=bearer(engine, "admin"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["from"]["version_id"] == ids["national"] and body["to"]["variant"] == "ziyang-2016"
    dmn = next(s for s in body["sections"] if s["key"] == "dmn")
    band = next(c for c in dmn["changes"] if c["element"] == "Rule_band_b")
    assert {"label": "总分（Decimal(score)）", "field": "in1", "before": "80 <= ? < 90",
            "after": "85 <= ? < 95"} in band["fields"]
    refused = client.get(url, headers=bearer(engine, "gov-bj"))
    assert refused.status_code == 403 and "message" in refused.get_json()
    missing = client.get("/api/v1/procedures/diff?to=ziyang-2016", headers=bearer(engine, "admin"))
    assert missing.status_code == 400 and "from= and to=" in missing.get_json()["message"]


def test_the_api_document_describes_the_diff(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/procedures/diff"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to"}
    assert "ProcedureDiff" in doc["components"]["schemas"]


def draft_of(engine, variant: str, *edits: tuple[str, str, str]) -> int:
    """A draft of the variant's version 1, with each (file, old, new) replaced once and saved."""
    with engine.store.write() as session:
        base = session.get(ProcessVersion, version_id(engine, variant))
        row = drafts.create(session, base, "admin", engine.clock.now(), comment="试改")
        for name, old, new in edits:
            assert old in row.files[name]
            drafts.save_file(session, row, name, row.files[name].replace(old, new, 1), row.revision, "admin",
                             engine.clock.now())
        return row.id


def test_a_draft_against_the_version_it_was_copied_from(client, engine, ids, people):
    draft = draft_of(engine, "ziyang-2016", ("grade.dmn", "85 &lt;= ? &lt; 95", "88 &lt;= ? &lt; 95"))
    login(client, "admin")
    page = client.get(f"/admin/procedures/drafts/{draft}")
    assert f'href="/admin/procedures/drafts/{draft}/diff?against=base"' in page.text
    assert f'href="/admin/procedures/drafts/{draft}/diff?against=template"' in page.text
    link = client.get(f"/admin/procedures/drafts/{draft}/diff?against=base")
    assert link.status_code == 302
    assert link.location.endswith(f"/admin/procedures/diff?from={ids['ziyang']}&to=draft:{draft}")
    text = html.unescape(client.get(link.location).text)
    assert f"草稿 {draft}：" in visible(text) and "1 处不同" in visible(text)
    assert "<del>85 <= ? < 95</del><ins>88 <= ? < 95</ins>" in text
    assert f'data-src="/admin/procedures/diff/diagram?ref=draft:{draft}&file=assessment.bpmn"' in text
    assert client.get(f"/admin/procedures/diff/diagram?ref=draft:{draft}&file=assessment.bpmn").status_code == 200
    # Against the template: what 资阳, so edited, changes from the national procedure.
    link = client.get(f"/admin/procedures/drafts/{draft}/diff?against=template")
    assert link.location.endswith(f"/admin/procedures/diff?from={ids['national']}&to=draft:{draft}")
    assert "<ins>88 <= ? < 95</ins>" in html.unescape(client.get(link.location).text)
    body = client.get(f"/api/v1/procedures/diff?from=ziyang-2016:1&to=draft:{draft}",
                      headers=bearer(engine, "admin")).get_json()
    assert body["total"] == 1 and body["to"]["draft_id"] == draft


def test_a_draft_of_another_procedure_is_not_the_lead_agencys_to_read(client, engine, ids, people):
    draft = draft_of(engine, "ziyang-2016")
    login(client, "lead-national")
    assert client.get(f"/admin/procedures/drafts/{draft}/diff?against=base").status_code == 403
    assert client.get(f"/admin/procedures/diff?from={ids['national']}&to=draft:{draft}").status_code == 403


def test_shortcuts_to_the_template_and_the_version_before(client, engine, ids, people, tmp_path):
    login(client, "admin")
    chooser = html.unescape(client.get("/admin/procedures/diff").text)
    assert (f'<a href="/admin/procedures/diff?from={ids["national"]}&to={ids["ziyang"]}">'
            "资阳市质量工作考核（资府办发〔2016〕4号）</a> ← 质量工作考核（国办发〔2013〕47号）") in chooser
    link = client.get(f"/admin/procedures/versions/{ids['ziyang']}/diff?against=template")
    assert link.location.endswith(f"/admin/procedures/diff?from={ids['national']}&to={ids['ziyang']}")
    library = client.get("/admin/procedures").text
    assert f'href="/admin/procedures/versions/{ids["ziyang"]}/diff?against=template"' in library
    # The national procedure is the template: nothing to compare it with; a first version has no version before.
    for url, words in ((f"/admin/procedures/versions/{ids['national']}/diff?against=template", "not derived from"),
                       (f"/admin/procedures/versions/{ids['national']}/diff?against=previous", "first version")):
        response = client.get(url)
        assert response.status_code == 404 and words in html.unescape(response.text)
    deploy_renamed_national(engine, tmp_path)
    second = version_id(engine, "national-2013", 2)
    assert f'href="/admin/procedures/versions/{second}/diff?against=previous"' in \
        client.get(f"/admin/procedures/versions/{second}").text
    link = client.get(f"/admin/procedures/versions/{second}/diff?against=previous")
    assert link.location.endswith(f"/admin/procedures/diff?from={ids['national']}&to={second}")


def test_two_procedures_whose_diagrams_are_named_differently(client, engine, ids, people):
    engine.load_regions(engine.check(LAB))
    engine.deploy(LAB)
    login(client, "admin")
    text = html.unescape(client.get(f"/admin/procedures/diff?from={ids['national']}&to=timer-lab:1").text)
    assert f'data-src="/admin/procedures/diff/diagram?ref={ids["national"]}&file=assessment.bpmn"' in text
    assert f'data-src="/admin/procedures/diff/diagram?ref={version_id(engine, "timer-lab")}&file=lab.bpmn"' in text
