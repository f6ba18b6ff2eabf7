"""Issue 11's story in Chromium, from the national template to a county's rectification task: an administrator
re-creates the 资阳 variant (资府办发〔2016〕4号) through the admin pages alone, no file uploaded — a new variant
of national-2013 from the library; the general settings (calendar year, grades a/b/c/d, d fails, a commended
and d to rectify); the diagram in the modeler (资阳's bodies on the lanes, 资阳's steps, due dates from the
due-date builder); the four bands of the grade table; the scheme's wider veto, its environment and 社会评价
indicators and their points; its counties typed in. It is dry-run with one county fixed low enough for d,
published, and a campaign of its counties is started from the campaigns page and run through the REST API as
each role to the d-grade county's rectification task, due one month after the announcement by 民法典
第二百零二、二百零三条. Screenshots of each editor go to test-artifacts/story-<n>-<what>.png."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import pytest
import yaml
from test_web_browser import ARTIFACTS, app, browser, server  # noqa: F401 (fixtures)
from test_web_browser_modeler import element, open_group, saved, select
from web_fixtures import PASSWORD, set_passwords

from engine import config
from engine.clock import CHINA
from engine.engine import Engine
from engine.people import accounts, signin
from engine.people.accounts import Grant
from engine.procedure import drafts
from engine.store.models import Campaign, ProcessVersion

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)").expect

NATIONAL = config.PROCESSES / "national-2013"
VARIANT = "ziyang-ui"
TITLE = "资阳市质量工作考核（资府办发〔2016〕4号）"
COUNTIES = {"512002": "雁江区", "512021": "安岳县", "512022": "乐至县", "512081": "简阳市"}
LEZHI = "512022"  # 乐至县: fixed low in the dry run, and graded d in the campaign

# The diagram: what the national template names after 国务院 and its agencies, 资阳 names after its own bodies.
LANES = [  # (lane, a point of its name band, 资阳's name, the role its body is)
    ("Lane_c_lead", (1705, 150), "市质量强市工作领导小组办公室", "lead_agency"),
    ("Lane_c_approver", (1705, 290), "市政府", "approver"),
    ("Lane_r_assessed", (205, 630), "县（市、区）人民政府", "assessed"),
    ("Lane_r_lead", (205, 840), "市质量强市工作领导小组办公室", "lead_agency"),
    ("Lane_r_member", (205, 1050), "市级相关部门", "member_unit"),
    ("Lane_r_group", (205, 1190), "市质量工作考核组", "assessment_group"),
]
POOLS = [("Participant_campaign", (1675, 290), "年度考核（市质量强市工作领导小组办公室牵头）"),
         ("Participant_region", (175, 900), "县（市、区）考核")]
STEPS = {  # step: (资阳's name or None to keep it, its due date: None, or (MM-DD, year offset))
    "Task_target_filing": (None, ("03-31", 0)),            # 第八条（一）每年年初
    "Task_self_evaluation": (None, ("12-31", 0)),          # 第八条（二）年末
    "Task_onsite_check": ("综合考核（重点实地抽查）", None),  # 第八条（三）听取汇报、审查资料、重点实地抽查
    "Task_compile_results": ("汇总与报批", "none"),          # 第八条（四）评出考核等次……报市政府
    "Task_approve_results": ("市政府审定", None),
}
# The scheme: 40 / 50 / 10. 质量目标 gains the environment indicator, 质量措施 loses the port inspection and
# the national supervisory capacity and gains 环境质量监管, 社会评价 is a new part.
UNITS = {"aqsiq": "市质监局", "ndrc": "市发展改革委", "miit": "市经信委", "moa": "市农业局", "mohurd": "市住建局",
         "mofcom": "市商务局"}
NEW_UNITS = [("environment", "市环保局"), ("statistics", "市统计局")]
POINTS = {"T1": 12, "T2": 11, "T3": 11, "M1": 3, "M2": 3, "M3": 3, "M8": 3, "M10": 3, "M12": 3, "M13": 3, "M15": 3,
          "M16": 2.5, "M18": 2.5}
DROPPED = ["M7", "M17"]  # 质量监管能力和制度建设, 口岸检验检疫综合能力建设
NEW_INDICATORS = [  # (part, group, name, points, unit)
    ("targets", "环境质量量化指标", "水、空气质量及减排总量指标", 6, "environment"),
    ("measures", "质量安全监管", "环境质量监管", 3, "environment"),
    ("social", "政府质量工作社会公众满意度", "社会公众对产品、工程、服务、环境质量的满意度情况", 10, "statistics"),
]
VETO = [("V2", "发生区域性、系统性工程质量安全事件", "工程"), ("V3", "发生区域性、系统性服务质量安全事件", "服务"),
        ("V4", "发生区域性、系统性环境质量安全事件", "环境")]
BANDS = [("a", "95", None), ("b", "85", "95"), ("c", "60", "85"), ("d", None, "60")]  # grade, from, to
ANNOUNCED = date(2026, 9, 1)


@pytest.fixture
def sqlite_engine(sqlite_store, clock):
    """Only the national template is deployed, with its regions and one user per role: 资阳 does not exist yet."""
    engine = Engine(sqlite_store, clock=clock)
    engine.load_regions(engine.check(NATIONAL))
    engine.deploy(NATIONAL)
    with sqlite_store.write() as session:
        accounts.ensure_roles(session)
        for role in accounts.ROLE_NAMES:
            accounts.create_user(session, role, role, [Grant(role)])
    set_passwords(engine)
    return engine


@pytest.fixture
def page(browser, server):  # noqa: F811
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(20000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/inbox")
    yield page
    context.close()
    assert errors == []


def shot(page, n: int, what: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"story-{n}-{what}.png"), full_page=True)


def draft_files(engine, draft_id: int) -> dict[str, str]:
    with engine.store.read() as db:
        return dict(drafts.get(db, draft_id).files)


def errors_of(engine, draft_id: int) -> list:
    with engine.store.read() as db:
        row = drafts.get(db, draft_id)
        return [f for f in drafts.findings(row, engine.runner.script_engine.environment.globals)
                if f.severity == "error"]


# -- the editors -------------------------------------------------------------------------------------------------
def new_variant(page, server) -> int:
    """The library's 「从此流程新建变体」 on the national template; the new draft's id."""
    page.goto(f"{server}/admin/procedures")
    section = page.locator("#variant-national-2013")
    section.locator("details.new-variant summary").click()
    section.locator("details.new-variant input[name=variant]").fill(VARIANT)
    section.locator("details.new-variant input[name=title]").fill(TITLE)
    section.locator("details.new-variant input[name=comment]").fill("按资府办发〔2016〕4号重建资阳市考核办法")
    shot(page, 1, "new-variant")
    section.locator("details.new-variant button").click()
    page.wait_for_url(re.compile(r".*/admin/procedures/drafts/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def rename(page, element_id: str, at, name: str) -> None:
    """Select an element and type its name in the panel's 常规 group."""
    select(page, element_id, at)
    open_group(page, "常规")
    field = page.locator("#bio-properties-panel-name")
    field.fill(name)
    field.press("Tab")


def due_date(page, step: str, rule) -> None:
    """The due-date builder of the selected step: none, or a fixed date of the assessment year."""
    select(page, step)
    open_group(page)
    kind = page.locator("[aria-label='期限类型 kind']")
    if rule == "none":
        kind.select_option("none")
        page.wait_for_selector(".kh-rule:has-text('无期限')")
        return
    day, year = rule
    kind.select_option("fixed")
    page.fill("[aria-label='月-日 MM-DD']", day)
    page.press("[aria-label='月-日 MM-DD']", "Tab")
    page.select_option("[aria-label='年份 year']", str(year))
    month, dom = (int(x) for x in day.split("-"))
    page.wait_for_selector(f".kh-rule:has-text('{month}月{dom}日前')")


def edit_diagram(page, server, engine, draft_id: int) -> None:
    page.goto(f"{server}/admin/procedures/drafts/{draft_id}")
    page.click("a[data-tool=bpmn]:has-text('assessment.bpmn')")
    page.wait_for_selector("#save-status.saved")
    for pool, at, name in POOLS:
        rename(page, pool, at, name)
    for lane, at, name, _role in LANES:
        rename(page, lane, at, name)
        select(page, lane, at)
        open_group(page)
        body = page.locator("select#bio-properties-panel-kh-lane-body")
        assert body.input_value() == _role  # the body stays the national one's: only its name changes
    for step, (name, rule) in STEPS.items():
        if name:
            rename(page, step, None, name)
        if rule:
            due_date(page, step, rule)
    page.wait_for_timeout(1500)  # the autosave's pause
    saved(page)
    assert element(page, "综合考核（重点实地抽查）")["lanes"] == ["市质量工作考核组"]
    select(page, "Task_self_evaluation")
    open_group(page)
    shot(page, 4, "modeler")

    files = draft_files(engine, draft_id)
    bundle = yaml.safe_load(files["bundle.yaml"])
    assert bundle["lanes"] == {"县（市、区）人民政府": "assessed", "市质量强市工作领导小组办公室": "lead_agency",
                               "市级相关部门": "member_unit", "市质量工作考核组": "assessment_group",
                               "市政府": "approver", "干部主管部门和纪检监察机关": "recipient"}
    assert bundle["deadlines"] == {"Task_target_filing": {"date": "03-31", "year": 0},
                                   "Task_self_evaluation": {"date": "12-31", "year": 0}}
    for name in ("综合考核（重点实地抽查）", "汇总与报批", "市政府审定", "县（市、区）考核"):
        assert f'name="{name}"' in files["assessment.bpmn"]
    assert "国家质量监督检验检疫总局" not in files["assessment.bpmn"].split("<bpmndi:")[0].split("<bpmn:process")[0]


def test_the_ziyang_variant_recreated_through_the_ui_and_run_to_a_rectification(page, server, app,  # noqa: F811
                                                                                   sqlite_engine, clock):
    engine = sqlite_engine
    draft_id = new_variant(page, server)
    edit_diagram(page, server, engine, draft_id)
