"""In Chromium against the real server: the general settings page of a draft at 1366×768, its grade rows kept in
step with the failing grade and the consequences' boxes by the page script. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
import yaml
from test_web_browser import app, browser, server  # noqa: F401 (fixtures)
from test_web_browser_data_editors import admin_page, new_draft, saved, script_errors, shot
from web_fixtures import set_passwords

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)").expect


def test_grades_renamed_added_and_removed_carry_the_failing_grade_and_the_ticks(browser, server,  # noqa: F811
                                                                                sqlite_engine):
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    errors = script_errors(page)
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


def test_each_contract_label_names_one_control(browser, server, sqlite_engine):  # noqa: F811
    """The labels another test drives the page by: each finds exactly one control."""
    set_passwords(sqlite_engine)
    draft_id = new_draft(sqlite_engine)
    context, page = admin_page(browser, server)
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/settings")
    for label in ("考核名称", "自然年（1月1日至12月31日）", "7月1日至次年6月30日", "自定日期起", "总分", "不合格等级",
                  "节假日顺延包括周末"):
        expect(page.get_by_label(label)).to_have_count(1)
    expect(page.get_by_placeholder("MM-DD")).to_have_count(1)
    expect(page.get_by_role("button", name="保存")).to_have_count(1)
    expect(page.get_by_role("button", name="添加等级")).to_have_count(1)
    expect(page.get_by_role("group", name="考核年度")).to_have_count(1)
    expect(page.get_by_role("group", name="等级（从高到低）")).to_have_count(1)
    page.get_by_label("自定日期起").check()
    page.get_by_placeholder("MM-DD").fill("09-01")
    page.get_by_label("总分").fill("一百")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#refused")).to_contain_text("总分须为正数")
    expect(page.get_by_placeholder("MM-DD")).to_have_value("09-01")
    context.close()
