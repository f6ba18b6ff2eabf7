"""Suspending, resuming and cancelling a campaign (issue 12, item 7): nothing moves while it is suspended, all
of it goes on when it resumes, nothing is left behind when it is cancelled; each change audited with its reason."""

from __future__ import annotations

from datetime import datetime

import pytest
from drive import Driver
from sqlalchemy import select
from web_fixtures import BEIJING, TIANJIN

from engine.clock import CHINA
from engine.errors import Conflict, ValidationError
from engine.running import timers
from engine.running.reminders import send_reminders
from engine.store.models import AuditEntry, Campaign, InboxTask, Instance, Timer


@pytest.fixture
def drive(engine):
    return Driver(engine, "national-2013", [BEIJING, TIANJIN])


def _statuses(engine, campaign_id: int) -> set[str]:
    with engine.store.read() as session:
        return set(session.scalars(select(Instance.status).where(Instance.campaign_id == campaign_id)))


def test_a_suspended_campaign_refuses_work_and_resumes_where_it_was(engine, drive):
    [bj] = drive.ready("Task_target_filing", BEIJING)
    assert engine.change_campaign(drive.campaign.id, "suspend", "lead_agency", "省里要求调整考核细则") == 3
    assert _statuses(engine, drive.campaign.id) == {"suspended"}
    with pytest.raises(Conflict, match="已暂停"):
        drive.do("Task_target_filing", region=BEIJING)
    with pytest.raises(Conflict, match="已暂停"):  # a second suspend says what the campaign is
        engine.change_campaign(drive.campaign.id, "suspend", "lead_agency", "再次")
    assert engine.change_campaign(drive.campaign.id, "resume", "lead_agency", "细则已定") == 3
    assert _statuses(engine, drive.campaign.id) == {"running"}
    drive.file_targets(BEIJING)  # the same task, done now
    assert not drive.ready("Task_target_filing", BEIJING) and drive.ready("Task_self_evaluation", BEIJING)
    with engine.store.read() as session:
        entries = [(e.action, e.actor, e.data["reason"]) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["campaign_suspend", "campaign_resume", "campaign_cancel"]))
            .order_by(AuditEntry.id))]
        campaign = session.get(Campaign, drive.campaign.id)
    assert entries == [("campaign_suspend", "lead_agency", "省里要求调整考核细则"),
                       ("campaign_resume", "lead_agency", "细则已定")]
    assert (campaign.status, campaign.status_reason, campaign.status_changed_by) == ("running", "细则已定",
                                                                                      "lead_agency")
    assert bj.id not in {t.id for t in drive.ready()}  # the task that waited is the one done


def test_no_reminder_goes_out_for_a_suspended_campaign(engine, drive):
    engine.change_campaign(drive.campaign.id, "suspend", "lead_agency", "暂停")
    engine.clock.set(datetime(2025, 7, 2, 9, tzinfo=CHINA))  # the filing is overdue
    assert send_reminders(engine) == []
    engine.change_campaign(drive.campaign.id, "resume", "lead_agency", "恢复")
    assert {s.step for s in send_reminders(engine)} >= {"overdue"}


def test_a_reason_is_required_and_nothing_changes_without_one(engine, drive):
    with pytest.raises(ValidationError, match="原因"):
        engine.change_campaign(drive.campaign.id, "suspend", "lead_agency", "  ")
    with pytest.raises(ValidationError):
        engine.change_campaign(drive.campaign.id, "pause", "lead_agency", "原因")
    assert _statuses(engine, drive.campaign.id) == {"running"}
    with pytest.raises(Conflict, match="不能恢复"):
        engine.change_campaign(drive.campaign.id, "resume", "lead_agency", "原因")


def test_cancelling_withdraws_every_task_and_cannot_be_undone(engine, drive):
    drive.file_targets(BEIJING)
    assert engine.change_campaign(drive.campaign.id, "cancel", "admin", "本年度考核取消") == 3
    assert _statuses(engine, drive.campaign.id) == {"cancelled"}
    with engine.store.read() as session:
        assert session.scalar(select(InboxTask.id).where(InboxTask.campaign_id == drive.campaign.id)) is None
    with pytest.raises(Conflict, match="已取消"):
        engine.change_campaign(drive.campaign.id, "resume", "admin", "恢复")
    engine.start_campaign("national-2013", 2025, [BEIJING])  # the year may be started again


def test_timers_of_a_suspended_campaign_wait_and_fire_after_it_resumes(lab, clock):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    with lab.store.read() as session:
        timer = session.scalars(select(Timer).where(Timer.fired_at.is_(None)).order_by(Timer.due_at)).first()
    lab.change_campaign(campaign.id, "suspend", "admin", "暂停")
    clock.set(timer.due_at)
    assert timers.fire_due_timers(lab) == 0
    with lab.store.read() as session:
        assert timers.next_due(session) is None or timers.next_due(session) > timer.due_at  # no busy loop
    lab.change_campaign(campaign.id, "resume", "admin", "恢复")
    assert timers.fire_due_timers(lab) >= 1
    with lab.store.read() as session:
        assert session.get(Timer, timer.id).fired_at is not None


def test_cancelling_a_campaign_cancels_its_waiting_timers(lab, clock):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    lab.change_campaign(campaign.id, "cancel", "admin", "取消")
    with lab.store.read() as session:
        waiting = list(session.scalars(select(Timer).join(Instance, Instance.id == Timer.instance_id).where(
            Instance.campaign_id == campaign.id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))))
    assert waiting == []
