"""The BPMN modeler in Chromium (issue 11): a 文审初评 step dropped on the flow between 自我评价 and the on-site
scoring of a draft of 资阳, given its form (new), due date and lane in our panel, autosaved; the draft then checks
clean, is published, and the diff against the version before shows exactly that step; a campaign of the new
version gives a county the step with its due date. Screenshots go to test-artifacts/."""

from __future__ import annotations

import difflib
from datetime import datetime

import pytest
import yaml
from drive import Driver
from lxml import etree
from test_web_browser import ARTIFACTS, Person, app, browser, server  # noqa: F401  (fixtures)
from web_fixtures import PASSWORD, set_passwords

from engine.clock import CHINA
from engine.procedure import drafts, versions
from engine.store.models import ProcessVersion

pytestmark = pytest.mark.browser
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
ANYUE = "512021"  # 安岳县
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


def drop_initial_review(page, server, draft_id: int) -> dict:  # noqa: F811
    """Open the draft's diagram and drop a task named 文审初评 on the flow 自我评价 -> 指标评分, as a user drags it
    from the palette; the new element, as the modeler holds it."""
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("a[data-tool=bpmn]:has-text('assessment.bpmn')")
    page.wait_for_selector("#save-status.saved")
    assert page.get_attribute(".djs-palette [data-action='create.task']", "aria-label") == "新建任务"
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
    return task


def make_user_task(page, task_id: str) -> None:
    """The context pad's 更改类型 → 用户任务; saved at once."""
    select(page, task_id)
    page.click(".djs-context-pad [data-action='replace']")
    page.click(".djs-popup [data-id='replace-with-user-task']")
    saved(page)


def give_new_form_and_due_date(page) -> None:
    """In our group of the selected user task: a new form (named by the prompt) and 考核年度次年1月20日前."""
    open_group(page)
    page.select_option("select#bio-properties-panel-kh-form", "__new__")  # the prompt is answered by the fixture
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
    clean(page)


def clean(page) -> None:
    page.wait_for_function("() => document.querySelector('#problems-count').textContent.includes('无')")


def test_a_step_dropped_on_a_flow_is_set_up_in_the_panel_and_saved_clean(page, server, sqlite_engine, draft_id):  # noqa: F811
    task = drop_initial_review(page, server, draft_id)
    shot(page, "1-dropped")

    # It becomes a user task, which is saved at once and found to lack a form.
    make_user_task(page, task["id"])
    problem = page.locator("#problems li button", has_text="names no form")
    problem.wait_for()
    assert page.locator(f"[data-element-id={task['id']}].kh-has-problem").count() == 1
    shot(page, "2-problem-on-the-element")
    width = page.eval_on_selector("#canvas", "e => e.getBoundingClientRect().width")
    page.click("#canvas .djs-container", position={"x": width - 60, "y": 15})  # select something else
    problem.click()  # the list jumps to the element
    assert page.evaluate("() => window.kaoheModeler.get('selection').get().map(e => e.id)") == [task["id"]]

    # Its lane's body is the lead office, shown in our group; its form is new; its due date is picked.
    give_new_form_and_due_date(page)
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

    # The due date moved to 25 January, then undone: bundle.yaml's deadline and the panel are back at the 20th.
    page.fill("[aria-label='月-日 MM-DD']", "01-25")
    page.press("[aria-label='月-日 MM-DD']", "Tab")
    page.wait_for_selector(".kh-rule:has-text('考核年度次年1月25日前')")
    saved(page)
    files, _ = draft_files(sqlite_engine, draft_id)
    assert yaml.safe_load(files["bundle.yaml"])["deadlines"][node.get("id")] == {"date": "01-25", "year": 1}
    page.click("#undo")
    page.wait_for_selector(".kh-rule:has-text('考核年度次年1月20日前')")
    saved(page)
    files, findings = draft_files(sqlite_engine, draft_id)
    assert yaml.safe_load(files["bundle.yaml"])["deadlines"][node.get("id")] == {"date": "01-20", "year": 1}
    assert findings == []
    page.click("#redo")
    page.wait_for_selector(".kh-rule:has-text('考核年度次年1月25日前')")
    saved(page)
    files, _ = draft_files(sqlite_engine, draft_id)
    assert yaml.safe_load(files["bundle.yaml"])["deadlines"][node.get("id")] == {"date": "01-25", "year": 1}


def test_a_step_added_in_the_modeler_is_published_and_the_diff_shows_only_it(page, server, sqlite_engine,  # noqa: F811
                                                                             draft_id):
    engine = sqlite_engine
    with engine.store.read() as db:
        before = versions.current_version(db, "ziyang-2016")
        old_files, old_id = dict(before.files), before.id
    task = drop_initial_review(page, server, draft_id)
    make_user_task(page, task["id"])
    give_new_form_and_due_date(page)

    # Each pool says what the engine starts it for, in words.
    select(page, "Participant_campaign", (1375, 290))  # its name band
    open_group(page)
    assert page.inner_text(".kh-level-text").startswith("年度流程 (campaign-level)：每个考核年度启动一次")
    select(page, "Participant_region", (175, 900))
    assert page.inner_text(".kh-level-text").startswith("地区流程 (region-level)：每个考核对象")
    shot(page, "7-region-level-pool")

    # The 文审 is the assessment group's (审查资料, 第八条): its lane picked by that body, the step moves there.
    select(page, task["id"])
    open_group(page)
    lane = page.locator("select#bio-properties-panel-kh-step-lane")
    options = lane.locator("option").all_inner_texts()
    assert options == ["县（市、区）人民政府 — 被考核政府（assessed）",
                       "市质量强市工作领导小组办公室 — 牵头部门（lead_agency）",
                       "市级相关部门 — 成员单位（member_unit）",
                       "市质量工作考核组 — 考核工作组/专家（assessment_group）"]
    assert lane.input_value() == "Lane_r_lead"
    lane.select_option(label="市质量工作考核组 — 考核工作组/专家（assessment_group）")
    moved = element(page, "文审初评")
    assert moved["lanes"] == ["市质量工作考核组"]
    assert (moved["from"], moved["to"]) == (["自我评价"], ["指标评分"])
    page.wait_for_timeout(300)
    saved(page)
    clean(page)
    shot(page, "8-lane-picked")
    files, findings = draft_files(engine, draft_id)
    assert findings == []
    # bundle.yaml gained one line, the deadline: the lanes and the reminders are as they were written.
    added = [line for line in difflib.ndiff(old_files["bundle.yaml"].splitlines(), files["bundle.yaml"].splitlines())
             if line[:1] in "+-"]
    assert added == [f'+   {task["id"]}: {{date: "01-20", year: 1}}']

    # Published with a comment from the draft's page.
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.fill("#publish-form input[name=comment]", "增加文审初评（市质量工作考核组，次年1月20日前）")
    page.click("#publish-form button")
    page.wait_for_selector("#variant-ziyang-2016 tr[data-version='2'].current")
    with engine.store.read() as db:
        new_id = db.query(ProcessVersion).filter_by(variant="ziyang-2016", version=2).one().id

    # The version's diff against the one before: the step, the flow split, its form, its deadline; nothing else.
    page.goto(f"{server}/admin/procedures/versions/{new_id}")
    page.click("#version-diff a:has-text('与上一版比较')")
    page.wait_for_selector("#diff-diagrams[data-ready=true]")
    assert page.url.endswith(f"/admin/procedures/diff?from={old_id}&to={new_id}")
    assert "7 处不同" in page.inner_text("#diff-summary")
    rows = page.eval_on_selector_all(".diff-table .diff-row", """rows => rows.map(r => [
        r.closest('table').dataset.section, r.dataset.element, r.className.split(' ').find(c => c.startsWith('diff-')
        && c !== 'diff-row'), r.innerText])""")
    sections = {}
    for section, _element, _change, _text in rows:
        sections[section] = sections.get(section, 0) + 1
    # the diagram: the step, the flow it split, the flow after it; the deadline; the form (its schema, the one
    # field of the stub, its layout file). No other section has a row: no lane, no setting, no reminder.
    assert sections == {"bpmn": 3, "deadlines": 1, "forms": 3}
    found = {(section, element_id): (change, text) for section, element_id, change, text in rows}
    [flow] = [e for s, e in found if s == "bpmn" and e not in (task["id"], "Flow_r08")]
    change, text = found["bpmn", task["id"]]
    assert change == "diff-added" and "文审初评" in text and "用户任务" in text and "市质量工作考核组" in text
    assert "initial-review.schema.json" in text and "initial-review.uischema.json" in text
    change, text = found["bpmn", "Flow_r08"]  # the flow split: it now ends at the new step
    assert change == "diff-changed" and "终点 (to)" in text and "指标评分\n文审初评" in text
    change, text = found["bpmn", flow]  # and a new flow goes on from it
    assert change == "diff-added" and "文审初评 → 指标评分" in text
    change, text = found["deadlines", task["id"]]
    assert change == "diff-added" and "次年 1月20日" in text
    assert {e: c for (s, e), (c, _t) in found.items() if s == "forms"} == {
        "forms/initial-review.schema.json": "diff-added", "forms/initial-review.schema.json#opinion": "diff-added",
        "forms/initial-review.uischema.json": "diff-added"}
    # The diagrams colour the same three elements and nothing else, moved or not.
    coloured = """side => Object.fromEntries([...document.querySelectorAll(side + " .djs-element[class*='diff-']")]
        .map(e => [e.dataset.elementId, [...e.classList].filter(c => c.startsWith('diff-')).join()]))"""
    assert page.evaluate(coloured, "#diff-after") == {task["id"]: "diff-added", flow: "diff-added",
                                                      "Flow_r08": "diff-changed"}
    assert page.evaluate(coloured, "#diff-before") == {"Flow_r08": "diff-changed"}
    page.click(f'.diff-table[data-section=bpmn] .diff-row[data-element="{task["id"]}"]')
    page.screenshot(path=str(ARTIFACTS / "modeler-9-diff.png"), full_page=True)

    # A campaign of the new version: in a county, after its self-evaluation, the new step is the assessment
    # group's, with its form, due by 20 January of the year after (24:00, China time), and leads on to scoring.
    drive = Driver(engine, "ziyang-2016", [ANYUE], year=2025)
    assert drive.campaign.version_id == new_id
    drive.file_targets(ANYUE, opinions=False)
    drive.do("Task_self_evaluation", region=ANYUE)
    [review] = drive.ready(region=ANYUE)
    assert (review.bpmn_id, review.name, review.role, review.lane) == (
        task["id"], "文审初评", "assessment_group", "市质量工作考核组")
    assert review.due_at == datetime(2026, 1, 21, tzinfo=CHINA)
    group = Person(page.context.browser, server, "assessment_group")  # and it is in the group's inbox
    group.sign_in()
    group.page.goto(f"{server}/inbox?scope=claimable")
    row = group.page.locator(f"#tasks tr[data-step='{task['id']}'][data-region='{ANYUE}']")
    assert "文审初评" in row.inner_text() and "2026-01-20 24:00" in row.inner_text()  # the last day, to its end
    group.shot("modeler-10-new-step-in-the-inbox")
    group.close()
    drive.do(task["id"], {"opinion": "材料齐全，进入指标评分"}, region=ANYUE)
    assert {t.bpmn_id for t in drive.ready(region=ANYUE)} == {"Task_indicator_scoring"}


def test_undo_redo_and_a_stale_copy(page, server, sqlite_engine, draft_id):  # noqa: F811
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


def select(page, element_id: str, at: tuple[float, float] | None = None) -> None:
    """Scroll the diagram to an element and click it (at a point of the diagram when given, else its middle)
    as a user would."""
    x, y = page.evaluate("""([id, at]) => { const m = window.kaoheModeler, canvas = m.get('canvas');
        const element = m.get('elementRegistry').get(id);
        const w = element.waypoints;
        const [dx, dy] = at || (w ? [(w[0].x + w[1].x) / 2, (w[0].y + w[1].y) / 2]
                                  : [element.x + element.width / 2, element.y + element.height / 2]);
        const { width, height } = canvas.viewbox().outer;  // at scale 1, centred on the point
        canvas.viewbox({x: dx - width / 2, y: dy - height / 2, width, height});
        const box = canvas.getContainer().getBoundingClientRect(), view = canvas.viewbox();
        return [box.x + (dx - view.x) * view.scale, box.y + (dy - view.y) * view.scale]; }""", [element_id, at])
    from playwright.sync_api import TimeoutError as Timeout

    selected = "id => window.kaoheModeler.get('selection').get().map(e => e.id).join() === id"
    page.mouse.click(x, y)
    try:
        page.wait_for_function(selected, arg=element_id, timeout=2000)
    except Timeout:  # right after a label was typed, the first click may only end that editing
        page.mouse.click(x, y)
        page.wait_for_function(selected, arg=element_id)


def open_group(page, label: str = "考核设置") -> None:
    """Open a group of the panel (the panel keeps a group open from one element to the next)."""
    header = page.locator(f"#panel .bio-properties-panel-group-header:has-text('{label}')")
    if "open" not in (header.get_attribute("class") or "").split():
        header.click()


def test_conditions_lanes_and_instructions_in_the_panel(page, server, sqlite_engine, draft_id):  # noqa: F811
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}/bpmn/assessment.bpmn")
    page.wait_for_selector("#save-status.saved")

    # A gateway's flow: its condition read back as picks, from the variables in scope there.
    select(page, "Flow_r13", (1490, 1150))  # below its label
    open_group(page)
    variable = page.locator("[aria-label='变量 variable']")
    page.wait_for_selector("[aria-label='变量 variable'] option[value='score']", state="attached")
    assert variable.input_value() == "confirmation"
    assert page.locator("[aria-label='比较 comparison']").input_value() == "=="
    page.fill("[aria-label='值 value']", "recheck")
    page.press("[aria-label='值 value']", "Tab")
    condition = ("() => window.kaoheModeler.get('elementRegistry').get('Flow_r13')"
                 ".businessObject.conditionExpression.body")
    assert page.evaluate(condition) == "confirmation == 'recheck'"
    # the raw mode: checked by the server as it is typed
    page.check(".kh-condition input[type=checkbox]")
    raw = page.locator("[aria-label='原始表达式']")
    raw.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("confirmaton == 'rescore'")
    page.wait_for_selector(".kh-problem:has-text('confirmaton')")
    page.keyboard.press("Control+a")
    page.keyboard.type("confirmation == 'rescore' and score < 60")
    page.wait_for_selector(".kh-ok")
    page.press("[aria-label='原始表达式']", "Tab")
    assert page.evaluate(condition) == "confirmation == 'rescore' and score < 60"
    shot(page, "5-condition")

    # A lane: its body picked, and its name changed; bundle.yaml follows both.
    select(page, "Lane_r_member", (205, 1050))  # its name band
    open_group(page)
    body = page.locator("select#bio-properties-panel-kh-lane-body")
    assert body.input_value() == "member_unit"
    body.select_option("assessment_group")
    open_group(page, "常规")
    page.fill("#bio-properties-panel-name", "市级有关部门")
    page.press("#bio-properties-panel-name", "Tab")
    page.wait_for_timeout(1500)
    saved(page)
    files, findings = draft_files(sqlite_engine, draft_id)
    lanes = yaml.safe_load(files["bundle.yaml"])["lanes"]
    assert lanes["市级有关部门"] == "assessment_group" and "市级相关部门" not in lanes
    assert "lane name in assessment.bpmn -> role code" in files["bundle.yaml"]  # its comments are kept
    assert findings == []

    # A user task's instructions, previewed as the task page shows them.
    select(page, "Task_self_evaluation")
    open_group(page)
    page.click("button:has-text('预览')")
    page.wait_for_selector(".kh-preview strong:has-text('年末')")
    shot(page, "6-instructions")
