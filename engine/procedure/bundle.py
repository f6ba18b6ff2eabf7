"""Process bundles: read a folder, check every file, parse it with SpiffWorkflow's spiff parser.

Nothing is stored here; ``Engine.deploy`` stores what ``load_bundle`` returns.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from .. import results, timer_events, years
from ..errors import BundleError
from ..regions import code_problem
from . import bodies, checks, forms, grading, names, scoring, scripts, yamlfile
from .references import check_references

logger = logging.getLogger(__name__)

ROLES = ("assessed", "lead_agency", "member_unit", "assessment_group", "approver", "recipient", "admin")
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 200
XML_SUFFIXES = {".bpmn", ".dmn"}
TEXT_SUFFIXES = XML_SUFFIXES | {".yaml", ".yml", ".json", ".md"}
MANIFEST_KEYS = {"key", "title", "assessment_year", "campaign_process", "region_process", "scheme", "lanes"}
#: Keys a manifest may leave out: a variant without ``grades`` ranks only.
OPTIONAL_KEYS = {"regions", "scale", "grades", "failing_grade", "grade_decision", "deadlines", "calendar",
                 "reminders", "simulation_start", "results", "start_variables", "bodies"}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


@dataclass
class Bundle:
    """A checked bundle: its files as text, manifest, scheme, regions and parsed specs."""

    manifest: dict
    files: dict[str, str]
    scheme: dict
    regions: list[dict]
    specs: dict = field(repr=False)  # process id -> (spec, subprocess specs)
    user_tasks: dict[str, dict] = field(default_factory=dict)  # bpmn id -> {lane, role, form, ui}

    @property
    def key(self) -> str:
        return self.manifest["key"]

    @property
    def content_hash(self) -> str:
        return _digest(self.files)


def read_folder(folder: Path, library: Path | None = None) -> dict[str, str]:
    """Every bundle file as text, plus the library forms the bundle does not override."""
    folder = Path(folder)
    if folder.is_file():
        raise BundleError(f"流程包应为一个文件夹，而不是单个文件 (a bundle is a folder with bundle.yaml, not a single "
                          f"file: {folder})")
    if not folder.is_dir():
        raise BundleError(f"找不到流程包文件夹 (bundle folder not found: {folder})")
    files: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise BundleError("symbolic links are not allowed in a bundle", file=str(path.relative_to(folder)))
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        name = path.relative_to(folder).as_posix()
        files[name] = _read_text(path, name)
        if len(files) > MAX_FILES:
            raise BundleError(f"a bundle has at most {MAX_FILES} files")
    if library is not None and library.is_dir():
        for path in sorted(library.glob("*.json")):
            files.setdefault(f"forms/{path.name}", _read_text(path, f"forms/{path.name}"))
    return files


def load_bundle(folder: Path, library: Path | None = None, helpers: Iterable[str] = ()) -> Bundle:
    """Read and check a bundle folder; raise BundleError naming the file, line and element.

    ``helpers``: names the engine's script engine provides besides the sandbox's own (they count as defined)."""
    return check_bundle(read_folder(folder, library), helpers)


def check_bundle(files: dict[str, str], helpers: Iterable[str] = ()) -> Bundle:
    """Check a bundle given as ``{relative name: text}``; the same content is checked only once."""
    helpers = frozenset(helpers)
    digest = _digest(files) + "\0" + ",".join(sorted(helpers))
    bundle = _checked.get(digest)
    if bundle is None:
        with _reported(None):
            bundle = _check(files, helpers)
        if len(_checked) >= 16:
            _checked.pop(next(iter(_checked)))
        _checked[digest] = bundle
    return bundle


_checked: dict[str, Bundle] = {}


def _digest(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def _check(files: dict[str, str], helpers: frozenset[str]) -> Bundle:
    manifest = _manifest(files)
    scale = scoring.scale(manifest)
    scheme = _yaml_file(files, manifest["scheme"])
    scoring.validate_scheme(scheme, manifest["scheme"], scale)
    regions = _regions(files, manifest.get("regions"))
    form_names = {name.removeprefix("forms/") for name in files if name.startswith("forms/")}
    checked = forms.check_forms({name: files[f"forms/{name}"] for name in form_names})
    for name, form in sorted(checked.items()):
        _check_score_maximum(f"forms/{name}", form, scheme)

    trees = {}
    for name in sorted(files):
        if Path(name).suffix not in XML_SUFFIXES:
            continue
        trees[name] = parse_xml(name, files[name])
        scripts.scan(name, files[name].encode())
        if name.endswith(".bpmn"):
            check_references(name, trees[name])
    if not any(n.endswith(".bpmn") for n in trees):
        raise BundleError("流程包中没有 BPMN 文件 (the bundle has no BPMN file)")
    checks.refuse(checks.dmn_files(trees) + checks.bpmn_elements(trees))

    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, tree in trees.items():
        with _reported(name, trees):
            if name.endswith(".dmn"):
                parser.add_dmn_xml(tree, filename=name)
            else:
                parser.add_bpmn_xml(tree, filename=name)
    specs = {}
    for key in ("campaign_process", "region_process"):
        process_id = manifest[key]
        with _reported("bundle.yaml", trees):
            spec = parser.get_spec(process_id)
            specs[process_id] = (spec, parser.get_subprocess_specs(process_id))
        if spec is None:
            raise BundleError(f"{key} '{process_id}' is not a process in any BPMN file", file="bundle.yaml")
    timer_events.clock_timers(specs)
    user_tasks = _check_user_tasks(trees, manifest, form_names)
    user_tasks.update(checks.manual_tasks(trees, manifest["lanes"]))
    _check_deadlines(manifest, user_tasks)
    results.check_messages(manifest, {m.get("name") for tree in trees.values()
                                      for m in tree.iter(f"{{{BPMN_NS}}}message")})
    if manifest.get("grades"):
        grading.check_grade_table(parser, manifest, scheme, scale)
        _check_decision_called(trees, manifest)
    names.check_names(trees, files, manifest, helpers)
    return Bundle(manifest=manifest, files=files, scheme=scheme, regions=regions, specs=specs,
                  user_tasks=user_tasks)


def parse_xml(name: str, text: str) -> etree._Element:
    """Parse untrusted XML: no DTDs, no entities, no network; errors name the line."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise BundleError("DTDs and entity declarations are not allowed", file=name)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False)
    try:
        return etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise BundleError(f"XML 格式错误 (malformed XML: {exc.msg})", file=name, line=exc.lineno) from exc


def _read_text(path: Path, name: str) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BundleError(f"file larger than {MAX_FILE_BYTES // 1024} KiB", file=name)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"not UTF-8 text (byte {exc.start})", file=name) from exc


def _yaml_file(files: dict[str, str], name: str):
    if name not in files:
        raise BundleError("file named in bundle.yaml is missing", file=name)
    return yamlfile.load(files[name], name)


def _manifest(files: dict[str, str]) -> dict:
    manifest = _yaml_file(files, "bundle.yaml")
    if not isinstance(manifest, dict):
        raise BundleError("bundle.yaml must be a mapping", file="bundle.yaml")
    missing = sorted(MANIFEST_KEYS - set(manifest))
    if missing:
        raise BundleError(f"missing keys: {', '.join(missing)}", file="bundle.yaml")
    unknown = sorted(set(manifest) - MANIFEST_KEYS - OPTIONAL_KEYS)
    if unknown:
        raise BundleError(f"bundle.yaml 中有未知的键 (unknown keys): {', '.join(map(str, unknown))}",
                          file="bundle.yaml")
    years.parse(manifest["assessment_year"])
    _check_simulation_start(manifest.get("simulation_start"))
    bodies.check(manifest)
    known = bodies.codes(manifest)
    if not isinstance(manifest["lanes"], dict):
        raise BundleError("lanes must map lane names to role or body codes", file="bundle.yaml")
    unknown_roles = sorted({str(r) for r in manifest["lanes"].values() if r not in known})
    if unknown_roles:
        raise BundleError(f"unknown roles in lanes: {', '.join(unknown_roles)}; known: "
                          f"{', '.join(ROLES + tuple(bodies.declared(manifest)))}", file="bundle.yaml")
    _check_grades(manifest)
    _check_reminders(manifest.get("reminders") or {}, known)
    results.check(manifest)
    return manifest


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


def _check_decision_called(trees: dict, manifest: dict) -> None:
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


def _check_score_maximum(name: str, form: dict, scheme: dict) -> None:
    """A form's score field may not stop below an indicator's points (a 1,000-point scale, say)."""
    top = max(scoring.decimal(i["points"]) for i in scheme["indicators"])
    stack = [form]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            stack.extend(node if isinstance(node, list) else [])
            continue
        score = (node.get("properties") or {}).get("score")
        if isinstance(score, dict) and isinstance(score.get("maximum"), int | float) and score["maximum"] < top:
            raise BundleError(f"表单中得分的最大值 {score['maximum']} 小于指标的分值 {top} (the form's score maximum "
                              f"is below an indicator's points; the engine checks each indicator's own maximum, "
                              f"so drop it)", file=name)
        stack.extend(v for v in node.values() if isinstance(v, dict | list))


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


def _regions(files: dict[str, str], name: str | None) -> list[dict]:
    if not name:
        return []
    data = _yaml_file(files, name) or {}
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, list) or not all(isinstance(r, dict) and r.get("code") and r.get("name")
                                                for r in regions):
        raise BundleError("expected 'regions:' with a list of {code, name}", file=name)
    codes = [str(r["code"]) for r in regions]
    problem = next((p for p in map(code_problem, codes) if p), None)
    if problem:
        raise BundleError(problem, file=name)
    if len(set(codes)) != len(codes):
        raise BundleError("duplicate region codes", file=name)
    return [{"code": str(r["code"]), "name": str(r["name"])} for r in regions]


def _check_user_tasks(trees: dict, manifest: dict, form_names: set[str]) -> dict[str, dict]:
    """Every user task sits in a lane the manifest maps to a role and names forms that exist."""
    ns = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
    lanes = manifest["lanes"]
    found = {}
    for name, tree in trees.items():
        lane_of = {ref.text.strip(): ref.getparent() for ref in tree.iterfind(".//bpmn:flowNodeRef", ns)
                   if ref.text}
        for lane in tree.iterfind(".//bpmn:lane", ns):
            if lane.get("name") not in lanes:
                raise BundleError(f"lane '{lane.get('name')}' is not mapped to a role in bundle.yaml",
                                  file=name, line=lane.sourceline, element=lane.get("id"))
        for task in tree.iterfind(".//bpmn:userTask", ns):
            task_id = task.get("id")
            lane = lane_of.get(task_id)
            if lane is None:
                raise BundleError("user task is in no lane, so nobody could do it",
                                  file=name, line=task.sourceline, element=task_id)
            props = {p.get("name"): p.get("value")
                     for p in task.iterfind(".//spiffworkflow:property", ns)}
            form, ui = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
            for ref in (form, ui):
                if ref and ref not in form_names:
                    raise BundleError(f"form '{ref}' not found in the bundle's forms/ or the form library",
                                      file=name, line=task.sourceline, element=task_id)
            if not form:
                raise BundleError("user task names no form (formJsonSchemaFilename)",
                                  file=name, line=task.sourceline, element=task_id)
            found[task_id] = {"lane": lane.get("name"), "role": lanes[lane.get("name")], "form": form, "ui": ui}
    return found


def _check_deadlines(manifest: dict, user_tasks: dict) -> None:
    """``deadlines: {task id: {date: "MM-DD", year: 0}}`` names user tasks and real calendar days; ``year``
    counts from the calendar year the assessment year starts in."""
    deadlines = manifest.get("deadlines") or {}
    if not isinstance(deadlines, dict):
        raise BundleError("deadlines must map user task ids to {date, year}", file="bundle.yaml")
    for task_id, rule in deadlines.items():
        if task_id not in user_tasks:
            raise BundleError(f"deadline for '{task_id}', which is not a user task", file="bundle.yaml")
        try:
            month, day = (int(p) for p in str(rule["date"]).split("-"))
            date(2024, month, day)  # a leap year, so 02-29 is allowed
            year = int(rule.get("year", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"deadline of '{task_id}' must be {{date: \"MM-DD\", year: 0}}",
                              file="bundle.yaml") from exc
        if not -1 <= year <= 2:
            raise BundleError(f"deadline of '{task_id}': year must be -1, 0, 1 or 2 (counted from the calendar year "
                              f"the assessment year starts in)", file="bundle.yaml")


@contextmanager
def _reported(name: str | None, trees: dict | None = None):
    """Turn whatever parsing and checking raise into a BundleError naming the file, the line and the element."""
    try:
        yield
    except BundleError:
        raise
    except ValidationException as exc:
        raise _bundle_error(exc, name, trees or {}) from exc
    except etree.LxmlError as exc:
        raise BundleError(f"XML 校验失败 (the XML could not be checked): {_plain(str(exc))}", file=name) from exc
    except Exception as exc:  # SpiffWorkflow's parser fails with IndexError, KeyError, ... on odd files
        logger.warning("checking %s failed unexpectedly", name or "the bundle", exc_info=True)
        raise BundleError(f"无法解析此文件 (the file could not be parsed): {type(exc).__name__}: {_plain(str(exc))}",
                          file=name) from exc


def _plain(text: str) -> str:
    """libxml2's text without namespace URIs: ``{…BPMN…/MODEL}task`` becomes ``bpmn:task``."""
    text = text.replace(f"{{{BPMN_NS}}}", "bpmn:").replace(f"{{{SPIFF_NS}}}", "spiffworkflow:")
    return re.sub(r"\{[^{}\s]*\}", "", text).strip().rstrip(".").strip()


def _bundle_error(exc: ValidationException, name: str | None, trees: dict) -> BundleError:
    message = _plain(str(exc).split("\n", 1)[0])
    file = getattr(exc, "file_name", None) or name
    element = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if line is None and element:  # SpiffWorkflow reads node.line_number, which lxml calls sourceline
        found = [(n, node) for n, tree in trees.items() if file in (None, n) or file not in trees
                 for node in tree.iter() if node.get("id") == element]
        if found:
            file, line = found[0][0], found[0][1].sourceline
    if "XMLSchema" in message or "xs:" in message or "not expected" in message or "Element '" in message:
        message = f"XML 结构不符合 BPMN/DMN 标准 (not valid BPMN/DMN): {message}"
    else:
        message = f"流程定义有误 (invalid process definition): {message}"
    return BundleError(message, file=file, line=line, element=element)
