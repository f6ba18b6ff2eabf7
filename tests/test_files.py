"""Evidence files (engine/files.py): Office documents judged without unpacking, quotas, one rule for pages and
API, unreferenced uploads removed after a day, contents readable by this account only."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile

import pytest
from drive import FORMS, Driver
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, post, set_passwords

from engine.errors import ValidationError
from engine.people import inbox, signin
from engine.people.accounts import Grant
from engine.records import files
from engine.running.scheduler import Scheduler
from engine.store.models import AuditEntry, EvidenceFile

PDF = b"%PDF-1.7\n%%EOF\n"
CONTENT_TYPES = ("[Content_Types].xml", "<Types/>")
DOCUMENT = ("word/document.xml", "<w:document/>")
TEMPLATE = ('<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/attachedTemplate" Target="https://evil.example/t.dotm" TargetMode="External"/>'
            '</Relationships>')
LINK = ('<Relationships><Relationship Id="rId9" TargetMode="External" Target="https://www.gov.cn/" '
        "Type='http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink'/></Relationships>")


def docx(*parts: tuple[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (CONTENT_TYPES, DOCUMENT, *parts):
            archive.writestr(name, text)
    return out.getvalue()


@pytest.mark.parametrize(("parts", "why"), [
    ([("word/vbaProject.bin", b"\xd0\xcf\x11\xe0")], "含宏"),
    ([("word/activeX/activeX1.xml", "<ax:ocx/>"), ("word/activeX/activeX1.bin", b"\0")], "ActiveX"),
    ([("word/_rels/settings.xml.rels", TEMPLATE)], "attachedTemplate"),
    ([("word/_rels/settings.xml.rels", TEMPLATE.replace('TargetMode="External"', 'TargetMode="&#69;xternal"'))],
     "attachedTemplate"),
    ([("word/_rels/document.xml.rels", TEMPLATE.replace("attachedTemplate", "oleObject"))], "oleObject"),
    ([("word/media/zeros.bin", b"\0" * (4 * 1024 * 1024))], "压缩比"),  # 4 MiB in 4 KB: a zip bomb's ratio
])
def test_office_files_with_macros_activex_remote_content_or_bombs_are_refused(parts, why):
    with pytest.raises(ValidationError, match=why):
        files.sniff(docx(*parts))


def test_an_office_file_unpacking_past_the_total_limit_is_refused(monkeypatch):
    content = docx(("word/media/a.bin", os.urandom(300_000)), ("word/media/b.bin", os.urandom(300_000)))
    assert files.sniff(content) == "docx"
    monkeypatch.setattr(files, "OFFICE_UNPACKED", 500_000)
    with pytest.raises(ValidationError, match="解压后"):
        files.sniff(content)


def test_an_office_file_with_hyperlinks_or_a_template_on_the_readers_disk_is_accepted():
    assert files.sniff(docx(("word/_rels/document.xml.rels", LINK))) == "docx"
    for local in ("file:///C:\\Users\\me\\公文模板.dotx", "D:/模板/通知.dotx"):
        made_from = TEMPLATE.replace("https://evil.example/t.dotm", local)
        assert files.sniff(docx(("word/_rels/settings.xml.rels", made_from))) == "docx"
    for remote in ("file://evil.example/share/t.dotm", "\\\\evil.example\\share\\t.dotm"):
        with pytest.raises(ValidationError, match="attachedTemplate"):
            files.sniff(docx(("word/_rels/settings.xml.rels", TEMPLATE.replace("https://evil.example/t.dotm", remote))))


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-tj", Grant("assessed", region=TIANJIN))
    set_passwords(engine)
    return drive


def _self_evaluation(drive, region: str = BEIJING):
    drive.file_targets(region)
    return drive.ready("Task_self_evaluation", region)[0]


def _form_of(engine, task) -> dict:
    return engine.form_for(task)


def test_quotas_per_task_and_per_user_a_day(engine, drive, clock, tmp_path):
    task = _self_evaluation(drive)
    schema = _form_of(engine, task)
    quota = files.Quota(task_bytes=10_000, task_files=3, user_bytes_per_day=6_000)

    def upload(n: int, size: int = 1000, user: str = "gov-bj", where=task):
        content = PDF + str(n).encode() * size
        return files.upload(engine.store, tmp_path, clock.now(), where, schema, user, f"{n}.pdf", content,
                            quota=quota)

    upload(1), upload(2), upload(3)
    with pytest.raises(ValidationError, match="该任务已有 3 个文件，上限 3 个"):
        upload(4)
    other = _self_evaluation(drive, TIANJIN)
    upload(5, 2500, where=other)
    with pytest.raises(ValidationError, match="24 小时内上传的文件合计将超过"):
        upload(6, 500, where=other)  # 3 × 1 KB + 2.5 KB already today
    clock.advance(hours=24, minutes=1)
    upload(6, 500, where=other)
    with pytest.raises(ValidationError, match="该任务的文件合计将超过"):
        upload(7, 9000, user="gov-tj", where=other)
    with engine.store.read() as session:
        assert session.scalar(select(EvidenceFile).where(EvidenceFile.name == "7.pdf")) is None


def test_the_api_refuses_files_on_a_form_that_takes_none_as_the_pages_do(client, engine, drive):
    [task] = drive.ready("Task_target_filing", BEIJING)
    token = signin.issue_token(engine.store, clock_now(engine), "gov-bj", "t")
    response = client.post(f"/api/v1/tasks/{task.id}/files", headers={"Authorization": f"Bearer {token}"},
                           data={"file": (io.BytesIO(PDF), "a.pdf")})
    assert response.status_code == 400 and "不接受文件" in response.get_json()["message"]
    login(client, "gov-bj")
    page = post(client, f"/tasks/{task.id}", {"action": "save", "evidence_upload": (io.BytesIO(PDF), "a.pdf")},
                content_type="multipart/form-data")
    assert page.status_code == 400 and "不接受文件" in page.text
    with engine.store.read() as session:
        assert session.scalars(select(EvidenceFile)).all() == []


def clock_now(engine):
    return engine.clock.now()


def test_uploads_nothing_names_are_removed_after_a_day(engine, drive, clock, tmp_path):
    beijing, tianjin = _self_evaluation(drive), _self_evaluation(drive, TIANJIN)

    def upload(task, content: bytes, name: str) -> str:
        row = files.upload(engine.store, tmp_path, clock.now(), task, _form_of(engine, task), "gov-bj", name, content)
        return row.sha256

    submitted = upload(beijing, PDF + b"submitted", "submitted.pdf")
    dropped = upload(beijing, PDF + b"dropped", "dropped.pdf")
    drafted = upload(tianjin, PDF + b"drafted", "drafted.pdf")
    assert upload(beijing, PDF + b"drafted", "copy.pdf") == drafted  # named by no draft or submission in Beijing
    inbox.save_draft(engine.store, tianjin, "gov-tj", {"evidence": [{"name": "drafted.pdf", "sha256": drafted}]},
                     clock.now(), _form_of(engine, tianjin))
    data = FORMS["Task_self_evaluation"](drive) | {"evidence": [{"name": "submitted.pdf", "sha256": submitted}]}
    engine.complete(beijing.id, data, "gov-bj")
    scheduler = Scheduler(engine, upload_folder=tmp_path)
    clock.advance(hours=23)
    assert scheduler.clean_files() == 0 and (tmp_path / dropped).exists()
    clock.advance(hours=2)
    assert scheduler.clean_files() == 2  # "dropped.pdf" and "copy.pdf"
    assert not (tmp_path / dropped).exists()
    assert (tmp_path / submitted).exists() and (tmp_path / drafted).exists()  # Tianjin's draft still holds it
    with engine.store.read() as session:
        assert sorted(r.name for r in session.scalars(select(EvidenceFile))) == ["drafted.pdf", "submitted.pdf"]
        removed = session.scalars(select(AuditEntry).where(AuditEntry.action == "file_removed")).all()
        assert sorted(e.data["name"] for e in removed) == ["copy.pdf", "dropped.pdf"]
    assert scheduler.clean_files() == 0


def test_stored_files_and_folders_are_private(engine, drive, clock, tmp_path):
    old = os.umask(0o022)
    try:
        folder = tmp_path / "var" / "files"
        task = _self_evaluation(drive)
        row = files.upload(engine.store, folder, clock.now(), task, _form_of(engine, task), "gov-bj", "a.pdf", PDF)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / row.sha256).stat().st_mode) == 0o600
    assert row.sha256 == hashlib.sha256(PDF).hexdigest()


def test_the_database_file_and_the_secret_key_are_private(tmp_path, monkeypatch):
    from engine.store import Store, upgrade
    from web import _stored_secret

    old = os.umask(0o022)
    try:
        store = Store(f"sqlite:///{tmp_path / 'var' / 'kaohe.db'}")
        upgrade(store)
        store.dispose()
        _stored_secret(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "kaohe.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "secret_key").stat().st_mode) == 0o600


def test_the_configured_quota_holds_for_pages_and_api_alike(engine, drive, tmp_path):
    from web import create_app

    app = create_app({"ENGINE": engine, "TESTING": True, "SECRET_KEY": "x", "UPLOAD_FOLDER": str(tmp_path),
                      "UPLOAD_QUOTA": files.Quota(task_files=2)})
    task = _self_evaluation(drive)
    token = signin.issue_token(engine.store, clock_now(engine), "gov-bj", "t")
    api = app.test_client()
    for n, status in ((1, 201), (2, 201), (3, 400)):
        response = api.post(f"/api/v1/tasks/{task.id}/files", headers={"Authorization": f"Bearer {token}"},
                            data={"file": (io.BytesIO(PDF + str(n).encode()), f"{n}.pdf")})
        assert response.status_code == status, n
    web = app.test_client()
    login(web, "gov-bj")
    page = post(web, f"/tasks/{task.id}", {"action": "save", "evidence_upload": (io.BytesIO(PDF + b"3"), "3.pdf")},
                content_type="multipart/form-data")
    assert page.status_code == 400 and "该任务已有 2 个文件，上限 2 个" in page.text
    with engine.store.read() as session:
        assert len(session.scalars(select(EvidenceFile)).all()) == 2
