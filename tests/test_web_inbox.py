"""The inbox: whose tasks are listed, claims, reassignment, filters, counts and notifications."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from drive import Driver
from sqlalchemy import delete, func, insert, select, update
from web_fixtures import BEIJING, TIANJIN, add_web_user, login, post, set_passwords, task_ids

from engine.clock import local
from engine.people.accounts import Grant
from engine.store.models import AuditEntry, InboxTask, Notification, User


@pytest.fixture
def drive(engine):
    drive = Driver(engine, "national-2013", [BEIJING, TIANJIN])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-bj2", Grant("assessed", region=BEIJING))
    add_web_user(engine, "gov-tj", Grant("assessed", region=TIANJIN))
    set_passwords(engine)
    return drive


def _filing(drive, region):
    return drive.ready("Task_target_filing", region)[0]


def test_a_region_sees_only_its_own_claimable_tasks(client, drive):
    login(client, "gov-bj")
    page = client.get("/inbox?scope=claimable")
    assert task_ids(page.text) == [_filing(drive, BEIJING).id]
    assert client.get("/inbox?scope=mine").text.count('data-task="') == 0  # nothing claimed yet
    # the inbox opens on the tab that has work: nothing is mine yet, so the tasks to claim
    landing = client.get("/inbox").text
    assert task_ids(landing) == [_filing(drive, BEIJING).id] and 'class="active" id="scope-claimable"' in landing


def test_claim_moves_a_task_to_mine_and_hides_it_from_colleagues(client, app, drive):
    task = _filing(drive, BEIJING)
    login(client, "gov-bj")
    claimed = post(client, f"/tasks/{task.id}/claim")
    assert claimed.status_code == 302 and claimed.headers["Location"].endswith(f"/tasks/{task.id}")  # on to it
    assert task_ids(client.get("/inbox").text) == [task.id]
    other = app.test_client()
    login(other, "gov-bj2")
    assert task_ids(other.get("/inbox?scope=claimable").text) == []
    assert post(other, f"/tasks/{task.id}/claim").status_code == 409
    page = other.get(f"/tasks/{task.id}")
    assert "无权办理" in page.text or 'id="task-form"' not in page.text
    assert post(other, f"/tasks/{task.id}", {"action": "submit"}).status_code == 403
    assert post(other, f"/tasks/{task.id}/unclaim").status_code == 403
    assert post(client, f"/tasks/{task.id}/unclaim").status_code == 302
    assert task_ids(other.get("/inbox?scope=claimable").text) == [task.id]


def test_another_regions_task_cannot_be_claimed_or_opened(client, drive):
    task = _filing(drive, TIANJIN)
    login(client, "gov-bj")
    assert post(client, f"/tasks/{task.id}/claim").status_code == 403
    assert client.get(f"/tasks/{task.id}").status_code == 403
    assert client.get("/tasks/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_supervisor_reassigns_and_the_new_assignee_is_notified(client, app, engine, drive):
    task = _filing(drive, BEIJING)
    login(client, "lead_agency")
    page = client.get("/inbox?scope=all")
    assert task.id in task_ids(page.text)
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee": "gov-tj"}).status_code == 400  # wrong region
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee": "gov-bj2"}).status_code == 302
    with engine.store.read() as session:
        assert session.get(InboxTask, task.id).assignee == "gov-bj2"
        user = session.scalars(select(User).where(User.username == "gov-bj2")).one()
        [notice] = session.scalars(select(Notification).where(Notification.user_id == user.id))
        assert [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.task_id == task.id))] == [
            "reassign"]
    other = app.test_client()
    login(other, "gov-bj2")
    assert task_ids(other.get("/inbox").text) == [task.id]
    assert "任务改派" in other.get("/notifications").text
    assert 'id="count-unread">1<' in other.get("/inbox").text
    assert post(other, "/notifications/read", {"id": notice.id}).status_code == 302
    assert 'id="count-unread"' not in other.get("/inbox").text


def test_a_reassigned_task_is_announced_in_the_new_assignees_language(client, app, engine, drive):
    """The notice of a reassignment is worded when read: in English, with the step's and region's English names
    (english.yaml), for one who chose English; in Chinese for the others; an older notice reads as written."""
    task = _filing(drive, BEIJING)
    login(client, "lead_agency")
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee": "gov-bj2"}).status_code == 302
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee": "gov-bj"}).status_code == 302
    with engine.store.write() as session:  # one written before notices kept their message
        user = session.scalars(select(User).where(User.username == "gov-bj2")).one()
        session.add(Notification(user_id=user.id, at=engine.clock.now(), kind="reassigned",
                                 title="任务改派：旧的任务", body="某人将任务「旧的任务」改派给您。"))
    english = app.test_client()
    english.get("/lang/en")
    login(english, "gov-bj2")
    page = english.get("/notifications").text.split('id="notices"')[1]
    assert "Task reassigned: Target filing" in page and "has given the task “Target filing” to you." in page
    assert "任务改派：目标备案" not in page and "目标备案" not in page
    assert "任务改派：旧的任务" in page and "某人将任务「旧的任务」改派给您。" in page
    login(client, "gov-bj")
    chinese = client.get("/notifications").text.split('id="notices"')[1]
    assert "任务改派：目标备案" in chinese and "将任务「目标备案」改派给您。" in chinese
    assert "Task reassigned" not in chinese


def test_only_supervisors_reassign(client, drive):
    task = _filing(drive, BEIJING)
    login(client, "gov-bj")
    assert post(client, f"/tasks/{task.id}/reassign", {"assignee": "gov-bj2"}).status_code == 403
    assert "scope-all" not in client.get("/inbox").text


def test_filters_by_step_region_and_due_state(client, drive, clock):
    login(client, "lead_agency")
    everything = task_ids(client.get("/inbox?scope=all").text)
    assert len(everything) == 2
    beijing = task_ids(client.get(f"/inbox?scope=all&region={BEIJING}").text)
    assert beijing == [_filing(drive, BEIJING).id]
    assert task_ids(client.get("/inbox?scope=all&step=Task_self_evaluation").text) == []
    due = _filing(drive, BEIJING).due_at
    assert due is not None
    assert task_ids(client.get("/inbox?scope=all&state=overdue").text) == []
    clock.set(due - timedelta(days=2))
    login(client, "lead_agency")  # weeks later: the idle session has ended
    assert set(task_ids(client.get("/inbox?scope=all&state=due_soon").text)) == set(everything)
    clock.set(due + timedelta(days=1))
    login(client, "lead_agency")
    page = client.get("/inbox?scope=all&state=overdue")
    assert set(task_ids(page.text)) == set(everything) and 'class="overdue"' in page.text


def test_the_navigation_counts_my_and_claimable_tasks(client, drive):
    login(client, "gov-bj")
    page = client.get("/inbox")
    assert 'id="count-mine">我的 0<' in page.text and 'id="count-claimable">待认领 1<' in page.text
    post(client, f"/tasks/{_filing(drive, BEIJING).id}/claim")
    page = client.get("/inbox")
    assert 'id="count-mine">我的 1<' in page.text and 'id="count-claimable">待认领 0<' in page.text


def test_the_navigation_stops_counting_at_999(client, engine, drive, clock):
    """A lead agency with thousands of tasks to claim sees 999+ (counted on the index, up to 1,000)."""
    filing = _filing(drive, BEIJING)
    with engine.store.write() as session:
        row = {c.name: getattr(filing, c.name) for c in InboxTask.__table__.columns}
        session.execute(insert(InboxTask), [dict(row, id=str(uuid.uuid4()), role="lead_agency",
                                                 due_at=clock.now() - timedelta(days=1 + n % 3))
                                            for n in range(1200)])
    login(client, "lead_agency")
    page = client.get("/inbox").text
    assert 'id="count-claimable">待认领 999+<' in page and 'id="count-overdue">逾期 999+<' in page
    with engine.store.write() as session:  # 1,001 left, 2 of them overdue
        session.execute(update(InboxTask).where(InboxTask.role == "lead_agency").values(due_at=None))
        ids = list(session.scalars(select(InboxTask.id).where(InboxTask.role == "lead_agency").limit(2)))
        session.execute(update(InboxTask).where(InboxTask.id.in_(ids)).values(due_at=clock.now() - timedelta(days=1)))
        session.execute(delete(InboxTask).where(InboxTask.role == "lead_agency", InboxTask.due_at.is_(None),
                                                InboxTask.id.not_in(list(session.scalars(
                                                    select(InboxTask.id).where(InboxTask.role == "lead_agency",
                                                                               InboxTask.due_at.is_(None))
                                                    .limit(999))))))
        assert session.scalar(select(func.count()).where(InboxTask.role == "lead_agency")) == 1001
    page = client.get("/inbox").text
    assert 'id="count-claimable">待认领 999+<' in page and 'id="count-overdue">逾期 2<' in page


def test_notifications_of_other_users_are_not_shown_or_marked(client, engine, drive, clock):
    with engine.store.write() as session:
        tj = session.scalars(select(User).where(User.username == "gov-tj")).one()
        session.add(Notification(user_id=tj.id, at=clock.now(), kind="reminder", title="天津提醒", body="...",
                                 link="/inbox"))
    login(client, "gov-bj")
    assert "天津提醒" not in client.get("/notifications").text
    post(client, "/notifications/read")
    with engine.store.read() as session:
        assert session.scalars(select(Notification.read_at)).one() is None


def _options(page: str, name: str) -> list[str]:
    menu = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S).group(1)
    return [v for v in re.findall(r'<option value="([^"]*)"', menu) if v]


def test_the_filter_menus_offer_what_the_user_may_see(client, drive):
    """A province's menus hold its own region and its own steps; the lead agency's every region and step."""
    login(client, "gov-bj")
    page = client.get("/inbox?scope=claimable").text
    assert _options(page, "region") == [BEIJING]
    steps = _options(page, "step")
    assert "Task_target_filing" in steps and "Task_self_evaluation" in steps
    assert "Task_filing_review" not in steps and "Task_indicator_scoring" not in steps  # other roles' steps
    assert _options(page, "campaign") == [str(drive.campaign.id)]
    login(client, "lead_agency")
    page = client.get("/inbox?scope=all").text
    assert _options(page, "region") == sorted([BEIJING, TIANJIN])
    assert {"Task_target_filing", "Task_filing_review", "Task_indicator_scoring"} <= set(_options(page, "step"))


def test_a_user_of_another_procedure_is_offered_nothing_of_this_campaign(client, engine, drive):
    add_web_user(engine, "ziyang-gov", Grant("assessed", variant="ziyang-2016"))  # the national one runs
    login(client, "ziyang-gov")
    page = client.get("/inbox").text
    assert _options(page, "campaign") == _options(page, "step") == _options(page, "region") == []


def test_a_campaign_without_open_tasks_leaves_the_menu(client, engine, drive):
    with engine.store.write() as session:
        session.execute(delete(InboxTask))  # as if every task of the campaign were done
    login(client, "lead_agency")
    assert _options(client.get("/inbox?scope=all").text, "campaign") == []


def test_the_notification_centre_groups_escalations_by_campaign_and_step(client, engine):
    """Two regions overdue at one step: one line for the lead agency, with both inside and one button to mark
    them read; each notice still links to its task (issue 12, item 6)."""
    from datetime import datetime

    from engine.clock import CHINA
    from engine.running.reminders import send_reminders

    campaign = engine.start_campaign("national-2013", 2025, [BEIJING, TIANJIN])
    set_passwords(engine)
    engine.clock.set(datetime(2025, 7, 1, 9, tzinfo=CHINA))
    send_reminders(engine)
    login(client, "lead_agency")
    page = client.get("/notifications").text
    notices = page.split('id="notices"')[1]
    assert notices.count('class="group unread"') == 1 and "目标备案" in notices
    group = notices.split('class="group unread"')[1].split("</details>")[0]
    assert "共 2 条，2 条未读" in group
    links = re.findall(r'href="(/tasks/[0-9a-f-]+)" class="open"', group)
    assert sorted(links) == sorted(f"/tasks/{t.id}" for t in engine.tasks(campaign_id=campaign.id))
    ids = re.findall(r'name="id" value="(\d+)"', group.split("</form>")[0])
    post(client, "/notifications/read", {"id": ids})
    assert "共 2 条，0 条未读" in client.get("/notifications").text


def test_the_inbox_sorts_searches_and_keeps_named_filters(client, engine):
    """Sort by a column (again: the other way), search a region or step by name, save the filter under a name
    and come back to it; a member unit's name, not its code, and the procedure's title, not its key."""
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING, TIANJIN])
    set_passwords(engine)
    login(client, "lead_agency")

    def regions(page: str) -> list[str]:
        return re.findall(r'<tr class="[^"]*" data-task="[^"]+" data-step="[^"]+" data-region="(\d*)"', page)

    up = client.get("/inbox", query_string={"scope": "all", "sort": "region"}).text
    down = client.get("/inbox", query_string={"scope": "all", "sort": "region", "desc": "1"}).text
    assert regions(up) == sorted(regions(up)) and regions(down) == sorted(regions(up), reverse=True)
    assert 'id="sort-region">地区 ↑' in up and "desc=1" in up.split('id="sort-region"')[0].rsplit("<a", 1)[1]
    found = client.get("/inbox", query_string={"scope": "all", "q": "天津"}).text
    assert set(regions(found)) == {TIANJIN}
    assert set(regions(client.get("/inbox", query_string={"scope": "all", "q": "备案"}).text)) == {BEIJING, TIANJIN}
    assert regions(client.get("/inbox", query_string={"scope": "all", "q": "自我评价"}).text) == []
    assert "national-2013" not in up.split('name="campaign"')[1].split("</select>")[0]
    assert "质量工作考核（国办发〔2013〕47号）" in up

    post(client, "/inbox/filters", {"name": "天津的任务", "scope": "all", "q": "天津", "sort": "region"})
    page = client.get("/inbox").text
    link = page.split('id="saved-filters"')[1].split("天津的任务")[0].rsplit('href="', 1)[1].split('"')[0]
    assert set(regions(client.get(link.replace("&amp;", "&")).text)) == {TIANJIN}
    assert post(client, "/inbox/filters", {"name": "", "scope": "all"}, follow_redirects=True).status_code == 200
    with engine.store.read() as session:
        from engine.store.models import InboxFilter
        [saved] = session.scalars(select(InboxFilter))
    login(client, "admin")  # another user's filter is not theirs to delete
    assert post(client, f"/inbox/filters/{saved.id}/delete").status_code == 404
    assert campaign.id


def test_a_member_unit_reads_its_own_name_in_the_inbox(client, engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    add_web_user(engine, "unit-moa", Grant("member_unit", unit="moa"))
    set_passwords(engine)
    drive.do("Task_target_filing", region=BEIJING)  # each member unit gives its opinion on the filing
    login(client, "unit-moa")
    page = client.get("/inbox", query_string={"scope": "claimable"}).text
    rows = page.split('id="tasks"')[1]
    assert "<td>农业部</td>" in rows and "<td>moa</td>" not in rows


def test_the_lead_agency_extends_a_deadline_from_the_task_page(client, engine):
    drive = Driver(engine, "national-2013", [BEIJING])
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    set_passwords(engine)
    [task] = drive.ready("Task_target_filing", BEIJING)
    login(client, "lead_agency")
    page = client.get(f"/tasks/{task.id}").text
    assert 'id="extend-due"' in page
    refused = post(client, f"/tasks/{task.id}/extend", {"day": "2025-07-20", "reason": ""}, follow_redirects=True)
    assert "请填写延期原因" in refused.text
    done = post(client, f"/tasks/{task.id}/extend", {"day": "2025-07-20", "reason": "统一延期"}, follow_redirects=True)
    assert "2025年7月20日 24:00" in done.text
    login(client, "gov-bj")
    assert 'id="extend-due"' not in client.get(f"/tasks/{task.id}").text
    assert post(client, f"/tasks/{task.id}/extend", {"day": "2025-07-30", "reason": "x"}).status_code == 403
    with engine.store.read() as session:
        assert session.get(InboxTask, task.id).due_at.isoformat().startswith("2025-07-20T16:00")


def test_a_deadline_reads_as_the_last_day_not_midnight_of_the_next(client, drive):
    """目标备案 is due by 30 June (第六条（一）): the task is due at the end of that day, which the inbox, the task
    page and the instance page show as 06-30 24:00, not as 07-01 00:00 (a day too late to the eye)."""
    task = _filing(drive, BEIJING)
    assert (local(task.due_at).month, local(task.due_at).day, local(task.due_at).hour) == (7, 1, 0)
    shown = f"{local(task.due_at).year}-06-30 24:00"
    login(client, "gov-bj")
    for page in ("/inbox?scope=claimable", f"/tasks/{task.id}", f"/instances/{task.instance_id}"):
        text = client.get(page).text
        assert shown in text and "-07-01 00:00" not in text, page
