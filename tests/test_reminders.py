"""Reminders and escalation: each step once, to the right people, by notice and e-mail."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import add_user
from drive import race
from sqlalchemy import func, select

from engine.clock import CHINA
from engine.people import accounts
from engine.people.accounts import Grant
from engine.running.reminders import policy_of, send_reminders, steps
from engine.store.models import InboxTask, Mail, Notification, Reminder, User

BEIJING, TIANJIN = "110000", "120000"


def _at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=CHINA)


@pytest.fixture
def filing(engine):
    """A national campaign over 北京; its target filing is due 30 June 2025 (24:00)."""
    with engine.store.write() as session:
        for username, email, grant in (("gov-bj", "bj@example.gov.cn", Grant("assessed", region=BEIJING)),
                                       ("gov-tj", "tj@example.gov.cn", Grant("assessed", region=TIANJIN)),
                                       ("lead-office", "lead@example.gov.cn", Grant("lead_agency"))):
            accounts.create_user(session, username, username, [grant], email=email)
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING])
    [task] = [t for t in engine.tasks(campaign_id=campaign.id) if t.region == BEIJING]
    assert task.due_at == datetime(2025, 7, 1, tzinfo=CHINA)
    return task


def _notices(engine, username: str) -> list[str]:
    with engine.store.read() as session:
        return list(session.scalars(select(Notification.kind).join(User, User.id == Notification.user_id)
                                    .where(User.username == username).order_by(Notification.id)))


@pytest.mark.parametrize(("moment", "step"), [
    ("2025-06-23", "before-7d"), ("2025-06-29", "before-1d"), ("2025-06-30", "due"), ("2025-07-01", "overdue"),
])
def test_each_step_goes_out_on_its_day_once(engine, filing, moment, step):
    engine.clock.set(_at(moment))
    sent = send_reminders(engine)
    assert step in [s.step for s in sent]
    assert send_reminders(engine) == []
    assert _notices(engine, "gov-bj")[-1] == step
    assert _notices(engine, "gov-tj") == []  # another province's official hears nothing


def test_nothing_goes_out_before_the_first_step(engine, filing):
    engine.clock.set(_at("2025-06-23", 8))
    assert send_reminders(engine) == []


def test_an_overdue_task_is_escalated_to_the_supervising_role(engine, filing):
    engine.clock.set(_at("2025-07-01"))
    sent = {s.step: s.recipients for s in send_reminders(engine)}
    assert "lead-office" in sent["escalate"] and "gov-bj" not in sent["escalate"]
    assert "gov-bj" in sent["overdue"]
    with engine.store.read() as session:
        subjects = set(session.scalars(select(Mail.subject).where(Mail.to_addr == "lead@example.gov.cn")))
    assert any("督办" in s and "北京市" in s for s in subjects)


def test_after_a_long_stop_only_the_latest_reminder_goes_out(engine, filing):
    engine.clock.set(_at("2025-07-02"))
    assert sorted(s.step for s in send_reminders(engine)) == ["escalate", "overdue"]
    assert _notices(engine, "gov-bj") == ["overdue"]
    with engine.store.read() as session:
        recorded = set(session.scalars(select(Reminder.step).where(Reminder.task_id == filing.id)))
    assert recorded == {"before-7d", "before-1d", "due", "overdue", "escalate"}  # the rest skipped, for good


def test_a_task_claimed_by_someone_reminds_only_them(engine, filing):
    add_user(engine, "gov-bj-2", Grant("assessed", region=BEIJING))
    with engine.store.write() as session:
        session.get(InboxTask, filing.id).assignee = "gov-bj-2"
    engine.clock.set(_at("2025-06-30"))
    [due] = [s for s in send_reminders(engine) if s.step == "due"]
    assert due.recipients == ["gov-bj-2"]


def test_reminders_are_queued_as_mail_in_chinese(engine, filing):
    engine.clock.set(_at("2025-06-29"))
    send_reminders(engine, link_base="https://kaohe.example.gov.cn")
    with engine.store.read() as session:
        [message] = session.scalars(select(Mail).where(Mail.to_addr == "bj@example.gov.cn")).all()
    assert "明天到期" in message.subject and "北京市" in message.subject
    assert "2025年6月30日 24:00" in message.body
    assert f"https://kaohe.example.gov.cn/tasks/{filing.id}" in message.body
    with engine.store.read() as session:  # the notice links to the task inside the app, whatever the base
        links = set(session.scalars(select(Notification.link)))
    assert links == {f"/tasks/{filing.id}"}


def test_two_schedulers_send_each_step_once(engine, filing):
    engine.clock.set(_at("2025-07-01"))
    other = type(engine)(engine.store.another(), clock=engine.clock)
    results = race(lambda: send_reminders(engine), lambda: send_reminders(other))
    other.store.dispose()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(s.step for r in results for s in r) == ["escalate", "overdue"]
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Notification)
                              .join(User, User.id == Notification.user_id).where(User.username == "gov-bj")) == 1


def test_a_variant_may_change_its_policy():
    policy = policy_of({"reminders": {"before_days": [3], "escalation": {"assessed": "approver"}}})
    task = InboxTask(id="t", role="assessed", due_at=datetime(2025, 7, 1, tzinfo=CHINA),
                     created_at=datetime(2025, 6, 1, tzinfo=CHINA))
    assert [(s.name, s.at) for s in steps(task, policy)] == [
        ("before-3d", _at("2025-06-27")), ("due", _at("2025-06-30")), ("overdue", _at("2025-07-01")),
        ("escalate", _at("2025-07-01"))]
    assert policy["escalation"]["member_unit"] == "lead_agency"  # the defaults stay for the rest


def test_a_task_given_less_than_a_week_gets_no_seven_day_reminder():
    task = InboxTask(id="t", role="assessed", due_at=datetime(2025, 7, 1, tzinfo=CHINA),
                     created_at=datetime(2025, 6, 28, tzinfo=CHINA))
    assert [s.name for s in steps(task, policy_of({}))] == ["before-1d", "due", "overdue", "escalate"]


def test_escalations_of_many_regions_go_out_as_one_digest_mail_a_day(engine):
    """39 regions overdue at one step make one mail to the lead agency, grouped by campaign and step, not 39;
    what comes after the day's digest waits for the next day's (issue 12, item 6)."""
    from web_fixtures import TIANJIN

    from engine.running.reminders import send_digests

    with engine.store.write() as session:
        accounts.create_user(session, "lead-office", "lead-office", [Grant("lead_agency")],
                             email="lead@example.gov.cn")
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING, TIANJIN])
    engine.clock.set(_at("2025-07-01"))
    send_reminders(engine, link_base="https://kaohe.example.gov.cn")
    with engine.store.read() as session:
        mails = list(session.scalars(select(Mail).where(Mail.to_addr == "lead@example.gov.cn")))
        notices = list(session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                                       .where(User.username == "lead-office")))
    assert len(mails) == 1 and len(notices) == 2
    [digest] = mails
    assert digest.subject == "【质量工作考核】待办汇总：2 项任务需要办理（督办 2 项）"
    assert "2025—2026年度 · 目标备案：督办 2 项" in digest.body
    tasks = {t.region: t.id for t in engine.tasks(campaign_id=campaign.id)}
    for region in (BEIJING, TIANJIN):
        assert f"https://kaohe.example.gov.cn/tasks/{tasks[region]}" in digest.body
    assert {(n.campaign_id, n.bpmn_id, n.step_name) for n in notices} == {(campaign.id, "Task_target_filing",
                                                                           "目标备案")}
    assert all(n.mailed_at == _at("2025-07-01") for n in notices)

    with engine.store.write() as session:  # a later escalation the same day
        lead = session.scalars(select(User).where(User.username == "lead-office")).one()
        session.add(Notification(user_id=lead.id, at=_at("2025-07-01", 15), kind="escalate", title="督办：x",
                                 body="x", link="/tasks/x", campaign_id=campaign.id, bpmn_id="Task_x", step_name="x"))
    assert send_digests(engine, _at("2025-07-01", 16)) == 0  # today's went at 9:00
    assert send_digests(engine, _at("2025-07-02")) == 1


def test_a_digest_is_sent_once_when_two_schedulers_run(engine, filing):
    engine.clock.set(_at("2025-07-01"))
    other = type(engine)(engine.store.another(), clock=engine.clock)
    race(lambda: send_reminders(engine), lambda: send_reminders(other))
    other.store.dispose()
    with engine.store.read() as session:
        assert session.scalar(select(func.count(Mail.id)).where(Mail.to_addr == "lead@example.gov.cn")) == 1


def test_the_lead_agency_extends_a_deadline_and_the_reminders_follow(engine, filing):
    """Overdue on 1 July, given until 15 July with a reason: no longer overdue, the holders told, the 7-day,
    1-day, due-day and overdue reminders go out again on the new dates; audited (issue 12)."""
    from engine.errors import PermissionDenied, ValidationError
    from engine.people.access import viewer_of
    from engine.running.reminders import extend
    from engine.store.models import AuditEntry

    engine.clock.set(_at("2025-07-01"))
    send_reminders(engine)
    with engine.store.read() as session:
        lead = viewer_of(session, session.scalars(select(User).where(User.username == "lead-office")).one())
        gov = viewer_of(session, session.scalars(select(User).where(User.username == "gov-bj")).one())
    with pytest.raises(PermissionDenied):
        extend(engine, gov, filing.id, datetime(2025, 7, 15).date(), "请给我们多一点时间")
    with pytest.raises(ValidationError, match="原因"):
        extend(engine, lead, filing.id, datetime(2025, 7, 15).date(), " ")
    with pytest.raises(ValidationError, match="已经过去"):
        extend(engine, lead, filing.id, datetime(2025, 6, 20).date(), "提前")
    task = extend(engine, lead, filing.id, datetime(2025, 7, 15).date(), "汛期影响，统一延期")
    assert task.due_at == datetime(2025, 7, 16, tzinfo=CHINA)
    with pytest.raises(ValidationError, match="晚于"):  # an extension, not a shortening
        extend(engine, lead, filing.id, datetime(2025, 7, 10).date(), "改短")
    assert _notices(engine, "gov-bj")[-1] == "extended"
    engine.clock.set(_at("2025-07-08"))
    assert [s.step for s in send_reminders(engine)] == ["before-7d"]
    engine.clock.set(_at("2025-07-16"))
    assert sorted(s.step for s in send_reminders(engine)) == ["escalate", "overdue"]
    with engine.store.read() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "due_extend"))
    assert (entry.actor, entry.data["reason"]) == ("lead-office", "汛期影响，统一延期")


def test_an_english_reader_gets_the_digest_and_a_urge_in_english(engine):
    """The lead agency's officer chose English: the day's digest and a 督办 by hand are written in English, with
    the step's and the regions' English names from the bundle (english.yaml); a Chinese reader's stay Chinese
    (issue 12, item 11)."""
    from web_fixtures import TIANJIN

    from engine.running.reminders import urge

    with engine.store.write() as session:
        accounts.create_user(session, "lead-en", "lead-en", [Grant("lead_agency")], email="en@example.gov.cn")
        accounts.create_user(session, "lead-zh", "lead-zh", [Grant("lead_agency")], email="zh@example.gov.cn")
        accounts.create_user(session, "gov-bj-en", "gov-bj-en", [Grant("assessed", region=BEIJING)],
                             email="bj@example.gov.cn")
        for name in ("lead-en", "gov-bj-en"):
            user = session.scalars(select(User).where(User.username == name)).one()
            accounts.set_language(session, user.id, "en")
    campaign = engine.start_campaign("national-2013", 2025, [BEIJING, TIANJIN])
    engine.clock.set(_at("2025-07-01"))
    send_reminders(engine, link_base="https://kaohe.example.gov.cn")
    with engine.store.read() as session:
        mails = {m.to_addr: m for m in session.scalars(select(Mail))}
    english, chinese = mails["en@example.gov.cn"], mails["zh@example.gov.cn"]
    assert english.subject == "[Quality work assessment] To do: 2 tasks (2 urged)"
    assert "· Target filing: Urged 2" in english.body
    assert "“Target filing” of Beijing" in english.body and "“Target filing” of Tianjin" in english.body
    assert "2025–2026 assessment year · Target filing: Urged 2" in english.body  # the campaign's year too
    assert not [c for c in english.subject + english.body if "\u4e00" <= c <= "\u9fff"]
    assert chinese.subject == "【质量工作考核】待办汇总：2 项任务需要办理（督办 2 项）"
    assert "2025—2026年度 · 目标备案：督办 2 项" in chinese.body
    [task] = [t for t in engine.tasks(campaign_id=campaign.id) if t.region == BEIJING]
    urge(engine, [task.id], "lead_agency", link_base="https://kaohe.example.gov.cn")
    with engine.store.read() as session:
        urged = session.scalars(select(Mail).where(Mail.to_addr == "bj@example.gov.cn").order_by(Mail.id)).all()[-1]
    assert urged.subject == "[Quality work assessment] Urged: “Target filing” of Beijing"
    assert "is overdue and is hereby urged" in urged.body and f"/tasks/{task.id}" in urged.body
    assert "Deadline: 30 June 2025, 24:00 (Beijing time)" in urged.body


def test_a_notice_is_worded_when_read_and_an_old_one_reads_as_written():
    from types import SimpleNamespace

    from engine.procedure.english import Catalogue
    from engine.records import notices

    said = {"task": "目标备案", "bpmn_id": "Task_target_filing", "region": BEIJING, "region_name": "北京市",
            "due_at": "2025-06-30T16:00:00+00:00", "link": "/tasks/x", "step": "overdue"}
    words = Catalogue(steps={"Task_target_filing": "Target filing"}, regions={BEIJING: "Beijing"})
    notice = SimpleNamespace(message="reminder", params=said, title="t", body="b")
    assert notices.read(notice) == notices.text("reminder", said)
    assert notices.read(notice)[0] == "【质量工作考核】已逾期：北京市的“目标备案”"
    assert notices.read(notice, True, words)[0] == "[Quality work assessment] Overdue: “Target filing” of Beijing"
    assert notices.read(notice, True, None)[0] == "[Quality work assessment] Overdue: “目标备案” of 北京市"
    old = SimpleNamespace(message=None, params=None, title="【质量工作考核】已逾期", body="旧的通知")
    assert notices.read(old, True, words) == ("【质量工作考核】已逾期", "旧的通知")
    reassigned = SimpleNamespace(message="reassigned", params=dict(said, by="牵头部门"), title="t", body="b")
    assert notices.read(reassigned) == ("任务改派：目标备案", "牵头部门 将任务「目标备案」改派给您。")
    assert notices.read(reassigned, True, words) == ("Task reassigned: Target filing",
                                                     "牵头部门 has given the task “Target filing” to you.")


def test_a_campaigns_year_reads_in_english():
    from engine.running.years import english_label, parse

    assert english_label(parse("july").label(2025)) == "2025–2026 assessment year"
    assert english_label(parse("calendar").label(2025)) == "2025 assessment year"
    assert english_label("专项考核") == "专项考核"  # a label of another shape stays as it is
