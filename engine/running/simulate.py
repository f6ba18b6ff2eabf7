"""``kaohe simulate``: a whole campaign with scripted actors on a virtual clock, in a scratch database.

It is also how an administrator tries a changed procedure before publishing it: pass the bundle
folder instead of a shipped variant. The actors fill every form from its JSON Schema; a few fields
the shipped procedures branch on get realistic, seeded choices (returns, sendbacks, vetoes).
"""

from __future__ import annotations

import bisect
import heapq
import random
import tempfile
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import select

from .. import config
from ..clock import CHINA, VirtualClock, local
from ..engine import Engine
from ..errors import KaoheError
from ..people import accounts
from ..people.accounts import Grant
from ..procedure import bodies, forms, scoring
from ..records import mail
from ..store import Store, upgrade
from ..store.models import AuditEntry, InboxTask, Instance, Region
from . import calendar, reminders, timers, years

#: Chances the scripted actors take the less common branch, once per instance and decision.
CHANCES = {"filing_decision": ("return", 0.15), "approval": ("return", 0.5), "confirmation": ("rescore", 0.05),
           "rectification_verdict": ("inadequate", 0.4), "opinion": ("revise", 0.1)}
VETO_CHANCE = 0.04
#: How often an assessed region misses a due date, which sets reminders and escalation going.
LATE_CHANCE = 0.08


def run_simulation(variant: str, year: int, regions: int | None = None, seed: int = 1) -> dict:
    """Run one campaign to its end and return its regions, timeline and rectification outcomes."""
    folder = Path(variant) if Path(variant).is_dir() else config.PROCESSES / variant
    with tempfile.TemporaryDirectory(prefix="kaohe-sim-") as scratch:
        store = Store(f"sqlite:///{scratch}/simulation.db")
        try:
            return Simulation(store, folder, year, regions, seed).run()
        finally:
            store.dispose()


def simulation_start(manifest: dict, year: int) -> date:
    """The day the simulated campaign starts: ``simulation_start`` ('MM-DD' in ``year``, or {date, year}
    counted from it), else 1 June for a July year, 5 January for a calendar year, and otherwise a month
    before the assessment year starts (so that targets are filed in time)."""
    rule = manifest.get("simulation_start")
    if rule is not None:
        rule = rule if isinstance(rule, dict) else {"date": rule}
        month, day = (int(p) for p in str(rule["date"]).split("-"))
        return date(year + int(rule.get("year", 0)), month, day)
    if manifest["assessment_year"] in ("july", "calendar"):
        return date(year, 6, 1) if manifest["assessment_year"] == "july" else date(year, 1, 5)
    start = years.parse(manifest["assessment_year"]).start(year)
    return calendar.add_months(start, -1)


class Simulation:
    """Scripted actors working one campaign's tasks in date order."""

    def __init__(self, store: Store, folder: Path | dict[str, str], year: int, regions: int | None, seed: int,
                 chosen: list[str] | None = None):
        """``folder``: a bundle folder, or a bundle as ``{relative name: text}`` (a draft of the library)."""
        self.rng = random.Random(seed)
        self.year = year
        self.clock = VirtualClock(datetime(year, 1, 1, 9, tzinfo=CHINA))
        self.engine = Engine(store, clock=self.clock)
        upgrade(store)
        if isinstance(folder, dict):
            bundle = self.engine.check_files(folder)
            self.engine.deploy_files(folder, actor="simulation")
        else:
            bundle = self.engine.check(folder)
            self.engine.deploy(folder, actor="simulation")
        self.engine.load_regions(bundle)
        self.bundle = bundle
        self.scheme = bundle.scheme
        self.region_names = {r["code"]: r["name"] for r in bundle.regions}
        self.codes = [r["code"] for r in bundle.regions][:regions] if chosen is None else list(chosen)
        if regions is not None and regions > len(self.codes):  # more than the bundle lists: made-up ones
            self._add_synthetic_regions(store, regions - len(self.codes))
        self.quality = {code: self.rng.uniform(0.5, 1.0) for code in self.codes}
        self.veto = {code: self.rng.random() < VETO_CHANCE for code in self.codes}
        # Which veto item a vetoed region is found to have hit, when the scheme lists any.
        items = [v["code"] for v in scoring.veto_items(self.scheme)]
        self.veto_hit = {code: {self.rng.choice(items)} for code in self.codes if self.veto[code] and items}
        self.taken: set[tuple[int, str]] = set()  # (instance, field) where the rare branch was taken
        self.timeline: list[dict] = []
        self._next_reminder = _UNKNOWN
        with store.write() as session:
            accounts.ensure_roles(session)
            for role in accounts.ROLE_NAMES:
                accounts.create_user(session, f"sim-{role}", f"模拟{accounts.ROLE_NAMES[role]}", [Grant(role)])
            for code, body in bodies.declared(bundle.manifest).items():  # the variant's own bodies
                accounts.create_user(session, f"sim-{code}", f"模拟{body['name']}", [Grant(code, variant=bundle.key)])
        self.body_names = {**accounts.ROLE_NAMES,
                           **{code: b["name"] for code, b in bodies.declared(bundle.manifest).items()}}
        self.clock.set(self._at(simulation_start(bundle.manifest, year)))

    def _add_synthetic_regions(self, store: Store, count: int) -> None:
        """Regions named 模拟地区1, 2, …, to try a procedure on more regions than its bundle lists."""
        made = {f"S{n:07d}": f"模拟地区{n}" for n in range(1, count + 1)}
        with store.write() as session:
            session.add_all(Region(code=code, name=name, region_set=self.bundle.key) for code, name in made.items())
        self.region_names.update(made)
        self.codes.extend(made)

    def run(self) -> dict:
        campaign = self.engine.start_campaign(self.bundle.key, self.year, self.codes, actor="simulation")
        self._log(f"启动考核 {campaign.label}，考核对象 {len(self.codes)} 个")
        with self.engine.store.read() as session:
            version = self.engine.version(session, campaign.version_id)
        units = {u["code"]: u["name"] for u in self.scheme["units"]}
        queue: list[tuple[datetime, tuple, InboxTask]] = []
        scheduled: set[str] = set()
        listed = None
        while True:
            now = self.clock.now()
            fresh = [t for t in self.engine.tasks(campaign_id=campaign.id, since=listed) if t.id not in scheduled]
            # Task ids are random: order by what the task is, so a seed always gives the same run.
            for task in sorted(fresh, key=_identity):
                scheduled.add(task.id)
                heapq.heappush(queue, (self._when(task), _identity(task), task))
            listed = now  # tasks appear at the clock's time, and it never goes back
            work = self._next_work(fresh)
            if work is not None and (not queue or work <= queue[0][0]):
                self.clock.set(max(work, now))
                self._run_due()
                continue
            if not queue:
                break
            at, _, task = heapq.heappop(queue)
            self.clock.set(max(at, self.clock.now()))
            details = self._task_details(task)
            data = self._fill(task, version.form(task.form))
            self.engine.complete(task.id, data, f"sim-{task.role}")
            unit = f"（{units.get(task.unit, task.unit)}）" if task.unit else ""
            self._log(f"{self._who(task)} {task.name}{unit}" + _summary(data), region=task.region,
                      task=task.bpmn_id, **details)
        return self._result(campaign.id)

    def _task_details(self, task: InboxTask) -> dict:
        """What the timeline says of a task besides its completion: its due date, when it has one."""
        return {} if task.due_at is None else {"due": local(task.due_at).isoformat()}

    # -- timers, reminders and escalation on the virtual clock ----------------------------------
    def _next_work(self, fresh: list[InboxTask]) -> datetime | None:
        # Completing a task only removes reminder steps, so the last answer stays a safe lower bound until
        # reminders go out; new tasks can only bring it forward, so only they are read: reading every open
        # task after each action made a simulation grow with the square of its regions.
        if self._next_reminder is _UNKNOWN:
            self._next_reminder = reminders.next_step_at(self.engine)
        elif fresh:
            found = reminders.next_step_at(self.engine, tasks=[t.id for t in fresh])
            self._next_reminder = min((m for m in (self._next_reminder, found) if m), default=None)
        moments = [m for m in (self.engine.next_timer_due(), self._next_reminder) if m]
        return min(moments, default=None)

    def _run_due(self) -> None:
        self._next_reminder = _UNKNOWN
        fired = timers.fire_due_timers(self.engine)
        if fired:
            self._log(f"计时器到期 {fired} 个 timers fired")
        for sent in reminders.send_reminders(self.engine):
            task = sent.task
            label = {"escalate": "督办"}.get(sent.step, "提醒")
            self._log(f"{label}（{sent.step}）：{self._who(task)} {task.name}，截止 {mail.deadline_text(task.due_at)}"
                      f"，通知 {len(sent.recipients)} 人", region=task.region, task=task.bpmn_id, step=sent.step)

    def _who(self, task: InboxTask) -> str:
        return self.region_names.get(task.region, "") if task.region else self.body_names[task.role]

    # -- when the actors act ---------------------------------------------------------------------
    def _when(self, task: InboxTask) -> datetime:
        """A few days after the task appears; with a due date, shortly before it, now and then late."""
        if task.due_at is not None:
            last = datetime.combine(reminders.last_day(task.due_at), time(10), CHINA)
            if task.region and self.rng.random() < LATE_CHANCE:
                return last + timedelta(days=self.rng.randint(1, 5))
            return max(self.clock.now(), last - timedelta(days=self.rng.randint(0, 9)))
        return self.clock.now() + timedelta(days=self.rng.randint(1, 6), hours=self.rng.randint(0, 6))

    @staticmethod
    def _at(day: date) -> datetime:
        return datetime.combine(day, time(9), tzinfo=CHINA)

    # -- what the actors fill in -----------------------------------------------------------------
    def _fill(self, task: InboxTask, schema: dict) -> dict:
        data = {}
        veto = self.veto.get(task.region, False)
        for name, prop in schema.get("properties", {}).items():
            if name.startswith("incident") and not veto and name not in schema.get("required", []):
                continue
            data[name] = self._field(task, name, prop, veto)
        return data

    def _field(self, task: InboxTask, name: str, prop: dict, veto: bool):
        indicators = self.scheme["indicators"]
        if name == "targets":
            return [dict(self._generic(prop["items"]), indicator=i["code"]) for i in indicators]
        if name == "self_scores":
            return [{"indicator": i["code"], "score": self._score(task.region, i, 0.05)} for i in indicators]
        if name == "scores" and task.unit:
            return [dict(self._generic(prop["items"]), indicator=i["code"], **self._scored(task.region, i))
                    for i in indicators if i["unit"] == task.unit]
        if prop.get(forms.CHOICES) == "regions":  # a manual choice of regions: a few of the campaign's
            return sorted(self.rng.sample(self.codes, min(2, len(self.codes))))
        if name == "veto_incident":
            return veto
        if name == "veto_items":
            hit = self.veto_hit.get(task.region, set())
            return [{"veto": v["code"], "hit": v["code"] in hit,
                     "evidence": f"（模拟）认定发生{v['name']}" if v["code"] in hit else ""}
                    for v in scoring.veto_items(self.scheme)]
        if name == "incident_domain":
            return "产品"
        if name in CHANCES:
            rare, chance = CHANCES[name]
            if (task.instance_id, name) not in self.taken and self.rng.random() < chance:
                self.taken.add((task.instance_id, name))
                return rare
            return next(o for o in _options(prop) if o != rare)
        return self._generic(prop, name)

    def _scored(self, region: str | None, indicator: dict) -> dict:
        """What a scorer enters: the points, or for an indicator with a scoring rule the measured value."""
        rule = indicator.get("rule")
        if not rule:
            return {"score": self._score(region, indicator)}
        if rule["kind"] in ("per_occurrence", "bonus"):
            return {"measured": self.rng.randint(0, 3)}
        if rule["kind"] == "shortfall":
            return {"measured": round(float(rule["target"]) - self.rng.uniform(-2, 8), 1)}
        low, high = float(rule["low"][0]), float(rule["high"][0])
        return {"measured": round(self.rng.uniform(low - 5, high + 5), 1)}

    def _score(self, region: str | None, indicator: dict, spread: float = 0.08) -> float:
        points = Decimal(str(indicator["points"]))
        factor = Decimal(str(min(1.0, max(0.0, self.quality[region] + self.rng.uniform(-spread, spread)))))
        return float(min(points, (points * factor * 2).quantize(Decimal(1), ROUND_HALF_UP) / 2))

    def _generic(self, prop: dict, name: str = ""):
        if "const" in prop:
            return prop["const"]
        options = _options(prop)
        if options:
            return options[0]
        kind = prop.get("type")
        if kind == "object":
            return {k: self._generic(v, k) for k, v in prop.get("properties", {}).items()
                    if k in prop.get("required", [])}
        if kind == "array":
            return [self._generic(prop.get("items", {})) for _ in range(prop.get("minItems", 0))]
        if kind == "boolean":
            return True if name == "acknowledged" else False
        if kind in ("number", "integer"):
            return prop.get("minimum", 0)
        if prop.get("format") == "date":
            return local(self.clock.now()).date().isoformat()
        if prop.get("pattern") == "^[0-9a-f]{64}$":
            return "0" * 64
        text = f"（模拟）{prop.get('title', name)}"
        return text.ljust(prop.get("minLength", 0), "。")

    # -- results ---------------------------------------------------------------------------------
    def _log(self, event: str, **details) -> None:
        self.timeline.append({"at": local(self.clock.now()).isoformat(), "event": event, **details})

    def _result(self, campaign_id: int) -> dict:
        """What the engine recorded: every instance finished, each region's result, rank and what followed.

        Nothing is computed here that the engine did not: a campaign that did not finish is an error."""
        instances = self.engine.campaign_instances(campaign_id)
        unfinished = [i for i in instances if i.status != "completed"]
        if unfinished:
            waits = "；".join(f"{self.region_names.get(i.region, i.region) if i.region else '年度考核'}"
                             f"（{'、'.join(self.engine.waiting_on(i.id)) or '无可办理的步骤'}）"
                             for i in unfinished[:10])
            raise SimulationIncomplete(f"模拟结束时仍有 {len(unfinished)} 个流程实例未完成 "
                                       f"({len(unfinished)} instances did not finish): {waits}")
        reported = {r["region"]: r for r in self.engine.results(campaign_id)}
        regions, rectification = [], []
        for instance in instances:
            if instance.region is None:
                continue
            data = self.engine.instance_data(instance.id)
            result = reported.get(instance.region) or {}
            outcome = _outcome(result.get("consequences") or {}, data)
            name = self.region_names.get(instance.region, "")
            regions.append({"region": instance.region, "name": name, "score": result.get("score"),
                            "grade": result.get("grade"), "veto": bool(result.get("veto")),
                            "veto_items": result.get("veto_items", []), "rank": result.get("rank"),
                            "consequences": result.get("consequences") or {}, "outcome": outcome,
                            "status": instance.status})
            if "rectification_verdict" in data:
                rectification.append({"region": instance.region, "name": name, "outcome": "，".join(outcome)})
        regions.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["region"]))
        draws = self._draws(campaign_id)
        return {"variant": self.bundle.key, "year": self.year, "regions": regions, "timeline": self.timeline,
                "rectification": rectification, "draws": draws, "warnings": self.engine.calendar.warnings()}

    def _draws(self, campaign_id: int) -> list[dict]:
        """The random draws the campaign made (from the audit log), also placed in the timeline at their time."""
        with self.engine.store.read() as session:
            entries = list(session.scalars(
                select(AuditEntry).join(Instance, Instance.id == AuditEntry.instance_id)
                .where(Instance.campaign_id == campaign_id, AuditEntry.action == "sample_draw")
                .order_by(AuditEntry.id)))
        draws = []
        for entry in entries:
            drawn = dict(entry.data, audit_id=entry.id)
            draws.append(drawn)
            names = "、".join(self.region_names.get(c, c) for c in drawn["sample"])
            event = {"at": local(entry.at).isoformat(), "event": f"随机抽取 {drawn['k']}/{len(drawn['population'])}："
                     f"{names}（种子 {drawn['seed']}，审计记录 {entry.id}）"}
            bisect.insort(self.timeline, event, key=lambda e: e["at"])
        return draws


class SimulationIncomplete(KaoheError):
    """A simulated campaign ended with instances still running: the procedure can get stuck."""

    code = "simulation_incomplete"


def _outcome(consequences: dict, data: dict) -> list[str]:
    """What happened to a region after the announcement, in words: every consequence, not the first one."""
    words = []
    if consequences.get("commended"):
        words.append("通报表扬")
    if consequences.get("must_rectify"):
        words.append("书面整改")
    verdict = data.get("rectification_verdict")
    if verdict is not None:
        words.append("整改到位" if verdict == "adequate" else "整改不到位")
    if consequences.get("interview") or "interviewed_on" in data:
        words.append("约谈" + (f"（{data['interviewed_on']}）" if "interviewed_on" in data else ""))
    return words


_UNKNOWN = object()


def _identity(task: InboxTask) -> tuple:
    return task.region or "", task.bpmn_id, task.unit or "", task.instance_id


def _options(prop: dict) -> list:
    if "enum" in prop:
        return list(prop["enum"])
    return [o["const"] for o in prop.get("oneOf", prop.get("anyOf", [])) if "const" in o]


def _summary(data: dict) -> str:
    for key in ("filing_decision", "approval", "confirmation", "rectification_verdict"):
        if key in data:
            return f"：{data[key]}"
    return ""
