"""Incidents: a failed run rolls back, leaves the instance at its last good state, and waits for an administrator."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from drive import FORMS
from sqlalchemy import func, select

from engine.errors import HeldUp, ValidationError
from engine.running import sandbox, timers
from engine.store.models import AuditEntry, InboxTask, Incident, Instance, Message, Notification, Region, Timer

MASS = Path(__file__).parent / "bundles" / "mass-campaign"
CODES = ["700001", "700002", "700003"]
PAYLOAD = "{'announced_on': announced_on}"
ANNOUNCE = {"announcement": "考核结果通报", "announced_on": "2026-03-15"}


def _with_payload(tmp_path, payload: str, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(MASS, folder)
    path = folder / "mass.bpmn"
    text = path.read_text(encoding="utf-8")
    assert PAYLOAD in text
    path.write_text(text.replace(PAYLOAD, payload), encoding="utf-8")
    return folder


@pytest.fixture
def broken(engine, tmp_path):
    """The mass campaign whose announcement divides by zero when the lead agency sends it."""
    engine.deploy(_with_payload(tmp_path, "{'announced_on': announced_on, 'ratio': 1 / 0}", "broken"))
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in CODES)
    campaign = engine.start_campaign("mass-campaign", 2025)
    [notify] = engine.tasks(campaign_id=campaign.id)
    return engine, campaign, notify


def _snapshot(engine, instance_id: int) -> dict:
    with engine.store.read() as session:
        row = session.get(Instance, instance_id)
        count = lambda model, *where: session.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
        return {"revision": row.revision, "state": row.state, "status": row.status,
                "inbox": count(InboxTask), "timers": count(Timer), "messages": count(Message),
                "completions": count(AuditEntry, AuditEntry.action == "complete")}


def test_a_failing_expression_is_an_incident_and_nothing_is_half_applied(broken):
    engine, campaign, notify = broken
    before = _snapshot(engine, notify.instance_id)
    with pytest.raises(HeldUp, match="此步骤暂时无法办理，已通知管理员"):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    assert _snapshot(engine, notify.instance_id) == before  # the state, inbox, timers, messages and audit
    assert engine.task(notify.id).id == notify.id  # still there to be done
    [incident] = engine.incidents()
    assert (incident["instance_id"], incident["bpmn_id"], incident["element"]) == (
        notify.instance_id, "Throw_announced", "发布考核结果")
    assert "division by zero" in incident["error"] and incident["attempts"] == 1
    assert engine.held_up(notify.instance_id)
    with engine.store.read() as session:  # the administrator is told, as with an escalation
        notices = list(session.scalars(select(Notification).where(Notification.kind == "incident")))
        assert notices and "发布考核结果" in notices[0].title
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    [incident] = engine.incidents()
    assert incident["attempts"] == 2  # one incident that counts its attempts, one notice
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.kind == "incident")) == len(notices)


def test_an_incidents_notice_and_mail_are_in_each_administrators_language(engine, tmp_path):
    """An administrator who chose English is told of an incident in English, the element by its English name
    (english.yaml); one who did not, in Chinese (issue 12, item 11)."""
    from engine.people import accounts
    from engine.records import notices
    from engine.store.models import Mail, User

    folder = _with_payload(tmp_path, "{'announced_on': announced_on, 'ratio': 1 / 0}", "broken")
    (folder / "english.yaml").write_text("steps:\n  Throw_announced: Announce the results\n", encoding="utf-8")
    engine.deploy(folder)
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in CODES)
        for name in ("admin-en", "admin-zh"):
            accounts.create_user(session, name, name, [accounts.Grant("admin")], email=f"{name}@example.gov.cn")
        accounts.set_language(session, session.scalars(select(User.id).where(User.username == "admin-en")).one(),
                              "en")
    campaign = engine.start_campaign("mass-campaign", 2025)
    [notify] = engine.tasks(campaign_id=campaign.id)
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    with engine.store.read() as session:
        mails = {m.to_addr: m for m in session.scalars(select(Mail))}
        english, chinese = mails["admin-en@example.gov.cn"], mails["admin-zh@example.gov.cn"]
        assert english.subject == f"Process failure: Announce the results (instance {notify.instance_id})"
        assert "failed and is held at its last good state" in english.body and "division by zero" in english.body
        assert not [c for c in english.subject + english.body if "\u4e00" <= c <= "\u9fff"]
        assert chinese.subject == f"流程故障：发布考核结果（流程实例 {notify.instance_id}）"
        assert "运行出错，已停在上一个正常状态" in chinese.body
        notice = session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                                 .where(User.username == "admin-en")).one()
        words = notices.catalogues(session, [notice.campaign_id]).get(notice.campaign_id)
        assert notices.read(notice, True, words)[0] == english.subject  # the centre reads it so too
        assert notices.read(notice)[0] == chinese.subject


def test_an_incident_is_retried_after_a_fixed_version_is_published_and_the_campaign_finishes(broken, tmp_path):
    engine, campaign, notify = broken
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    [incident] = engine.incidents()
    with pytest.raises(ValidationError, match="reason"):
        engine.retry_incident(incident["id"], "admin", " ")
    engine.deploy(_with_payload(tmp_path, PAYLOAD, "fixed"))
    engine.retry_incident(incident["id"], "admin", "修正了发布结果的表达式", upgrade=True)
    assert engine.incidents() == [] and not engine.held_up(notify.instance_id)
    engine.complete(notify.id, ANNOUNCE, "lead_agency")
    for task in engine.tasks(campaign_id=campaign.id):
        engine.complete(task.id, FORMS["Task_rectification_report"](None), "assessed")
    assert {i.status for i in engine.campaign_instances(campaign.id)} == {"completed"}
    with engine.store.read() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).where(
            AuditEntry.instance_id == notify.instance_id).order_by(AuditEntry.id))]
        [closed] = session.scalars(select(Incident))
    assert "incident" in actions and "incident_retry" in actions and "instance_migrate" in actions
    assert (closed.resolution, closed.resolved_by, closed.reason) == ("retried", "admin", "修正了发布结果的表达式")


def test_a_retry_as_is_that_fails_again_keeps_the_incident_open(broken):
    engine, _, notify = broken
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    [incident] = engine.incidents()
    with pytest.raises(ValidationError, match="no newer version"):
        engine.retry_incident(incident["id"], "admin", "再试一次", upgrade=True)
    # As is, the instance waits at the user task: the retry runs, the incident closes, the user may try again.
    engine.retry_incident(incident["id"], "admin", "再试一次")
    assert engine.incidents() == []


def test_cancelling_an_incident_ends_its_instance_with_the_reason_audited(broken):
    engine, _, notify = broken
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    [incident] = engine.incidents()
    with pytest.raises(ValidationError):
        engine.cancel_incident(incident["id"], "admin", "")
    engine.cancel_incident(incident["id"], "admin", "流程定义错误，本年度改为线下通报")
    assert engine.incidents() == []
    with engine.store.read() as session:
        assert session.get(Instance, notify.instance_id).status == "cancelled"
        assert session.get(InboxTask, notify.id) is None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "incident_cancel")).one()
    assert entry.actor == "admin" and entry.data["reason"] == "流程定义错误，本年度改为线下通报"


def test_a_hanging_expression_is_an_incident_within_its_budget(engine, tmp_path):
    """A payload that would run for days stops at the time budget; the submitter is answered, nothing is applied."""
    spin = "{'announced_on': announced_on, 'n': len([a for a in range(10**6) for b in range(10**6)])}"
    engine.deploy(_with_payload(tmp_path, spin, "spin"))
    engine.runner.script_engine.environment.limits = sandbox.Limits(seconds=0.5)
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in CODES)
    campaign = engine.start_campaign("mass-campaign", 2025)
    [notify] = engine.tasks(campaign_id=campaign.id)
    before = _snapshot(engine, notify.instance_id)
    started = time.monotonic()
    with pytest.raises(HeldUp):
        engine.complete(notify.id, ANNOUNCE, "lead_agency")
    assert time.monotonic() - started < 5
    assert _snapshot(engine, notify.instance_id) == before
    [incident] = engine.incidents()
    assert (incident["kind"], incident["bpmn_id"]) == ("limit", "Throw_announced")
    assert "time budget" in incident["error"]
    assert engine.tasks(campaign_id=campaign.id)[0].id == notify.id  # the engine still answers


def test_a_timer_that_fails_is_an_incident(lab, clock):
    """timer-lab: running the instance fails when its timer fires."""
    campaign = lab.start_campaign("timer-lab", 2025)
    with lab.store.read() as session:
        timer = session.scalars(select(Timer).where(Timer.fired_at.is_(None)).order_by(Timer.due_at)).first()
    assert timer is not None

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")
    original = lab.runner.advance
    lab.runner.advance = broken
    try:
        clock.set(timer.due_at)
        timers.fire_due_timers(lab)
    finally:
        lab.runner.advance = original
    found = {i["instance_id"]: i for i in lab.incidents(campaign.id)}
    incident = found[timer.instance_id]  # every region's timer of that moment failed alike
    assert (incident["kind"], incident["bpmn_id"]) == ("timer", timer.bpmn_id)
    assert "division by zero" in incident["error"]


def test_cancelling_an_instance_records_its_waiting_timers_as_cancelled(lab, clock):
    """The timers of an instance an administrator cancels never fire: kept on their rows as cancelled."""
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    with lab.store.read() as session:
        timer = session.scalars(select(Timer).where(Timer.fired_at.is_(None)).order_by(Timer.due_at)).first()
    original = lab.runner.advance
    lab.runner.advance = lambda *args, **kwargs: 1 / 0
    try:
        clock.set(timer.due_at)
        timers.fire_due_timers(lab)
    finally:
        lab.runner.advance = original
    incident = next(i for i in lab.incidents(campaign.id) if i["instance_id"] == timer.instance_id)
    lab.cancel_incident(incident["id"], "admin", "本年度改为线下办理")
    clock.advance(days=1)
    assert timers.fire_due_timers(lab) == 0
    with lab.store.read() as session:
        row = session.get(Timer, timer.id)
        assert row.fired_at is None and row.cancelled_at == timer.due_at and row.attempts == 1
