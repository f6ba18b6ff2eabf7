"""Deadlines: China's working days and holidays, and the periods of 民法典 第二百零一至二百零三条.

Every date is a date in China (Asia/Shanghai). A deadline ends at 24:00 of its last day, held as
``Deadline.ends_at``: the next day's 00:00 +08:00, an *exclusive* bound (in time means ``< ends_at``).

Readings of the law:
- 第二百零一条: the start day is not counted, so N days end on start + N.
- 第二百零二条: a month or year period ends on the corresponding day of the last month, or on that
  month's last day where there is none (31 Aug + 1 month → 30 Sep; 29 Feb 2024 + 1 year → 28 Feb 2025).
- 第二百零三条: a last day that is a statutory holiday moves to the day after the rest ends. A holiday
  and the days off joined to it are one rest, so the new last day is the first working day after it,
  which may be a 调休 Saturday. Plain weekends move a last day only when ``extend_weekends`` is set
  (a per-variant setting). Fixed dates ("9月底前") are the last day of a period too: same rule.

Holiday data: the ``chinesecalendar`` package, overridden day by day by the administrators' table
(``calendar_day``). A year with at least one correction counts as maintained by administrators:
its uncorrected days the package does not know are plain weekdays and weekends, without a warning.
A year known to neither still keeps the statutory holidays that fall on fixed dates (元旦 1 January,
劳动节 1–2 May, 国庆节 1–3 October: 《全国年节及纪念日放假办法》) and counts the other days Monday–Friday;
the holidays that move with the lunar calendar or the solar terms (春节, 清明, 端午, 中秋) and the 调休
arrangements are missing, so it warns (logged once, and ``warnings()``), never an error.

Helpers for BPMN expressions (``helpers(calendar, clock)``); ``start`` is a date or datetime, or an
ISO 8601 string ('YYYY-MM-DD' from a form; a time without offset is taken as China time), and each
returns ``ends_at`` as an ISO 8601 string with +08:00, ready for a timer's timeDate:
- ``deadline(start, months=0, days=0, years=0)``: a relative period, e.g. ``deadline(announced_at, months=1)``.
- ``working_days(start, n)``: the end of the n-th working day after ``start`` ("5个工作日").
- ``fixed_deadline(year, 'MM-DD', offset=0)``: a fixed date in year + offset, e.g. ``fixed_deadline(year, '07-15', 1)``.
- ``today()`` (only with a clock): today's date in China as 'YYYY-MM-DD'.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import chinese_calendar
from sqlalchemy import select

from ..clock import CHINA
from ..errors import ExpressionError, ValidationError
from ..store.models import CalendarDay

logger = logging.getLogger(__name__)

KINDS = ("holiday", "workday")
ONE_DAY = timedelta(days=1)

# The package names holidays in English; administrators and users read Chinese.
_CHINESE = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}


@dataclass(frozen=True)
class Deadline:
    """The last day of a period and its end, the next day's 00:00 in China (exclusive)."""

    last_day: date
    ends_at: datetime
    extended_from: date | None = None  # the last day before 第二百零三条 moved it
    reason: str | None = None


def missing_year(year: int) -> str:
    """The message to administrators for a year without holiday data."""
    return (f"{year}年节假日安排尚未录入：期限暂按元旦、劳动节、国庆节的法定日期和周一至周五上班、周六周日休息计算，"
            f"春节、清明、端午、中秋假期及调休上班日缺失，请管理员录入国务院办公厅公布的{year}年放假安排。"
            f"(No holiday data for {year}: deadlines count the fixed-date holidays (New Year's Day, Labour Day, "
            f"National Day) and Monday–Friday as working days; the movable holidays (Spring Festival, Qingming, "
            f"Dragon Boat, Mid-Autumn) and the weekend working days (调休) are missing until an administrator "
            f"enters the State Council's {year} holiday schedule.)")


def fixed_holidays(year: int) -> dict[date, str]:
    """The statutory holidays on fixed dates (《全国年节及纪念日放假办法》), for a year without data."""
    # 劳动节 was three days until 2007, one from 2008 and two from 2025; the others kept their dates.
    labour = 3 if year < 2008 else 1 if year < 2025 else 2
    days = {date(year, 1, 1): "元旦"}
    days.update({date(year, 5, n): "劳动节" for n in range(1, labour + 1)})
    days.update({date(year, 10, n): "国庆节" for n in (1, 2, 3)})
    return days


@functools.cache
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Which days are worked in China: the chinesecalendar package, corrected by administrators."""

    def __init__(self, corrections: Mapping[date, tuple[str, str | None]] | None = None):
        self.corrections: dict[date, tuple[str, str | None]] = {}
        for day, (kind, name) in (corrections or {}).items():
            if isinstance(day, datetime) or not isinstance(day, date) or kind not in KINDS:
                raise ValidationError(f"节假日校正有误 (bad calendar correction): {day!r} {kind!r}",
                                      [{"field": "kind", "day": str(day), "message": f"must be one of {KINDS}"}])
            self.corrections[day] = (kind, name)
        self._maintained = frozenset(day.year for day in self.corrections)
        self._fallbacks: set[int] = set()

    @classmethod
    def from_store(cls, store) -> WorkCalendar:
        """A calendar with the corrections currently in the database."""
        with store.read() as session:
            return cls(load_corrections(session))

    def known(self, year: int) -> bool:
        """Whether ``year`` has holiday data, from the package or from administrators."""
        return year in self._maintained or _package_knows(year)

    def warnings(self, years: Iterable[int] | None = None) -> list[str]:
        """Messages for the given years without data (default: those already counted as weekends only)."""
        chosen = self._fallbacks if years is None else set(years)
        return [missing_year(year) for year in sorted(chosen) if not self.known(year)]

    def _status(self, day: date) -> tuple[bool, str | None]:
        """Whether ``day`` is worked, and the name of the holiday it is part of, if it is one."""
        if day in self.corrections:
            kind, name = self.corrections[day]
            return (True, None) if kind == "workday" else (False, name or "节假日")
        if _package_knows(day.year):
            worked = chinese_calendar.is_workday(day)
            # A 调休 workday also carries a holiday name in the package: it is not a holiday.
            name = None if worked else chinese_calendar.get_holiday_detail(day)[1]
            return worked, _CHINESE.get(name, name)
        if day.year in self._maintained:
            return day.weekday() < 5, None
        if day.year not in self._fallbacks:
            self._fallbacks.add(day.year)
            logger.warning("%s", missing_year(day.year))
        name = fixed_holidays(day.year).get(day)
        return day.weekday() < 5 and name is None, name

    def is_workday(self, day: date | datetime) -> bool:
        """A working day, including a 调休 Saturday or Sunday; a holiday weekday is not."""
        return self._status(china_day(day))[0]

    def is_day_off(self, day: date | datetime) -> bool:
        """A holiday or a weekend that is not a 调休 working day."""
        return not self.is_workday(day)

    def is_holiday(self, day: date | datetime) -> bool:
        """A day off within a statutory holiday (春节, 国庆节, ...), not a plain weekend."""
        return self.holiday_name(day) is not None

    def holiday_name(self, day: date | datetime) -> str | None:
        """The holiday a day off belongs to, in Chinese, or None."""
        return self._status(china_day(day))[1]

    def deadline(self, start: date | datetime, *, days: int = 0, months: int = 0, years: int = 0,
                 extend_weekends: bool = False) -> Deadline:
        """The end of a period of days, months or years from ``start`` (第二百零一至二百零三条)."""
        if min(days, months, years) < 0:
            raise ValueError("a period cannot be negative")
        # Months and years first, then days: "1个月零5日" reads that way.
        last = add_months(china_day(start), 12 * years + months) + timedelta(days=days)
        return self._settle(last, extend_weekends)

    def working_days(self, start: date | datetime, n: int) -> Deadline:
        """The end of the n-th working day after ``start`` (调休 weekend workdays count)."""
        if n < 1:
            raise ValueError("a period of working days needs at least one day")
        day = china_day(start)
        while n:
            day += ONE_DAY
            if self.is_workday(day):
                n -= 1
        return Deadline(day, end_of(day))

    def fixed(self, year: int, month_day: str, year_offset: int = 0, extend_weekends: bool = False) -> Deadline:
        """The end of a fixed date 'MM-DD' of ``year + year_offset``; 02-29 is 02-28 in other years."""
        month, day = parse_month_day(month_day)
        year += year_offset
        return self._settle(date(year, month, min(day, month_length(year, month))), extend_weekends)

    def _settle(self, last: date, extend_weekends: bool) -> Deadline:
        """Move a last day off to the first working day after the rest (第二百零三条)."""
        name = self.holiday_name(last)
        if name is None and not (extend_weekends and self.is_day_off(last)):
            return Deadline(last, end_of(last))
        moved = last + ONE_DAY
        while self.is_day_off(moved):
            moved += ONE_DAY
        what = f"{name}假期" if name else "休息日"
        reason = (f"{last.isoformat()} 是{what}，期限顺延至 {moved.isoformat()}（民法典第二百零三条）"
                  f" (last day off: moved to the next working day)")
        return Deadline(moved, end_of(moved), last, reason)


def load_corrections(session) -> dict[date, tuple[str, str | None]]:
    """The administrators' corrections in the ``calendar_day`` table."""
    return {row.day: (row.kind, row.name) for row in session.scalars(select(CalendarDay))}


def set_correction(session, day: date, kind: str, name: str | None = None) -> CalendarDay:
    """Record an administrator's correction: ``holiday`` (a day off) or ``workday`` (调休)."""
    if kind not in ("holiday", "workday"):
        raise ValidationError(f"kind must be 'holiday' or 'workday', not {kind!r}",
                              [{"field": "kind", "message": "应为“休息日”或“调休上班”"}])
    row = session.get(CalendarDay, day) or CalendarDay(day=day)
    row.kind, row.name = kind, (name or None)
    session.add(row)
    return row


def remove_correction(session, day: date) -> None:
    """Drop a correction: the package's data (or weekends-only) applies to that day again."""
    row = session.get(CalendarDay, day)
    if row is not None:
        session.delete(row)


def china_day(value: date | datetime) -> date:
    """The date in China of an aware datetime; a date as it is."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{value} has no time zone")
        return value.astimezone(CHINA).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date or datetime, not {type(value).__name__}")


def end_of(day: date) -> datetime:
    """24:00 of ``day`` in China, i.e. the next day's 00:00 +08:00."""
    return datetime.combine(day + ONE_DAY, time(0), tzinfo=CHINA)


def month_length(year: int, month: int) -> int:
    """The number of days in a month."""
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - ONE_DAY).day


def add_months(day: date, months: int) -> date:
    """The corresponding day ``months`` later, or that month's last day where there is none."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, month_length(year, month + 1)))


def parse_month_day(text: str) -> tuple[int, int]:
    """'06-30' → (6, 30); any day that exists in a leap year is accepted."""
    try:
        month, day = (int(part) for part in str(text).split("-"))
        date(2024, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a date 'MM-DD'") from None
    return month, day


def parse_start(value: str | date | datetime) -> date | datetime:
    """A start from task data: an ISO 8601 string, date or datetime; no offset means China time."""
    if isinstance(value, str):
        text = value.strip()
        value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    if isinstance(value, datetime) and value.utcoffset() is None:
        value = value.replace(tzinfo=CHINA)
    if not isinstance(value, date):
        raise TypeError(f"expected a date, not {type(value).__name__}")
    return value


def helpers(calendar: WorkCalendar, clock=None, *, extend_weekends: bool = False) -> dict:
    """The deadline functions for BPMN expressions; each returns an ISO 8601 time with +08:00."""

    def call(what: str, compute):
        try:
            return compute().ends_at.isoformat()
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExpressionError(f"{what}: {exc}") from None

    def deadline(start, months=0, days=0, years=0):
        return call("deadline()", lambda: calendar.deadline(
            parse_start(start), days=int(days), months=int(months), years=int(years),
            extend_weekends=extend_weekends))

    def working_days(start, n):
        return call("working_days()", lambda: calendar.working_days(parse_start(start), int(n)))

    def fixed_deadline(year, month_day, offset=0):
        return call("fixed_deadline()", lambda: calendar.fixed(
            int(year), month_day, int(offset), extend_weekends=extend_weekends))

    found = {"deadline": deadline, "working_days": working_days, "fixed_deadline": fixed_deadline}
    if clock is not None:
        found["today"] = lambda: clock.now().astimezone(CHINA).date().isoformat()
    return found


#: One line of the bulk holiday form: a day or a range (``~``, ``-`` between dates, ``至``) and an optional name.
_BULK_LINE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:\s*(?:~|～|至|到|--|—)\s*(\d{4}-\d{1,2}-\d{1,2}))?(?:\s+(.*))?$")
#: At most this many days in one bulk entry (a year's holidays are about thirty).
BULK_MAX_DAYS = 400


def parse_bulk(text: str, kind: str) -> list[tuple[date, str | None]]:
    """Days from a pasted list, one day or range per line (``2026-02-15~2026-02-23 春节``): all of them, or a
    ValidationError naming every bad line and nothing taken."""
    found, errors = [], []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _BULK_LINE.match(line)
        try:
            if match is None:
                raise ValueError("格式应为 YYYY-MM-DD 或 YYYY-MM-DD~YYYY-MM-DD，后接名称")
            first = _iso(match.group(1))
            last = _iso(match.group(2)) if match.group(2) else first
            if last < first:
                raise ValueError("结束日期早于开始日期")
            if (last - first).days > 60:
                raise ValueError("一段假期不超过 60 天")
        except ValueError as exc:
            errors.append({"field": f"line {number}", "message": f"第 {number} 行「{line[:40]}」：{exc}"})
            continue
        name = (match.group(3) or "").strip()[:100] or None
        day = first
        while day <= last:
            found.append((day, name))
            day += timedelta(days=1)
    if not errors and len(found) > BULK_MAX_DAYS:
        errors.append({"field": "days", "message": f"一次最多 {BULK_MAX_DAYS} 天"})
    if errors:
        raise ValidationError(f"{len(errors)} 行有误，未保存任何日期 ({len(errors)} lines are wrong; nothing was "
                              f"saved)", errors)
    if kind not in ("holiday", "workday"):
        raise ValidationError(f"kind must be 'holiday' or 'workday', not {kind!r}")
    return found


def _iso(text: str) -> date:
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"没有 {text} 这一天") from None


def set_corrections(session, holidays: list[tuple[date, str | None]], workdays: list[tuple[date, str | None]]) -> int:
    """Record a year's holidays and 调休 days at once; a day in both lists is refused. Returns how many."""
    both = sorted({d for d, _ in holidays} & {d for d, _ in workdays})
    if both:
        raise ValidationError(f"{both[0].isoformat()} 既是休息日又是调休上班日 (a day cannot be both)",
                              [{"field": "days", "message": f"{d.isoformat()} 重复"} for d in both[:20]])
    for kind, days in (("holiday", holidays), ("workday", workdays)):
        for day, name in days:
            set_correction(session, day, kind, name)
    return len(holidays) + len(workdays)
