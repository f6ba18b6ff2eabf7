"""Messages are never lost: what a crash or a busy target left undelivered, the scheduler's sweep delivers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from drive import FORMS
from sqlalchemy import select, text

from engine.engine import Engine
from engine.errors import Conflict
from engine.running import messages
from engine.store.models import Incident, Instance, Message, Region

MASS = Path(__file__).parent / "bundles" / "mass-campaign"
CODES = ["700001", "700002", "700003"]


@pytest.fixture
def mass(engine):
    engine.deploy(MASS)
    with engine.store.write() as session:
        session.add_all(Region(code=c, name=f"测试地区{c}", region_set="mass-campaign") for c in CODES)
    return engine


def _crash_before_delivery(monkeypatch):
    """Commits happen, the deliveries after them do not: what a kill -9 between the two leaves behind."""
    monkeypatch.setattr(Engine, "deliver", lambda self, targets: 0)


def _pending(engine) -> list[Message]:
    with engine.store.read() as session:
        return list(session.scalars(select(Message).where(Message.delivered_at.is_(None)).order_by(Message.id)))


def _instances(engine, campaign_id) -> tuple[Instance, list[Instance]]:
    rows = engine.campaign_instances(campaign_id)
    return next(i for i in rows if i.region is None), [i for i in rows if i.region]


def test_messages_a_crash_left_behind_are_delivered_by_the_sweep_and_the_campaign_ends(mass, monkeypatch):
    with monkeypatch.context() as patch:
        _crash_before_delivery(patch)
        campaign = mass.start_campaign("mass-campaign", 2025)
    assert mass.tasks(campaign_id=campaign.id) == []  # the campaign never heard from its regions
    assert len(_pending(mass)) == 3
    assert messages.deliver_pending(mass) == 1
    [notify] = mass.tasks(campaign_id=campaign.id)
    assert notify.name == "通报与公告" and _pending(mass) == []

    with monkeypatch.context() as patch:
        _crash_before_delivery(patch)
        mass.complete(notify.id, {"announcement": "考核结果通报", "announced_on": "2026-03-15"}, "lead_agency")
    assert len(_pending(mass)) == 3  # the announcement to every region, committed and undelivered
    assert messages.deliver_pending(mass) == 3
    assert _pending(mass) == []
    for task in mass.tasks(campaign_id=campaign.id):
        mass.complete(task.id, FORMS["Task_rectification_report"](None), "assessed")
    assert {i.status for i in mass.campaign_instances(campaign.id)} == {"completed"}
    assert messages.deliver_pending(mass) == 0  # nothing left, nothing run twice


def test_a_campaign_waiting_for_the_other_regions_is_not_loaded_by_the_sweep(mass, monkeypatch):
    with monkeypatch.context() as patch:
        _crash_before_delivery(patch)
        campaign = mass.start_campaign("mass-campaign", 2025)
    campaign_row, _ = _instances(mass, campaign.id)
    with mass.store.write() as session:  # as if the third region had not reported yet
        third = session.scalars(select(Message).where(Message.target_id == campaign_row.id)
                                .order_by(Message.id.desc())).first()
        held = (third.source_id, third.name, third.payload, third.created_at, third.campaign_id)
        session.delete(third)
    loads = []
    original = mass.runner.load
    monkeypatch.setattr(mass.runner, "load", lambda row, version: loads.append(row.id) or original(row, version))
    assert messages.deliver_pending(mass) == 0
    assert loads == []
    waiting = _pending(mass)
    assert len(waiting) == 2 and all(m.next_attempt_at is not None and m.attempts == 0 for m in waiting)
    assert messages.deliver_pending(mass) == 0 and loads == []  # not due again until its rest is over

    with mass.store.write() as session:  # the third region reports now
        source, name, payload, created, campaign_id = held
        session.add(Message(campaign_id=campaign_id, source_id=source, target_id=campaign_row.id, name=name,
                            payload=payload, created_at=created))
    assert messages.deliver_pending(mass) == 1
    assert loads == [campaign_row.id]
    assert [t.name for t in mass.tasks(campaign_id=campaign.id)] == ["通报与公告"]


def test_a_message_to_an_instance_that_has_ended_becomes_an_incident(mass):
    campaign = mass.start_campaign("mass-campaign", 2025)
    campaign_row, regions = _instances(mass, campaign.id)
    with mass.store.write() as session:
        session.get(Instance, regions[0].id).status = "completed"
        session.add(Message(campaign_id=campaign.id, source_id=campaign_row.id, target_id=regions[0].id,
                            name="results_announced", payload={}, created_at=mass.clock.now()))
    assert messages.deliver_pending(mass) == 0
    [message] = _pending(mass)
    assert message.failed_at is not None and "completed" in message.error
    with mass.store.read() as session:
        [incident] = session.scalars(select(Incident))
    assert (incident.instance_id, incident.kind) == (regions[0].id, "message")
    assert "results_announced" in incident.error
    assert messages.deliver_pending(mass) == 0  # given up: not tried again until an administrator retries


def test_a_message_nothing_waits_for_is_retried_with_back_off_recorded_on_its_row(mass, clock):
    campaign = mass.start_campaign("mass-campaign", 2025)
    campaign_row, regions = _instances(mass, campaign.id)
    with mass.store.write() as session:
        session.add(Message(campaign_id=campaign.id, source_id=campaign_row.id, target_id=regions[0].id,
                            name="no_such_message", payload={}, created_at=clock.now()))
    assert messages.deliver_pending(mass) == 1
    [message] = _pending(mass)
    assert message.attempts == 1 and "no_such_message" in message.error
    assert message.next_attempt_at == clock.now() + messages.FIRST_RETRY
    assert messages.deliver_pending(mass) == 0  # not due yet
    clock.advance(seconds=messages.FIRST_RETRY.total_seconds())
    assert messages.deliver_pending(mass) == 1
    [message] = _pending(mass)
    assert message.attempts == 2 and message.next_attempt_at == clock.now() + 2 * messages.FIRST_RETRY


def test_the_submitter_is_told_what_was_committed_when_delivery_after_it_fails(mass, monkeypatch):
    campaign = mass.start_campaign("mass-campaign", 2025)
    [notify] = mass.tasks(campaign_id=campaign.id)

    def busy(self, targets):
        raise Conflict("另一个操作正在处理该流程实例，请稍后重试 (the instance is busy; try again)")
    monkeypatch.setattr(Engine, "deliver", busy)
    done = mass.complete(notify.id, {"announcement": "考核结果通报", "announced_on": "2026-03-15"}, "lead_agency")
    assert done.status == "completed"
    assert len(_pending(mass)) == 3
    monkeypatch.undo()
    assert messages.deliver_pending(mass) == 3 and _pending(mass) == []


def test_a_busy_target_neither_delays_the_submitter_nor_the_sweep(mass):
    """A region's row held by another transaction (PostgreSQL; SQLite has one writer at a time): the submitter's
    answer comes at once, and the sweep skips the held row instead of waiting for it."""
    if mass.store.dialect != "postgresql":
        pytest.skip("row locks held by another transaction: PostgreSQL only")
    campaign = mass.start_campaign("mass-campaign", 2025)
    [notify] = mass.tasks(campaign_id=campaign.id)
    _, regions = _instances(mass, campaign.id)
    with mass.store.engine.connect() as other:
        other.execute(text("SELECT id FROM instance WHERE id = :id FOR NO KEY UPDATE"), {"id": regions[0].id})
        started = time.monotonic()
        done = mass.complete(notify.id, {"announcement": "考核结果通报", "announced_on": "2026-03-15"},
                             "lead_agency")
        assert done.status == "completed" and time.monotonic() - started < 5
        assert [m.target_id for m in _pending(mass)] == [regions[0].id]
        assert messages.deliver_pending(mass) == 0 and time.monotonic() - started < 5
        other.rollback()
    assert messages.deliver_pending(mass) == 1 and _pending(mass) == []


def test_the_scheduler_delivers_what_a_crash_left_when_it_starts(mass, monkeypatch):
    """A restart after the crash: the scheduler's catch-up pass delivers the leftover rows."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from engine.running.scheduler import Scheduler
    with monkeypatch.context() as patch:
        _crash_before_delivery(patch)
        campaign = mass.start_campaign("mass-campaign", 2025)
    scheduler = Scheduler(mass, scheduler=BackgroundScheduler())
    assert scheduler.next_due() == _pending(mass)[0].created_at  # the wake job is armed for it
    done = scheduler.run_due()
    assert done.messages == 1 and _pending(mass) == []
    assert [t.name for t in mass.tasks(campaign_id=campaign.id)] == ["通报与公告"]
