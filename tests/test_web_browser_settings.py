"""In Chromium against the real server: the general settings page of a draft at 1366×768, its grade rows kept in
step with the failing grade and the consequences' boxes by the page script. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
import yaml
from test_web_browser import app, browser, server  # noqa: F401 (fixtures)
from test_web_browser_data_editors import admin_page, new_draft, saved, shot
from web_fixtures import set_passwords

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)").expect


def test_grades_renamed_added_and_removed_carry_the_failing_grade_and_the_ticks(browser, server,  # noqa: F811
                                                                                sqlite_engine):
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-settings")
    expect(page.get_by_role("heading", name="基本设置")).to_be_visible()
    shot(page, "settings-01-ziyang")
    page.get_by_label("第 4 个等级").fill("丁")  # d, the failing grade ticked for 书面整改, renamed
    expect(page.locator("#failing_grade")).to_have_value("丁")
    rectify = page.locator("#consequence-must_rectify")
    expect(rectify.get_by_label("丁")).to_be_checked()
    page.get_by_role("button", name="添加等级").click()
    page.keyboard.type("戊")
    expect(page.locator("#failing_grade option")).to_have_count(5)
    page.locator(".grade-row").nth(2).get_by_role("button", name="删除").click()  # c goes
    expect(page.locator("#consequence-commended .grade-box")).to_have_count(4)
    page.locator("#consequence-interview").get_by_label("触及否决项").check()
    page.get_by_label("节假日顺延包括周末").check()
    shot(page, "settings-02-changed")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash.success")).to_contain_text("已保存")
    got = yaml.safe_load(saved(sqlite_engine, draft_id).files["bundle.yaml"])
    assert got["grades"] == ["a", "b", "丁", "戊"] and got["failing_grade"] == "丁"
    assert got["results"]["consequences"] == {"commended": {"grades": ["a"]}, "must_rectify": {"grades": ["丁"]},
                                              "interview": {"vetoed": True}}
    assert got["calendar"] == {"extend_weekends": True}
    expect(page.locator("#findings")).to_contain_text("grade.dmn")  # the grade table still gives c and d
    shot(page, "settings-03-saved")
    assert errors == []
    context.close()
