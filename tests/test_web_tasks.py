"""The task page: instructions, forms from JSON Schema, errors at their fields, drafts, submission, evidence."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest
from drive import FORMS, Driver, unit_scores
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, post, set_passwords

from engine.errors import ValidationError
from engine.people.accounts import Grant
from engine.records import files
from engine.store.models import AuditEntry, EvidenceFile, TaskDraft
from web.tasks import render_markdown

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-tj", Grant("assessed", region=TIANJIN))
    add_web_user(engine, "unit-moa", Grant("member_unit", unit="moa"))
    set_passwords(engine)
    return drive


def _targets_form(page: str, blank: int | None = None) -> dict:
    data = {"action": "submit"}
    for n, code in re.findall(r'name="targets-(\d+)-indicator" value="([^"]+)"', page):
        data[f"targets-{n}-indicator"] = code
        data[f"targets-{n}-target"] = "" if int(n) == blank else "≥ 95%"
    return data


def test_the_filing_form_has_one_row_per_indicator_and_the_instructions(client, drive):
    task = drive.ready("Task_target_filing", BEIJING)[0]
    login(client, "gov-bj")
    page = client.get(f"/tasks/{task.id}").text
    assert page.count('name="targets-') == 3 * len(drive.scheme["indicators"])  # indicator, target, note
    assert "T1 制造业产品质量合格率（15 分）" in page
    assert '<section class="instructions" id="instructions"><h2>目标备案</h2>' in page
    assert "<strong>6 月 30 日前</strong>" in page


def test_an_error_is_shown_at_its_field_and_nothing_changes(client, engine, drive):
    task = drive.ready("Task_target_filing", BEIJING)[0]
    login(client, "gov-bj")
    page = client.get(f"/tasks/{task.id}").text
    response = post(client, f"/tasks/{task.id}", _targets_form(page, blank=2))
    assert response.status_code == 400
    assert re.search(r'<p class="field-error" data-field="targets/2/target">至少 1 个字符</p>', response.text)
    assert 'value="≥ 95%"' in response.text  # what was typed is kept
    assert drive.ready("Task_target_filing", BEIJING)[0].id == task.id


def test_a_draft_is_kept_until_submission(client, engine, drive):
    task = drive.ready("Task_target_filing", BEIJING)[0]
    login(client, "gov-bj")
    page = client.get(f"/tasks/{task.id}").text
    form = _targets_form(page) | {"action": "save", "targets-0-target": "≥ 97.5%"}
    assert post(client, f"/tasks/{task.id}", form).status_code == 302
    page = client.get(f"/tasks/{task.id}").text
    assert 'value="≥ 97.5%"' in page and "草稿保存于" in page
    done = post(client, f"/tasks/{task.id}", form | {"action": "submit"})
    assert done.status_code == 302 and done.location.startswith("/instances/")
    with engine.store.read() as session:  # dropped with the task, in the completion's transaction
        assert session.scalars(select(TaskDraft).where(TaskDraft.task_id == task.id)).all() == []


def test_submitted_figures_are_shown_read_only_with_who_and_when(client, app, drive):
    task = drive.ready("Task_target_filing", BEIJING)[0]
    login(client, "gov-bj")
    post(client, f"/tasks/{task.id}", _targets_form(client.get(f"/tasks/{task.id}").text))
    page = client.get(f"/tasks/{task.id}").text
    assert "该任务已办结" in page and "gov-bj 于 2025-06-02 09:00 提交" in page
    assert "T1 制造业产品质量合格率（15 分）" in page and "≥ 95%" in page and "<input" not in page.split("<main>")[1]
    other = app.test_client()
    login(other, "gov-tj")
    assert other.get(f"/tasks/{task.id}").status_code == 403


def test_a_member_unit_scores_only_its_own_indicators(client, drive):
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    [task] = [t for t in drive.ready("Task_indicator_scoring", BEIJING) if t.unit == "moa"]
    login(client, "unit-moa")
    page = client.get(f"/tasks/{task.id}").text
    assert re.findall(r'name="scores-\d+-indicator" value="([^"]+)"', page) == ["T2"]
    response = post(client, f"/tasks/{task.id}", {"action": "submit", "scores-0-indicator": "T2",
                                                  "scores-0-score": "14", "scores-0-basis": "抽检数据"})
    assert response.status_code == 400
    assert 'data-field="scores/0/score">T2 主要农产品质量安全监测合格率：得分不得超过 13 分' in response.text
    response = post(client, f"/tasks/{task.id}", {"action": "submit", "scores-0-indicator": "T2",
                                                  "scores-0-score": "abc", "scores-0-basis": "抽检数据"})
    assert 'data-field="scores/0/score">应为数字' in response.text
    response = post(client, f"/tasks/{task.id}", {"action": "submit", "scores-0-indicator": "T2",
                                                  "scores-0-score": "12.5", "scores-0-basis": "抽检数据"})
    assert response.status_code == 302
    other = [t for t in drive.ready("Task_indicator_scoring", BEIJING) if t.unit == "aqsiq"][0]
    assert client.get(f"/tasks/{other.id}").status_code == 403


def _at_self_evaluation(drive):
    drive.file_targets(BEIJING)
    return drive.ready("Task_self_evaluation", BEIJING)[0]


def _self_evaluation(drive, **extra) -> dict:
    data = {"action": "submit", "report": "自评报告正文"}
    for n, item in enumerate(FORMS["Task_self_evaluation"](drive)["self_scores"]):
        data[f"self_scores-{n}-indicator"] = item["indicator"]
        data[f"self_scores-{n}-score"] = str(item["score"])
    return data | extra


def test_evidence_is_uploaded_checked_listed_and_downloadable(client, app, engine, drive):
    task = _at_self_evaluation(drive)
    login(client, "gov-bj")
    form = _self_evaluation(drive, action="save", evidence_upload=(io.BytesIO(PDF), "../自评 报告.pdf"))
    assert post(client, f"/tasks/{task.id}", form, content_type="multipart/form-data").status_code == 302
    digest = hashlib.sha256(PDF).hexdigest()
    page = client.get(f"/tasks/{task.id}").text
    assert f'name="evidence-0-sha256" value="{digest}"' in page and "自评 报告.pdf" in page
    response = post(client, f"/tasks/{task.id}", _self_evaluation(drive, **{
        "evidence-0-name": "自评 报告.pdf", "evidence-0-sha256": digest}))
    assert response.status_code == 302
    data = drive.region_data(BEIJING)
    assert data["evidence"] == [{"name": "自评 报告.pdf", "sha256": digest}]
    with client.get(f"/instances/{task.instance_id}/files/{digest}") as download:
        assert download.status_code == 200 and download.data == PDF
        assert download.headers["Content-Type"] == "application/pdf"
        assert "attachment" in download.headers["Content-Disposition"]
    for user, status in (("gov-tj", 403), ("lead_agency", 200), ("recipient", 403), ("member_unit", 200)):
        other = app.test_client()
        login(other, user)
        with other.get(f"/instances/{task.instance_id}/files/{digest}") as response:
            assert response.status_code == status, user
    with engine.store.read() as session:
        [row] = session.scalars(select(EvidenceFile))
        assert (row.uploader, row.size, row.task_id) == ("gov-bj", len(PDF), task.id)
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "upload")).one().data["sha256"] == digest


def test_a_digest_not_uploaded_to_the_instance_is_refused(client, drive):
    task = _at_self_evaluation(drive)
    login(client, "gov-bj")
    response = post(client, f"/tasks/{task.id}", _self_evaluation(drive, **{
        "evidence-0-name": "x.pdf", "evidence-0-sha256": "ab" * 32}))
    assert response.status_code == 400
    assert 'data-field="evidence/0/sha256">该文件未上传到本流程实例' in response.text


def test_files_of_another_instance_are_not_served(client, app, drive):
    task = _at_self_evaluation(drive)
    login(client, "gov-bj")
    form = _self_evaluation(drive, action="save", evidence_upload=(io.BytesIO(PDF), "a.pdf"))
    post(client, f"/tasks/{task.id}", form, content_type="multipart/form-data")
    digest = hashlib.sha256(PDF).hexdigest()
    tianjin = drive.ready("Task_target_filing", TIANJIN)[0].instance_id
    assert client.get(f"/instances/{tianjin}/files/{digest}").status_code == 403
    other = app.test_client()
    login(other, "lead_agency")
    assert other.get(f"/instances/{tianjin}/files/{digest}").status_code == 404


def _office(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


@pytest.mark.parametrize(("content", "kind"), [
    (PDF, "pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "png"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "jpeg"),
    (_office("[Content_Types].xml", "word/document.xml"), "docx"),
    (_office("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
    ("质量目标完成情况说明\n".encode(), "text"),
])
def test_accepted_file_kinds_are_read_from_the_content(content, kind):
    assert files.sniff(content) == kind


@pytest.mark.parametrize("content", [
    b"MZ\x90\x00" + b"\x00" * 60,                        # Windows executable
    b"\x7fELF\x02\x01",                                  # Linux executable
    b"#!/bin/sh\nrm -rf /\n",                            # script
    b"<!DOCTYPE html><html><script>alert(1)</script>",   # HTML
    b'<?xml version="1.0"?><svg onload="alert(1)"/>',    # SVG
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    _office("evil.exe"),                                 # a zip that is no Office document
    _office("[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"),  # macros
    b"\xff\xfe\x00\x00garbage",                          # not UTF-8
    b"",
])
def test_refused_file_kinds(content):
    with pytest.raises(ValidationError):
        files.sniff(content)


def test_uploads_over_the_size_limit_are_refused(engine, drive, tmp_path):
    from web import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": "x", "UPLOAD_FOLDER": str(tmp_path),
                      "MAX_UPLOAD_BYTES": 1024})
    task = _at_self_evaluation(drive)
    client = app.test_client()
    login(client, "gov-bj")
    big = PDF + b"0" * 2048
    response = post(client, f"/tasks/{task.id}", _self_evaluation(drive, action="save",
                                                                  evidence_upload=(io.BytesIO(big), "big.pdf")),
                    content_type="multipart/form-data")
    assert response.status_code == 400 and "文件超过" in response.text
    exe = post(client, f"/tasks/{task.id}", _self_evaluation(drive, action="save",
                                                             evidence_upload=(io.BytesIO(b"MZ" + b"\0" * 9), "a.pdf")),
               content_type="multipart/form-data")
    assert exe.status_code == 400 and "不接受可执行程序" in exe.text


@pytest.mark.parametrize(("name", "kind", "clean"), [
    ("../../etc/passwd", "text", "passwd.txt"),
    ("C:\\Users\\me\\报告.PDF", "pdf", "报告.pdf"),
    ("report.exe", "pdf", "report.exe.pdf"),
    ("a<b>:c\x07.docx", "docx", "a_b__c.docx"),
    ("", "png", "file.png"),
])
def test_file_names_are_cleaned(name, kind, clean):
    assert files.clean_name(name, kind) == clean


def test_instructions_are_rendered_safely():
    html = render_markdown("## 标题\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) **粗体**")
    assert "<h2>标题</h2>" in html and "<strong>粗体</strong>" in html
    assert "<script" not in html and 'href="javascript' not in html


def test_a_request_larger_than_the_limit_is_refused_whole(engine, drive, tmp_path):
    from web import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": "x", "UPLOAD_FOLDER": str(tmp_path),
                      "MAX_UPLOAD_BYTES": 1024})
    assert app.config["MAX_CONTENT_LENGTH"] == 5 * 1024 + 1024 * 1024
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # a small body: the test client keeps it in memory
    task = _at_self_evaluation(drive)
    client = app.test_client()
    login(client, "gov-bj")
    huge = _self_evaluation(drive, action="save", evidence_upload=(io.BytesIO(b"x" * 100 * 1024), "a.txt"))
    assert post(client, f"/tasks/{task.id}", huge, content_type="multipart/form-data").status_code == 413


def test_a_member_unit_does_not_read_another_units_scores(client, app, drive):
    drive.file_targets(BEIJING)
    drive.score(BEIJING, "90")
    with drive.engine.store.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.bpmn_id == "Task_indicator_scoring")
                                .order_by(AuditEntry.id)).first()
    login(client, "unit-moa")
    assert client.get(f"/tasks/{entry.task_id}").status_code == 403
    other = app.test_client()
    login(other, "lead_agency")
    assert other.get(f"/tasks/{entry.task_id}").status_code == 200


def test_the_confirmation_form_has_one_row_per_veto_item_and_records_each(client, engine, drive):
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    for unit, scores in unit_scores(drive.scheme, "95").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=BEIJING, unit=unit)
    [task] = drive.ready("Task_score_confirmation", BEIJING)
    add_web_user(engine, "group", Grant("assessment_group"))
    set_passwords(engine)
    login(client, "group")
    page = client.get(f"/tasks/{task.id}").text
    assert re.findall(r'name="veto_items-\d+-veto" value="([^"]+)"', page) == ["V1"]
    assert "V1 发生区域性、系统性产品质量安全事件" in page
    form = {"action": "submit", "confirmation": "confirm", "comment": "确认", "veto_items-0-veto": "V1",
            "veto_items-0-hit": "true", "veto_items-0-evidence": ""}
    response = post(client, f"/tasks/{task.id}", form)
    assert response.status_code == 400 and 'data-field="veto_items/0/evidence"' in response.text
    form["veto_items-0-evidence"] = "发生系统性产品质量安全事件"
    response = post(client, f"/tasks/{task.id}", form)
    assert response.status_code == 302
    data = drive.region_data(BEIJING)
    assert (data["vetoed"], data["veto_hits"], data["grade"]) == (True, ["V1"], "D")


def test_the_page_saves_as_the_user_types_and_the_browser_forgets_after_submitting(client, engine, drive):
    """The autosave request gets JSON (no page to draw), a draft too large gets a JSON refusal, and the page after
    a submission or a sign-out tells the browser to drop its copy of the form (issue 12, item 3)."""
    login(client, "gov-bj")
    [task] = drive.ready("Task_target_filing", BEIJING)
    page = client.get(f"/tasks/{task.id}").text
    assert f'data-draft-key="gov-bj:{task.id}"' in page and 'data-idle-seconds="1800"' in page
    assert 'id="idle-warning" hidden' in page and "autosave.js" in page
    saved = post(client, f"/tasks/{task.id}", {"action": "save", "targets-0-target": "≥ 96%"},
                 headers={"X-Kaohe-Autosave": "1"})
    assert saved.status_code == 200 and saved.json["saved_at"].startswith("2025-06-02")
    with engine.store.read() as session:
        [draft] = session.scalars(select(TaskDraft).where(TaskDraft.task_id == task.id))
    assert draft.data["targets"][0]["target"] == "≥ 96%"
    assert f'data-server-draft-at="{draft.saved_at.isoformat()}"' in client.get(f"/tasks/{task.id}").text
    huge = post(client, f"/tasks/{task.id}", {"action": "save", "targets-0-target": "x" * 300_000},
                headers={"X-Kaohe-Autosave": "1"})
    assert huge.status_code in (400, 413) and huge.is_json and huge.json["message"]

    post(client, f"/tasks/{task.id}", {"action": "submit", **_targets_form(page)})
    after = client.get("/inbox").text
    assert f'<meta name="kaohe-submitted" content="gov-bj:{task.id}">' in after
    assert "kaohe-submitted" not in client.get("/inbox").text  # said once
    post(client, "/logout")
    assert '<meta name="kaohe-signed-out" content="1">' in client.get("/login").text


def test_a_second_submit_says_it_was_submitted_and_shows_what(client, drive):
    """Submitting again (a double click, a back button) lands on what was submitted, by whom and when, not on an
    error naming a task id (issue 12, item 5)."""
    login(client, "gov-bj")
    [task] = drive.ready("Task_target_filing", BEIJING)
    page = client.get(f"/tasks/{task.id}").text
    form = {"action": "submit", **_targets_form(page)}
    assert post(client, f"/tasks/{task.id}", form).status_code == 302
    again = post(client, f"/tasks/{task.id}", form, follow_redirects=True)
    assert again.status_code == 200 and "该任务已经提交" in again.text and "gov-bj 于" in again.text
    assert task.id not in again.text.split("<main")[1].split('action="')[0]
    gone = client.get("/tasks/00000000-0000-0000-0000-000000000000")
    assert gone.status_code == 404 and "00000000" not in gone.text.split('id="error-message"')[1][:200]


def test_each_score_carries_its_bounds_and_the_servers_words_for_the_page(client, drive):
    """The page checks numbers before sending (static/numbers.js) with the bounds and the very words the server's
    check says; a score typed out of bounds anyway is refused by the server in those words (issue 12, item 4)."""
    drive.file_targets(BEIJING)
    task = drive.ready("Task_self_evaluation", BEIJING)[0]
    login(client, "gov-bj")
    page = client.get(f"/tasks/{task.id}").text
    t1 = re.search(r'<input name="self_scores-0-score"[^>]*>', page).group(0)
    assert 'data-check-max="15"' in t1 and 'data-check-places="2"' in t1 and 'data-check-min="0"' in t1
    assert 'data-check-above="T1 制造业产品质量合格率：自评分不得超过 15 分"' in t1
    assert 'data-check-decimals="T1 制造业产品质量合格率：自评分最多保留 2 位小数"' in t1
    assert 'data-check-nan="应为数字"' in t1
    assert '<script src="/static/numbers.js" defer></script>' in page and 'id="form-check" hidden' in page
    data = {"action": "submit", "report": "完成"}
    for n, indicator in enumerate(drive.scheme["indicators"]):
        data[f"self_scores-{n}-indicator"] = indicator["code"]
        data[f"self_scores-{n}-score"] = str(indicator["points"])
    data["self_scores-0-score"], data["self_scores-1-score"] = "16", "2.555"
    refused = post(client, f"/tasks/{task.id}", data).text
    assert 'data-field="self_scores/0/score">T1 制造业产品质量合格率：自评分不得超过 15 分' in refused
    assert 'data-field="self_scores/1/score">T2 主要农产品质量安全监测合格率：自评分最多保留 2 位小数' in refused
    client.get("/lang/en")
    t1 = re.search(r'<input name="self_scores-0-score"[^>]*>', client.get(f"/tasks/{task.id}").text).group(0)
    assert ('data-check-above="T1 Pass rate of manufactured products: the self-evaluation score must not be above '
            '15 points"') in t1


def test_a_number_field_of_a_form_carries_its_schemas_bounds():
    from web import formview

    schema = {"type": "object", "properties": {"rate": {"type": "number", "title": "合格率", "minimum": 0,
                                                        "maximum": 100, "multipleOf": 0.1}}}
    [rate] = formview.build(schema, {}, {})
    assert rate.checks == {"nan": "应为数字", "min": "0", "below": "不能小于0", "max": "100", "above": "不能大于100",
                           "places": 1, "decimals": "最多保留 1 位小数", "label": "合格率"}


def test_the_confirmation_shows_the_total_and_each_units_scores(client, engine, drive):
    """考核组确认 decides on a total the page shows, with its breakdown by unit and indicator (issue 12, item 1)."""
    add_web_user(engine, "group-1", Grant("assessment_group"))
    set_passwords(engine)
    drive.file_targets(BEIJING)
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    for unit, scores in unit_scores(drive.scheme, "91.5").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=BEIJING, unit=unit)
    [task] = drive.ready("Task_score_confirmation", BEIJING)
    login(client, "group-1")
    page = client.get(f"/tasks/{task.id}").text
    panel = page.split('id="decision-breakdown"')[1].split("</section>")[0]
    assert "总分：91.5" in panel
    assert "T2 主要农产品质量安全监测合格率" in panel and "农业部" in panel
    assert panel.count("<tr>") == 1 + len(drive.scheme["indicators"])
