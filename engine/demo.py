"""Demo data for ``make run``: a finished, announced national campaign, one under way, and a finished
campaign of a local variant (达州, grades A/B/C) when it is deployed."""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import func, select

from .engine import Engine
from .people import accounts
from .store.models import Campaign, ProcessVersion, Region, User

logger = logging.getLogger(__name__)

#: Totals the finished campaign's regions are scored at: a spread over every grade.
TOTALS = ["95.5", "88", "76.5", "91", "55"]


def unit_scores(scheme: dict, total: str) -> dict[str, list[dict]]:
    """Indicator scores per member unit adding up to exactly ``total``: full marks first."""
    left = Decimal(total)
    by_unit: dict[str, list[dict]] = {}
    for indicator in scheme["indicators"]:
        score = min(Decimal(str(indicator["points"])), left)
        left -= score
        by_unit.setdefault(str(indicator["unit"]), []).append(
            {"indicator": str(indicator["code"]), "score": float(score), "basis": "依据自评材料与现场核查情况"})
    return by_unit


def _forms(scheme: dict) -> dict:
    codes = [str(i["code"]) for i in scheme["indicators"]]
    return {
        "Task_target_filing": {"targets": [{"indicator": c, "target": "≥ 95%"} for c in codes]},
        "Task_filing_opinion": {"opinion": "agree", "comment": "同意备案"},
        "Task_filing_review": {"filing_decision": "accept", "comment": "予以备案"},
        "Task_self_evaluation": {
            "self_scores": [{"indicator": str(i["code"]), "score": float(i["points"])} for i in scheme["indicators"]],
            "report": "本年度质量目标全部完成，质量措施落实到位。", "evidence": []},
        "Task_onsite_check": {"findings": "现场核查与重点抽查未发现问题", "veto_incident": False, "incident": ""},
        "Task_score_confirmation": {"confirmation": "confirm", "comment": "确认",
                                    "veto_items": [{"veto": str(v["code"]), "hit": False, "evidence": ""}
                                                   for v in scheme.get("veto") or []]},
        "Task_compile_results": {"report": "综合考核评价报告：各地区得分、等级和排名见附表。"},
        "Task_approve_results": {"approval": "approve", "comment": "同意"},
        "Task_notify_results": {"announcement": "经审定，现将考核等级及排名通报如下。", "announced_on": "2025-10-15",
                                "document_number": "国质量考核〔2025〕1号"},
    }


class _Actors:
    """Completes tasks as the first active user whose grants cover each one."""

    def __init__(self, engine: Engine):
        self.engine = engine
        with engine.store.read() as session:
            self.grants = {u.username: accounts.grants_of(session, u.username)
                           for u in session.scalars(select(User).where(User.active.is_(True)).order_by(User.id))}

    def do(self, campaign: Campaign, bpmn_id: str, data: dict | None, region: str | None = None,
           scheme: dict | None = None) -> int:
        done = 0
        for task in self.engine.tasks(campaign_id=campaign.id):
            if task.bpmn_id != bpmn_id or (region is not None and task.region != region):
                continue
            who = next((u for u, grants in self.grants.items() if any(g.covers(task) for g in grants)), None)
            if who is None:
                continue
            payload = {"scores": unit_scores(scheme, data["total"])[task.unit]} if "total" in (data or {}) else data
            self.engine.complete(task.id, payload, who)
            done += 1
        return done


#: Local variants the demo also shows, each with one finished campaign, when deployed.
LOCAL_VARIANTS = ("dazhou-2015",)


def seed(engine: Engine, variant: str = "national-2013", regions: int = 5,
         local: tuple[str, ...] = LOCAL_VARIANTS) -> list[str]:
    """Add the demo campaigns when the database has none; returns what it did."""
    with engine.store.read() as session:
        if session.scalar(select(func.count()).select_from(Campaign)):
            return []
        deployed = set(session.scalars(select(ProcessVersion.variant)))
    actors = _Actors(engine)
    finished, codes = _finished(engine, actors, variant, regions)
    forms = _forms(_scheme(engine, finished))
    running = engine.start_campaign(variant, 2025, codes, actor="demo")
    for code in codes[:2]:
        for step in ("Task_target_filing", "Task_filing_opinion", "Task_filing_review"):
            actors.do(running, step, forms[step], code)
    if len(codes) > 2:
        actors.do(running, "Task_target_filing", forms["Task_target_filing"], codes[2])
    logger.info("demo campaigns %s (announced) and %s (under way)", finished.id, running.id)
    lines = [f"{finished.label}: {len(codes)} regions scored and announced (campaign {finished.id})",
             f"{running.label}: under way (campaign {running.id})"]
    for key in (k for k in local if k in deployed):
        done, done_codes = _finished(engine, actors, key, regions)
        logger.info("demo campaign %s of %s (announced)", done.id, key)
        lines.append(f"{key} {done.label}: {len(done_codes)} regions scored and announced (campaign {done.id})")
    return lines


def _scheme(engine: Engine, campaign: Campaign) -> dict:
    with engine.store.read() as session:
        return engine.version(session, campaign.version_id).scheme


def _finished(engine: Engine, actors: _Actors, variant: str, regions: int) -> tuple[Campaign, list[str]]:
    """A 2024 campaign of ``variant`` worked to its announcement, over its first ``regions`` regions."""
    with engine.store.read() as session:
        codes = list(session.scalars(select(Region.code).where(Region.region_set == variant)
                                     .order_by(Region.code).limit(regions)))
    campaign = engine.start_campaign(variant, 2024, codes, actor="demo")
    scheme = _scheme(engine, campaign)
    forms = _forms(scheme)
    for code, total in zip(codes, TOTALS * len(codes), strict=False):
        # Steps a variant does not have (达州: no consultation, no on-site check) find no task.
        for step in ("Task_target_filing", "Task_filing_opinion", "Task_filing_review", "Task_self_evaluation",
                     "Task_onsite_check"):
            actors.do(campaign, step, forms[step], code)
        actors.do(campaign, "Task_indicator_scoring", {"total": total}, code, scheme)
        actors.do(campaign, "Task_score_confirmation", forms["Task_score_confirmation"], code)
    for step in ("Task_compile_results", "Task_approve_results", "Task_notify_results"):
        actors.do(campaign, step, forms[step])
    return campaign, codes
