"""The procedure library in Chromium, the whole of issue 10's story: an administrator uploads a grade table with a
gap into a draft of 资阳, sees the gap reported, fixes it by uploading a corrected file, dry-runs it with one county
fixed at 91.5 points and reads its grade, publishes, reads the diff against the version before, and starts a
campaign on the new version from the campaigns page while a running campaign stays on the old one. Screenshots go
to test-artifacts/ (library-*.png; docs/library.md shows them from docs/img/)."""

from __future__ import annotations

import re

import pytest
from test_web_browser import Person, app, browser, server  # noqa: F401 - the fixtures, reused
from web_fixtures import set_passwords

from engine.store.models import Campaign, ProcessVersion

pytestmark = pytest.mark.browser

ANYUE = "512021"  # 安岳县
GAP = ("85 &lt;= ? &lt; 95", "86 &lt;= ? &lt; 95")  # b from 86: nothing grades 85 to 86
CLOSED = ("60 &lt;= ? &lt; 85", "60 &lt;= ? &lt; 86")  # and c up to 86: the gap closed


def test_a_grade_table_with_a_gap_is_caught_fixed_tried_published_and_compared(browser, server, sqlite_engine,  # noqa: F811
                                                                                tmp_path):
    engine = sqlite_engine
    set_passwords(engine)
    running = engine.start_campaign("ziyang-2016", 2024, actor="admin")
    with engine.store.read() as db:
        grade = db.query(ProcessVersion).filter_by(variant="ziyang-2016").one().files["grade.dmn"]
    (tmp_path / "gap").mkdir()
    (tmp_path / "gap" / "grade.dmn").write_text(grade.replace(*GAP), encoding="utf-8")
    (tmp_path / "fixed").mkdir()
    (tmp_path / "fixed" / "grade.dmn").write_text(grade.replace(*GAP).replace(*CLOSED), encoding="utf-8")

    admin = Person(browser, server, "admin")
    admin.page.set_viewport_size({"width": 1366, "height": 768})
    admin.sign_in()
    page = admin.page
    page.click("a[data-nav=procedures]")
    page.wait_for_selector("#variant-ziyang-2016")
    admin.shot("library-01-variants")
    page.fill("#variant-ziyang-2016 tr.current .new-draft input[name=comment]", "b级分数线调整为86分")
    page.click("#variant-ziyang-2016 tr.current .new-draft button")
    page.wait_for_selector("#findings[data-errors='0']")
    draft_url = page.url

    page.set_input_files("#upload-form input[type=file]", str(tmp_path / "gap" / "grade.dmn"))
    page.click("#upload-form button")
    page.wait_for_selector("#findings[data-errors='1']")
    findings = page.inner_text("#findings")
    assert "grade.dmn" in findings and "85 至 86" in findings
    assert page.is_disabled("#publish-form button")
    admin.shot("library-02-draft-with-a-gap")

    page.set_input_files("#upload-form input[type=file]", str(tmp_path / "fixed" / "grade.dmn"))
    page.click("#upload-form button")
    page.wait_for_selector("#findings[data-errors='0']")

    page.click("#dry-run-link")  # try it on a virtual year, one county fixed at 91.5 points
    page.wait_for_selector("#dry-run-form")
    page.fill("input[name=year]", "2025")
    page.fill(f"input[name=score-{ANYUE}]", "91.5")
    page.click("#dry-run-start")
    page.wait_for_selector("#run-facts[data-status=done]", timeout=120000)  # the page reloads until it is done
    anyue = page.locator(f"#outcomes tr[data-region='{ANYUE}']")
    assert anyue.locator("td.score").inner_text() == "91.5" and anyue.locator("td.grade").inner_text() == "b"
    admin.shot("library-03-dry-run")

    page.goto(draft_url)
    page.fill("#publish-form input[name=comment]", "b级分数线调整为86分")
    page.click("#publish-form button")
    page.wait_for_selector("#variant-ziyang-2016 tr[data-version='2'].current")
    assert "b级分数线调整为86分" in page.inner_text("#variant-ziyang-2016")
    admin.shot("library-04-published")

    with engine.store.read() as db:
        two = db.query(ProcessVersion).filter_by(variant="ziyang-2016", version=2).one()
    page.goto(f"{server}/admin/procedures/versions/{two.id}")
    page.click("#version-diff a:has-text('与上一版比较')")
    page.wait_for_selector("#diff-diagrams[data-ready=true]")
    rows = page.locator(".diff-table[data-section=dmn] .diff-row")
    assert rows.count() == 2  # the two bands that moved, and nothing else
    changed = rows.nth(0).inner_text() + rows.nth(1).inner_text()
    assert "86 <= ? < 95" in changed and "60 <= ? < 86" in changed
    admin.shot("library-05-diff")

    page.goto(f"{server}/campaigns")  # a campaign on the new version, from the page an office uses
    page.select_option("#start-campaign select[name=variant]", "ziyang-2016")
    page.fill("#start-campaign input[name=year]", "2026")
    page.click("#start-campaign button[type=submit]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    admin.shot("library-06-campaign-started")
    admin.close()
    with engine.store.read() as db:
        later = db.query(Campaign).filter_by(variant="ziyang-2016", year=2026).one()
        still = db.get(Campaign, running.id)
    assert later.version_id == two.id and still.version_id == running.version_id != two.id
