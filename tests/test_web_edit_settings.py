"""The general settings page of a draft: each field written into bundle.yaml, every bad input refused at once,
a stale save refused, the rest of the file kept byte for byte, and only administrators let in."""

from __future__ import annotations

import lxml.html
import pytest
import yaml
from sqlalchemy import select
from test_web_procedures import draft_row, new_draft
from web_fixtures import csrf, login

from engine.procedure import drafts
from engine.store.models import AuditEntry

OWNED = ("title:", "assessment_year:", "scale:", "grades:", "failing_grade:", "results:", "calendar:")


def url(draft_id: int) -> str:
    return f"/admin/procedures/drafts/{draft_id}/settings"


def fields(html: str) -> list[tuple[str, str]]:
    """What a browser sends for the page's form as it stands."""
    form = lxml.html.fromstring(html).get_element_by_id("settings-form")
    return list(form.form_values())


def changed(pairs, **new) -> list[tuple[str, str]]:
    """``pairs`` with the fields named replaced (a list: one pair each; None: left out)."""
    out = [(k, v) for k, v in pairs if k not in new]
    for key, value in new.items():
        out += [(key, v) for v in (value if isinstance(value, list) else [value]) if v is not None]
    return out


def save(client, draft_id: int, pairs):
    pairs = [(k, v) for k, v in pairs if k != "csrf_token"] + [("csrf_token", csrf(client))]
    return client.post(url(draft_id), data=_multi(pairs))


def _multi(pairs):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def manifest(engine, draft_id: int) -> dict:
    return yaml.safe_load(draft_row(engine, draft_id).files["bundle.yaml"])


def others(text: str) -> list[str]:
    """The lines of bundle.yaml outside the sections the page writes."""
    kept, inside = [], False
    for line in text.splitlines():
        if line and line[0] not in " \t":
            inside = line.startswith(OWNED)
        if not inside:
            kept.append(line)
    return kept


@pytest.fixture
def draft(admin, engine):
    return new_draft(admin, engine)


def test_the_page_shows_the_settings_under_their_labels(admin, draft):
    page = admin.get(url(draft))
    assert page.status_code == 200
    for label in ("考核名称", "考核年度", "自然年（1月1日至12月31日）", "7月1日至次年6月30日", "自定日期起", "总分",
                  "等级（从高到低）", "添加等级", "删除", "不合格等级", "节假日顺延包括周末", "保存", "通报表扬",
                  "书面整改", "约谈"):
        assert label in page.text, label
    sent = fields(page.text)
    assert ("title", "资阳市质量工作考核（资府办发〔2016〕4号）") in sent and ("assessment_year", "calendar") in sent
    assert ("scale", "100") in sent and [v for k, v in sent if k == "grade"] == ["a", "b", "c", "d"]
    assert ("failing_grade", "d") in sent and ("commended_grades", "a") in sent
    assert ("must_rectify_grades", "d") in sent and not any(k == "extend_weekends" for k, _ in sent)
    assert 'inputmode="decimal"' in page.text and 'placeholder="MM-DD"' in page.text
    assert 'id="tool-settings"' in admin.get(f"/admin/procedures/drafts/{draft}").text


def test_saving_unchanged_keeps_the_file_byte_for_byte(admin, engine, draft):
    before = draft_row(engine, draft).files["bundle.yaml"]
    response = save(admin, draft, fields(admin.get(url(draft)).text))
    assert response.status_code == 302
    assert draft_row(engine, draft).files["bundle.yaml"] == before
    assert "已保存" in admin.get(response.headers["Location"]).text


def test_each_setting_is_written_and_the_rest_of_the_file_is_kept(admin, engine, draft):
    before = draft_row(engine, draft).files["bundle.yaml"]
    sent = changed(fields(admin.get(url(draft)).text), title="资阳市质量工作考核（新）", assessment_year="custom",
                   year_start="09-01", scale="150.5", commended_best="3", must_rectify_last="2",
                   interview_vetoed="1", extend_weekends="1")
    assert save(admin, draft, sent).status_code == 302
    after = draft_row(engine, draft).files["bundle.yaml"]
    got = yaml.safe_load(after)
    assert got["title"] == "资阳市质量工作考核（新）" and got["assessment_year"] == {"start": "09-01"}
    assert got["scale"] == 150.5 and got["calendar"] == {"extend_weekends": True}
    assert got["results"]["consequences"] == {"commended": {"grades": ["a"], "best": 3},
                                              "must_rectify": {"grades": ["d"], "last": 2},
                                              "interview": {"vetoed": True}}
    assert got["results"]["reported_by"] == "region_scored"
    assert others(after) == others(before)
    assert "    commended: {grades: [a], best: 3} # 第九条：a 级通报表扬" in after
    with engine.store.read() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "draft_save")
                           .order_by(AuditEntry.id.desc())).first()
    assert entry.actor == "admin" and entry.data["file"] == "bundle.yaml"


@pytest.mark.parametrize(("year", "start", "stored"), [("july", "", "july"), ("calendar", "", "calendar")])
def test_the_named_years(admin, engine, draft, year, start, stored):
    assert save(admin, draft, changed(fields(admin.get(url(draft)).text), assessment_year=year,
                                      year_start=start)).status_code == 302
    assert manifest(engine, draft)["assessment_year"] == stored


def test_a_renamed_grade_carries_the_failing_grade_and_consequences_and_the_check_says_what_else(admin, engine,
                                                                                                  draft):
    sent = changed(fields(admin.get(url(draft)).text), grade=["A", "B", "C", "D", "E"],
                   grade_was=["a", "b", "c", "d", ""])
    response = save(admin, draft, sent)
    assert response.status_code == 302
    got = manifest(engine, draft)
    assert got["grades"] == ["A", "B", "C", "D", "E"] and got["failing_grade"] == "D"
    assert got["results"]["consequences"]["commended"] == {"grades": ["A"]}
    page = admin.get(response.headers["Location"]).text
    assert "a → A" in page  # the warning names the renames
    assert 'id="grade-table-link"' in page
    assert 'class="finding error"' in page  # the grade table still gives a … d


def test_bad_input_is_refused_all_at_once_keeping_what_was_typed(admin, engine, draft):
    before = draft_row(engine, draft)
    sent = changed(fields(admin.get(url(draft)).text), title="", scale="一百", assessment_year="custom",
                   year_start="13-01", commended_best="-1", failing_grade="x")
    response = save(admin, draft, sent)
    assert response.status_code == 400
    for words in ("考核名称", "总分须为正数", "MM-DD", "不合格等级须为等级之一", "通报表扬"):
        assert words in response.text.split('id="refused"')[1].split("</div>")[0], words
    again = fields(response.text)
    assert ("scale", "一百") in again and ("year_start", "13-01") in again and ("commended_best", "-1") in again
    row = draft_row(engine, draft)
    assert row.revision == before.revision and row.files == before.files


def test_no_grades_is_refused(admin, engine, draft):
    before = draft_row(engine, draft).files
    response = save(admin, draft, changed(fields(admin.get(url(draft)).text), grade=["", ""], grade_was=None))
    assert response.status_code == 400 and "至少需要一个等级" in response.text
    assert draft_row(engine, draft).files == before


def test_a_consequence_is_added_and_removed(admin, engine, draft):
    sent = changed(fields(admin.get(url(draft)).text), new_consequence="warned")
    assert save(admin, draft, sent).status_code == 302
    assert manifest(engine, draft)["results"]["consequences"]["warned"] == {"grades": []}
    page = admin.get(url(draft)).text
    assert 'name="warned_remove"' in page and 'name="commended_remove"' not in page
    sent = changed(fields(page), warned_grades="c", warned_vetoed="1")
    assert save(admin, draft, sent).status_code == 302
    assert manifest(engine, draft)["results"]["consequences"]["warned"] == {"grades": ["c"], "vetoed": True}
    assert save(admin, draft, changed(fields(admin.get(url(draft)).text), warned_remove="1")).status_code == 302
    assert "warned" not in manifest(engine, draft)["results"]["consequences"]
    bad = save(admin, draft, changed(fields(admin.get(url(draft)).text), new_consequence="9 bad"))
    assert bad.status_code == 400


def test_a_stale_save_is_refused_naming_who_saved(admin, engine, draft):
    page = fields(admin.get(url(draft)).text)
    assert save(admin, draft, changed(page, scale="120")).status_code == 302
    response = save(admin, draft, changed(page, title="别的名称"))
    assert response.status_code == 409
    assert "admin" in response.text and "已过期" in response.text
    assert ("title", "别的名称") in fields(response.text)
    got = manifest(engine, draft)
    assert got["scale"] == 120 and got["title"] != "别的名称"


def test_only_an_administrator_uses_the_page(admin, engine, draft, app):
    other = app.test_client()
    login(other, "lead_agency")
    assert other.get(url(draft)).status_code == 403
    before = draft_row(engine, draft).files
    assert save(other, draft, changed(fields(admin.get(url(draft)).text), title="x")).status_code == 403
    assert draft_row(engine, draft).files == before


def test_the_name_renames_the_draft_and_the_total_points_name_the_scheme_that_no_longer_adds_up(admin, engine,
                                                                                                 draft):
    response = save(admin, draft, changed(fields(admin.get(url(draft)).text), title="资阳（新）", scale="120"))
    assert response.status_code == 302
    assert draft_row(engine, draft).title == "资阳（新）"
    page = admin.get(response.headers["Location"]).text
    assert "scheme.yaml" in page.split('id="findings"')[1]


def test_the_page_in_english(admin, draft):
    admin.get("/lang/en")
    page = admin.get(url(draft)).text
    for words in ("General settings", "Name of the assessment", "Calendar year (1 January to 31 December)",
                  "Grades (best first)", "Failing grade", "Commended", "Holiday extensions include weekends"):
        assert words in page, words


def test_settings_of_the_wrong_shape_show_as_they_are_and_the_check_names_them(admin, engine, draft):
    row = draft_row(engine, draft)
    text = row.files["bundle.yaml"].replace("scale: 100 ", "scale: abc ").replace("calendar:\n  extend_weekends: false",
                                                                                  "calendar: [x]")
    with engine.store.write() as db:
        drafts.save_file(db, drafts.get(db, draft), "bundle.yaml", text, row.revision, "admin", engine.clock.now())
    page = admin.get(url(draft))
    assert page.status_code == 200 and ("scale", "abc") in fields(page.text)
    assert 'class="finding error"' in page.text
