"""Drive a campaign through its tasks the way the people in each role would, with exact scores."""

from __future__ import annotations

import threading
from decimal import Decimal

from engine.engine import Engine
from engine.store.models import InboxTask

SHA = "ab" * 32


def unit_scores(scheme: dict, total: str) -> dict[str, list[dict]]:
    """Indicator scores per member unit that add up to exactly ``total``: full marks first."""
    left = Decimal(total)
    by_unit: dict[str, list[dict]] = {}
    for indicator in scheme["indicators"]:
        points = Decimal(str(indicator["points"]))
        score = min(points, left)
        left -= score
        by_unit.setdefault(indicator["unit"], []).append(
            {"indicator": indicator["code"], "score": float(score), "basis": "依据核查情况与统计数据"})
    assert left == 0, f"{total} is more than the scheme's points"
    return by_unit


def veto_rows(scheme: dict, hit: bool | str | list = False) -> list[dict]:
    """One row per veto item of the scheme; ``hit``: True (the first item), a code or a list of codes."""
    codes = [str(v["code"]) for v in scheme.get("veto") or []]
    chosen = codes[:1] if hit is True else [hit] if isinstance(hit, str) else list(hit or [])
    return [{"veto": code, "hit": code in chosen, "evidence": "认定发生质量安全事件" if code in chosen else ""}
            for code in codes]


FORMS = {
    "Task_target_filing": lambda d: {"targets": [{"indicator": i["code"], "target": "≥ 95%"}
                                                 for i in d.scheme["indicators"]]},
    "Task_filing_opinion": lambda d: {"opinion": "agree", "comment": "同意备案"},
    "Task_self_evaluation": lambda d: {
        "self_scores": [{"indicator": i["code"], "score": float(i["points"])} for i in d.scheme["indicators"]],
        "report": "本年度质量工作自评报告", "evidence": [{"name": "自评报告.pdf", "sha256": SHA}]},
    "Task_onsite_check": lambda d: {"findings": "现场核查未发现问题", "veto_incident": False, "incident": ""},
    "Task_compile_results": lambda d: {"report": "综合考核评价报告"},
    "Task_notify_results": lambda d: {"announcement": "考核结果通报", "announced_on": "2026-10-15",
                                      "document_number": "国质量考核〔2026〕1号"},
    "Task_rectification_report": lambda d: {"measures": "限期整改措施", "deadline": "2026-12-31",
                                            "evidence": [{"name": "整改方案.pdf", "sha256": SHA}]},
    "Task_interview": lambda d: {"interviewed_on": "2026-12-20", "record": "约谈记录"},
    "Task_receive_results": lambda d: {"acknowledged": True},
}


class Driver:
    """One campaign, worked task by task; every user is named after its role and holds it everywhere."""

    def __init__(self, engine: Engine, variant: str, regions: list[str], year: int = 2025):
        self.engine = engine
        self.campaign = engine.start_campaign(variant, year, regions)
        with engine.store.read() as session:
            self.scheme = engine.version(session, self.campaign.version_id).scheme

    def ready(self, bpmn_id: str | None = None, region: str | None = None) -> list[InboxTask]:
        return [t for t in self.engine.tasks(campaign_id=self.campaign.id)
                if (bpmn_id is None or t.bpmn_id == bpmn_id) and (region is None or t.region == region)]

    def do(self, bpmn_id: str, data: dict | None = None, region: str | None = None, unit: str | None = None):
        """Complete the one ready task with this id (in this region, for this unit)."""
        tasks = [t for t in self.ready(bpmn_id, region) if unit is None or t.unit == unit]
        assert len(tasks) == 1, f"expected one ready {bpmn_id} in {region}/{unit}, found {len(tasks)}"
        task = tasks[0]
        return self.engine.complete(task.id, data if data is not None else FORMS[bpmn_id](self), task.role)

    def file_targets(self, region: str, opinions: bool = True) -> None:
        self.do("Task_target_filing", region=region)
        if opinions:
            for task in self.ready("Task_filing_opinion", region):
                self.do("Task_filing_opinion", region=region, unit=task.unit)
        self.do("Task_filing_review", {"filing_decision": "accept", "comment": "予以备案"}, region=region)

    def score(self, region: str, total: str, veto: bool = False, onsite: bool = True) -> None:
        """From self-evaluation to the confirmed score."""
        self.do("Task_self_evaluation", region=region)
        if onsite:
            self.do("Task_onsite_check", region=region)
        for unit, scores in unit_scores(self.scheme, total).items():
            self.do("Task_indicator_scoring", {"scores": scores}, region=region, unit=unit)
        self.do("Task_score_confirmation", {"confirmation": "confirm", "veto_items": veto_rows(self.scheme, veto),
                                            "comment": "确认"}, region=region)

    def approve_and_announce(self) -> None:
        self.do("Task_compile_results")
        self.do("Task_approve_results", {"approval": "approve", "comment": "同意"})
        self.do("Task_notify_results")

    def region_data(self, region: str) -> dict:
        instance = next(i for i in self.engine.campaign_instances(self.campaign.id) if i.region == region)
        return self.engine.instance_data(instance.id)

    def results(self) -> list[dict]:
        return self.engine.results(self.campaign.id)

    def campaign_data(self) -> dict:
        instance = next(i for i in self.engine.campaign_instances(self.campaign.id) if i.region is None)
        return self.engine.instance_data(instance.id)


def race(*calls, timeout: float = 120) -> list:
    """Run the calls at the same moment in threads; return what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(n, call):
        barrier.wait()
        try:
            results[n] = call()
        except Exception as exc:  # the test inspects what was raised
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
