"""The scheduler: armed at the next due time, catching up on start, re-armed when timers change."""

from __future__ import annotations

import time
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from test_timers import _ready, _timers

from engine.running.scheduler import Scheduler


def _wait_for(condition, seconds: float = 20) -> bool:
    """Wait for the scheduler's thread to do its work (bounded; not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_wake_job_is_armed_at_the_next_timer(lab):
    lab.start_campaign("timer-lab", 2025, ["990001"])
    [wait] = _timers(lab)
    scheduler = Scheduler(lab, scheduler=BackgroundScheduler())
    scheduler.arm()
    assert scheduler.scheduler.get_job("wake").trigger.run_date == wait.due_at


def test_on_start_it_catches_up_once_and_rearms_when_timers_change(lab):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    [wait] = _timers(lab)
    lab.clock.set(wait.due_at + timedelta(days=1))  # the due time passed while nothing was running
    scheduler = Scheduler(lab)
    scheduler.start()
    try:
        assert _wait_for(lambda: "Task_file" in _ready(lab, campaign.id))
        # Task_file has a 30-day boundary timer: creating it re-armed the wake job at its due time.
        [late] = _timers(lab)
        assert _wait_for(lambda: (job := scheduler.scheduler.get_job("wake")) is not None
                         and job.trigger.run_date == late.due_at)
    finally:
        scheduler.shutdown()
    assert len(_timers(lab, fired=True)) == 1
    # A second start finds nothing more to do.
    again = Scheduler(lab)
    assert again.run_due().timers == 0


def test_a_pass_the_database_failed_is_tried_again_within_seconds_not_at_the_sweep(lab, monkeypatch, caplog):
    """The database is away when a timer falls due: the scheduler tries again after a few seconds of back-off,
    so the timer fires as soon as the database answers again, not at the next one-minute sweep."""
    import logging
    import threading

    from sqlalchemy.exc import OperationalError

    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    [wait] = _timers(lab)
    lab.clock.set(wait.due_at + timedelta(minutes=1))
    down = threading.Event()
    down.set()
    read, write = lab.store.read, lab.store.write

    def failing(real):
        def open_session():
            if down.is_set():
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
            return real()
        return open_session

    monkeypatch.setattr(lab.store, "read", failing(read))
    monkeypatch.setattr(lab.store, "write", failing(write))
    caplog.set_level(logging.WARNING, logger="engine.running.scheduler")
    scheduler = Scheduler(lab)
    scheduler.start()
    try:
        assert _wait_for(lambda: any("trying again in" in r.getMessage() for r in caplog.records), 10)
        down.clear()  # the database answers again
        started = time.monotonic()
        assert _wait_for(lambda: "Task_file" in _ready(lab, campaign.id), 15)
        assert time.monotonic() - started < 15  # the sweep would have come after 60 s
    finally:
        scheduler.shutdown()
    failures = [r for r in caplog.records if "trying again in" in r.getMessage()]
    assert failures and all(r.exc_info is None for r in failures)  # a line per failed pass, no traceback
