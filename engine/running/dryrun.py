"""Dry run of a procedure that is not published: a draft's files, one year, the regions chosen, on a virtual clock.

The administrator may fix, for some regions, the score, the veto items found and the decisions taken (the rest
is scripted as in ``kaohe simulate``). The report says, for each step, its date, its legal deadline and how that
deadline was computed; the reminders and escalations sent; each region's outcome; the grade distribution.
A bundle with errors (``problems.check_all``) is not run: ``DryRunRefused`` carries the findings.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from ..clock import local
from ..engine import FORMS_LIBRARY, Engine
from ..errors import HeldUp, KaoheError, ValidationError
from ..procedure import problems, scoring, scoring_rules
from ..procedure.bundle import Bundle, check_bundle
from ..store import Store
from ..store.models import InboxTask
from . import deadlines, reminders
from .simulate import CHANCES, Simulation, _options

#: The years a dry run may be asked for.
YEARS = range(2000, 2101)


class DryRunRefused(ValidationError):
    """The bundle has errors: it cannot be run (nor published) until they are fixed. ``errors`` lists them as
    findings (file, line, element, name, severity, reason) with ``field`` (where) and ``message`` (why)."""

    code = "dry_run_refused"

    def __init__(self, findings: list[problems.Finding]):
        self.findings = findings
        where = [":".join(str(p) for p in (f.file, f.line) if p is not None) + (f" [{f.element}]" if f.element else "")
                 for f in findings]
        super().__init__(f"流程包有 {len(findings)} 个错误，不能试运行 (the bundle has {len(findings)} errors and "
                         f"cannot be dry-run): " + "；".join(f.reason for f in findings[:3]),
                         [dict(f.as_dict(), field=w or None, message=f.reason)
                          for f, w in zip(findings, where, strict=True)])


class DryRunFailed(KaoheError):
    """A step of the bundle failed while it ran (an expression, a script): where, and the error."""

    code = "dry_run_failed"


@dataclass
class Fixed:
    """What the administrator fixed for one region; ``None`` leaves it to the script."""

    score: Decimal | None = None
    veto: list[str] | None = None  # the veto items found hit; [] means none
    decisions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"score": None if self.score is None else f"{self.score.normalize():f}", "veto": self.veto,
                "decisions": dict(self.decisions)}


@dataclass
class Request:
    """A checked request: the year, the regions (codes, in the bundle's order), what is fixed, the seed."""

    year: int
    regions: list[str]
    fixed: dict[str, Fixed]
    seed: int = 1

    def as_dict(self) -> dict:
        """As the API takes it: a stored request can be sent again."""
        return {"year": self.year, "regions": self.regions, "seed": self.seed,
                "fixed": [{"region": code, **f.as_dict()} for code, f in self.fixed.items()]}


def with_library(files: dict[str, str]) -> dict[str, str]:
    """The bundle as deployment reads it: its own files, and the library forms it does not override."""
    full = dict(files)
    if FORMS_LIBRARY.is_dir():
        for path in sorted(FORMS_LIBRARY.glob("*.json")):
            full.setdefault(f"forms/{path.name}", path.read_text(encoding="utf-8"))
    return full


def check(files: dict[str, str], helpers=()) -> Bundle:
    """The checked bundle, or DryRunRefused with every finding that blocks it."""
    full = with_library(files)
    found = problems.errors(problems.check_all(full, helpers))
    if found:
        raise DryRunRefused(found)
    return check_bundle(full, helpers)


def choices(bundle: Bundle) -> dict:
    """What a dry run of ``bundle`` can be asked: its regions, veto items, the decisions a region's steps take."""
    return {"regions": [{"code": r["code"], "name": r["name"]} for r in bundle.regions],
            "veto": scoring.veto_items(bundle.scheme), "decisions": decisions(bundle),
            "scale": f"{scoring.scale(bundle.manifest).normalize():f}", "decimals": scoring.decimals(bundle.scheme),
            "grades": list(bundle.manifest.get("grades") or [])}


def decisions(bundle: Bundle) -> list[dict]:
    """The decisions of the region process that the script takes (``simulate.CHANCES``), with their options,
    in the order their steps appear in the BPMN."""
    region_specs = bundle.specs[bundle.manifest["region_process"]][0].task_specs
    diagrams = "".join(text for name, text in sorted(bundle.files.items()) if name.endswith(".bpmn"))
    steps = sorted((t for t in bundle.user_tasks if t in region_specs and bundle.user_tasks[t].get("form")),
                   key=lambda t: diagrams.find(f'id="{t}"'))
    found: dict[str, dict] = {}
    for bpmn_id in steps:
        try:
            schema = json.loads(bundle.files.get(f"forms/{bundle.user_tasks[bpmn_id]['form']}", "{}"))
        except ValueError:
            continue
        for name, prop in (schema.get("properties") or {}).items():
            if name in CHANCES and name not in found:
                titles = {o.get("const"): o.get("title", o.get("const")) for o in prop.get("oneOf", [])}
                found[name] = {"field": name, "title": prop.get("title", name), "task": bpmn_id,
                               "step": region_specs[bpmn_id].bpmn_name or bpmn_id,
                               "options": [{"value": v, "title": titles.get(v, v)} for v in _options(prop)]}
    return list(found.values())


def parse_request(bundle: Bundle, data: dict) -> Request:
    """Check a dry-run request (API JSON, or the form's fields gathered the same way); ValidationError lists every
    bad field. ``data``: {year, regions: [codes] (all when left out), fixed: [{region, score, veto, decisions}],
    seed}."""
    errors: list[dict] = []
    year = data.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year)
    if isinstance(year, bool) or not isinstance(year, int) or year not in YEARS:
        errors.append({"field": "year", "message": f"考核年度应为 {YEARS.start}–{YEARS.stop - 1} 之间的年份 "
                                                   f"(year must be from {YEARS.start} to {YEARS.stop - 1})"})
    known = [r["code"] for r in bundle.regions]
    asked = data.get("regions")
    if asked is None or asked == []:
        asked = known if asked is None else []
    if not isinstance(asked, list) or not all(isinstance(c, str) for c in asked):
        errors.append({"field": "regions", "message": "考核对象应为地区代码列表 (regions must be a list of codes)"})
        asked = []
    unknown = [c for c in asked if c not in known]
    if unknown:
        errors.append({"field": "regions", "message": f"regions.yaml 中没有这些地区 (not in regions.yaml): "
                                                      f"{', '.join(unknown[:5])}"})
    if not known:
        errors.append({"field": "regions", "message": "regions.yaml 未列出考核对象 (the bundle's regions.yaml lists no "
                                                      "region to assess)"})
    elif not asked and not unknown:
        errors.append({"field": "regions", "message": "请至少选择一个考核对象 (choose at least one region)"})
    chosen = [c for c in known if c in asked]
    fixed = _parse_fixed(bundle, data.get("fixed") or [], chosen, errors)
    seed = data.get("seed", 1)
    if isinstance(seed, str) and seed.strip().isdigit():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        errors.append({"field": "seed", "message": "随机种子应为非负整数 (seed must be a whole number ≥ 0)"})
    if errors:
        raise ValidationError("试运行设置有误 (the dry run's settings are not valid)：" +
                              "；".join(e["message"] for e in errors[:5]), errors)
    return Request(year, chosen, fixed, seed)


def _parse_fixed(bundle: Bundle, rows, chosen: list[str], errors: list[dict]) -> dict[str, Fixed]:
    names = {r["code"]: r["name"] for r in bundle.regions}
    vetoes = {v["code"] for v in scoring.veto_items(bundle.scheme)}
    options = {d["field"]: [o["value"] for o in d["options"]] for d in decisions(bundle)}
    scale, places = scoring.scale(bundle.manifest), scoring.decimals(bundle.scheme)
    fixed: dict[str, Fixed] = {}
    if not isinstance(rows, list):
        errors.append({"field": "fixed", "message": "fixed 应为列表 (fixed must be a list)"})
        return fixed
    for n, row in enumerate(rows):
        at = f"fixed/{n}"
        region = row.get("region") if isinstance(row, dict) else None
        if region not in chosen:
            errors.append({"field": f"{at}/region", "message": f"固定结果的地区 {region} 不在所选考核对象中 "
                                                                f"(region {region} is not among the chosen regions)"})
            continue
        if region in fixed:
            errors.append({"field": f"{at}/region", "message": f"{names[region]} 重复 (given twice)"})
            continue
        entry = Fixed()
        score = row.get("score")
        if score not in (None, ""):
            try:
                entry.score = scoring.decimal(score)
            except ValidationError:
                entry.score = Decimal(-1)
            if not 0 <= entry.score <= scale or entry.score != entry.score.quantize(Decimal(1).scaleb(-places)):
                errors.append({"field": f"{at}/score", "message": f"{names[region]}：得分应为 0 至 {scale} 之间、最多 "
                                                               f"{places} 位小数的数 (score must be from 0 to {scale}"
                                                               f" with at most {places} decimals): {score!r}"})
            else:
                try:
                    allocate(bundle.scheme, entry.score)
                except ValidationError as exc:
                    errors.append({"field": f"{at}/score", "message": f"{names[region]}：{exc.message}"})
        veto = row.get("veto")
        if veto is not None:
            if not isinstance(veto, list) or not all(isinstance(v, str) and v in vetoes for v in veto):
                errors.append({"field": f"{at}/veto", "message": f"{names[region]}：否决项应为指标体系中的代码 "
                                                              f"(veto items must be codes of the scheme): {veto!r}"})
            else:
                entry.veto = [v for v in sorted(vetoes) if v in veto]
        taken = row.get("decisions") or {}
        if not isinstance(taken, dict):
            taken = {"?": taken}
        for name, value in taken.items():
            if value in (None, ""):
                continue
            if value not in options.get(name, []):
                errors.append({"field": f"{at}/decisions/{name}", "message": f"{names[region]}：决定 {name}={value!r} "
                                                                            f"不是该流程的选项 (not an option)"})
            else:
                entry.decisions[name] = value
        fixed[region] = entry
    return fixed


def dry_run(files: dict[str, str], request: Request | dict, progress=None) -> dict:
    """Run the bundle ``files`` for the request's year and regions; the report (JSON-serialisable).
    ``progress(at, events)``, if given, is called as the run goes: the virtual time reached and the events so far."""
    with tempfile.TemporaryDirectory(prefix="kaohe-dryrun-") as scratch:
        store = Store(f"sqlite:///{scratch}/dryrun.db")
        try:
            helpers = Engine(store).runner.script_engine.environment.globals
            bundle = check(files, helpers)
            if not isinstance(request, Request):
                request = parse_request(bundle, request)
            return DryRun(store, bundle.files, request, progress).report()
        finally:
            store.dispose()


class DryRun(Simulation):
    """The scripted campaign, with what the administrator fixed and every due date explained."""

    def __init__(self, store: Store, files: dict[str, str], request: Request, progress=None):
        super().__init__(store, files, request.year, None, request.seed, chosen=request.regions)
        self.progress = progress
        self.request = request
        self.fixed = request.fixed
        self.allocated = {code: allocate(self.scheme, f.score) for code, f in self.fixed.items()
                          if f.score is not None}
        for code, entry in self.fixed.items():
            if entry.veto is not None:
                self.veto[code] = bool(entry.veto)
                self.veto_hit[code] = set(entry.veto)
        self.decided: set[tuple[int, str]] = set()
        self._explained: dict[tuple, str] = {}

    # -- what the fixed regions enter -------------------------------------------------------------
    def _field(self, task: InboxTask, name: str, prop: dict, veto: bool):
        entry = self.fixed.get(task.region)
        if entry is None:
            return super()._field(task, name, prop, veto)
        scores = self.allocated.get(task.region)
        if scores is not None and name == "scores" and task.unit:
            return [dict(self._generic(prop["items"]), indicator=i["code"], **scores[i["code"]])
                    for i in self.scheme["indicators"] if i["unit"] == task.unit]
        if scores is not None and name == "self_scores":
            return [{"indicator": i["code"], "score": float(_points(i, scores[i["code"]]))}
                    for i in self.scheme["indicators"]]
        if name in entry.decisions:
            if (task.instance_id, name) not in self.decided:  # the fixed decision, the first time it is asked;
                self.decided.add((task.instance_id, name))  # after a return, the common answer (no loop)
                return entry.decisions[name]
            rare = CHANCES[name][0]
            return next((o for o in _options(prop) if o != rare), entry.decisions[name])
        return super()._field(task, name, prop, veto)

    def _log(self, event: str, **details) -> None:
        super()._log(event, **details)
        if self.progress is not None:
            self.progress(self.timeline[-1]["at"], len(self.timeline))

    # -- the due date of each step, and how it was computed ---------------------------------------
    def _task_details(self, task: InboxTask) -> dict:
        details = super()._task_details(task)
        if task.due_at is None:
            return details
        last = reminders.last_day(task.due_at)
        expression = self._due_expression(task.bpmn_id)
        key = (task.bpmn_id, last, expression and task.instance_id)
        if key not in self._explained:
            data = self.engine.instance_data(task.instance_id) if expression else {"year": self.year}
            timer = not expression and task.bpmn_id not in (self.bundle.manifest.get("deadlines") or {})
            self._explained[key] = deadlines.explain(
                self.engine.calendar, self.bundle.manifest, task.bpmn_id, task.name, last, expression=expression,
                data=data, bundle_yaml=self.bundle.files.get("bundle.yaml", ""), timer=timer)
        return {**details, "task_name": task.name, "due_last_day": last.isoformat(), "due_rule": self._explained[key],
                "ready": local(task.created_at).isoformat(), "late": self.clock.now() >= task.due_at}

    def _due_expression(self, bpmn_id: str) -> str | None:
        for spec, _ in self.bundle.specs.values():
            task_spec = spec.task_specs.get(bpmn_id)
            if task_spec is not None:
                return (getattr(task_spec, "extensions", None) or {}).get("properties", {}).get("dueDate")
        return None

    # -- the report -------------------------------------------------------------------------------
    def report(self) -> dict:
        try:
            result = self.run()
        except HeldUp:  # a step of the draft failed (an incident): say which, and why, not "held up"
            raise self._failed() from None
        timeline = result["timeline"]
        for event in timeline:
            event["kind"] = ("escalation" if event.get("step") == "escalate" else "reminder" if event.get("step")
                             else "task" if event.get("task") else "event")
            if event.get("region"):
                event["region_name"] = self.region_names.get(event["region"], event["region"])
        instances = {i.region: i.id for i in self.engine.campaign_instances(self._campaign_id) if i.region}
        outcomes = [self._outcome(r, timeline, instances[r["region"]]) for r in result["regions"]]
        grades = list(self.bundle.manifest.get("grades") or [])
        distribution = [{"grade": g, "count": sum(o["grade"] == g for o in outcomes)} for g in grades]
        return {"variant": self.bundle.key, "title": self.bundle.manifest["title"], "year": self.year,
                "request": self.request.as_dict(), "steps": _steps(timeline), "timeline": timeline,
                "reminders": [e for e in timeline if e["kind"] == "reminder"],
                "escalations": [e for e in timeline if e["kind"] == "escalation"],
                "outcomes": outcomes, "distribution": distribution, "draws": result["draws"],
                "scale": f"{scoring.scale(self.bundle.manifest).normalize():f}", "warnings": result["warnings"]}

    def _failed(self) -> DryRunFailed:
        found = self.engine.incidents()
        where = "；".join(f"{i['region_name'] or '年度考核'} 在「{i['element']}」（{i['bpmn_id']}）：{i['error']}"
                         for i in found[:3])
        day = local(self.clock.now()).date().isoformat()
        return DryRunFailed(f"试运行在 {day} 中止：流程步骤出错 (the run stopped: a step of the procedure failed) — "
                            f"{where}")

    def _outcome(self, region: dict, timeline: list[dict], instance_id: int) -> dict:
        code = region["region"]
        data = self.engine.instance_data(instance_id)
        announced = (data.get("announcement") or {}).get("announced_on")
        consequences = region["consequences"]
        due = None
        if announced and consequences.get("must_rectify"):
            due = next((e for e in timeline if e.get("region") == code and e.get("due_last_day")
                        and e.get("ready", "")[:10] >= str(announced)[:10]), None)
        return {"region": code, "name": region["name"], "score": region["score"], "grade": region["grade"],
                "rank": region["rank"], "veto": region["veto"], "veto_items": region["veto_items"],
                "consequences": consequences, "commended": bool(consequences.get("commended")),
                "must_rectify": bool(consequences.get("must_rectify")), "announced_on": announced,
                "rectification_due": due and due["due_last_day"], "rectification_rule": due and due["due_rule"],
                "interview": "约谈" in "".join(region["outcome"]), "interviewed_on": data.get("interviewed_on"),
                "outcome": region["outcome"], "fixed": code in self.fixed}

    def _result(self, campaign_id: int) -> dict:
        self._campaign_id = campaign_id
        return super()._result(campaign_id)


def _steps(timeline: list[dict]) -> list[dict]:
    """Each step with a deadline, once per deadline: its last day, how it was computed, who acted and when."""
    steps: dict[tuple, dict] = {}
    for event in timeline:
        if event["kind"] != "task" or not event.get("due_last_day"):
            continue
        key = (event["task"], event["due_last_day"], event["due_rule"])
        step = steps.setdefault(key, {"task": event["task"], "name": event["task_name"],
                                      "due_last_day": event["due_last_day"], "rule": event["due_rule"],
                                      "regions": [], "first": event["at"], "last": event["at"], "late": 0})
        if event.get("region") and event["region"] not in step["regions"]:
            step["regions"].append(event["region"])
        step["last"] = event["at"]
        step["late"] += bool(event.get("late"))
    return sorted(steps.values(), key=lambda s: (s["due_last_day"], s["first"]))


def allocate(scheme: dict, target: Decimal) -> dict[str, dict]:
    """What each indicator's scorer enters so that the total is exactly ``target``: ``{'score': x}`` for a typed
    indicator, ``{'measured': m}`` for one with a scoring rule. ValidationError when no entry reaches it."""
    step = Decimal(1).scaleb(-scoring.decimals(scheme))
    typed = [i for i in scheme["indicators"] if not i.get("rule")]
    ruled = {i["code"]: _extremes(i) for i in scheme["indicators"] if i.get("rule")}
    chosen = {code: high for code, (high, _) in ruled.items()}
    need = target - sum((p for _, p in chosen.values()), Decimal(0))
    for code, (high, low) in ruled.items():  # too many points from the rules: take some to their lowest
        if need >= 0:
            break
        chosen[code] = low
        need += high[1] - low[1]
    capacity = sum((Decimal(str(i["points"])) for i in typed), Decimal(0))
    if need < 0 or need > capacity or need % step:
        raise ValidationError(f"得分 {target} 无法由各指标的得分凑出 (no set of indicator scores adds up to {target})",
                              [{"field": "score", "message": f"得分 {target} 无法由各指标的得分凑出"}])
    shares = {}
    for indicator in typed:
        points = Decimal(str(indicator["points"]))
        shares[indicator["code"]] = (need * points / capacity / step).to_integral_value(ROUND_FLOOR) * step \
            if capacity else Decimal(0)
    rest = need - sum(shares.values(), Decimal(0))
    while rest > 0:  # the rounding's leftover, a step at a time, where there is room
        for indicator in typed:
            if rest > 0 and shares[indicator["code"]] + step <= Decimal(str(indicator["points"])):
                shares[indicator["code"]] += step
                rest -= step
    entered = {code: {"score": float(value)} for code, value in shares.items()}
    entered.update({code: {"measured": float(measured)} for code, (measured, _) in chosen.items()})
    return entered


def _extremes(indicator: dict) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    """(measured, points) giving a rule indicator its most and its fewest points."""
    rule = indicator["rule"]
    kind = rule["kind"]
    if kind == "shortfall":
        target = Decimal(str(rule["target"]))
        candidates = [target, target - Decimal(10) ** 6]
    elif kind == "interpolate":
        candidates = [Decimal(str(rule["low"][0])), Decimal(str(rule["high"][0]))]
    else:  # counted: none, or many
        candidates = [Decimal(0), Decimal(1000)]
    scored = sorted(((m, scoring_rules.points(indicator, m)) for m in candidates), key=lambda mp: mp[1])
    return scored[-1], scored[0]


def _points(indicator: dict, entered: dict) -> Decimal:
    if "measured" in entered:
        return scoring_rules.points(indicator, Decimal(str(entered["measured"])))
    return Decimal(str(entered["score"]))
