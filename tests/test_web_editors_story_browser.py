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
from conftest import NATIONAL, make_engine
from test_web_browser import ARTIFACTS, Person, app, browser, server  # noqa: F401 (fixtures)
from test_web_browser_data_editors import admin_page
from test_web_browser_modeler import element, open_group, saved, select
from web_fixtures import add_web_user, set_passwords

from engine.clock import CHINA
from engine.people import signin
from engine.people.accounts import Grant
from engine.procedure import drafts
from engine.store.models import Campaign, ProcessVersion

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)").expect

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
STEPS = {  # step: (资阳's name or None to keep it, its due date: None, "none" or (MM-DD, year offset))
    "Task_target_filing": (None, ("03-31", 0)),            # 第八条（一）每年年初
    "Task_self_evaluation": (None, ("12-31", 0)),          # 第八条（二）年末
    "Task_onsite_check": ("综合考核（重点实地抽查）", None),  # 第八条（三）听取汇报、审查资料、重点实地抽查
    "Task_compile_results": ("汇总与报批", "none"),          # 第八条（四）评出考核等次……报市政府
    "Task_approve_results": ("市政府审定", None),
    "EndEvent_commended": ("a级：通报表扬", None),
}
INSTRUCTIONS = {  # the national text names 国务院's dates and agencies: 资阳's own, typed in the panel
    "Task_target_filing": "## 目标备案\n每年**年初**，确定本年度质量工作目标，"
                          "逐项填写后报市质量强市工作领导小组办公室审核备案。",
    "Task_self_evaluation": "## 自我评价\n**年末**结合本地区质量工作，将本年度质量工作自评报告及相关材料"
                            "报市质量强市工作领导小组办公室。\n\n虚报、瞒报、谎报的，予以通报批评（第十条）。",
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
    engine = make_engine(sqlite_store, clock, folders=(NATIONAL,))
    set_passwords(engine)
    return engine


@pytest.fixture
def page(browser, server):  # noqa: F811
    context, page = admin_page(browser, server)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
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
def new_variant(page, base: str) -> int:
    """The library's 「从此流程新建变体」 on the national template; the new draft's id."""
    page.goto(f"{base}/admin/procedures")
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


def edit_diagram(page, base, engine, draft_id: int) -> None:
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
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
    for step, text in INSTRUCTIONS.items():
        select(page, step)
        open_group(page)
        field = page.locator("#bio-properties-panel-kh-instructions")
        field.fill(text)
        field.press("Tab")
        page.click("button:has-text('预览')")
        page.wait_for_selector(".kh-preview strong:has-text('年')")
    page.wait_for_timeout(1500)  # the autosave's pause
    saved(page)
    assert page.is_hidden("#reload")  # every save went through: none was refused as stale along the way
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
    assert "报国家质量监督检验检疫总局" not in files["assessment.bpmn"] and "每年**年初**" in files["assessment.bpmn"]
    # English mode shows the new Chinese words, not the English of the national ones
    words = yaml.safe_load(files["english.yaml"])
    renamed = [lane for lane, *_ in LANES] + [pool for pool, *_ in POOLS] + [s for s, (n, _r) in STEPS.items() if n]
    assert [i for i in renamed if i in words.get("lanes", {}) or i in words.get("steps", {})] == []
    assert set(words["instructions"]) & set(INSTRUCTIONS) == set()
    assert words["steps"]["Task_filing_review"] == "Filing review"  # untouched: kept
    assert "国家质量监督检验检疫总局" not in files["assessment.bpmn"].split("<bpmndi:")[0].split("<bpmn:process")[0]


def edit_settings(page, base, engine, draft_id: int) -> None:
    """The general settings: calendar year, grades a/b/c/d (renamed in place: d stays the failing one, a is
    commended, d must rectify)."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-settings")
    expect(page.locator("#settings-form")).to_be_visible()
    assert page.locator("#title").input_value() == TITLE  # as the library's form named it
    page.check("input[name=assessment_year][value=calendar]")
    for n, grade in enumerate("abcd"):
        page.locator("input[name=grade]").nth(n).fill(grade)
    expect(page.locator("#failing_grade")).to_have_value("d")
    expect(page.locator("#consequence-commended input[value=a]")).to_be_checked()
    expect(page.locator("#consequence-must_rectify input[value=d]")).to_be_checked()
    shot(page, 2, "settings")
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash.success")).to_contain_text("已保存")
    bundle = yaml.safe_load(draft_files(engine, draft_id)["bundle.yaml"])
    assert (bundle["assessment_year"], bundle["grades"], bundle["failing_grade"]) == ("calendar", list("abcd"), "d")
    assert bundle["results"]["consequences"] == {"commended": {"grades": ["a"]}, "must_rectify": {"grades": ["d"]}}


def edit_grades(page, base, engine, draft_id: int) -> None:
    """The grade table's plain band editor: a ≥ 95 / b 85–94 / c 60–84 / d ≤ 59, a veto gives d."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-grades")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#plain-on").is_visible()
    for n, (grade, start, end) in enumerate(BANDS):
        page.select_option(f"#band-{n}-grade", grade)
        for which, value in ((0, start), (1, end)):
            if value is not None:
                field = page.locator(f"#band-{n} input.bound").nth(which)
                field.fill(value)
                field.press("Tab")
                expect(page.locator(f"#band-{n} input.bound").nth(which)).to_have_value(value)
    page.select_option("#veto-grade", "d")
    assert page.locator("#strip .segment.gap, #strip .segment.overlap").count() == 0
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("已保存")
    expect(page.locator("#findings li")).to_have_count(0)
    shot(page, 3, "grade-table")
    dmn = draft_files(engine, draft_id)["grade.dmn"]
    for cell in ("? &gt;= 95", "85 &lt;= ? &lt; 95", "60 &lt;= ? &lt; 85", "? &lt; 60", '"a"', '"d"'):
        assert cell in dmn, cell
    assert '"A"' not in dmn and '"D"' not in dmn


def edit_scheme(page, base, engine, draft_id: int) -> None:
    """The scheme editor: 资阳's bodies, the parts 40 / 50 / 10, the wider veto, the new indicators typed in."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-scheme")
    page.wait_for_selector("body[data-scheme-ready=true]")

    def typed(field, value) -> None:
        field.fill(str(value))
        field.press("Tab")

    for code, name in UNITS.items():
        typed(page.locator(f"#units tr[data-code={code}] input[data-key=name]"), name)
    for code, name in NEW_UNITS:
        page.click("#add-units")
        row = page.locator("#units tr[data-code]").last
        typed(row.locator("input[data-key=code]"), code)
        typed(page.locator("#units tr[data-code]").last.locator("input[data-key=name]"), name)
    typed(page.locator("#parts tr[data-code=measures] input[data-key=points]"), 50)
    page.click("#add-parts")
    typed(page.locator("#parts tr[data-code]").last.locator("input[data-key=code]"), "social")
    row = page.locator("#parts tr[data-code=social]")
    typed(row.locator("input[data-key=name]"), "社会评价")
    typed(page.locator("#parts tr[data-code=social] input[data-key=points]"), 10)
    for code, name, domain in VETO:
        page.click("#add-veto")
        row = page.locator("#veto tr[data-code]").last
        typed(row.locator("input[data-key=code]"), code)
        typed(page.locator("#veto tr[data-code]").last.locator("input[data-key=name]"), name)
        typed(page.locator("#veto tr[data-code]").last.locator("input[data-key=domain]"), domain)

    for code in DROPPED:
        page.locator(f"#indicators tr[data-indicator={code}] button[aria-label^='删除']").click()
    for code, points in POINTS.items():
        typed(page.locator(f"#indicators tr[data-indicator={code}] input[data-key=points]"), points)
    for part, group, name, points, unit in NEW_INDICATORS:
        page.click(f"#indicators button[data-add={part}]")
        code = page.evaluate("() => document.activeElement.closest('tr').dataset.indicator")
        row = page.locator(f"#indicators tr[data-indicator={code}]")
        typed(row.locator("input[data-key=name]"), name)
        typed(row.locator("input[data-key=group]"), group)
        typed(row.locator("input[data-key=points]"), points)
        row.locator("select[data-key=unit]").select_option(unit)
    expect(page.locator("#totals")).to_have_class(re.compile(r"\bok\b"))
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("已保存")
    expect(page.locator("#indicators tr.has-error")).to_have_count(0)
    page.locator("#indicators tr.part-row[data-part=social]").scroll_into_view_if_needed()
    shot(page, 5, "scheme")

    scheme = yaml.safe_load(draft_files(engine, draft_id)["scheme.yaml"])
    assert [(p["code"], p["points"]) for p in scheme["parts"]] == [("targets", 40), ("measures", 50), ("social", 10)]
    assert [v["code"] for v in scheme["veto"]] == ["V1", "V2", "V3", "V4"]
    added = {i["name"]: (i["part"], i["points"], i["unit"]) for i in scheme["indicators"]}
    for part, _group, name, points, unit in NEW_INDICATORS:
        assert added[name] == (part, points, unit)
    assert {u["code"]: u["name"] for u in scheme["units"]} == {**UNITS, **dict(NEW_UNITS)}


def edit_regions(page, base, engine, draft_id: int) -> None:
    """The regions editor: the 31 provinces deleted, 资阳's four counties typed in."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    page.click("#tool-regions")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#regions tbody tr").count() == 31
    while page.locator("#regions tbody tr").count():
        page.locator("#region-1 button").click()
    for n, (code, name) in enumerate(COUNTIES.items(), start=1):
        page.click("#add-region")
        for which, value in ((0, code), (1, name)):
            field = page.locator(f"#region-{n} input").nth(which)
            field.fill(value)
            field.press("Tab")
    page.click("#save")
    expect(page.locator("#status")).to_contain_text("已保存")
    shot(page, 6, "regions")
    regions = yaml.safe_load(draft_files(engine, draft_id)["regions.yaml"])["regions"]
    assert {r["code"]: r["name"] for r in regions} == COUNTIES


def dry_run(page, base, engine, draft_id: int) -> None:
    """The draft checks clean; a dry run of three counties with 乐至县 fixed at 55 points grades it d."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    assert errors_of(engine, draft_id) == []
    page.wait_for_selector("#findings[data-errors='0']")
    page.click("#dry-run-link")
    page.wait_for_selector("#dry-run-form")
    page.fill("input[name=year]", "2026")
    page.uncheck("#region-512081")  # 简阳市 is left out of the trial
    page.fill(f"input[name=score-{LEZHI}]", "55")
    shot(page, 7, "dry-run-form")
    page.click("#dry-run-start")
    page.wait_for_selector("#run-facts[data-status=done]", timeout=120000)
    lezhi = page.locator(f"#outcomes tr[data-region='{LEZHI}']")
    assert lezhi.locator("td.score").inner_text() == "55" and lezhi.locator("td.grade").inner_text() == "d"
    assert page.locator("#outcomes tr[data-region='512081']").count() == 0
    report = page.inner_text("body")  # 资阳's dates, and not the national articles for them
    assert "目标备案截止 2026年3月31日" in report and "自我评价截止 2026年12月31日" in report
    assert "6月30日" not in report and "7月15日" not in report
    shot(page, 8, "dry-run-report")


def publish_and_start(page, base, engine, draft_id: int) -> int:
    """Published with a comment; a campaign of 2026 for the variant's counties started from the campaigns page."""
    page.goto(f"{base}/admin/procedures/drafts/{draft_id}")
    page.fill("#publish-form input[name=comment]", "按资府办发〔2016〕4号重建资阳市考核办法")
    page.click("#publish-form button")
    page.wait_for_selector(f"#variant-{VARIANT} tr[data-version='1'].current")
    shot(page, 9, "published")
    page.goto(f"{base}/campaigns")
    page.select_option("#start-campaign select[name=variant]", VARIANT)
    page.fill("#start-campaign input[name=year]", "2026")
    page.click("#start-campaign button[type=submit]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    shot(page, 10, "campaign-started")
    with engine.store.read() as db:
        campaign = db.query(Campaign).filter_by(variant=VARIANT, year=2026).one()
        version = db.get(ProcessVersion, campaign.version_id)
        assert (version.version, campaign.regions) == (1, sorted(COUNTIES))
        return campaign.id


# -- the campaign, worked through the REST API as each role ------------------------------------------------------
class Api:
    """The REST API as one user, with a bearer token of its own."""

    def __init__(self, app, engine, username: str):  # noqa: F811
        token = signin.issue_token(engine.store, engine.clock.now(), username, "story")
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def tasks(self, campaign: int, step: str) -> list[dict]:
        answer = self.client.get(f"/api/v1/tasks?scope=all&campaign={campaign}&step={step}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json["tasks"]

    def complete(self, task: dict, data: dict) -> None:
        answer = self.client.post(f"/api/v1/tasks/{task['id']}/complete", json=data, headers=self.headers)
        assert answer.status_code == 200, (task["step"], task["region"], answer.text)

    def campaign(self, campaign: int) -> dict:
        answer = self.client.get(f"/api/v1/campaigns/{campaign}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json

    def upload(self, task: dict, name: str, content: bytes) -> dict:
        answer = self.client.post(f"/api/v1/tasks/{task['id']}/files", headers=self.headers,
                                  data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
        assert answer.status_code == 201, answer.text
        return {"name": answer.json["name"], "sha256": answer.json["sha256"]}


SCORES = {"512002": "96", "512021": "90", LEZHI: "55", "512081": "72"}  # a, b, d, c


def work(api: Api, campaign: int, step: str, data) -> int:
    """Every open task of ``step`` in the campaign that ``api``'s user sees, submitted with ``data(task)``."""
    tasks = api.tasks(campaign, step)
    for task in tasks:
        api.complete(task, data(task))
    return len(tasks)


def run_campaign(app, engine, campaign: int) -> None:  # noqa: F811
    from drive import unit_scores, veto_rows

    with engine.store.read() as db:
        scheme = engine.version(db, db.get(Campaign, campaign).version_id).scheme
    codes = [i["code"] for i in scheme["indicators"]]
    gov, lead, unit, group, approver = (Api(app, engine, role) for role in
                                        ("assessed", "lead_agency", "member_unit", "assessment_group", "approver"))
    assert work(gov, campaign, "Task_target_filing",
                lambda t: {"targets": [{"indicator": c, "target": "≥ 95%"} for c in codes]}) == 4
    assert work(unit, campaign, "Task_filing_opinion", lambda t: {"opinion": "agree", "comment": "同意备案"}) >= 4
    assert work(lead, campaign, "Task_filing_review",
                lambda t: {"filing_decision": "accept", "comment": "予以备案"}) == 4

    def self_evaluation(task):
        evidence = gov.upload(task, "自评报告.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
        return {"self_scores": [{"indicator": i["code"], "score": float(i["points"])} for i in scheme["indicators"]],
                "report": "本年度质量工作自评报告", "evidence": [evidence]}

    assert work(gov, campaign, "Task_self_evaluation", self_evaluation) == 4
    assert work(group, campaign, "Task_onsite_check",
                lambda t: {"findings": "重点实地抽查未发现问题", "veto_incident": False, "incident": ""}) == 4
    by_region = {region: unit_scores(scheme, total) for region, total in SCORES.items()}
    assert work(unit, campaign, "Task_indicator_scoring",
                lambda t: {"scores": by_region[t["region"]][t["unit"]]}) == 4 * len(by_region["512002"])
    assert work(group, campaign, "Task_score_confirmation", lambda t: {
        "confirmation": "confirm", "veto_items": veto_rows(scheme), "comment": "确认"}) == 4
    assert work(lead, campaign, "Task_compile_results", lambda t: {"report": "综合考核报告"}) == 1
    assert work(approver, campaign, "Task_approve_results", lambda t: {"approval": "approve", "comment": "同意"}) == 1
    assert work(lead, campaign, "Task_notify_results", lambda t: {
        "announcement": "资阳市2026年度质量工作考核结果通报", "announced_on": ANNOUNCED.isoformat()}) == 1


def one_month_after(day: date) -> date:
    """The last day of a one-month period from ``day`` (民法典第二百零一、二百零二条): the same day of the next month,
    or that month's last day; on a statutory holiday it moves past the rest (第二百零三条). The rest is the State
    Council's 2026 notice (国办发明电〔2025〕7号): 国庆节、中秋节 1 to 7 October; plain weekends do not move it."""
    month = day.month % 12 + 1
    year = day.year + (day.month == 12)
    last = date(year, month, 1)
    while last.month == month and last.day < day.day:
        last += timedelta(days=1)
    if last.month != month:
        last -= timedelta(days=1)
    rest = {date(2026, 10, 1) + timedelta(days=n) for n in range(7)}
    while last in rest:
        last += timedelta(days=1)
    return last


def test_the_ziyang_variant_recreated_through_the_ui_and_run_to_a_rectification(page, server, app,  # noqa: F811
                                                                                   sqlite_engine, clock):
    engine = sqlite_engine
    draft_id = new_variant(page, server)
    edit_settings(page, server, engine, draft_id)
    edit_grades(page, server, engine, draft_id)
    edit_diagram(page, server, engine, draft_id)
    edit_scheme(page, server, engine, draft_id)
    edit_regions(page, server, engine, draft_id)
    dry_run(page, server, engine, draft_id)
    campaign = publish_and_start(page, server, engine, draft_id)
    run_campaign(app, engine, campaign)

    # The results as the lead office reads them: 资阳's bands and grades; a commended, d to rectify.
    results = {r["region"]: r for r in Api(app, engine, "lead_agency").campaign(campaign)["results"]}
    assert {code: (r["grade"], r["consequences"]) for code, r in results.items()} == {
        "512002": ("a", {"commended": True, "must_rectify": False}),
        "512021": ("b", {"commended": False, "must_rectify": False}),
        LEZHI: ("d", {"commended": False, "must_rectify": True}),
        "512081": ("c", {"commended": False, "must_rectify": False})}

    # 乐至县, graded d, has the rectification report to write, due one month after the announcement.
    due = one_month_after(ANNOUNCED)
    assert due == date(2026, 10, 8)  # 1 October is 国庆节: the last day is the first working day after the rest
    gov = Api(app, engine, "assessed")
    [task] = gov.tasks(campaign, "Task_rectification_report")
    assert task["region"] == LEZHI and task["name"] == "整改报告"
    assert datetime.fromisoformat(task["due_at"]) == datetime.combine(due + timedelta(days=1), datetime.min.time(),
                                                                      tzinfo=CHINA)
    # and in the inbox of 乐至县's own account (an account is not part of a procedure: made here as users are)
    add_web_user(engine, "gov-lezhi", Grant("assessed", region=LEZHI, variant=VARIANT))
    county = Person(page.context.browser, server, "gov-lezhi")
    county.page.set_viewport_size({"width": 1366, "height": 768})
    county.sign_in()
    page = county.page
    page.goto(f"{server}/inbox?scope=claimable")
    row = page.locator(f"#tasks tr[data-step='Task_rectification_report'][data-region='{LEZHI}']")
    assert "整改报告" in row.inner_text() and f"{due:%Y-%m-%d} 24:00" in row.inner_text()  # its last day, to its end
    shot(page, 11, "rectification-in-the-county-inbox")
    county.close()
