"""In Chromium against the real server: the grade table and the regions editors of a draft, at 1366×768.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from test_web_browser import ARTIFACTS, app, browser, server  # noqa: F401 (fixtures)
from web_fixtures import PASSWORD, set_passwords

from engine.procedure import drafts, grading, problems
from engine.store.models import ProcessVersion

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)").expect
ROOT = Path(__file__).resolve().parent.parent


def new_draft(engine, grade_dmn: str | None = None) -> int:
    with engine.store.write() as db:
        base = db.query(ProcessVersion).filter_by(variant="ziyang-2016", is_current=True).one()
        draft = drafts.create(db, base, "admin", engine.clock.now(), comment="编辑器测试")
        if grade_dmn is not None:
            draft.files = {**draft.files, "grade.dmn": grade_dmn}
        return draft.id


def saved(engine, draft_id: int):
    with engine.store.read() as db:
        return drafts.get(db, draft_id)


def admin_page(chromium, base: str):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/inbox")
    return context, page


def script_errors(page) -> list[str]:
    """The page's script errors and refused loads (the Content-Security-Policy), as they happen."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def set_bound(page, band: int, which: int, value: str) -> None:
    """Type a bound (0: from, 1: to) of band row ``band`` and leave the field, as a user does."""
    field = page.locator(f"#band-{band} input.bound").nth(which)
    field.fill(value)
    field.press("Tab")
    expect(page.locator(f"#band-{band} input.bound").nth(which)).to_have_value(value)
    expect(page.locator("#status")).to_have_text(re.compile(".+"))


def test_the_grade_table_set_to_ziyangs_bands_in_the_plain_editor(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    # The draft starts from the national bands (90 / 80 / 60) under 资阳's grade names: the 办法 moves them.
    national = (ROOT / "processes/national-2013/grade.dmn").read_text(encoding="utf-8")
    for grade in "ABCD":
        national = national.replace(f'"{grade}"', f'"{grade.lower()}"')
    draft_id = new_draft(sqlite_engine, national)
    context, page = admin_page(browser, server)
    errors = script_errors(page)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-grades")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#plain-on").is_visible() and page.locator("#bands tbody tr").count() == 4
    assert page.locator("#raw td[data-row-id]").count() > 0  # dmn-js's table, below
    shot(page, "editor-grades-01-national-bands")

    # a ≥ 95 / b 85–94 (85 to below 95) / c 60–84 (60 to below 85) / d ≤ 59 (below 60)
    set_bound(page, 0, 0, "95")
    set_bound(page, 1, 1, "95")
    set_bound(page, 1, 0, "85")
    set_bound(page, 2, 1, "85")
    assert page.locator("#strip .segment.gap, #strip .segment.overlap").count() == 0
    assert page.locator("#strip-legend li.ok").count() == 1

    set_bound(page, 1, 0, "86")  # b from 86: the scores from 85 to 86 have no grade
    gap = page.locator("#strip .segment.gap")
    assert gap.count() == 1 and gap.get_attribute("data-from") == "85" and gap.get_attribute("data-to") == "86"
    assert gap.bounding_box()["width"] >= 6
    assert "在 85 至 86 分之间没有等级" in page.inner_text("#strip-legend")
    assert "在 85 至 86 分之间没有等级" in page.inner_text("#band-1")
    shot(page, "editor-grades-02-gap-85-86")

    page.click("#undo")  # back to 85
    expect(page.locator("#band-1 input.bound").nth(0)).to_have_value("85")
    assert page.locator("#strip .segment.gap").count() == 0
    assert "85 <= ? < 95" in page.inner_text("#raw")  # the raw table follows the bands
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("2")
    assert page.locator("#findings li").count() == 0
    shot(page, "editor-grades-03-saved")

    draft = saved(sqlite_engine, draft_id)
    assert draft.revision == 2 and draft.saved_by == "admin"
    text = draft.files["grade.dmn"]
    for cell in ("? &gt;= 95", "85 &lt;= ? &lt; 95", "60 &lt;= ? &lt; 85", "? &lt; 60"):
        assert cell in text, cell
    assert grading.settings(draft.files)["grades"] == ["a", "b", "c", "d"]
    assert [f for f in problems.check_all(dict(draft.files)) if f.file == "grade.dmn"] == []
    assert errors == []
    context.close()


def test_a_stale_grade_table_is_not_saved_and_says_who_saved(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    page.wait_for_selector("body[data-ready=true]")
    with sqlite_engine.store.write() as db:  # somebody else saves meanwhile
        draft = drafts.get(db, draft_id)
        drafts.save_file(db, draft, "scheme.yaml", draft.files["scheme.yaml"] + "\n", 1, "lead_agency",
                         sqlite_engine.clock.now())
    set_bound(page, 0, 0, "96")
    page.click("#save")
    page.wait_for_selector("#conflict:not([hidden])")
    assert "lead_agency" in page.inner_text("#conflict") and page.locator("#reload").is_visible()
    shot(page, "editor-grades-04-stale")
    assert "&gt;= 96" not in saved(sqlite_engine, draft_id).files["grade.dmn"]
    context.close()


def xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_regions_imported_from_excel_and_a_body_added(browser, server, sqlite_engine, tmp_path):  # noqa: F811
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    errors = script_errors(page)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-regions")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#regions tbody tr").count() == 4

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx([["区划代码", "名称"], ["512002", "雁江区"], ["5120", "安岳县"]]))
    page.set_input_files("#import-file", str(bad))
    page.click("#import")
    page.wait_for_selector("#refused:not([hidden])")
    assert "第 3 行" in page.inner_text("#refused") and page.locator("#regions tbody tr").count() == 4
    shot(page, "editor-regions-01-refused-import")

    good = tmp_path / "资阳.xlsx"
    good.write_bytes(xlsx([["区划代码", "名称"], ["512002", "雁江区"], ["512021", "安岳县"], ["512022", "乐至县"]]))
    page.set_input_files("#import-file", str(good))
    page.click("#import")
    expect(page.locator("#regions tbody tr")).to_have_count(3)
    page.click("#add-body")
    page.locator("#body-1 input").nth(0).fill("quality_group")
    page.locator("#body-1 input").nth(0).press("Tab")
    page.locator("#body-1 input").nth(1).fill("市质量强市工作领导小组")
    page.locator("#body-1 input").nth(1).press("Tab")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("3")  # two files, two saves
    shot(page, "editor-regions-02-saved")
    draft = saved(sqlite_engine, draft_id)
    assert "512081" not in draft.files["regions.yaml"]
    assert '{code: "512022", name: 乐至县}' in draft.files["regions.yaml"]
    assert ("bodies:\n  - code: quality_group\n    name: 市质量强市工作领导小组\n    like: approver\n"
            in draft.files["bundle.yaml"])
    assert [f for f in problems.check_all(dict(draft.files)) if f.file in ("regions.yaml", "bundle.yaml")] == []
    assert [e for e in errors if "400" not in e] == []  # the refused import's answer is a 400, by design
    context.close()


def test_an_overlap_saved_is_marked_on_its_band_and_its_dmn_row(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    page.wait_for_selector("body[data-ready=true]")
    set_bound(page, 2, 1, "86")  # c up to 86 while b starts at 85: both hold from 85 to 86
    assert page.locator("#strip .segment.overlap").count() == 1
    page.click("#save")
    expect(page.locator("#findings li")).to_have_count(1)
    assert "同时适用" in page.inner_text("#findings")
    assert page.locator("#raw .finding").count() > 0  # the DMN row the server named
    assert "同时适用" in page.inner_text("#band-1") and page.locator("#band-1.has-error").count() == 1
    shot(page, "editor-grades-05-overlap-found-on-saving")
    context.close()


def test_a_table_that_is_not_bands_opens_in_the_dmn_table_only(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    first = (ROOT / "processes/ziyang-2016/grade.dmn").read_text(encoding="utf-8").replace(
        'hitPolicy="UNIQUE"', 'hitPolicy="FIRST"')
    draft_id = new_draft(sqlite_engine, first)
    context, page = admin_page(browser, server)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#plain-off").is_visible() and not page.locator("#plain-on").is_visible()
    assert "FIRST" in page.inner_text("#plain-off") and "请在下方的决策表中编辑" in page.inner_text("#plain-off")
    assert page.locator("#raw td[data-row-id]").count() > 0
    shot(page, "editor-grades-06-raw-only")
    context.close()


def test_a_grade_for_each_veto_item_in_the_plain_editor(browser, server, sqlite_engine):  # noqa: F811
    """资阳's four veto items: 服务 (V3) set to c, the others stay d; the saved table passes the check, which
    evaluates it with SpiffWorkflow's DMN engine for each item hit and for all of them at once."""
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    errors = script_errors(page)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/grades/grade.dmn")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#veto-mode-all")).to_be_checked()
    page.get_by_label("每个否决项各定等级").check()
    expect(page.locator("#veto-table tbody tr")).to_have_count(4)
    page.get_by_label("否决项 V3").select_option("c")
    expect(page.locator("#raw")).to_contain_text('"V3" in ? and not')
    shot(page, "editor-grades-07-veto-items")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("2")
    text = saved(sqlite_engine, draft_id).files["grade.dmn"]
    assert "<text>veto_hits</text>" in text
    assert "(&quot;V1&quot; in ? or &quot;V2&quot; in ? or &quot;V4&quot; in ?)" in text or \
        '("V1" in ? or "V2" in ? or "V4" in ?)' in text
    assert [f for f in problems.check_all(dict(saved(sqlite_engine, draft_id).files)) if f.file == "grade.dmn"] == []
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#veto-mode-items")).to_be_checked()
    expect(page.get_by_label("否决项 V3")).to_have_value("c")
    expect(page.get_by_label("否决项 V1")).to_have_value("d")
    assert errors == []
    context.close()
