"""What to check before a campaign starts: not a second one of the same procedure and year, only the procedure's
own regions, and whether its fixed deadlines have already passed (then start them later by an offset, or not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import local
from ..store.models import Campaign, Region


@dataclass
class StartCheck:
    """The refusals (``problems``) and the fixed deadlines that have passed (``passed``: step name, due day)."""

    problems: list[str] = field(default_factory=list)
    passed: list[tuple[str, str]] = field(default_factory=list)


def check_start(session: Session, engine, variant: str, year: int, regions: list[str] | None,
                now: datetime, shift_days: int = 0) -> StartCheck:
    """Everything that should stop or warn before ``start_campaign``, in words."""
    found = StartCheck()
    version = engine.version(session, engine.current_version(session, variant).id)
    title = version.manifest["title"]
    earlier = session.scalars(select(Campaign).where(Campaign.variant == variant, Campaign.year == year,
                                                     Campaign.status != "cancelled")).first()
    if earlier is not None:
        found.problems.append(f"《{title}》{earlier.label}的考核已经启动（考核 #{earlier.id}）(a campaign of this "
                              f"procedure and year exists already)")
    if regions:
        rows = dict(session.execute(select(Region.code, Region.region_set).where(Region.code.in_(regions))).all())
        names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(regions))).all())
        foreign = [names.get(code, code) for code in regions if rows.get(code) not in (None, variant)]
        if foreign:
            found.problems.append(f"{'、'.join(foreign[:20])} 不是《{title}》的考核对象 (not assessed under this "
                                  f"procedure)")
    for bpmn_id, rule in (version.manifest.get("deadlines") or {}).items():
        due = engine.calendar.fixed(year, rule["date"], int(rule.get("year", 0)),
                                    extend_weekends=version.extend_weekends).ends_at + timedelta(days=shift_days)
        if due <= now:
            last_day = local(due - timedelta(microseconds=1)).date()
            found.passed.append((version.step_names.get(bpmn_id, bpmn_id), f"{last_day:%Y年%-m月%-d日}"))
    return found
