"""Drafts of the procedure library (engine/procedure/drafts.py): copies, saves with revisions, uploads, zips,
publishing, and the library's overview."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from sqlalchemy import select

from engine.errors import Conflict, NotFound, StaleDraft, ValidationError
from engine.procedure import drafts, library, versions
from engine.store.models import AuditEntry, Campaign, ProcedureDraft, ProcessVersion

GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")  # 资阳's b band from 86: no grade between 85 and 86


@pytest.fixture
def draft_id(sqlite_engine) -> int:
    """A draft of 资阳's current version, made by the administrator."""
    with sqlite_engine.store.write() as db:
        base = versions.current_version(db, "ziyang-2016")
        return drafts.create(db, base, "admin", sqlite_engine.clock.now(), "调整等级").id


def change(engine, draft_id: int, name: str, edit, actor: str = "admin", revision: int | None = None) -> int:
    with engine.store.write() as db:
        row = drafts.get(db, draft_id)
        return drafts.save_file(db, row, name, edit(row.files[name]), row.revision if revision is None else revision,
                                actor, engine.clock.now())


def files_of(engine, draft_id: int) -> dict:
    with engine.store.read() as db:
        return dict(drafts.get(db, draft_id).files)


def a_zip(members: dict[str, bytes], **info) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            entry = zipfile.ZipInfo(name)
            entry.compress_type = zipfile.ZIP_DEFLATED
            for key, value in info.get(name, {}).items():
                setattr(entry, key, value)
            archive.writestr(entry, data)
    return out.getvalue()


def test_a_draft_copies_every_file_of_its_version(sqlite_engine, draft_id):
    with sqlite_engine.store.read() as db:
        row, base = drafts.get(db, draft_id), versions.current_version(db, "ziyang-2016")
        assert row.files == base.files and row.variant == "ziyang-2016" and row.base_version_id == base.id
        assert (row.owner, row.comment, row.revision, row.published_version_id) == ("admin", "调整等级", 1, None)
        assert drafts.findings(row) == []
        with pytest.raises(NotFound):
            drafts.get(db, draft_id + 1)


def test_a_new_variant_gets_its_key_and_title_and_remembers_its_parent(sqlite_engine):
    with sqlite_engine.store.write() as db:
        base = versions.current_version(db, "ziyang-2016")
        row = drafts.create(db, base, "admin", sqlite_engine.clock.now(), variant="meishan-2024",
                            title="眉山市质量工作考核")
        text = row.files["bundle.yaml"]
        assert "key: meishan-2024\n" in text and "title: 眉山市质量工作考核\n" in text
        assert "# 资阳市人民政府办公室" in text  # its comments are kept
        assert (row.variant, row.title, row.parent_variant) == ("meishan-2024", "眉山市质量工作考核", "ziyang-2016")
        assert drafts.findings(row) == []
        # Ziyang's English title would name the wrong city: it goes, the rest of its English stays
        assert "Ziyang" not in row.files["english.yaml"].split("\nprocesses:")[0]
        assert "Task_target_filing: Target filing" in row.files["english.yaml"]


@pytest.mark.parametrize("key, refusal", [("Meishan 2024", ValidationError), ("a" * 65, ValidationError),
                                         ("national-2013", Conflict)])
def test_a_new_variant_needs_a_free_well_formed_key(sqlite_engine, key, refusal):
    with sqlite_engine.store.write() as db:
        base = versions.current_version(db, "ziyang-2016")
        with pytest.raises(refusal):
            drafts.create(db, base, "admin", sqlite_engine.clock.now(), variant=key)


def test_a_save_of_a_stale_copy_is_refused_naming_who_saved(sqlite_engine, draft_id):
    assert change(sqlite_engine, draft_id, "grade.dmn", lambda t: t.replace(*GAP), actor="admin") == 2
    sqlite_engine.clock.advance(minutes=5)
    with pytest.raises(StaleDraft) as refused:
        change(sqlite_engine, draft_id, "scheme.yaml", lambda t: t + "\n# mine\n", actor="other", revision=1)
    assert refused.value.saved_by == "admin" and refused.value.revision == 2
    assert "admin" in refused.value.message and "2025-06-02 09:00" in refused.value.message
    files = files_of(sqlite_engine, draft_id)
    assert GAP[1] in files["grade.dmn"] and "# mine" not in files["scheme.yaml"]


def test_the_findings_of_a_draft_name_the_file(sqlite_engine, draft_id):
    change(sqlite_engine, draft_id, "grade.dmn", lambda t: t.replace(*GAP))
    with sqlite_engine.store.read() as db:
        [found] = drafts.findings(drafts.get(db, draft_id))
    assert found.file == "grade.dmn" and found.severity == "error" and "85" in found.reason


def test_a_bundle_yaml_naming_another_variant_is_an_error(sqlite_engine, draft_id):
    change(sqlite_engine, draft_id, "bundle.yaml", lambda t: t.replace("key: ziyang-2016", "key: national-2013"))
    with sqlite_engine.store.read() as db:
        found = drafts.findings(drafts.get(db, draft_id))
    assert [(f.file, f.line, f.element) for f in found] == [("bundle.yaml", 2, "key")]


@pytest.mark.parametrize("name", ["../grade.dmn", "/etc/grade.dmn", "forms/../../x.json", "a\\b.bpmn", "run.exe",
                                  "", "x" * 201 + ".bpmn", "forms//x.json", "bad\x00.bpmn"])
def test_file_names_that_leave_the_bundle_or_are_no_bundle_file_are_refused(sqlite_engine, draft_id, name):
    with sqlite_engine.store.write() as db, pytest.raises(ValidationError):
        drafts.save_file(db, drafts.get(db, draft_id), name, "x", 1, "admin", sqlite_engine.clock.now())
    assert files_of(sqlite_engine, draft_id).keys() == files_of(sqlite_engine, draft_id).keys() - {name}


def test_a_file_is_deleted_but_never_bundle_yaml(sqlite_engine, draft_id):
    with sqlite_engine.store.write() as db:
        row = drafts.get(db, draft_id)
        assert drafts.delete_file(db, row, "regions.yaml", 1, "admin", sqlite_engine.clock.now()) == 2
        with pytest.raises(ValidationError):
            drafts.delete_file(db, row, "bundle.yaml", 2, "admin", sqlite_engine.clock.now())
        with pytest.raises(NotFound):
            drafts.delete_file(db, row, "nothing.bpmn", 2, "admin", sqlite_engine.clock.now())
    assert "regions.yaml" not in files_of(sqlite_engine, draft_id)


def test_one_uploaded_file_replaces_its_namesake_and_a_bare_json_is_a_form(sqlite_engine, draft_id):
    grade = files_of(sqlite_engine, draft_id)["grade.dmn"].replace(*GAP)
    with sqlite_engine.store.write() as db:
        row = drafts.get(db, draft_id)
        drafts.upload(db, row, "C:\\Users\\me\\grade.dmn", grade.encode(), 1, "admin", sqlite_engine.clock.now())
        drafts.upload(db, row, "extra.schema.json", b'{"type": "object"}', 2, "admin", sqlite_engine.clock.now())
        with pytest.raises(ValidationError):
            drafts.upload(db, row, "grade.dmn", "等级".encode("gbk"), 3, "admin", sqlite_engine.clock.now())
    files = files_of(sqlite_engine, draft_id)
    assert files["grade.dmn"] == grade and files["forms/extra.schema.json"] == '{"type": "object"}'


def test_a_zip_round_trips_and_a_bundle_in_a_folder_is_the_same_bundle(sqlite_engine, draft_id):
    with sqlite_engine.store.read() as db:
        row = drafts.get(db, draft_id)
        packed, files = drafts.zip_bytes(row), dict(row.files)
    assert zipfile.ZipFile(io.BytesIO(packed)).namelist()[0].startswith("ziyang-2016/")
    assert drafts.unzip(packed) == files
    flat = a_zip({name: text.encode() for name, text in files.items()})
    assert drafts.unzip(flat) == files


def test_an_uploaded_zip_replaces_every_file(sqlite_engine, draft_id):
    files = files_of(sqlite_engine, draft_id)
    files["grade.dmn"] = files["grade.dmn"].replace(*GAP)
    del files["regions.yaml"]
    with sqlite_engine.store.write() as db:
        drafts.upload(db, drafts.get(db, draft_id), "b.zip", a_zip({n: t.encode() for n, t in files.items()}), 1,
                      "admin", sqlite_engine.clock.now())
    assert files_of(sqlite_engine, draft_id) == files


BUNDLE = {"bundle.yaml": b"key: x\n"}


def encrypted(archive: bytes) -> bytes:
    """``archive`` with every member marked encrypted in the central directory (bit 0 of its flags)."""
    data, at = bytearray(archive), 0
    while (at := data.find(b"PK\x01\x02", at)) != -1:
        data[at + 8] |= 0x1
        at += 4
    return bytes(data)


@pytest.mark.parametrize("archive, words", [
    (a_zip({**BUNDLE, "../evil.bpmn": b"<x/>"}), "无效"),
    (a_zip({**BUNDLE, "/etc/evil.bpmn": b"<x/>"}), "无效"),
    (a_zip({**BUNDLE, "run.sh": b"#!/bin/sh"}), "文件类型"),
    (a_zip({**BUNDLE, **{f"f{i}.md": b"x" for i in range(201)}}), "至多 200"),
    (a_zip({**BUNDLE, "big.bpmn": b"<x/>" + b" " * (2 * 1024 * 1024)}), "KiB"),
    (a_zip({**BUNDLE, "bomb.md": b"\0" * (1024 * 1024)}), "压缩比"),
    (a_zip({**BUNDLE, "link.bpmn": b"/etc/passwd"}, **{"link.bpmn": {"external_attr": (stat.S_IFLNK | 0o777) << 16}}),
     "符号链接"),
    (encrypted(a_zip({**BUNDLE, "lock.bpmn": b"x"})), "加密"),
    (a_zip({"forms/x.json": b"{}"}), "没有 bundle.yaml"),
    (b"PK\x03\x04 this is no zip", "损坏"),
    (b"x" * (10 * 1024 * 1024 + 1), "超过 10 MiB"),
])
def test_a_hostile_or_broken_zip_is_refused_and_nothing_stored(sqlite_engine, draft_id, archive, words):
    before = files_of(sqlite_engine, draft_id)
    with sqlite_engine.store.write() as db, pytest.raises(ValidationError) as refused:
        drafts.upload(db, drafts.get(db, draft_id), "bundle.zip", archive, 1, "admin", sqlite_engine.clock.now())
    assert words in refused.value.message
    assert files_of(sqlite_engine, draft_id) == before


def test_publishing_makes_a_new_current_version_and_running_campaigns_stay(sqlite_engine, draft_id):
    engine = sqlite_engine
    running = engine.start_campaign("ziyang-2016", 2024)
    change(engine, draft_id, "grade.dmn", lambda t: t.replace("a级：95分及以上", "a级：95分及以上（修订）"))
    version = drafts.publish(engine, draft_id, "等级说明修订", "admin")
    assert (version.version, version.comment, version.deployed_by) == (2, "等级说明修订", "admin")
    assert version.is_current
    later = engine.start_campaign("ziyang-2016", 2025)
    with engine.store.read() as db:
        assert db.get(Campaign, running.id).version_id != later.version_id == version.id
        assert drafts.get(db, draft_id).published_version_id == version.id
        actions = [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions.index("draft_create") < actions.index("draft_save") < actions.index("draft_publish")
    with engine.store.write() as db, pytest.raises(Conflict):  # published: the record of its version
        drafts.save_file(db, drafts.get(db, draft_id), "scheme.yaml", "x", 2, "admin", engine.clock.now())
    with pytest.raises(Conflict):
        drafts.publish(engine, draft_id, "again", "admin")


def test_a_draft_with_errors_is_not_published_and_every_error_is_named(sqlite_engine, draft_id):
    change(sqlite_engine, draft_id, "grade.dmn", lambda t: t.replace(*GAP))
    with pytest.raises(drafts.DraftHasErrors) as refused:
        drafts.publish(sqlite_engine, draft_id, "有缺口", "admin")
    assert [e["file"] for e in refused.value.errors] == ["grade.dmn"] and "85" in refused.value.errors[0]["message"]
    with sqlite_engine.store.read() as db:
        assert [v.version for v in versions.versions(db, "ziyang-2016")] == [1]


def test_publishing_needs_a_comment_and_a_change(sqlite_engine, draft_id):
    with pytest.raises(ValidationError):
        drafts.publish(sqlite_engine, draft_id, "  ", "admin")
    with pytest.raises(Conflict) as same:
        drafts.publish(sqlite_engine, draft_id, "没改", "admin")
    assert "第 1 版内容相同" in same.value.message


def test_a_new_variant_is_published_with_its_parent(sqlite_engine):
    with sqlite_engine.store.write() as db:
        base = versions.current_version(db, "ziyang-2016")
        draft_id = drafts.create(db, base, "admin", sqlite_engine.clock.now(), variant="meishan-2024",
                                 title="眉山市质量工作考核").id
    version = drafts.publish(sqlite_engine, draft_id, "眉山办法", "admin")
    assert (version.variant, version.version, version.parent_variant) == ("meishan-2024", 1, "ziyang-2016")
    with sqlite_engine.store.read() as db:
        entries = {e.variant: e for e in library.overview(db)}
    assert entries["meishan-2024"].parent == "ziyang-2016" and entries["meishan-2024"].current.comment == "眉山办法"
    assert entries["ziyang-2016"].parent == library.TEMPLATE and entries["national-2013"].parent is None


def test_the_overview_counts_campaigns_and_running_instances_and_lists_open_drafts(sqlite_engine, draft_id):
    campaign = sqlite_engine.start_campaign("ziyang-2016", 2025)
    with sqlite_engine.store.read() as db:
        entry = {e.variant: e for e in library.overview(db)}["ziyang-2016"]
        [version] = entry.versions
        instances = len(sqlite_engine.campaign_instances(campaign.id))
        assert (version.campaigns, version.running, version.current) == (1, instances, True)
        assert [d.id for d in entry.drafts] == [draft_id]
        assert library.overview(db, {"national-2013"})[0].variant == "national-2013"


def test_a_discarded_draft_is_gone_but_a_published_one_stays(sqlite_engine, draft_id):
    with sqlite_engine.store.write() as db:
        drafts.discard(db, drafts.get(db, draft_id), "admin", sqlite_engine.clock.now())
    with sqlite_engine.store.read() as db:
        assert db.get(ProcedureDraft, draft_id) is None
        assert db.scalars(select(ProcessVersion)).first() is not None


def test_a_zip_of_the_bundle_folder_alone_keeps_the_shared_library_forms(sqlite_engine, draft_id):
    from conftest import ZIYANG

    from engine.procedure import bundle

    own = bundle.read_folder(ZIYANG)  # without the shared forms kaohe deploy adds from forms/
    before = files_of(sqlite_engine, draft_id)
    assert set(before) - set(own)  # the version holds library forms the folder lacks
    with sqlite_engine.store.write() as db:
        drafts.upload(db, drafts.get(db, draft_id), "ziyang.zip", a_zip({n: t.encode() for n, t in own.items()}), 1,
                      "admin", sqlite_engine.clock.now())
    assert files_of(sqlite_engine, draft_id) == before


@pytest.mark.parametrize("title", ["眉山市质量工作考核", "2024", "yes", "眉山: 考核 # 试行", '引号"与\\反斜杠'])
def test_a_new_title_is_written_so_that_yaml_reads_it_back_and_comments_stay(sqlite_engine, title):
    from engine.procedure import yamlfile

    with sqlite_engine.store.write() as db:
        base = versions.current_version(db, "ziyang-2016")
        row = drafts.create(db, base, "admin", sqlite_engine.clock.now(), variant="meishan-2024", title=title)
        manifest = yamlfile.load(row.files["bundle.yaml"], "bundle.yaml")
    assert (manifest["key"], manifest["title"]) == ("meishan-2024", title)
    assert row.files["bundle.yaml"].count("#") >= base.files["bundle.yaml"].count("#")
