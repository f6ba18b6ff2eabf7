"""The assessment year of a variant: the day it starts and how its label reads.

``assessment_year`` in ``bundle.yaml`` is ``july`` (1 July – 30 June, 「2025—2026年度」), ``calendar``
(1 January – 31 December, 「2025年度」) or ``{start: "MM-DD", label: single | span}`` for any other start;
the label defaults to ``single`` for a year starting on 1 January and ``span`` otherwise. An assessment
year is named by the calendar year it starts in (the ``year`` every instance starts with).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from ..errors import BundleError

SHORTHANDS = {"july": ("07-01", "span"), "calendar": ("01-01", "single")}
LABELS = ("single", "span")
_LABEL = re.compile(r"(\d{4})(?:—(\d{4}))?年度")


@dataclass(frozen=True)
class AssessmentYear:
    """When an assessment year starts, and whether its label names one calendar year or two."""

    month: int
    day: int
    span: bool

    def label(self, year: int) -> str:
        """「2025年度」 or 「2025—2026年度」 for the assessment year starting in ``year``."""
        return f"{year}—{year + 1}年度" if self.span else f"{year}年度"

    def start(self, year: int) -> date:
        """The first day of the assessment year starting in ``year``."""
        return date(year, self.month, self.day)

    def last_day(self, year: int) -> date:
        """The last day of the assessment year starting in ``year``."""
        return date(year + 1, self.month, self.day) - timedelta(days=1)


def english_label(label: str) -> str:
    """A campaign's stored label (「2025年度」, 「2025—2026年度」) in English; a label of another shape as it is."""
    found = _LABEL.fullmatch(label or "")
    if not found:
        return label
    first, second = found.groups()
    return f"{first}–{second} assessment year" if second else f"{first} assessment year"


def parse(value, file: str = "bundle.yaml") -> AssessmentYear:
    """The assessment year a manifest states; BundleError naming the key when it is not one."""
    if isinstance(value, str) and value in SHORTHANDS:
        start, label = SHORTHANDS[value]
    elif isinstance(value, dict) and set(value) <= {"start", "label"} and "start" in value:
        start, label = str(value["start"]), value.get("label")
    else:
        raise BundleError("assessment_year must be 'july', 'calendar' or {start: \"MM-DD\", label: single|span}",
                          file=file)
    try:
        month, day = (int(part) for part in start.split("-"))
        date(2023, month, day)  # not a leap year: a year cannot start on a day most years lack
    except ValueError:
        raise BundleError(f"assessment_year.start {start!r} is not a day 'MM-DD' (29 February is not allowed)",
                          file=file) from None
    if label is None:
        label = "single" if (month, day) == (1, 1) else "span"
    if label not in LABELS:
        raise BundleError(f"assessment_year.label must be one of {', '.join(LABELS)}, not {label!r}", file=file)
    return AssessmentYear(month, day, label == "span")
