"""The BPMN modeler in Chromium (issue 11): a 文审初评 step dropped on the flow between 自我评价 and the on-site
scoring of a draft of 资阳, given its form (new) and due date in our panel, autosaved; the draft then checks
clean. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
import yaml
from lxml import etree
from test_web_browser import ARTIFACTS, app, browser, server  # noqa: F401  (fixtures)
from web_fixtures import PASSWORD, set_passwords

from engine.procedure import drafts, versions

pytestmark = pytest.mark.browser
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
SAVED = "() => document.querySelector('#save-status').classList.contains('saved')"


@pytest.fixture
def draft_id(sqlite_engine) -> int:
    with sqlite_engine.store.write() as db:
        return drafts.create(db, versions.current_version(db, "ziyang-2016"), "admin", sqlite_engine.clock.now(),
                             "加一步文审初评").id


@pytest.fixture
def page(browser, server, sqlite_engine):  # noqa: F811
    set_passwords(sqlite_engine)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(20000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept("initial-review"))  # the new form's name
    page.goto(server + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/inbox")
    yield page
    context.close()
    assert errors == []


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"modeler-{name}.png"))


def saved(page) -> None:
    page.wait_for_function(SAVED)


def element(page, name: str) -> dict:
    """The diagram element named ``name``: its id, type, lane and neighbours, as the modeler holds them."""
    return page.evaluate("""name => { const registry = window.kaoheModeler.get('elementRegistry');
        const shape = registry.filter(e => e.businessObject.name === name && !e.labelTarget)[0];
        if (!shape) return null;
        const lanes = registry.filter(e => e.type === 'bpmn:Lane'
            && (e.businessObject.flowNodeRef || []).includes(shape.businessObject));
        return {id: shape.id, type: shape.type, lanes: lanes.map(l => l.businessObject.name),
                from: shape.incoming.map(f => f.source.businessObject.name),
                to: shape.outgoing.map(f => f.target.businessObject.name)}; }""", name)


def draft_files(engine, draft_id):
    with engine.store.read() as db:
        row = drafts.get(db, draft_id)
        return dict(row.files), drafts.findings(row, engine.runner.script_engine.environment.globals)


def test_a_step_dropped_on_a_flow_is_set_up_in_the_panel_and_saved_clean(page, server, sqlite_engine, draft_id):
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("a[data-tool=bpmn]:has-text('assessment.bpmn')")
    page.wait_for_selector("#save-status.saved")
    assert page.get_attribute(".djs-palette [data-action='create.task']", "aria-label") == "新建任务"
    shot(page, "1-opened")

    # The flow 自我评价 -> 指标评分 runs down x=965 through the lead office's lane (y 700-980): drop a task on it.
    x, y, width, height = page.eval_on_selector(
        "#canvas", "e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }")
    page.evaluate(f"() => window.kaoheModeler.get('canvas').viewbox({{x: 700, y: 550, width: {width}, "
                  f"height: {height}}})")
    page.hover(".djs-palette [data-action='create.task']")
    page.mouse.down()
    page.mouse.move(x + 200, y + 200, steps=5)
    page.mouse.move(x + 265, y + 290, steps=10)
    page.mouse.up()
    page.keyboard.type("文审初评")
    page.keyboard.press("Enter")  # ends editing the label
    task = element(page, "文审初评")
    assert task["from"] == ["自我评价"] and task["to"] == ["指标评分"]
    assert task["lanes"] == ["市质量强市工作领导小组办公室"]

    # It becomes a user task (the context pad's 更改类型), which is saved at once and found to lack a form.
    page.click(f"[data-element-id={task['id']}] .djs-hit")
    page.click(".djs-context-pad [data-action='replace']")
    page.click(".djs-popup [data-id='replace-with-user-task']")
    saved(page)
    problem = page.locator("#problems li button", has_text="names no form")
    problem.wait_for()
    assert page.locator(f"[data-element-id={task['id']}].kh-has-problem").count() == 1
    shot(page, "2-problem-on-the-element")
    page.click("#canvas .djs-container", position={"x": width - 60, "y": 15})  # select something else
    problem.click()  # the list jumps to the element
    assert page.evaluate("() => window.kaoheModeler.get('selection').get().map(e => e.id)") == [task["id"]]

    # Its lane's body is the lead office, shown in our group; its form is new; its due date is picked.
    page.click("#panel .bio-properties-panel-group-header:has-text('考核设置')")
    page.select_option("select#bio-properties-panel-kh-form", "__new__")  # the prompt is answered below
    page.wait_for_selector("select#bio-properties-panel-kh-form option[value='initial-review.schema.json']",
                           state="attached")
    page.select_option("[aria-label='期限类型 kind']", "fixed")
    page.fill("[aria-label='月-日 MM-DD']", "01-20")
    page.press("[aria-label='月-日 MM-DD']", "Tab")
    page.select_option("[aria-label='年份 year']", "1")
    page.wait_for_selector(".kh-rule:has-text('考核年度次年1月20日前')")
    page.wait_for_selector(".kh-legal:has-text('期限至')")
    page.wait_for_timeout(300)
    saved(page)
    page.wait_for_function("() => document.querySelector('#problems-count').textContent.includes('无')")
    shot(page, "3-set-up-and-saved")

    files, findings = draft_files(sqlite_engine, draft_id)
    assert findings == []
    tree = etree.fromstring(files["assessment.bpmn"].encode())
    [node] = tree.xpath("//bpmn:userTask[@name='文审初评']", namespaces=NS)
    props = {p.get("name"): p.get("value") for p in node.iterfind(".//spiffworkflow:property", NS)}
    assert props == {"formJsonSchemaFilename": "initial-review.schema.json",
                     "formUiSchemaFilename": "initial-review.uischema.json"}
    assert yaml.safe_load(files["bundle.yaml"])["deadlines"][node.get("id")] == {"date": "01-20", "year": 1}
    assert "forms/initial-review.schema.json" in files
    lane = tree.xpath(f"//bpmn:lane[bpmn:flowNodeRef='{node.get('id')}']/@name", namespaces=NS)
    assert lane == ["市质量强市工作领导小组办公室"]
    # the multi-instance scoring keeps its collection through bpmn-js (SpiffWorkflow reads it as a name)
    assert "<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>" in files["assessment.bpmn"]


def test_undo_redo_and_a_stale_copy(page, server, sqlite_engine, draft_id):
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn")
    page.wait_for_selector("#save-status.saved")
    page.click("[data-element-id=Task_self_evaluation] .djs-hit")
    page.keyboard.press("Delete")
    assert element(page, "自我评价") is None
    page.keyboard.press("Control+z")
    assert element(page, "自我评价") is not None
    page.click("#redo")
    assert element(page, "自我评价") is None
    page.click("#undo")
    saved(page)

    with sqlite_engine.store.write() as db:  # someone else saves meanwhile
        row = drafts.get(db, draft_id)
        drafts.save_file(db, row, "bundle.yaml", row.files["bundle.yaml"] + "# 另一人的修改\n", row.revision,
                         "lead_agency", sqlite_engine.clock.now())
    page.click("[data-element-id=Task_self_evaluation] .djs-hit")
    page.keyboard.press("Delete")
    page.wait_for_selector("#save-status.error")
    assert "lead_agency" in page.inner_text("#save-status")
    assert page.is_visible("#reload")
    shot(page, "4-stale")
    page.click("#reload")
    page.wait_for_selector("#save-status.saved")
    assert element(page, "自我评价") is not None
