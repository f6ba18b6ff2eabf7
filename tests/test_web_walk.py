"""Every role walks its pages of a national campaign in Chromium, following the links it is shown, and no page
it can reach shows the machine's words: a BPMN id, a task UUID, a process or variable name, a procedure key
(issue 12: "names everywhere"). The approver's step shows the ranking it approves; notices link to their tasks.
Screenshots of each role's inbox go to test-artifacts/."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from drive import Driver
from test_web_browser import ARTIFACTS, Person, browser, server  # noqa: F401 (fixtures)
from web_fixtures import BEIJING, TIANJIN, add_web_user, set_passwords

from engine.people.accounts import Grant
from engine.running.reminders import send_reminders, urge

pytestmark = pytest.mark.browser

#: What people must not read: BPMN ids, process ids, variable names of the forms and scripts, task UUIDs, keys.
MACHINE = re.compile(r"Task_\w+|\w+_region\b|\w+_campaign\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                     r"[0-9a-f]{12}\b|national-2013|\b(?:self_scores|unit_scores|veto_items|filing_decision|"
                     r"must_rectify|region_scored|results_announced)\b")
#: Links a walk does not follow: signing out, downloads and files, the language switch, the API.
SKIP = re.compile(r"/logout|\.xlsx|\.csv|\.bpmn|\.zip|/files/|/download|/lang/|/api/|/static/")
PAGES_PER_ROLE = 40


@pytest.fixture
def app(sqlite_engine, tmp_path):
    from conftest import web_app

    return web_app(sqlite_engine, tmp_path)


@pytest.fixture
def campaign(sqlite_engine):
    """北京 scored and announced's way under way: every role has something on its pages."""
    drive = Driver(sqlite_engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(sqlite_engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(sqlite_engine, "unit-moa", Grant("member_unit", unit="moa"))
    set_passwords(sqlite_engine)
    for region, total in ((BEIJING, "91.5"), (TIANJIN, "55")):
        drive.file_targets(region)
        drive.score(region, total)
    drive.do("Task_compile_results")  # the approver's step is open
    sqlite_engine.clock.advance(days=400)
    send_reminders(sqlite_engine)  # overdue notices and escalations for those still to act
    return drive


def _walk(person: Person, start: list[str]) -> dict[str, str]:
    """Visit the pages reachable from ``start`` by links on this site; returns {path: visible text}."""
    seen: dict[str, str] = {}
    queue = list(start)
    while queue and len(seen) < PAGES_PER_ROLE:
        path = queue.pop(0)
        if path in seen:
            continue
        response = person.page.goto(person.base + path)
        if response is None or response.status >= 400:
            seen[path] = ""
            continue
        seen[path] = person.page.inner_text("body")
        for href in person.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = urlsplit(urljoin(person.base + path, href))
            if target.netloc != urlsplit(person.base).netloc or SKIP.search(target.path):
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link not in seen and link not in queue:
                queue.append(link)
    return seen


@pytest.mark.parametrize("user", ["gov-bj", "unit-moa", "lead_agency", "assessment_group", "approver",
                                  "recipient"])
def test_no_page_a_role_reaches_shows_the_machines_words(browser, server, campaign, user):  # noqa: F811
    person = Person(browser, server, user)
    person.sign_in()
    person.shot(f"walk-{user}-inbox")
    pages = _walk(person, ["/inbox", "/inbox?scope=claimable", "/notifications", "/campaigns", "/account"])
    assert len(pages) >= 4
    leaks = {path: sorted(set(MACHINE.findall(text)))[:5] for path, text in pages.items() if MACHINE.search(text)}
    assert leaks == {}, leaks
    person.close()


def test_the_approver_sees_the_ranking_and_notices_link_to_tasks(browser, server, campaign):  # noqa: F811
    approver = Person(browser, server, "approver")
    approver.sign_in()
    approver.open_task("国务院审定", scope="claimable")
    ranking = approver.page.inner_text("#ranking")
    assert "北京市" in ranking and "天津市" in ranking
    approver.shot("walk-approver-decides")
    [task] = campaign.ready("Task_approve_results")
    urge(campaign.engine, [task.id], "lead_agency")  # 督办 from the board: a notice to the approver
    approver.page.goto(server + "/notifications")
    links = approver.page.eval_on_selector_all("#notices a.open", "els => els.map(e => e.getAttribute('href'))")
    assert links == [f"/tasks/{task.id}"]
    approver.page.click("#notices a.open")
    approver.page.wait_for_url(f"**/tasks/{task.id}")
    assert approver.page.locator("#task-form").count() == 1
    approver.close()


def test_each_decision_step_shows_what_it_decides_on(browser, server, sqlite_engine):  # noqa: F811
    """Walked as the demo users: 考核组确认 shows the total and its breakdown by unit and indicator; 汇总 the
    ranking; 国务院审定 the results, the grade distribution and the way to the board; 结果送达 what is received
    (issue 12, item 1). Screenshots of each go to test-artifacts/."""
    drive = Driver(sqlite_engine, "national-2013", [BEIJING, TIANJIN])
    set_passwords(sqlite_engine)
    for region in (BEIJING, TIANJIN):
        drive.file_targets(region)
    drive.score(TIANJIN, "55")
    drive.do("Task_self_evaluation", region=BEIJING)
    drive.do("Task_onsite_check", region=BEIJING)
    from drive import unit_scores, veto_rows

    for unit, scores in unit_scores(drive.scheme, "91.5").items():
        drive.do("Task_indicator_scoring", {"scores": scores}, region=BEIJING, unit=unit)
    group = Person(browser, server, "assessment_group")
    group.sign_in()
    group.open_task("考核组确认")
    panel = group.page.inner_text("#decision-breakdown")
    assert "总分：91.5" in panel and "农业部" in panel and "T2 主要农产品质量安全监测合格率" in panel
    assert "score" not in group.page.inner_text("#instructions")
    group.shot("decide-1-confirmation")
    drive.do("Task_score_confirmation", {"confirmation": "confirm", "comment": "确认",
                                         "veto_items": veto_rows(drive.scheme)}, region=BEIJING)
    lead = Person(browser, server, "lead_agency")
    lead.sign_in()
    lead.open_task("汇总与初步认定")
    ranking = lead.page.inner_text("#ranking")
    assert ranking.index("北京市") < ranking.index("天津市") and "91.5" in ranking
    lead.shot("decide-2-compilation")
    drive.do("Task_compile_results")
    approver = Person(browser, server, "approver")
    approver.sign_in()
    approver.open_task("国务院审定")
    assert "北京市" in approver.page.inner_text("#ranking")
    assert approver.page.locator("#decision-results #grade-chart").count() == 1
    approver.page.click("#decision-results a:has-text('看板')")
    approver.page.wait_for_selector("#board")
    approver.shot("decide-3-approval-board")
    drive.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
    drive.do("Task_notify_results")
    recipient = Person(browser, server, "recipient")
    recipient.sign_in()
    recipient.open_task("结果送达")
    received = recipient.page.inner_text("#decision-results")
    assert "北京市" in received and "天津市" in received
    assert "国质量考核〔2026〕1号" in received  # the announcement's 文号
    recipient.shot("decide-4-receipt")
    for person in (group, lead, approver, recipient):
        person.close()
