"""Process bundles: read a folder, check every file, parse it with SpiffWorkflow's spiff parser.

Nothing is stored here; ``Engine.deploy`` stores what ``load_bundle`` returns.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..errors import BundleError
from ..people.regions import code_problem
from ..running import results, timer_events
from . import checks, english, forms, grading, modelers, names, references, scoring, scripts, spiff, structure, yamlfile
from . import manifest as manifests
from .findings import Report

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 200
XML_SUFFIXES = {".bpmn", ".dmn"}
TEXT_SUFFIXES = XML_SUFFIXES | {".yaml", ".yml", ".json", ".md"}
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


def read_zip(path: Path, library: Path | None = None) -> dict[str, str]:
    """Every bundle file of a .zip as text (a single top folder is dropped), plus the library forms it lacks."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"无法读取 zip 文件 (not a readable .zip: {exc})", file=Path(path).name) from None
    files: dict[str, str] = {}
    with archive:
        entries = [e for e in archive.infolist() if not e.is_dir() and Path(e.filename).suffix in TEXT_SUFFIXES]
        if len(entries) > MAX_FILES:
            raise BundleError(f"a bundle has at most {MAX_FILES} files")
        for entry in entries:
            if entry.filename.startswith("/") or ".." in entry.filename.split("/") or "\\" in entry.filename:
                raise BundleError("zip 中的文件名不安全 (a name in the .zip leaves the bundle)", file=entry.filename)
        tops = {e.filename.split("/", 1)[0] for e in entries}
        strip = tops.pop() + "/" if len(tops) == 1 and all("/" in e.filename for e in entries) else ""
        for entry in entries:
            name = entry.filename.removeprefix(strip)
            if entry.file_size > MAX_FILE_BYTES:
                raise BundleError(f"file larger than {MAX_FILE_BYTES // 1024} KiB", file=name)
            try:
                files[name] = archive.read(entry).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BundleError(f"not UTF-8 text (byte {exc.start})", file=name) from exc
    if library is not None and library.is_dir():
        for form in sorted(library.glob("*.json")):
            files.setdefault(f"forms/{form.name}", _read_text(form, f"forms/{form.name}"))
    return files


def load_bundle(folder: Path, library: Path | None = None, helpers: Iterable[str] = ()) -> Bundle:
    """Read and check a bundle folder; raise BundleError naming the file, line and element.

    ``helpers``: names the engine's script engine provides besides the sandbox's own (they count as defined)."""
    return check_bundle(read_folder(folder, library), helpers)


def check_bundle(files: dict[str, str], helpers: Iterable[str] = ()) -> Bundle:
    """Check a bundle given as ``{relative name: text}``; raise one BundleError listing every error."""
    bundle, report = inspect(files, helpers)
    report.raise_errors()
    return bundle


def inspect(files: dict[str, str], helpers: Iterable[str] = ()) -> tuple[Bundle | None, Report]:
    """Run every check of a bundle: the bundle (None when it has errors) and the report of all its findings.
    The same content is checked only once."""
    helpers = frozenset(helpers)
    digest = _digest(files) + "\0" + ",".join(sorted(helpers))
    checked = _checked.get(digest)
    if checked is None:
        report = Report()
        with report.guard():
            bundle = _check(files, helpers, report)
        checked = (bundle if not report.errors() else None, report)
        if len(_checked) >= 16:
            _checked.pop(next(iter(_checked)))
        _checked[digest] = checked
    return checked


_checked: dict[str, tuple[Bundle | None, Report]] = {}


def _digest(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def _check(files: dict[str, str], helpers: frozenset[str], report: Report) -> Bundle | None:
    """Every check, each reporting to ``report``; a check that needs what an earlier one refused is left out."""
    manifest = manifests.check(files, report)
    whole = manifest is not None and manifests.MANIFEST_KEYS <= set(manifest)
    scale, scheme, regions = scoring.TOTAL_POINTS, None, []
    if manifest is not None:
        with report.guard("bundle.yaml"):
            scale = scoring.scale(manifest)
    if whole:
        refused = report.errors()
        with report.guard(str(manifest["scheme"])):
            scheme = yamlfile.read(files, manifest["scheme"])
            text = files[manifest["scheme"]]
            for problem in scoring.scheme_problems(scheme, manifest["scheme"], scale):
                report.add(problem, _line_of_code(text, problem.reason))
        scheme = scheme if report.errors() == refused else None
        with report.guard(str(manifest.get("regions"))):
            regions = _regions(files, manifest.get("regions"), report)
    form_names = {name.removeprefix("forms/") for name in files if name.startswith("forms/")}
    refused = report.errors()
    documents = _check_forms(files, form_names, scheme, report)
    forms_whole = report.errors() == refused  # the names check reads the forms' fields

    trees = {}
    for name in sorted(files):
        if Path(name).suffix not in XML_SUFFIXES:
            continue
        with report.guard(name):
            trees[name] = parse_xml(name, files[name])
        if name in trees:
            for problem in scripts.problems(name, trees[name]):
                report.add(problem)
            if name.endswith(".bpmn"):
                for problem in references.problems(name, trees[name]):
                    report.add(problem)
    if not any(n.endswith(".bpmn") for n in files):
        report.error("流程包中没有 BPMN 文件 (the bundle has no BPMN file)")
    unreadable = checks.dmn_files(trees)
    for problem in unreadable + checks.bpmn_elements(trees):
        report.error(problem.reason, problem.file, problem.line, problem.element)
    needed = [manifest[k] for k in ("campaign_process", "region_process") if whole and manifest.get(k)]
    modelers.check(trees, needed, report)
    structure.check(trees, report)

    before = len(report.findings)
    left_out = {p.file for p in unreadable} | {n for n in files if Path(n).suffix in XML_SUFFIXES and n not in trees}
    at = yamlfile.key_lines(files.get("bundle.yaml", ""))
    named = {manifest[k]: at.get(k) for k in ("campaign_process", "region_process") if whole}
    parser, specs, failed = spiff.parse(trees, needed if whole else [], report, left_out, named)
    _drop_repeated(report, before)
    # Checks that read every file's definitions would only repeat, as their own, the problem of a file left out.
    xml_whole = not failed
    if not whole:
        english.check(files, manifest, scheme, documents, trees, report)
        report.name_elements(trees)
        return None
    for key in ("campaign_process", "region_process"):
        if manifest[key] in specs and specs[manifest[key]][0] is None:
            report.error(f"{key} '{manifest[key]}' is not a process in any BPMN file", file="bundle.yaml")
    if len(specs) == len(needed) and all(spec is not None for spec, _ in specs.values()):
        with report.guard():
            timer_events.clock_timers(specs)
    user_tasks = _check_user_tasks(trees, manifest, form_names, report)
    user_tasks.update(checks.manual_tasks(trees, manifest["lanes"] if isinstance(manifest["lanes"], dict) else {}))
    manifests.check_deadlines(manifest, user_tasks, report, files["bundle.yaml"])
    with report.guard("bundle.yaml"):
        results.check_messages(manifest, {m.get("name") for tree in trees.values()
                                          for m in tree.iter(f"{{{BPMN_NS}}}message")})
    if manifest.get("grades") and scheme is not None and xml_whole:
        with report.guard():
            for problem in grading.check_grade_table(parser, manifest, scheme, scale):
                report.add(problem)
        with report.guard("bundle.yaml"):
            manifests.check_decision_called(trees, manifest)
    if xml_whole and forms_whole:
        with report.guard():
            for problem in names.check_names(trees, files, manifest, helpers):
                report.add(problem)
    english.check(files, manifest, scheme, documents, trees, report)  # last: what it names, the others check
    report.name_elements(trees)
    if report.errors():
        return None
    return Bundle(manifest=manifest, files=files, scheme=scheme, regions=regions, specs=specs,
                  user_tasks=user_tasks)


def _line_of_code(text: str, reason: str) -> int | None:
    """The line of the scheme row a reason names (``indicator T1: …``, ``指标 T1 …``, ``part 'targets'``)."""
    named = re.search(r"(?:indicator |指标 |part ')([\w.-]+)", reason)
    if not named:
        return None
    row = re.search(rf"code:\s*['\"]?{re.escape(named.group(1))}['\"]?\s*[,}}\n]", text)
    return text.count("\n", 0, row.start()) + 1 if row else None


def _drop_repeated(report: Report, since: int) -> None:
    """SpiffWorkflow's refusal of an element another check has already explained is not said twice."""
    earlier = [f for f in report.findings[:since] if f.severity == "error"]
    explained = {(f.file, f.element) for f in earlier if f.element}
    said = " ".join(f.reason for f in earlier)

    def repeated(n: int, f) -> bool:  # the same element, or the same missing process (a call activity's)
        quoted = re.findall(r"'([\w.-]+)'", f.reason)
        return n >= since and ((f.file, f.element) in explained or "was not found" in f.reason
                               and any(f"'{q}'" in said for q in quoted[:1]))
    report.drop(repeated)


def _check_forms(files: dict[str, str], form_names: set[str], scheme: dict | None, report: Report) -> dict:
    """Every form file parses and is a valid schema whose references resolve; no score field caps below an
    indicator's points. Returns the forms that parsed, by name."""
    texts = {name: files[f"forms/{name}"] for name in form_names}
    documents = {}
    for name in sorted(form_names):
        with report.guard(f"forms/{name}"):
            documents[name] = forms.check_form_file(f"forms/{name}", texts[name], texts)
    schemas = forms.schema_texts(texts)
    for name in sorted(schemas):
        if name in documents:
            with report.guard(f"forms/{name}"):
                forms.validator(documents[name], schemas, name)
    if scheme is not None:
        for name, form in sorted(documents.items()):
            with report.guard(f"forms/{name}"):
                _check_score_maximum(f"forms/{name}", form, scheme)
    return documents


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


def _regions(files: dict[str, str], name: str | None, report: Report) -> list[dict]:
    """``regions.yaml``: a list of {code, name}; each bad or repeated code is reported on its line."""
    if not name:
        return []
    data = yamlfile.read(files, name) or {}
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, list) or not all(isinstance(r, dict) and r.get("code") and r.get("name")
                                                for r in regions):
        raise BundleError("expected 'regions:' with a list of {code, name}", file=name)
    codes = [str(r["code"]) for r in regions]
    text, seen = files[name], set()
    for code in codes:
        problem = code_problem(code) or (f"地区代码 {code} 重复 (duplicate region codes: {code})" if code in seen
                                         else None)
        if problem:
            rows = [m.start() for m in re.finditer(rf"code:\s*['\"]?{re.escape(code)}['\"]?\s*[,}}\n]", text)]
            at = rows[1 if code in seen and len(rows) > 1 else 0] if rows else None
            report.error(problem, file=name, line=None if at is None else text.count("\n", 0, at) + 1)
        seen.add(code)
    return [{"code": str(r["code"]), "name": str(r["name"])} for r in regions]


def _check_user_tasks(trees: dict, manifest: dict, form_names: set[str], report: Report) -> dict[str, dict]:
    """Every user task sits in a lane the manifest maps to a role and names forms that exist."""
    ns = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
    lanes = manifest["lanes"] if isinstance(manifest["lanes"], dict) else {}
    found = {}
    for name, tree in trees.items():
        lane_of = {ref.text.strip(): ref.getparent() for ref in tree.iterfind(".//bpmn:flowNodeRef", ns)
                   if ref.text}
        for lane in tree.iterfind(".//bpmn:lane", ns):
            if lane.get("name") and lane.get("name") not in lanes:
                report.at("error", f"泳道 \"{lane.get('name')}\" 未在 bundle.yaml 的 lanes 中对应角色 "
                                   f"(lane '{lane.get('name')}' is not mapped to a role in bundle.yaml)", name, lane)
        for task in tree.iterfind(".//bpmn:userTask", ns):
            task_id = task.get("id")
            label = task.get("name") or task_id
            lane = lane_of.get(task_id)
            if lane is None:
                report.at("error", f"用户任务 \"{label}\" 不在任何泳道中，无人可以办理：请把它放进一个泳道，并在 "
                                   f"bundle.yaml 的 lanes 中为该泳道指定角色 (user task is in no lane, so nobody could "
                                   f"do it: put it in a lane and map the lane to a role in bundle.yaml)", name, task)
            props = {p.get("name"): p.get("value")
                     for p in task.iterfind(".//spiffworkflow:property", ns)}
            form, ui = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
            for ref in (form, ui):
                if ref and ref not in form_names:
                    report.at("error", f"表单 '{ref}' 不在流程包的 forms/ 或表单库中 (form '{ref}' not found in the "
                                       f"bundle's forms/ or the form library)", name, task)
            if not form:
                report.at("error", modelers.no_form(task), name, task)
            lane_name = None if lane is None else lane.get("name")
            found[task_id] = {"lane": lane_name, "role": lanes.get(lane_name), "form": form, "ui": ui}
    return found


