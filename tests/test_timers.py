"""BPMN timers: recorded on every save, fired once on the engine's clock, from one or two schedulers."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest
from conftest import LAB, make_engine
from drive import race
from sqlalchemy import func, select

from engine.clock import CHINA
from engine.engine import Engine
from engine.running import timers
from engine.running.timers import fire_due_timers
from engine.store.models import AuditEntry, Region, Timer

REPORT = {"report": "报告"}


def _region_instance(engine: Engine, campaign_id: int, region: str) -> int:
    return next(i.id for i in engine.campaign_instances(campaign_id) if i.region == region)


def _timers(engine: Engine, instance_id: int | None = None, fired: bool | None = False) -> list[Timer]:
    with engine.store.read() as session:
        query = select(Timer).order_by(Timer.id)
        if instance_id is not None:
            query = query.where(Timer.instance_id == instance_id)
        if fired is not None:  # fired, or still waiting (neither fired nor cancelled)
            query = query.where(Timer.fired_at.is_not(None) if fired else timers.WAITING)
        return list(session.scalars(query))


def _ready(engine: Engine, campaign_id: int, region: str | None = "990001") -> dict:
    return {t.bpmn_id: t for t in engine.tasks(campaign_id=campaign_id) if t.region == region}


def _to_task_file(engine: Engine):
    campaign = engine.start_campaign("timer-lab", 2025, ["990001"])
    [wait] = _timers(engine, _region_instance(engine, campaign.id, "990001"))
    engine.clock.set(wait.due_at)
    assert fire_due_timers(engine) == 1
    return campaign


def test_a_date_timer_is_recorded_and_fires_once_when_due(lab):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    instance = _region_instance(lab, campaign.id, "990001")
    [wait] = _timers(lab, instance)
    assert (wait.bpmn_id, wait.kind) == ("Wait_date", "timeDate")
    assert wait.due_at == datetime(2026, 7, 15, tzinfo=CHINA)  # 14 July ends at 24:00 China time
    assert fire_due_timers(lab) == 0 and _ready(lab, campaign.id) == {}
    lab.clock.set(wait.due_at - timedelta(seconds=1))
    assert fire_due_timers(lab) == 0
    lab.clock.set(wait.due_at)
    assert fire_due_timers(lab) == 1
    assert set(_ready(lab, campaign.id)) == {"Task_file"}
    assert fire_due_timers(lab) == 0  # running it again fires nothing
    assert [t.fired_at for t in _timers(lab, instance, fired=True)] == [wait.due_at]


def test_fixed_due_dates_from_the_bundle_reach_the_inbox(lab):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001"])
    release = _ready(lab, campaign.id, region=None)["Task_release"]
    assert release.due_at == datetime(2026, 8, 1, tzinfo=CHINA)  # 31 July 2026, 24:00


def test_an_interrupting_boundary_timer_cancels_its_task(lab):
    campaign = _to_task_file(lab)
    task_file = _ready(lab, campaign.id)["Task_file"]
    [late] = _timers(lab, task_file.instance_id)
    assert (late.bpmn_id, late.kind) == ("Late_file", "timeDuration")
    assert late.due_at == lab.clock.now() + timedelta(days=30)
    assert task_file.due_at == late.due_at  # the attached timer gives the task its due date
    lab.clock.advance(days=30)
    assert fire_due_timers(lab) == 1
    assert set(_ready(lab, campaign.id)) == {"Task_chase"}


def test_completing_a_task_removes_its_boundary_timer(lab):
    campaign = _to_task_file(lab)
    task_file = _ready(lab, campaign.id)["Task_file"]
    lab.complete(task_file.id, {"announcement": "通报", "announced_on": "2026-08-31"}, "assessed")
    timers = _timers(lab, task_file.instance_id)
    assert [t.bpmn_id for t in timers] == ["Remind_report"]
    # The boundary timer lost to the task's completion: kept as cancelled, not fired.
    [lost] = [t for t in _timers(lab, task_file.instance_id, fired=None) if t.bpmn_id == "Late_file"]
    assert lost.fired_at is None and lost.cancelled_at == lab.clock.now()
    report = _ready(lab, campaign.id)["Task_report"]
    # dueDate = deadline(announced_on, months=1): 31 August + 1 month = 30 September, 24:00.
    assert report.due_at == datetime(2026, 10, 1, tzinfo=CHINA)


def test_a_non_interrupting_cycle_timer_fires_its_cycles_and_leaves_the_task(lab):
    campaign = _to_task_file(lab)
    task_file = _ready(lab, campaign.id)["Task_file"]
    lab.complete(task_file.id, {"announcement": "通报", "announced_on": "2026-08-31"}, "assessed")
    start = lab.clock.now()
    for week in (1, 2):
        [remind] = _timers(lab, task_file.instance_id)
        assert (remind.bpmn_id, remind.kind, remind.due_at) == ("Remind_report", "timeCycle",
                                                                start + timedelta(days=7 * week))
        lab.clock.set(remind.due_at)
        assert fire_due_timers(lab) == 1
        assert set(_ready(lab, campaign.id)) == {"Task_report"}
    assert _timers(lab, task_file.instance_id) == []  # R2: two cycles, then no more
    lab.clock.advance(days=30)
    assert fire_due_timers(lab) == 0
    assert lab.instance_data(task_file.instance_id).get("reminded") is not True  # the task's own data


def _to_gateway(lab, regions):
    campaign = lab.start_campaign("timer-lab", 2025, regions)
    with lab.store.read() as session:
        first = min(t.due_at for t in session.scalars(select(Timer)))
    lab.clock.set(first)
    fire_due_timers(lab)
    for region in regions:
        lab.complete(_ready(lab, campaign.id, region)["Task_file"].id,
                     {"announcement": "通报", "announced_on": "2026-08-31"}, "assessed")
        lab.complete(_ready(lab, campaign.id, region)["Task_report"].id, REPORT, "assessed")
    return campaign


def test_an_event_based_gateway_takes_the_timer_when_no_message_comes(lab):
    campaign = _to_gateway(lab, ["990001"])
    instance = _region_instance(lab, campaign.id, "990001")
    [wait] = _timers(lab, instance)
    # The event-based gateway itself waits, on the message or the timer, whichever comes first.
    assert (wait.bpmn_id, wait.kind, wait.due_at) == ("Gateway_wait", "timeDuration",
                                                     lab.clock.now() + timedelta(hours=48))
    lab.clock.advance(hours=48)
    assert fire_due_timers(lab) == 1
    assert set(_ready(lab, campaign.id)) == {"Task_timeout"}


def test_an_event_based_gateway_takes_the_message_and_drops_the_timer(lab):
    campaign = _to_gateway(lab, ["990001"])
    instance = _region_instance(lab, campaign.id, "990001")
    lab.complete(_ready(lab, campaign.id, region=None)["Task_release"].id, REPORT, "lead_agency")
    assert set(_ready(lab, campaign.id)) == {"Task_go"}
    assert _timers(lab, instance) == []
    lab.clock.advance(days=3)
    assert fire_due_timers(lab) == 0
    # The timer lost the race to the message: recorded as cancelled then, never as fired.
    [lost] = [t for t in _timers(lab, instance, fired=None) if t.bpmn_id == "Gateway_wait"]
    assert lost.fired_at is None and lost.cancelled_at == lab.clock.now() - timedelta(days=3)


def test_the_timer_that_won_the_gateway_race_is_recorded_as_fired(lab):
    campaign = _to_gateway(lab, ["990001"])
    instance = _region_instance(lab, campaign.id, "990001")
    lab.clock.advance(hours=48)
    assert fire_due_timers(lab) == 1
    [won] = [t for t in _timers(lab, instance, fired=None) if t.bpmn_id == "Gateway_wait"]
    assert won.fired_at == lab.clock.now() and won.cancelled_at is None


def test_timers_that_fell_due_while_the_scheduler_was_down_fire_once_on_restart(lab):
    campaign = lab.start_campaign("timer-lab", 2025, ["990001", "990002"])
    lab.clock.advance(days=800)  # long past every timer
    assert fire_due_timers(lab) == 2
    assert fire_due_timers(lab) == 0
    assert {r for r in ("990001", "990002") if "Task_file" in _ready(lab, campaign.id, r)} == {"990001", "990002"}


def test_two_schedulers_on_one_database_fire_each_timer_once(lab, clock):
    with lab.store.write() as session:
        session.add_all(Region(code=f"98{n:04d}", name=f"测试{n}", region_set="timer-lab") for n in range(24))
    lab.start_campaign("timer-lab", 2025, [f"98{n:04d}" for n in range(24)])
    clock.advance(days=800)
    # A second process: its own engine and connection pool on the same database.
    other = Engine(lab.store.another(), clock=clock)
    counts = race(lambda: fire_due_timers(lab), lambda: fire_due_timers(other))
    other.store.dispose()
    assert not [r for r in counts if isinstance(r, Exception)], counts
    assert sum(counts) == 24
    with lab.store.read() as session:
        fired = session.execute(select(AuditEntry.task_id, func.count()).where(AuditEntry.action == "timer")
                                .group_by(AuditEntry.task_id)).all()
    assert len(fired) == 24 and {n for _, n in fired} == {1}



def test_a_timer_that_fails_is_recorded_for_an_administrator_and_changes_nothing(store, clock, tmp_path):
    broken = tmp_path / "timer-lab"
    shutil.copytree(LAB, broken)
    bpmn = broken / "lab.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("reminded = True", "reminded = {}['no_such_name']"),
                    encoding="utf-8")
    engine = make_engine(store, clock)
    engine.load_regions(engine.check(broken))
    engine.deploy(broken)
    campaign = _to_task_file(engine)
    engine.complete(_ready(engine, campaign.id)["Task_file"].id,
                    {"announcement": "通报", "announced_on": "2026-08-31"}, "assessed")
    [remind] = _timers(engine)
    engine.clock.set(remind.due_at)
    assert fire_due_timers(engine) == 0
    [failed] = _timers(engine)
    assert failed.attempts == 1 and "no_such_name" in failed.error
    assert set(_ready(engine, campaign.id)) == {"Task_report"}  # the instance is as it was


SCHEDULER_PROCESS = """
import sys
from datetime import datetime
from engine.clock import VirtualClock
from engine.engine import Engine
from engine.store import Store
from engine.running import timers
from engine.running.timers import fire_due_timers
store = Store(sys.argv[1], connect_args={"options": sys.argv[2]} if sys.argv[2] else {})
engine = Engine(store, clock=VirtualClock(datetime.fromisoformat(sys.argv[3])))
sys.stdin.readline()  # both processes start firing together
fired = total = fire_due_timers(engine, limit=50)
while fired:
    fired = fire_due_timers(engine, limit=50)
    total += fired
print(total)
"""


@pytest.mark.postgres
def test_two_scheduler_processes_fire_each_timer_once(pg_store, clock):
    """Two real OS processes, each its own engine and connections, on one PostgreSQL database."""
    import subprocess
    import sys

    engine = make_engine(pg_store, clock)
    engine.load_regions(engine.check(LAB))
    engine.deploy(LAB)
    codes = [f"97{n:04d}" for n in range(40)]
    with engine.store.write() as session:
        session.add_all(Region(code=code, name=code, region_set="timer-lab") for code in codes)
    engine.start_campaign("timer-lab", 2025, codes)
    later = (clock.now() + timedelta(days=800)).isoformat()
    options = pg_store._options.get("connect_args", {}).get("options", "")
    processes = [subprocess.Popen([sys.executable, "-c", SCHEDULER_PROCESS, pg_store.url, options, later],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    counts = [int(process.communicate(timeout=120)[0].strip()) for process in processes]
    assert sum(counts) == len(codes)
    with engine.store.read() as session:
        fired = session.execute(select(AuditEntry.task_id, func.count()).where(AuditEntry.action == "timer")
                                .group_by(AuditEntry.task_id)).all()
    assert len(fired) == len(codes) and {n for _, n in fired} == {1}
