"""Clocks: the engine asks a clock for the time, so tests and simulations run on virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: Every date the regulations speak of is a date in China.
CHINA = ZoneInfo("Asia/Shanghai")


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("a virtual clock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to ``moment``; time never runs backwards."""
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError(f"the clock cannot go back from {self._now} to {moment}")
        self._now = moment

    def advance(self, **delta) -> datetime:
        self._now += timedelta(**delta)
        return self._now


def local(moment: datetime) -> datetime:
    """The same moment in China's time zone."""
    return moment.astimezone(CHINA)


def due_text(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A due moment as an office reads it: a deadline at midnight is the end of the day before (10-08 24:00, not
    10-09 00:00 — the last day counts whole by the legal rule, and 00:00 of the next reads as a day too late)."""
    if moment is None:
        return ""
    at = local(moment)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        return (at - timedelta(days=1)).strftime(fmt.replace("%H:%M", "24:00"))
    return at.strftime(fmt)
