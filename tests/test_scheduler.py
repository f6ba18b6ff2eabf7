"""The scheduler: armed at the next due time, catching up on start, re-armed when timers change."""

from __future__ import annotations

import time
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from test_timers import _ready, _timers

from engine.scheduler import Scheduler


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
