"""The form builder and the scheme editor in Chromium at 1366×768 (an office PC's screen): a number field with
bounds added to a form and seen in the task page's preview; 资阳's environment indicator added with its points
and the running total seen to close. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json

import pytest
import test_web_browser as base
import yaml
from web_fixtures import set_passwords

from engine.procedure import drafts
from engine.store.models import ProcessVersion

pytestmark = pytest.mark.browser
browser, app, server = base.browser, base.app, base.server


class Admin(base.Person):
    """The administrator, on the screen of a government office PC."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20000)
        self.base, self.username = url, "admin"


def ziyang_draft(engine, files: dict[str, str] | None = None) -> int:
    with engine.store.write() as db:
        version = db.query(ProcessVersion).filter_by(variant="ziyang-2016", is_current=True).one()
        row = drafts.create(db, version, "admin", engine.clock.now(), comment="浏览器编辑")
        if files:
            for name, text in files.items():
                drafts.save_file(db, row, name, text, row.revision, "admin", engine.clock.now())
        return row.id


def saved(engine, draft_id: int, name: str) -> str:
    with engine.store.read() as db:
        return drafts.get(db, draft_id).files[name]


def test_a_number_field_with_bounds_is_added_to_a_form_and_previewed(browser, server, sqlite_engine):
    set_passwords(sqlite_engine)
    draft_id = ziyang_draft(sqlite_engine)
    admin = Admin(browser, server)
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-forms")
    page.fill("#new-form-name", "document-review")
    page.click("#new-form button[type=submit]")
    page.wait_for_selector("#new-note")
    page.fill("[data-prop=form-title]", "文审初评")
    page.press("[data-prop=form-title]", "Tab")
    page.select_option("#new-type", "number")
    page.click("#add")
    page.fill("#field-editor [data-prop=title]", "资料完整率")
    page.press("#field-editor [data-prop=title]", "Tab")
    page.check("#f-required")
    page.select_option("#f-decimals", "2")
    for prop, value in (("minimum", "0"), ("maximum", "100")):
        page.fill(f"#field-editor [data-prop={prop}]", value)
        page.press(f"#field-editor [data-prop={prop}]", "Tab")
    page.wait_for_selector("#preview label.title:has-text('资料完整率')")
    assert page.locator("#preview input[name=field_1]").get_attribute("inputmode") == "decimal"
    page.fill("#preview input[name=field_1]", "100.5")
    page.click("#check-sample")
    page.wait_for_selector("#preview .field.has-error .field-error")
    assert "不能大于100" in page.inner_text("#preview .field.has-error")
    admin.shot("editor-01-form-builder")
    page.click("#save")
    page.wait_for_selector("#status .success")
    schema = json.loads(saved(sqlite_engine, draft_id, "forms/document-review.schema.json"))
    assert schema["title"] == "文审初评" and schema["required"] == ["field_1"]
    assert schema["properties"]["field_1"] == {"type": "number", "title": "资料完整率", "multipleOf": 0.01,
                                              "minimum": 0, "maximum": 100}
    ui = json.loads(saved(sqlite_engine, draft_id, "forms/document-review.uischema.json"))
    assert ui["ui:order"] == ["field_1"]
    page.click("#mode")  # the raw JSON is what was saved
    assert json.loads(page.input_value("#raw-schema")) == schema
    page.goto(f"{server}/lang/en?next=/admin/procedures/drafts/{draft_id}/forms/document-review")
    page.wait_for_selector("#field-list li[data-key=field_1]")
    assert "Number" in page.inner_text("#field-list") and page.locator("#save").inner_text() == "Save"
    admin.close()


def test_the_environment_indicator_is_added_with_its_points_and_the_total_closes(browser, server, sqlite_engine):
    set_passwords(sqlite_engine)
    with sqlite_engine.store.read() as db:
        text = db.query(ProcessVersion).filter_by(variant="ziyang-2016", is_current=True).one().files["scheme.yaml"]
    scheme = yaml.safe_load(text)
    scheme["indicators"] = [i for i in scheme["indicators"] if i["code"] != "T6"]
    draft_id = ziyang_draft(sqlite_engine, {"scheme.yaml": yaml.safe_dump(scheme, allow_unicode=True, sort_keys=False)})
    admin = Admin(browser, server)
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-scheme")
    page.wait_for_selector("body[data-scheme-ready=true]")
    assert "质量目标：34 / 40 分" in page.inner_text("#totals")
    assert "off" in page.get_attribute("#totals", "class")
    page.click("button[data-add=targets]")
    t6 = "#indicators tr[data-indicator=T6]"  # the next free code of the part's letter
    page.wait_for_selector(t6)
    for key, value in (("group", "环境质量量化指标"), ("name", "水、空气质量及减排总量指标"), ("points", "6")):
        page.fill(f"{t6} input[data-key={key}]", value)
        page.press(f"{t6} input[data-key={key}]", "Tab")
    page.select_option(f"{t6} select[data-key=unit]", label="市环保局")
    page.wait_for_function("document.querySelector('#totals').className.includes('ok')")
    assert "质量目标：40 / 40 分" in page.inner_text("#totals")
    page.click(f"{t6} button[aria-expanded]")
    page.fill("#try-measured", "7.5")
    page.click("#try-run")
    page.wait_for_selector("#try-result.try-ok")
    assert "得 6 分（满分 6）" in page.inner_text("#try-result")
    admin.shot("editor-02-scheme-editor")
    page.click("#save")
    page.wait_for_selector("#status .success")
    written = yaml.safe_load(saved(sqlite_engine, draft_id, "scheme.yaml"))
    added = next(i for i in written["indicators"] if i["code"] == "T6")
    assert added == {"code": "T6", "part": "targets", "group": "环境质量量化指标", "name": "水、空气质量及减排总量指标",
                     "points": 6, "unit": "environment"}
    assert [i["code"] for i in written["indicators"]][:6] == ["T1", "T2", "T3", "T4", "T5", "T6"]
    admin.close()


def test_a_shared_form_is_copied_to_change_a_finding_marks_its_field_stale_says_who(browser, server, sqlite_engine):
    set_passwords(sqlite_engine)
    draft_id = ziyang_draft(sqlite_engine)
    admin = Admin(browser, server)
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/forms/self-evaluation")  # a shared form: read only
    page.wait_for_selector("#shared-note")
    assert page.is_disabled("#add") and page.is_disabled("#field-editor input, #form-props input")
    page.click("#copy-form")
    page.wait_for_selector("#status .success")
    assert not page.is_disabled("#add") and page.locator("#shared-note").count() == 0
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/forms/score-confirmation")
    page.wait_for_selector("#own-note")
    page.click("#mode")
    schema = json.loads(page.input_value("#raw-schema"))
    schema["properties"]["comment"] = {"type": "string", "title": "确认意见", "$ref": "https://example.com/c.json"}
    page.fill("#raw-schema", json.dumps(schema, ensure_ascii=False, indent=2))
    page.wait_for_selector("#preview-error")  # the preview refuses what deploying would
    page.click("#save")
    page.wait_for_selector("#status .success")
    page.click("#mode")
    flagged = page.locator("#field-list li.has-error")
    assert flagged.get_attribute("data-key") == "comment" and "$ref" in flagged.inner_text()
    admin.shot("editor-03-finding-on-field")

    with sqlite_engine.store.write() as db:  # another administrator saves meanwhile
        row = drafts.get(db, draft_id)
        drafts.save_file(db, row, "forms/score-confirmation.uischema.json", "{}\n", row.revision, "admin2",
                         sqlite_engine.clock.now())
    page.click("#save")
    page.wait_for_selector("#stale")
    assert "admin2" in page.inner_text("#stale")
    page.click("#stale button")
    page.wait_for_selector("#own-note")
    admin.close()


def test_a_table_of_indicator_rows_previews_one_row_per_indicator(browser, server, sqlite_engine):
    set_passwords(sqlite_engine)
    draft_id = ziyang_draft(sqlite_engine)
    admin = Admin(browser, server)
    admin.sign_in()
    page = admin.page
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/forms/indicator-review")
    page.select_option("#new-type", "table")
    page.click("#add")
    page.fill("#field-editor [data-prop=title] >> nth=0", "逐项初评")
    page.press("#field-editor [data-prop=title] >> nth=0", "Tab")
    page.click("#field-editor button:has-text('添加列')")
    page.fill("#field-editor .fb-column[data-column=column_2] [data-prop=title]", "初评意见")
    page.press("#field-editor .fb-column[data-column=column_2] [data-prop=title]", "Tab")
    page.wait_for_selector("#preview th:has-text('初评意见')")
    table = page.inner_text("#preview table")
    assert "T6 水、空气质量及减排总量指标（6 分）" in table and "S1 " in table
    assert page.locator("#preview input[name$='-score']").count() == 24  # 资阳's 24 indicators
    admin.shot("editor-04-indicator-table")
    page.click("#save")
    page.wait_for_selector("#status .success")
    items = json.loads(saved(sqlite_engine, draft_id, "forms/indicator-review.schema.json"))["properties"]["field_1"]
    assert list(items["items"]["properties"]) == ["indicator", "score", "column_2"]
    assert items["items"]["properties"]["column_2"]["title"] == "初评意见"
    admin.close()
