"""``bundle.yaml``: each of its settings checked on its own, every problem reported.

The settings are described for administrators in docs/bundles.md; the checks here are those that read the
manifest alone (and, for deadlines and the grade decision, the user tasks and the BPMN it names).
"""

from __future__ import annotations

from datetime import date

from ..errors import BundleError
from ..running import results, years
from . import bodies, yamlfile
from .findings import Report

ROLES = ("assessed", "lead_agency", "member_unit", "assessment_group", "approver", "recipient", "admin")
MANIFEST_KEYS = {"key", "title", "assessment_year", "campaign_process", "region_process", "scheme", "lanes"}
#: Keys a manifest may leave out: a variant without ``grades`` ranks only.
OPTIONAL_KEYS = {"regions", "scale", "grades", "failing_grade", "grade_decision", "deadlines", "calendar",
                 "reminders", "simulation_start", "results", "start_variables", "bodies"}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def check(files: dict[str, str], report: Report) -> dict | None:
    """bundle.yaml, each of its settings checked on its own; None when it cannot be read as a mapping."""
    manifest = None
    with report.guard("bundle.yaml"):
        manifest = yamlfile.read(files, "bundle.yaml")
        if not isinstance(manifest, dict):
            manifest = None
            raise BundleError("bundle.yaml must be a mapping", file="bundle.yaml")
    if manifest is None:
        return None
    at = yamlfile.key_lines(files["bundle.yaml"])
    missing = sorted(MANIFEST_KEYS - set(manifest))
    if missing:
        report.error(f"bundle.yaml 缺少必需的键 (missing keys: {', '.join(missing)})", file="bundle.yaml")
    unknown = sorted(set(manifest) - MANIFEST_KEYS - OPTIONAL_KEYS, key=str)
    if unknown:
        report.error(f"bundle.yaml 中有未知的键 (unknown keys): {', '.join(map(str, unknown))}", file="bundle.yaml",
                     line=at.get(str(unknown[0])))
    if "assessment_year" in manifest:
        with report.guard("bundle.yaml", at.get("assessment_year")):
            years.parse(manifest["assessment_year"])
    with report.guard("bundle.yaml", at.get("simulation_start")):
        _check_simulation_start(manifest.get("simulation_start"))
    with report.guard("bundle.yaml", at.get("bodies")):
        bodies.check(manifest)
    with report.guard("bundle.yaml", at.get("lanes")):
        _check_lanes(manifest)
    with report.guard("bundle.yaml", at.get("grades") or at.get("grade_decision") or at.get("failing_grade")):
        _check_grades(manifest)
    with report.guard("bundle.yaml", at.get("reminders")):
        _check_reminders(manifest.get("reminders") or {}, _known_codes(manifest))
    with report.guard("bundle.yaml", at.get("results")):
        results.check(manifest)
    return manifest


def _known_codes(manifest: dict) -> set[str]:
    try:
        return bodies.codes(manifest)
    except (KeyError, TypeError, AttributeError):  # bodies: refused above; lanes may name the built-in roles
        return set(ROLES)


def _check_lanes(manifest: dict) -> None:
    """``lanes:`` maps each lane name to a built-in role or a body the manifest declares."""
    if "lanes" not in manifest:
        return
    if not isinstance(manifest["lanes"], dict):
        raise BundleError("lanes must map lane names to role or body codes", file="bundle.yaml")
    known = _known_codes(manifest)
    unknown_roles = sorted({str(r) for r in manifest["lanes"].values() if r not in known})
    if unknown_roles:
        raise BundleError(f"unknown roles in lanes: {', '.join(unknown_roles)}; known: "
                          f"{', '.join(ROLES + tuple(sorted(known - set(ROLES))))}", file="bundle.yaml")


def _check_grades(manifest: dict) -> None:
    """Grades are optional; with them come the decision that sets them, and a failing grade among them."""
    grades = manifest.get("grades")
    if grades is None:
        for key in ("grade_decision", "failing_grade"):
            if key in manifest:
                raise BundleError(f"{key} 须与 grades 一起使用 ({key} needs grades; without grades the variant "
                                  f"ranks only)", file="bundle.yaml")
        return
    if not isinstance(grades, list) or not grades or not all(isinstance(g, str) and g for g in grades) \
            or len(set(grades)) != len(grades):
        raise BundleError("grades 应为不重复的等级名称列表，最好的在前 (grades must list distinct grade names, "
                          "best first)", file="bundle.yaml")
    if not manifest.get("grade_decision"):
        raise BundleError("有 grades 时须用 grade_decision 指明评定等级的 DMN 决策 (grades need grade_decision, "
                          "the id of the DMN decision that sets them)", file="bundle.yaml")
    if "failing_grade" in manifest and manifest["failing_grade"] not in grades:
        raise BundleError("failing_grade must be one of grades", file="bundle.yaml")


def check_decision_called(trees: dict, manifest: dict) -> None:
    """The region process calls the grade decision (``grade_decision``) in a business rule task."""
    decision = manifest["grade_decision"]
    ns = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
    for tree in trees.values():
        for process in tree.iterfind(".//bpmn:process", ns):
            if process.get("id") != manifest["region_process"]:
                continue
            called = [e.text.strip() for e in process.iterfind(".//bpmn:businessRuleTask//spiffworkflow:"
                                                               "calledDecisionId", ns) if e.text]
            if decision in called:
                return
    raise BundleError(f"地区流程没有调用等级表 '{decision}' 的业务规则任务 (no business rule task of the region "
                      f"process calls grade_decision '{decision}')", file="bundle.yaml")


def _check_simulation_start(value) -> None:
    """``simulation_start``: 'MM-DD' of the year simulated, or {date: 'MM-DD', year: -1..1}."""
    if value is None:
        return
    rule = value if isinstance(value, dict) else {"date": value}
    try:
        month, day = (int(p) for p in str(rule["date"]).split("-"))
        date(2023, month, day)
        if int(rule.get("year", 0)) not in (-1, 0, 1):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise BundleError("simulation_start 应为 \"MM-DD\" 或 {date: \"MM-DD\", year: -1|0|1} "
                          "(simulation_start must be a day of the year)", file="bundle.yaml") from None


def _check_reminders(policy: dict, known: set[str]) -> None:
    """The reminder policy: lead days within a month, an hour of the day, known roles and bodies."""
    days = policy.get("before_days", [])
    if not isinstance(days, list) or not all(isinstance(d, int) and 0 < d <= 31 for d in days):
        raise BundleError("reminders.before_days must be a list of days from 1 to 31", file="bundle.yaml")
    if not isinstance(policy.get("hour", 9), int) or not 0 <= policy.get("hour", 9) <= 23:
        raise BundleError("reminders.hour must be an hour from 0 to 23", file="bundle.yaml")
    escalation = policy.get("escalation", {})
    if not isinstance(escalation, dict):
        raise BundleError("reminders.escalation must map a role to the role that supervises it", file="bundle.yaml")
    unknown = sorted({str(r) for pair in escalation.items() for r in pair if r not in known})
    if unknown:
        raise BundleError(f"reminders.escalation names unknown roles: {', '.join(unknown)}", file="bundle.yaml")


def check_deadlines(manifest: dict, user_tasks: dict, report: Report, text: str = "") -> None:
    """``deadlines: {task id: {date: "MM-DD", year: 0}}`` names user tasks and real calendar days; ``year``
    counts from the calendar year the assessment year starts in. ``text``: bundle.yaml, for the lines."""
    deadlines = manifest.get("deadlines") or {}
    at = yamlfile.key_lines(text)
    if not isinstance(deadlines, dict):
        report.error("deadlines must map user task ids to {date, year}", file="bundle.yaml", line=at.get("deadlines"))
        return
    for task_id, rule in deadlines.items():
        with report.guard("bundle.yaml", at.get(f"deadlines.{task_id}")):
            _check_deadline(task_id, rule, user_tasks)


def _check_deadline(task_id, rule, user_tasks: dict) -> None:
    if task_id not in user_tasks:
        raise BundleError(f"deadline for '{task_id}', which is not a user task", file="bundle.yaml")
    try:
        month, day = (int(p) for p in str(rule["date"]).split("-"))
        date(2024, month, day)  # a leap year, so 02-29 is allowed
        year = int(rule.get("year", 0))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"deadline of '{task_id}' must be {{date: \"MM-DD\", year: 0}}",
                          file="bundle.yaml") from exc
    if not -1 <= year <= 2:
        raise BundleError(f"deadline of '{task_id}': year must be -1, 0, 1 or 2 (counted from the calendar year "
                          f"the assessment year starts in)", file="bundle.yaml")
