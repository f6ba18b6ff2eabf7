"""A campaign's results: one row per region as it reports, ranked with its consequences once every region has.

The campaign process never holds the results itself: a region's result message is kept as a row, the
campaign's catch of that message completes once, when every region has sent it, and each region's consequences
(praised, must rectify, interviewed: the variant's ``results.consequences``) reach it with the announcement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import BundleError, ExpressionError
from ..procedure import scoring
from ..store.models import Campaign, MessageTally, Region, Result

#: The consequences every region is told, whether or not the variant states a rule for them.
STANDARD = ("commended", "must_rectify", "interview")
RULE_KEYS = {"grades", "best", "last", "vetoed"}
SETTINGS = {"reported_by", "announced_by", "consequences"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Rule:
    """A consequence that applies to a region with one of ``grades``, among the ``best`` or ``last`` N by rank
    (every region tied at the boundary included), or ``vetoed``. The best are never vetoed regions."""

    grades: frozenset[str] = frozenset()
    best: int = 0
    last: int = 0
    vetoed: bool = False

    def applies(self, row: dict) -> bool:
        return (row["grade"] in self.grades or (self.vetoed and row["vetoed"])
                or (not row["vetoed"] and row["rank"] <= self.best) or row["rank_from_last"] <= self.last)


@dataclass(frozen=True)
class Rules:
    """A variant's ``results`` settings: which messages carry results and announce them, and the consequences."""

    reported_by: str = "region_scored"
    announced_by: str = "results_announced"
    consequences: dict[str, Rule] = field(default_factory=dict)

    @classmethod
    def of(cls, manifest: dict) -> Rules | None:
        """The rules of a checked manifest; None for a variant that gathers no results (or an old version)."""
        settings = manifest.get("results")
        if not isinstance(settings, dict):
            return None
        consequences = {name: Rule(frozenset(rule.get("grades", [])), int(rule.get("best", 0)),
                                   int(rule.get("last", 0)), bool(rule.get("vetoed", False)))
                        for name, rule in (settings.get("consequences") or {}).items()}
        return cls(settings.get("reported_by", cls.reported_by), settings.get("announced_by", cls.announced_by),
                   consequences)

    def names(self) -> list[str]:
        return list(STANDARD) + [n for n in self.consequences if n not in STANDARD]


def check(manifest: dict, file: str = "bundle.yaml") -> None:
    """Refuse ``results`` settings an administrator got wrong, naming the key."""
    settings = manifest.get("results")
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise BundleError("results 应为映射 (results must be a mapping)", file=file)
    unknown = set(settings) - SETTINGS
    if unknown:
        raise BundleError(f"results 中有未知的键 (unknown keys in results): {', '.join(sorted(unknown))}", file=file)
    for key in ("reported_by", "announced_by"):
        if key in settings and not (isinstance(settings[key], str) and settings[key]):
            raise BundleError(f"results.{key} 应为消息名称 (must name a message)", file=file)
    consequences = settings.get("consequences") or {}
    if not isinstance(consequences, dict):
        raise BundleError("results.consequences 应为映射 (must be a mapping)", file=file)
    grades = set(manifest.get("grades") or [])
    for name, rule in consequences.items():
        where = f"results.consequences.{name}"
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise BundleError(f"{where}: 名称应为变量名 (the name must be a variable name)", file=file)
        if not isinstance(rule, dict) or not rule or set(rule) - RULE_KEYS:
            raise BundleError(f"{where}: 应由 grades、best、last、vetoed 组成 (a rule is made of grades, best, last "
                              f"and vetoed)", file=file)
        listed = rule.get("grades", [])
        if not isinstance(listed, list) or any(g not in grades for g in listed):
            raise BundleError(f"{where}.grades: 只能列出本办法的等级 {sorted(grades)} (only this variant's grades)",
                              file=file)
        for key in ("best", "last"):
            value = rule.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BundleError(f"{where}.{key}: 应为不小于 0 的整数 (must be a whole number ≥ 0)", file=file)
        if not isinstance(rule.get("vetoed", False), bool):
            raise BundleError(f"{where}.vetoed: 应为 true 或 false (must be true or false)", file=file)


def check_messages(manifest: dict, messages: set[str]) -> None:
    """The messages ``results`` names are messages of the bundle's BPMN."""
    rules = Rules.of(manifest)
    if rules is None:
        return
    for key in ("reported_by", "announced_by"):
        name = getattr(rules, key)
        if name not in messages:
            raise BundleError(f"results.{key}: BPMN 中没有名为 {name} 的消息 (no message named '{name}' in the BPMN; "
                              f"messages: {', '.join(sorted(m for m in messages if m)) or 'none'})", file="bundle.yaml")


# -- recording and ranking ---------------------------------------------------------------------------
def record(session: Session, campaign_id: int, instance_id: int, region: str, payload, now: datetime,
           veto_names: dict[str, str] | None = None) -> None:
    """Keep a region's reported result (a second report replaces the first, before ranking); the veto items hit
    (``veto_hits``: codes of the scheme's ``veto`` list) are kept by name (``veto_names``: code -> name)."""
    if not isinstance(payload, dict) or "score" not in payload:
        raise ExpressionError(f"地区 {region} 上报的考核结果缺少得分 (the result reported by region {region} has no "
                              f"score): {payload!r}")
    score = scoring.as_decimal(payload["score"], f"地区 {region} 上报的得分 (the score reported by region {region})")
    hits = payload.get("veto_hits") or []
    name = session.scalar(select(Region.name).where(Region.code == region))  # before the new row is flushed
    row = session.get(Result, (campaign_id, region))
    if row is None:
        row = Result(campaign_id=campaign_id, region=region)
        session.add(row)
    row.instance_id = instance_id
    row.name = name
    row.score = f"{score.normalize():f}"
    row.grade = None if payload.get("grade") is None else str(payload["grade"])
    row.vetoed = bool(payload.get("veto")) or bool(hits)
    hits = hits if isinstance(hits, list) else [hits]
    row.veto_items = [(veto_names or {}).get(str(h), str(h)) for h in hits]
    row.reported_at = now
    row.rank = None


def rank(rows: list[dict]) -> list[dict]:
    """``rows`` ({region, score, vetoed, …}) in rank order with a competition ``rank`` (1, 1, 3) and
    ``rank_from_last``; vetoed regions come after every other, by score among themselves, ties by region code."""
    ordered = sorted(rows, key=lambda r: (bool(r["vetoed"]), -Decimal(str(r["score"])), str(r["region"])))
    keys = [(bool(r["vetoed"]), Decimal(str(r["score"]))) for r in ordered]
    ranked = []
    for position, row in enumerate(ordered):
        first = position
        while first and keys[first - 1] == keys[position]:
            first -= 1
        last = position
        while last + 1 < len(keys) and keys[last + 1] == keys[position]:
            last += 1
        ranked.append(dict(row, rank=first + 1, rank_from_last=len(ordered) - last))
    return ranked


def rank_campaign(session: Session, campaign_id: int, rules: Rules) -> dict:
    """Rank a campaign's results and decide each region's consequences; the summary the campaign catches."""
    rows = list(session.scalars(select(Result).where(Result.campaign_id == campaign_id)))
    by_region = {r.region: r for r in rows}
    ranked = rank([{"region": r.region, "score": r.score, "vetoed": r.vetoed, "grade": r.grade} for r in rows])
    grades: dict[str, int] = {}
    for entry in ranked:
        row = by_region[entry["region"]]
        row.rank = entry["rank"]
        row.consequences = {name: rule.applies(entry) for name, rule in rules.consequences.items()}
        if row.grade is not None:
            grades[row.grade] = grades.get(row.grade, 0) + 1
    return {"reported": len(rows), "grades": grades, "vetoed": sum(r.vetoed for r in rows),
            **{name: sum(bool((r.consequences or {}).get(name)) for r in rows) for name in rules.names()}}


def outcome(session: Session, campaign_id: int, region: str, rules: Rules) -> dict:
    """What the announcement tells one region: its rank, whether vetoed, and each consequence (False if none)."""
    row = session.get(Result, (campaign_id, region))
    if row is None or row.rank is None:
        return {"rank": None, "vetoed": False, **dict.fromkeys(rules.names(), False)}
    decided = row.consequences or {}
    return {"rank": row.rank, "vetoed": row.vetoed, **{n: bool(decided.get(n)) for n in rules.names()}}


def expected(session: Session, campaign_id: int) -> int:
    """How many regions the campaign assesses (its instances may still be being made)."""
    # Kept on the row since 0021; for an older row counted by the database (json_array_length: SQLite and
    # PostgreSQL alike), not by parsing the list of 2,850 codes in Python for every region's report.
    return session.scalar(select(func.coalesce(Campaign.region_count, func.json_array_length(Campaign.regions)))
                          .where(Campaign.id == campaign_id)) or 0


def tally(session: Session, target_id: int, name: str) -> None:
    """Count one more message ``name`` sent to the gathering instance ``target_id`` (its row is locked)."""
    row = session.get(MessageTally, (target_id, name))
    if row is None:
        session.add(MessageTally(target_id=target_id, name=name, sent=1))
    else:
        row.sent += 1


def may_all_have_sent(session: Session, target_id: int, name: str, expected: int) -> bool:
    """Whether as many messages ``name`` as ``expected`` senders reached ``target_id`` uncaught: one read, where
    counting the distinct senders reads every message; a region that sent twice makes it say yes too early,
    so the caller counts the senders then."""
    row = session.get(MessageTally, (target_id, name))
    return row is not None and row.sent >= expected


def caught(session: Session, target_id: int, name: str) -> None:
    """The instance caught every message ``name`` sent to it: the tally starts again."""
    row = session.get(MessageTally, (target_id, name))  # through the session: a later report in the same
    if row is not None:                                  # transaction must not find it still there
        session.delete(row)


# -- reading ----------------------------------------------------------------------------------------------
def table(session: Session, campaign_id: int, names: dict[str, str] | None = None) -> list[dict]:
    """The campaign's results in rank order (unranked ones last), for pages, exports and the API; each region by
    the name it had when it reported (``names``: for results kept before names were)."""
    rows = session.scalars(select(Result).where(Result.campaign_id == campaign_id)
                           .order_by(Result.rank.is_(None), Result.rank, Result.region))
    names = names or {}
    return [{"rank": r.rank, "region": r.region, "name": r.name or names.get(r.region, r.region), "score": r.score,
             "grade": r.grade, "veto": r.vetoed, "veto_items": list(r.veto_items or []),
             "consequences": dict(r.consequences or {})} for r in rows]
