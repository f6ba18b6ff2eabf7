"""In a real browser against the real server: an administrator dry-runs a draft of 资阳 with one county fixed at
91.5 points and another hit by a veto, waits for the report and reads it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from conftest import web_app
from test_web_browser import Person, browser, server  # noqa: F401 (fixtures)
from web_fixtures import set_passwords

from engine.procedure import drafts, versions

pytestmark = pytest.mark.browser

ANYUE, LEZHI = "512021", "512022"


@pytest.fixture
def app(sqlite_engine, tmp_path):
    return web_app(sqlite_engine, tmp_path)


@pytest.fixture
def draft_id(sqlite_engine) -> int:
    set_passwords(sqlite_engine)
    with sqlite_engine.store.write() as db:
        made = drafts.create(db, versions.current_version(db, "ziyang-2016"), "admin", sqlite_engine.clock.now(),
                             comment="试运行")
        db.flush()
        return made.id


def test_an_administrator_dry_runs_a_draft_and_reads_the_report(browser, server, draft_id):  # noqa: F811
    admin = Person(browser, server, "admin")
    admin.sign_in()
    admin.page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    admin.page.click("#dry-run-link")
    admin.page.wait_for_selector("#dry-run-form")
    admin.page.fill("input[name=year]", "2025")
    admin.page.fill(f"input[name=score-{ANYUE}]", "91.5")
    admin.page.select_option(f"select[name=veto-{LEZHI}]", "V2")
    admin.page.select_option(f"select[name=decision-rectification_verdict-{LEZHI}]", "inadequate")
    admin.shot("dry-run-01-form")
    admin.page.click("#dry-run-start")
    admin.page.wait_for_selector("#run-facts[data-status=done]", timeout=90000)  # the page reloads until done
    anyue = admin.page.locator(f"#outcomes tr[data-region='{ANYUE}']")
    assert anyue.locator("td.score").inner_text() == "91.5" and anyue.locator("td.grade").inner_text() == "b"
    lezhi = admin.page.locator(f"#outcomes tr[data-region='{LEZHI}']")
    assert lezhi.locator("td.grade").inner_text() == "d" and lezhi.locator("td.rectification-due").inner_text()
    assert admin.page.locator("#grade-chart").is_visible()
    assert "第八条（二）年末" in admin.page.inner_text("#steps")
    admin.shot("dry-run-02-report")
    admin.close()
