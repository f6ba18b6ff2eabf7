"""Deadlines: holidays and 调休 from the package and the administrators, periods per 民法典 201–203."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select

from engine.clock import CHINA, VirtualClock
from engine.errors import ExpressionError, ValidationError
from engine.running.calendar import WorkCalendar, helpers, load_corrections
from engine.running.sandbox import SandboxEnvironment
from engine.running.timers import fire_due_timers
from engine.store.models import CalendarDay

D = date.fromisoformat
EIGHT_HOURS = timedelta(hours=8)

# Spring Festival 2027 as an administrator might enter it before any package knows it.
SPRING_2027 = {D("2027-02-05") + timedelta(days=n): ("holiday", "春节") for n in range(7)} | {
    D("2027-02-13"): ("workday", "春节调休")}


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# The State Council's notices for 2025 and 2026, as the package has them.
@pytest.mark.parametrize(("day", "workday", "holiday"), [
    ("2025-01-26", True, None),        # Sunday, 调休 working day before 春节
    ("2025-01-28", False, "春节"),
    ("2025-02-04", False, "春节"),
    ("2025-02-08", True, None),        # Saturday, 调休 working day after 春节
    ("2025-02-09", False, None),       # a plain Sunday
    ("2025-09-28", True, None),        # Sunday, 调休 working day before 国庆
    ("2025-10-01", False, "国庆节"),
    ("2025-10-04", False, "国庆节"),   # a Saturday inside the holiday is part of it
    ("2025-10-06", False, "中秋"),
    ("2025-10-08", False, "国庆节"),
    ("2025-10-09", True, None),
    ("2025-10-11", True, None),        # Saturday, 调休 working day after 国庆
    ("2025-10-12", False, None),
    ("2026-02-14", True, None),        # Saturday, 调休
    ("2026-02-15", False, "春节"),
    ("2026-02-23", False, "春节"),
    ("2026-02-24", True, None),
    ("2026-02-28", True, None),        # Saturday, 调休
    ("2026-09-20", True, None),        # Sunday, 调休 before 国庆
    ("2026-10-07", False, "国庆节"),
    ("2026-10-10", True, None),        # Saturday, 调休 after 国庆
])
def test_package_holidays(cal, day, workday, holiday):
    assert cal.is_workday(D(day)) is workday
    assert cal.is_day_off(D(day)) is not workday
    assert cal.is_holiday(D(day)) is (holiday is not None)
    assert cal.holiday_name(D(day)) == holiday
    assert cal.known(D(day).year)


@pytest.mark.parametrize(("start", "period", "last_day"), [
    ("2025-08-31", {"months": 1}, "2025-09-30"),   # no 31 September: the month's last day
    ("2025-01-31", {"months": 1}, "2025-02-28"),
    ("2024-01-31", {"months": 1}, "2024-02-29"),
    ("2024-02-29", {"years": 1}, "2025-02-28"),
    ("2025-10-15", {"months": 1}, "2025-11-15"),   # the start day is not counted
    ("2025-06-02", {"days": 10}, "2025-06-12"),
    ("2025-05-30", {"months": 1, "days": 2}, "2025-07-02"),
    ("2025-11-30", {"months": 3}, "2026-02-28"),   # across a year end
])
def test_periods(cal, start, period, last_day):
    result = cal.deadline(D(start), **period)
    assert result.last_day == D(last_day)
    assert result.extended_from is None and result.reason is None


@pytest.mark.parametrize(("start", "last_day"), [
    (datetime(2025, 10, 15, 23, 30, tzinfo=CHINA), "2025-11-15"),
    (datetime(2025, 10, 15, 17, tzinfo=UTC), "2025-11-16"),      # already 16 October in China
])
def test_start_is_the_day_in_china(cal, start, last_day):
    assert cal.deadline(start, months=1).last_day == D(last_day)


def test_ends_at_is_the_next_midnight_in_china(cal):
    result = cal.deadline(D("2025-08-31"), months=1)
    assert result.ends_at == datetime(2025, 10, 1, tzinfo=CHINA)
    assert result.ends_at.utcoffset() == EIGHT_HOURS
    assert result.ends_at.isoformat() == "2025-10-01T00:00:00+08:00"
    # Exclusive: the last moment in time is still on the last day.
    assert (result.ends_at - timedelta(microseconds=1)).date() == result.last_day


@pytest.mark.parametrize(("start", "period", "before", "after"), [
    ("2025-09-03", {"months": 1}, "2025-10-03", "2025-10-09"),   # 国庆节 2025
    ("2025-09-05", {"months": 1}, "2025-10-05", "2025-10-09"),   # a Sunday inside 国庆
    ("2025-09-06", {"months": 1}, "2025-10-06", "2025-10-09"),   # 中秋 inside 国庆
    ("2025-01-01", {"days": 30}, "2025-01-31", "2025-02-05"),    # 春节 2025
    ("2026-01-17", {"months": 1}, "2026-02-17", "2026-02-24"),   # 春节 2026
    ("2026-01-21", {"months": 1}, "2026-02-21", "2026-02-24"),
    ("2025-12-01", {"months": 1}, "2026-01-01", "2026-01-04"),   # 元旦 2026: to a 调休 Sunday
])
def test_last_day_on_a_holiday_moves_past_it(cal, start, period, before, after):
    for extend_weekends in (False, True):
        result = cal.deadline(D(start), extend_weekends=extend_weekends, **period)
        assert (result.extended_from, result.last_day) == (D(before), D(after))
        assert "第二百零三条" in result.reason
        assert result.ends_at == datetime.combine(D(after) + timedelta(days=1), datetime.min.time(), CHINA)


@pytest.mark.parametrize(("start", "last_day"), [
    ("2025-08-28", "2025-09-28"),   # a 调休 Sunday is a working day
    ("2025-09-11", "2025-10-11"),   # a 调休 Saturday
])
def test_last_day_on_a_working_weekend_stays(cal, start, last_day):
    for extend_weekends in (False, True):
        result = cal.deadline(D(start), months=1, extend_weekends=extend_weekends)
        assert result.last_day == D(last_day) and result.extended_from is None


@pytest.mark.parametrize(("extend_weekends", "last_day"), [(False, "2025-11-15"), (True, "2025-11-17")])
def test_plain_weekends_extend_only_when_asked(cal, extend_weekends, last_day):
    result = cal.deadline(D("2025-10-15"), months=1, extend_weekends=extend_weekends)   # a Saturday
    assert result.last_day == D(last_day)
    assert (result.extended_from is not None) is extend_weekends


@pytest.mark.parametrize(("start", "n", "last_day"), [
    ("2025-09-26", 5, "2025-10-10"),   # 28 Sep (Sunday) counts, 1–8 Oct do not
    ("2025-09-30", 3, "2025-10-11"),   # the 调休 Saturday is the third
    ("2026-02-13", 1, "2026-02-14"),
    ("2026-02-13", 2, "2026-02-24"),
    ("2025-06-06", 5, "2025-06-13"),   # an ordinary week: Saturday and Sunday skipped
])
def test_working_days(cal, start, n, last_day):
    result = cal.working_days(D(start), n)
    assert result.last_day == D(last_day)
    assert result.ends_at == datetime.combine(D(last_day) + timedelta(days=1), datetime.min.time(), CHINA)


@pytest.mark.parametrize(("year", "month_day", "offset", "extend_weekends", "last_day"), [
    (2025, "06-30", 0, False, "2025-06-30"),   # national: 目标备案
    (2024, "07-15", 1, False, "2025-07-15"),   # national: 自我评价, in the assessment year's second year
    (2022, "09-30", 1, False, "2023-10-07"),   # 中秋国庆 2023: to the 调休 Saturday
    (2025, "01-01", 0, False, "2025-01-02"),   # 资阳: 年初 on 元旦
    (2025, "12-31", 0, False, "2025-12-31"),   # 资阳: 年末
    (2025, "02-29", 0, False, "2025-02-28"),
    (2024, "02-29", 0, False, "2024-02-29"),
    (2025, "06-28", 0, False, "2025-06-28"),   # a Saturday
    (2025, "06-28", 0, True, "2025-06-30"),
])
def test_fixed_dates(cal, year, month_day, offset, extend_weekends, last_day):
    assert cal.fixed(year, month_day, offset, extend_weekends=extend_weekends).last_day == D(last_day)


def test_a_year_without_data_counts_weekends_and_warns(cal, caplog):
    assert not cal.known(2027)
    assert cal.warnings() == []   # nothing counted yet
    with caplog.at_level(logging.WARNING, logger="engine.running.calendar"):
        plain = cal.deadline(D("2027-01-08"), months=1)   # 8 Feb 2027: a Monday
        weekend = cal.deadline(D("2027-01-06"), months=1, extend_weekends=True)   # Saturday 6 Feb
        working = cal.working_days(D("2027-02-05"), 1)
    assert plain.last_day == D("2027-02-08") and plain.extended_from is None
    assert weekend.last_day == D("2027-02-08")
    assert working.last_day == D("2027-02-08")
    assert not cal.is_holiday(D("2027-02-08"))
    [message] = cal.warnings()
    assert "2027年节假日安排尚未录入" in message and "2027" in message.split("(", 1)[1]
    assert cal.warnings([2026, 2027, 2028]) == [message, cal.warnings([2028])[0]]
    assert sum("2027年" in record.getMessage() for record in caplog.records) == 1   # logged once


def test_administrators_fill_a_missing_year():
    cal = WorkCalendar(SPRING_2027)
    assert cal.known(2027) and cal.warnings([2027]) == []
    result = cal.deadline(D("2027-01-08"), months=1)
    assert (result.extended_from, result.last_day) == (D("2027-02-08"), D("2027-02-12"))
    assert "春节" in result.reason
    assert cal.working_days(D("2027-02-11"), 2).last_day == D("2027-02-13")   # the 调休 Saturday
    # Days they did not correct are plain weekdays and weekends, without a warning.
    assert cal.is_day_off(D("2027-05-01")) and not cal.is_holiday(D("2027-05-01"))
    assert cal.warnings() == []


def test_corrections_win_over_the_package():
    cal = WorkCalendar({D("2025-10-08"): ("workday", None), D("2025-10-13"): ("holiday", "台风停工")})
    assert cal.is_workday(D("2025-10-08")) and not cal.is_holiday(D("2025-10-08"))
    assert cal.holiday_name(D("2025-10-13")) == "台风停工"
    assert cal.deadline(D("2025-09-03"), months=1).last_day == D("2025-10-08")
    assert cal.working_days(D("2025-10-10"), 2).last_day == D("2025-10-14")


@pytest.mark.parametrize("call", [
    lambda cal: cal.deadline(D("2025-01-01"), days=-1),
    lambda cal: cal.deadline(datetime(2025, 1, 1, 9), days=1),   # naive: which day is it?
    lambda cal: cal.working_days(D("2025-01-01"), 0),
    lambda cal: cal.fixed(2025, "13-01"),
    lambda cal: cal.fixed(2025, "06/30"),
])
def test_bad_arguments(cal, call):
    with pytest.raises(ValueError):
        call(cal)


def test_bad_correction():
    with pytest.raises(ValidationError):
        WorkCalendar({D("2027-02-05"): ("vacation", None)})


@pytest.fixture
def expr(cal):
    clock = VirtualClock(datetime(2025, 6, 2, 23, 30, tzinfo=CHINA))
    return helpers(cal, clock)


@pytest.mark.parametrize(("call", "expected"), [
    (lambda h: h["deadline"]("2025-08-31", months=1), "2025-10-01T00:00:00+08:00"),
    (lambda h: h["deadline"]("2025-10-15T23:30:00+08:00", months=1), "2025-11-16T00:00:00+08:00"),
    (lambda h: h["deadline"]("2025-10-15T17:00:00Z", months=1), "2025-11-17T00:00:00+08:00"),
    (lambda h: h["deadline"]("2025-10-15T23:30", months=1), "2025-11-16T00:00:00+08:00"),   # China time
    (lambda h: h["deadline"](date(2025, 9, 3), months=1), "2025-10-10T00:00:00+08:00"),
    (lambda h: h["deadline"]("2024-02-29", years=1), "2025-03-01T00:00:00+08:00"),
    (lambda h: h["working_days"]("2025-09-30", 3), "2025-10-12T00:00:00+08:00"),
    (lambda h: h["fixed_deadline"](2024, "07-15", 1), "2025-07-16T00:00:00+08:00"),
    (lambda h: h["fixed_deadline"]("2022", "09-30", 1), "2023-10-08T00:00:00+08:00"),
])
def test_helpers_return_iso_times_in_china(expr, call, expected):
    text = call(expr)
    assert text == expected
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == EIGHT_HOURS
    # What a timeDate expression gives SpiffWorkflow: the same instant, whatever the server's zone.
    assert TimerEventDefinition.get_datetime(text) == moment


def test_helpers_in_bpmn_expressions(cal, expr):
    sandbox = SandboxEnvironment(expr)
    assert sandbox.evaluate("deadline(announced_at, months=1)",
                            {"announced_at": "2025-09-03"}) == "2025-10-10T00:00:00+08:00"
    assert sandbox.evaluate("today()", {}) == "2025-06-02"
    weekends = helpers(cal, extend_weekends=True)
    assert "today" not in weekends
    assert weekends["fixed_deadline"](2025, "06-28") == "2025-07-01T00:00:00+08:00"


@pytest.mark.parametrize("call", [
    lambda h: h["deadline"]("next week", months=1),
    lambda h: h["deadline"](None, months=1),
    lambda h: h["working_days"]("2025-09-30", 0),
    lambda h: h["fixed_deadline"](2025, "9月30日"),
])
def test_helpers_name_bad_input(expr, call):
    with pytest.raises(ExpressionError):
        call(expr)


def test_corrections_from_the_database(store):
    with store.write() as session:
        session.add_all(CalendarDay(day=day, kind=kind, name=name) for day, (kind, name) in SPRING_2027.items())
        session.add(CalendarDay(day=D("2025-10-13"), kind="holiday", name=None))
    with store.read() as session:
        assert load_corrections(session) == SPRING_2027 | {D("2025-10-13"): ("holiday", None)}
    cal = WorkCalendar.from_store(store)
    assert cal.known(2027)
    assert cal.deadline(D("2027-01-08"), months=1).last_day == D("2027-02-12")
    assert cal.is_holiday(D("2025-10-13")) and cal.holiday_name(D("2025-10-13")) == "节假日"


def _lab_copy(tmp_path, extend_weekends: bool):
    from conftest import LAB

    folder = tmp_path / f"lab-{extend_weekends}"
    shutil.copytree(LAB, folder)
    manifest = folder / "bundle.yaml"
    text = manifest.read_text(encoding="utf-8").replace("key: timer-lab", f"key: lab-{str(extend_weekends).lower()}")
    manifest.write_text(text + f"calendar:\n  extend_weekends: {str(extend_weekends).lower()}\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(("extend_weekends", "due"), [(False, "2026-10-18"), (True, "2026-10-20")])
def test_the_variants_weekend_rule_reaches_deadline_in_its_expressions(engine, tmp_path, extend_weekends, due):
    from engine.store.models import Timer

    folder = _lab_copy(tmp_path, extend_weekends)
    engine.deploy(folder)
    key = f"lab-{str(extend_weekends).lower()}"
    engine.load_regions(engine.check(folder))
    campaign = engine.start_campaign(key, 2025, ["990001"])
    with engine.store.read() as session:
        [wait] = session.scalars(select(Timer).where(Timer.fired_at.is_(None))
                                 .where(Timer.bpmn_id == "Wait_date")).all()
    engine.clock.set(wait.due_at)
    fire_due_timers(engine)
    [task_file] = [t for t in engine.tasks(campaign_id=campaign.id) if t.bpmn_id == "Task_file"]
    # 17 September + 1 month = Saturday 17 October 2026; the weekend rule moves it to Monday the 19th.
    engine.complete(task_file.id, {"announcement": "通报", "announced_on": "2026-09-17"}, "assessed")
    [report] = [t for t in engine.tasks(campaign_id=campaign.id) if t.bpmn_id == "Task_report"]
    assert report.due_at == datetime.combine(D(due), datetime.min.time(), CHINA)


def test_a_year_without_data_keeps_the_fixed_date_holidays_and_warns_of_the_rest(cal, caplog):
    assert not cal.known(2028)
    with caplog.at_level(logging.WARNING, logger="engine.running.calendar"):
        assert cal.holiday_name(D("2028-05-01")) == "劳动节" and cal.is_day_off(D("2028-05-02"))   # Mon, Tue
        assert cal.holiday_name(D("2028-01-01")) == "元旦"
        assert [cal.is_day_off(D(f"2028-10-0{n}")) for n in (2, 3, 4)] == [True, True, False]
        # A month from 31 August 2028 ends on Saturday 30 September: 国庆 keeps it off until Wednesday.
        national_day = cal.deadline(D("2028-09-01"), months=1, extend_weekends=True)
        assert national_day.last_day == D("2028-10-04")
        # Without the weekend rule, a last day on 2 October (a holiday) still moves.
        assert cal.fixed(2028, "10-02").last_day == D("2028-10-04")
        assert cal.working_days(D("2028-04-28"), 1).last_day == D("2028-05-03")
    [message] = cal.warnings()
    assert "春节、清明、端午、中秋" in message and "调休" in message and "movable holidays" in message
    assert sum("2028年" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.parametrize(("manifest", "now", "years"), [
    # National, July year: on 1 March 2026 the 2025—2026 year runs; it and the next reach into 2027 (7-15, 9-30).
    ({"assessment_year": "july", "deadlines": {"T": {"date": "07-15", "year": 1}}}, "2026-03-01", [2027]),
    # Calendar year: this year's results and rectification fall in the next; next year's in the one after.
    ({"assessment_year": "calendar"}, "2026-03-01", [2027, 2028]),
    ({"assessment_year": "calendar"}, "2025-03-01", [2027]),
    ({"assessment_year": {"start": "09-01"}, "deadlines": {"T": {"date": "08-31", "year": -1}}}, "2026-08-31",
     [2027]),
])
def test_holiday_warnings_name_the_years_a_campaign_would_need(manifest, now, years):
    from engine.running.deadlines import holiday_warnings

    moment = datetime.combine(D(now), datetime.min.time(), CHINA)
    warnings = holiday_warnings(WorkCalendar(), manifest, moment)
    assert [int(w[:4]) for w in warnings] == years
