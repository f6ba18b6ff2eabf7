"""A bundle's English catalogue (``english.yaml``, optional): what the bundle shows people, in English.

The web app shows these names when the user chose English, and the bundle's own (Chinese) text wherever the
catalogue says nothing. Deploy checks the catalogue like every other file: each entry must name something the
bundle has (a BPMN id, a form's field, a scheme code) and be text. docs/bundles.md ("English") describes it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import yaml
from lxml import etree

from ..errors import BundleError
from . import yamlfile
from .findings import Report

FILE = "english.yaml"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
#: Sections of the catalogue whose entries are plain names, keyed by something of the bundle.
NAMED = ("processes", "lanes", "bodies", "steps", "instructions", "grades", "regions")
SCHEME_SECTIONS = ("title", "parts", "groups", "indicators", "units", "veto")
FORM_KEYS = {"title", "description", "fields"}
FIELD_KEYS = {"title", "description", "help", "options"}
KEYS = {"title", "scheme", "forms", *NAMED}


@dataclass
class Catalogue:
    """The English of one bundle; every lookup falls back to the Chinese it is given."""

    title: str | None = None
    processes: dict[str, str] = field(default_factory=dict)
    lanes: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    instructions: dict[str, str] = field(default_factory=dict)
    grades: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)  # region code -> English name
    scheme: dict = field(default_factory=dict)
    forms: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, files: dict[str, str]) -> Catalogue:
        """The catalogue of a (checked) bundle's files; an empty one when it has none."""
        data = yamlfile.load(files[FILE], FILE) if FILE in files else None
        if not isinstance(data, dict):
            return cls()
        return cls(data.get("title"), *({str(k): v for k, v in (data.get(s) or {}).items()} for s in NAMED),
                   scheme=data.get("scheme") or {}, forms=data.get("forms") or {})

    def __bool__(self) -> bool:
        """Whether the catalogue says anything at all."""
        return bool(self.title) or any(getattr(self, section) for section in (*NAMED, "scheme", "forms"))

    def step(self, bpmn_id: str, chinese: str) -> str:
        return self.steps.get(bpmn_id) or chinese

    def scheme_name(self, section: str, code, chinese: str) -> str:
        return (self.scheme.get(section) or {}).get(str(code)) or chinese

    def form(self, name: str | None, schema: dict, ui: dict) -> tuple[dict, dict]:
        """The form's JSON Schema and UI schema with their titles, descriptions, help and option titles in English
        (copies: the version's own stay as they are)."""
        words = self.forms.get(name or "")
        if not words:
            return schema, ui
        schema, ui = copy.deepcopy(schema), copy.deepcopy(ui)
        for key in ("title", "description"):
            if words.get(key):
                schema[key] = words[key]
        for path, said in (words.get("fields") or {}).items():
            prop, prop_ui = _property(schema, ui, str(path), create_ui=True)
            if prop is None:
                continue
            for key in ("title", "description"):
                if said.get(key):
                    prop[key] = said[key]
            if said.get("help"):
                prop_ui["ui:help"] = said["help"]
            for choice in prop.get("oneOf") or prop.get("anyOf") or []:
                if isinstance(choice, dict) and str(choice.get("const")) in (said.get("options") or {}):
                    choice["title"] = said["options"][str(choice["const"])]
        return schema, ui


def _property(schema: dict, ui: dict, path: str, create_ui: bool = False) -> tuple[dict | None, dict]:
    """The property at a dotted field path (``scores.basis``: a column of the ``scores`` table) and its UI part."""
    node, node_ui = schema, ui
    for n, part in enumerate(path.split(".")):
        if n:  # into a table's rows
            node = node.get("items") if isinstance(node.get("items"), dict) else {}
            node_ui = node_ui.setdefault("items", {}) if create_ui else node_ui.get("items", {})
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        if part not in props or not isinstance(props[part], dict):
            return None, {}
        node = props[part]
        node_ui = node_ui.setdefault(part, {}) if create_ui else node_ui.get(part, {})
    return node, node_ui


def check(files: dict[str, str], manifest: dict | None, scheme: dict | None, forms: dict[str, dict],
          trees: dict[str, etree._Element], report: Report) -> None:
    """Every entry of ``english.yaml`` names something the bundle has and gives it text; each problem a finding
    on its line. ``forms``: the form files that parsed, by name."""
    if FILE not in files:
        return
    with report.guard(FILE):
        data = yamlfile.load(files[FILE], FILE)
        if data is None:
            return
        if not isinstance(data, dict):
            raise BundleError("english.yaml 应为映射 (english.yaml must be a mapping of sections)", file=FILE)
        lines = _lines(files[FILE])

        def error(path: tuple, reason: str) -> None:
            report.error(reason, file=FILE, line=_line_of(lines, path))

        def unused(path: tuple, reason: str) -> None:  # a region dropped from the regions file: its name unused
            report.warning(reason + "; its English name is not used", file=FILE, line=_line_of(lines, path))

        for key in sorted(set(map(str, data)) - KEYS):
            error((key,), f"english.yaml 中有未知的部分 {key} (unknown section '{key}'; known: "
                          f"{', '.join(sorted(KEYS))})")
        if "title" in data:
            _text(data["title"], ("title",), error)
        known = _known(manifest, trees, _region_codes(files, manifest, report))
        if any(n.endswith(".bpmn") and n not in trees for n in files):  # a BPMN file was refused: its ids unknown
            known.update(dict.fromkeys(("processes", "steps", "instructions", "lanes")))
        for section in NAMED:
            if section in data:
                _names(data[section], (section,), known.get(section), error,
                       unused if section == "regions" else None)
        if "scheme" in data:
            _scheme(data["scheme"], scheme, error)
        if "forms" in data:
            _forms(data["forms"], forms, {n.removeprefix("forms/") for n in files if n.startswith("forms/")}, error)


def _region_codes(files: dict[str, str], manifest: dict | None, report: Report) -> set[str] | None:
    """The codes of the bundle's regions file (bundle.yaml ``regions:``); None when it has none or it was refused
    (its own finding says why), and then any code is taken."""
    name = manifest.get("regions") if isinstance(manifest, dict) else None
    if not isinstance(name, str) or name not in files:
        return None
    if any(f.file == name and f.severity == "error" for f in report.findings):
        return None
    try:
        return {str(r["code"]) for r in yaml.safe_load(files[name])["regions"]}
    except (yaml.YAMLError, KeyError, TypeError):
        return None


def _known(manifest: dict | None, trees: dict[str, etree._Element],
           region_codes: set[str] | None = None) -> dict[str, set[str] | None]:
    """What each named section may name (None: cannot be known, the file it needs was refused)."""
    ids, processes, tasks, lane_ids = set(), set(), set(), set()
    for name, tree in trees.items():
        if not name.endswith(".bpmn"):
            continue
        lane_ids |= {lane.get("id") for lane in tree.iter(f"{{{BPMN_NS}}}lane") if lane.get("id")}
        for node in tree.iter(etree.Element):
            if node.get("id") and node.get("name") is not None:
                ids.add(node.get("id"))
        processes |= {p.get("id") for p in tree.iter(f"{{{BPMN_NS}}}process") if p.get("id")}
        tasks |= {t.get("id") for kind in ("userTask", "manualTask") for t in tree.iter(f"{{{BPMN_NS}}}{kind}")}
    from . import bodies

    try:
        codes = bodies.codes(manifest) if manifest else None
    except (KeyError, TypeError, AttributeError):  # bodies: refused by the manifest's own check
        codes = None
    grades = manifest.get("grades") if manifest else None
    return {"processes": processes if trees else None, "steps": ids if trees else None,
            "instructions": tasks if trees else None, "lanes": lane_ids if trees else None,
            "bodies": codes, "grades": set(map(str, grades)) if isinstance(grades, list) else set(),
            "regions": region_codes}


def _text(value, path: tuple, error) -> bool:
    if not isinstance(value, str) or not value.strip():
        error(path, f"{'.'.join(map(str, path))} 应为非空文本 ({'.'.join(map(str, path))} must be text, "
                    f"not {_kind(value)})")
        return False
    return True


def _kind(value) -> str:
    return "empty" if value in (None, "") else type(value).__name__


def _mapping(value, path: tuple, error) -> bool:
    if not isinstance(value, dict):
        error(path, f"{'.'.join(map(str, path))} 应为映射 ({'.'.join(map(str, path))} must be a mapping, "
                    f"not {_kind(value)})")
        return False
    return True


def _names(entries, path: tuple, known: set[str] | None, error, unknown=None) -> None:
    """A mapping of things the bundle has to their English; ``unknown`` reports an entry naming nothing the
    bundle has (else ``error`` does)."""
    if not _mapping(entries, path, error):
        return
    what = {"processes": "流程 (process)", "steps": "BPMN 元素 (BPMN element)", "lanes": "泳道 (lane)",
            "instructions": "用户任务 (user task)", "bodies": "角色或机构 (role or body)", "grades": "等级 (grade)",
            "parts": "一级指标 (part)", "groups": "指标分组 (group)", "indicators": "指标 (indicator)",
            "units": "责任单位 (unit)", "veto": "否决项 (veto item)", "regions": "考核对象 (region)"}[path[-1]]
    for key, value in entries.items():
        if known is not None and str(key) not in known:
            report = unknown or error
            report((*path, key), f"english.yaml 的 {path[-1]} 中的 {key} 在流程包中不存在 ({path[-1]}: the bundle has "
                                 f"no {what.split(' (')[1][:-1]} '{key}')")
        else:
            _text(value, (*path, key), error)


def _scheme(entries, scheme: dict | None, error) -> None:
    if not _mapping(entries, ("scheme",), error):
        return
    known = None if scheme is None else {
        "parts": {str(p.get("code")) for p in scheme.get("parts") or []},
        "groups": {str(i.get("group")) for i in scheme.get("indicators") or [] if i.get("group")},
        "indicators": {str(i.get("code")) for i in scheme.get("indicators") or []},
        "units": {str(u.get("code")) for u in scheme.get("units") or []},
        "veto": {str(v.get("code")) for v in scheme.get("veto") or []}}
    for key, value in entries.items():
        if key == "title":
            _text(value, ("scheme", "title"), error)
        elif key in SCHEME_SECTIONS:
            _names(value, ("scheme", key), None if known is None else known[key], error)
        else:
            error(("scheme", key), f"english.yaml 的 scheme 中有未知的部分 {key} (unknown scheme section '{key}'; "
                                   f"known: {', '.join(SCHEME_SECTIONS)})")


def _forms(entries, forms: dict[str, dict], present: set[str], error) -> None:
    """``forms``: the forms that parsed; ``present``: every form file (one refused by its own check is skipped)."""
    if not _mapping(entries, ("forms",), error):
        return
    for name, words in entries.items():
        path = ("forms", name)
        if name in present and name not in forms:
            continue
        if name not in forms:
            error(path, f"english.yaml 中的表单 {name} 不在流程包的 forms/ 或表单库中 (form '{name}' is not in the "
                        f"bundle's forms/ or the form library; name the .schema.json file)")
            continue
        if not _mapping(words, path, error):
            continue
        for key in sorted(set(map(str, words)) - FORM_KEYS):
            error((*path, key), f"表单 {name} 的英文中有未知的键 {key} (unknown key '{key}'; known: "
                                f"{', '.join(sorted(FORM_KEYS))})")
        for key in ("title", "description"):
            if key in words:
                _text(words[key], (*path, key), error)
        fields = words.get("fields", {})
        if not _mapping(fields, (*path, "fields"), error):
            continue
        for field_path, said in fields.items():
            where = (*path, "fields", field_path)
            prop, _ = _property(forms[name], {}, str(field_path))
            if prop is None:
                error(where, f"表单 {name} 没有字段 {field_path} (form '{name}' has no field '{field_path}'; a "
                             f"table's column is written table.column)")
                continue
            if not _mapping(said, where, error):
                continue
            for key, value in said.items():
                if key not in FIELD_KEYS:
                    error((*where, key), f"字段 {field_path} 的英文中有未知的键 {key} (unknown key '{key}'; known: "
                                         f"{', '.join(sorted(FIELD_KEYS))})")
                elif key == "options":
                    consts = {str(c.get("const")) for c in prop.get("oneOf") or prop.get("anyOf") or []
                              if isinstance(c, dict) and "const" in c}
                    if _mapping(value, (*where, key), error):
                        for option, title in value.items():
                            if str(option) not in consts:
                                error((*where, key, option), f"字段 {field_path} 没有选项 {option} (field "
                                                             f"'{field_path}' has no option '{option}')")
                            else:
                                _text(title, (*where, key, option), error)
                else:
                    _text(value, (*where, key), error)


def _lines(text: str) -> dict[tuple, int]:
    """The line of every key of the YAML text, by its path of keys."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    lines: dict[tuple, int] = {}
    stack = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines.setdefault((*path, str(key.value)), key.start_mark.line + 1)
                stack.append(((*path, str(key.value)), value))
    return lines


def _line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    path = tuple(map(str, path))
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


#: content hash -> catalogue: a version's content never changes, so each is read once.
_BY_CONTENT: dict[str, Catalogue] = {}


def of_versions(session, version_ids) -> dict[int, Catalogue]:
    """The catalogue of each of these deployed versions, read from its files only the first time."""
    from sqlalchemy import select

    from ..store.models import ProcessVersion

    hashes = dict(session.execute(select(ProcessVersion.id, ProcessVersion.content_hash)
                                  .where(ProcessVersion.id.in_(set(version_ids)))).all())
    missing = set(hashes.values()) - set(_BY_CONTENT)
    if missing:
        for digest, files in session.execute(select(ProcessVersion.content_hash, ProcessVersion.files)
                                             .where(ProcessVersion.content_hash.in_(missing))):
            _BY_CONTENT[digest] = Catalogue.of(files)
    return {version_id: _BY_CONTENT[digest] for version_id, digest in hashes.items()}


def without_stale_scheme(text: str, scheme: dict) -> str | None:
    """``text`` (an english.yaml) without its ``scheme:`` entries for parts, groups, indicators, units and veto
    items that ``scheme`` no longer has, the rest as written; None when it has none such (or cannot be read).
    The scheme editor saves it with the scheme: an indicator deleted there must not leave the draft unpublishable
    over a file the administrator never opened."""
    codes = {"parts": {str(p.get("code")) for p in scheme.get("parts") or [] if isinstance(p, dict)},
             "groups": {str(i.get("group")) for i in scheme.get("indicators") or [] if isinstance(i, dict)},
             "indicators": {str(i.get("code")) for i in scheme.get("indicators") or [] if isinstance(i, dict)},
             "units": {str(u.get("code")) for u in scheme.get("units") or [] if isinstance(u, dict)},
             "veto": {str(v.get("code")) for v in scheme.get("veto") or [] if isinstance(v, dict)}}
    return without(text, lambda section, key: section in codes and key not in codes[section], "scheme")


def without_elements(text: str, renamed: set[str], reworded: set[str]) -> str | None:
    """``text`` (an english.yaml) without the English of BPMN elements renamed in the modeler (processes, lanes,
    steps) and of the instructions rewritten there: English of the old words would be shown for the new ones,
    where without it the Chinese shows. None when it has none of them."""
    def stale(section, key):
        return key in (reworded if section == "instructions" else renamed if section in NAMED else ())
    return without(text, stale)


def without(text: str, stale, within: str | None = None) -> str | None:
    """``text`` (an english.yaml) without the entries ``stale(section, key)`` names, in the top-level sections
    or in those of ``within``; a section left empty goes too. Comments and everything else stay as written.
    None when nothing is stale or the text cannot be read."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    holder = root if within is None else (_entry(root, within) or (None, None))[1]
    if not isinstance(holder, yaml.MappingNode) or not isinstance(data, dict):
        return None
    wanted = data if within is None else data.get(within)
    if not isinstance(wanted, dict):
        return None
    cuts = []
    for n, (key, value) in enumerate(holder.value):
        if not isinstance(value, yaml.MappingNode) or not isinstance(wanted.get(key.value), dict):
            continue
        gone = [m for m, (k, _v) in enumerate(value.value) if stale(key.value, str(k.value))]
        if not gone:
            continue
        if len(gone) == len(value.value):  # nothing left: the whole section goes
            cuts.append(_span(text, holder, n))
            wanted = {k: v for k, v in wanted.items() if k != key.value}
        else:
            cuts += [_span(text, value, m) for m in gone]
            wanted = {**wanted, key.value: {k: v for k, v in wanted[key.value].items()
                                            if not stale(key.value, str(k))}}
    if not cuts:
        return None
    expected = wanted if within is None else {**data, within: wanted}
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + text[end:]
    try:
        same = yaml.safe_load(text) == expected
    except yaml.YAMLError:
        same = False
    if not same:  # never expected: the plain dump then, its comments lost
        return yaml.safe_dump(expected, allow_unicode=True, sort_keys=False, width=120)
    return text


def _entry(node, name: str):
    """The (key, value) nodes of ``name`` in a mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == name:
                return key, value
    return None


def _span(text: str, mapping: yaml.MappingNode, n: int) -> tuple[int, int]:
    """The characters of entry ``n`` of ``mapping`` in ``text``: whole lines in block style, the entry and one
    of its separating commas in flow style."""
    key, value = mapping.value[n]
    if mapping.flow_style:
        if n + 1 < len(mapping.value):
            return key.start_mark.index, mapping.value[n + 1][0].start_mark.index
        if n:
            return mapping.value[n - 1][1].end_mark.index, value.end_mark.index
        return key.start_mark.index, value.end_mark.index
    start = text.rfind("\n", 0, key.start_mark.index) + 1
    end = value.end_mark.index  # a block value ends where the next key begins: keep that key's line
    line_start = text.rfind("\n", 0, end) + 1
    if text[line_start:end].strip():
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    else:
        end = line_start
    return start, end
