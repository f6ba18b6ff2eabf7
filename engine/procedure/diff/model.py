"""The parts of a diff: a change, an item compared by key, and one side's files read once, leniently."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import PurePosixPath

from ...errors import BundleError
from ...people.accounts import ROLE_NAMES
from .. import yamlfile
from ..bundle import parse_xml

#: The sections of a diff, in the order the page shows them: key -> title (Chinese with English).
SECTIONS = {
    "settings": "基本设置 (settings)",
    "bpmn": "流程图 (diagram)",
    "lanes": "泳道与角色 (lanes and roles)",
    "deadlines": "期限 (deadlines)",
    "reminders": "提醒与督办 (reminders and escalation)",
    "dmn": "等级表 (decision tables)",
    "forms": "表单 (forms)",
    "scheme": "指标体系 (indicator scheme)",
    "bodies": "机构 (bodies)",
    "regions": "考核对象 (regions)",
    "files": "其他文件 (other files)",
}
#: How long a text may be in a change before it is cut (the page shows both sides in full-width cells).
MAX_TEXT = 4000


@dataclass
class Change:
    """One element, row, field or setting added, removed or changed, named for people."""

    section: str  # a key of SECTIONS
    change: str  # "added" | "removed" | "changed"
    element: str  # the BPMN/DMN id, the scheme code, the form field's path, the setting's key
    name: str  # what people call it
    kind: str  # what it is, in words (「用户任务 (user task)」)
    file: str | None = None
    lane: str | None = None  # the lane it is in (after the change, else before)
    context: str | None = None  # what it belongs to, by name: its process, form or decision table
    type: str | None = None  # the BPMN element type (userTask), for the diagram
    fields: list[dict] = field(default_factory=list)  # {"field", "label", "before", "after"}

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Item:
    """One thing compared by its key: its name, kind and values (text, or None when not set)."""

    name: str
    kind: str
    values: dict[str, str | Ref | None]
    file: str | None = None
    lane: str | None = None
    context: str | None = None
    type: str | None = None


def compare_items(section: str, before: dict[str, Item], after: dict[str, Item],
                  labels: dict[str, str]) -> list[Change]:
    """Items added, removed, or with values that differ, in the order the two sides list them."""
    changes = []
    for key in order(list(before), list(after)):
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            item = new or old
            kind = "added" if old is None else "removed"
            fields = fields_between(old.values if old else None, new.values if new else None, labels)
            changes.append(Change(section, kind, key, item.name, item.kind, item.file, item.lane, item.context,
                                  item.type, fields))
            continue
        fields = fields_between(old.values, new.values, labels)
        if old.kind != new.kind:
            fields.insert(0, {"field": "kind", "label": "类型 (type)", "before": old.kind, "after": new.kind})
        if fields:
            changes.append(Change(section, "changed", key, new.name or old.name, new.kind, new.file,
                                  new.lane or old.lane, new.context or old.context, new.type or old.type, fields))
    return changes


def fields_between(before: dict | None, after: dict | None, labels: dict[str, str]) -> list[dict]:
    """The fields of an item that differ: all that are set on an item added or removed."""
    before, after = before or {}, after or {}
    keys = [k for k in labels if k in before or k in after]
    keys += [k for k in order(list(before), list(after)) if k not in labels]
    return [{"field": k, "label": labels.get(k, k), "before": clip(shown(before.get(k))),
             "after": clip(shown(after.get(k)))}
            for k in keys if identity(before.get(k)) != identity(after.get(k))]


@dataclass(frozen=True)
class Ref:
    """A reference to another element: compared by its id, shown by its name (a renamed task does not make
    every flow into it a change)."""

    id: str
    name: str


def identity(value):
    return value.id if isinstance(value, Ref) else value


def shown(value) -> str | None:
    return value.name if isinstance(value, Ref) else value


def order(before: list[str], after: list[str]) -> list[str]:
    """Both lists merged: the new order, with each removed key where it stood among the ones kept."""
    merged: list[str] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            merged += after[j1:j2]
        else:
            merged += [k for k in before[i1:i2] if k not in after] + after[j1:j2]
    seen: set[str] = set()
    return [k for k in merged if not (k in seen or seen.add(k))]


def text(value) -> str | None:
    """A value as people read it: yes/no, lists with 、, numbers as written, mappings as compact JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是 (yes)" if value else "否 (no)"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "、".join(t for t in map(text, value) if t is not None) or "无 (none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def clip(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_TEXT:
        return value
    return value[:MAX_TEXT] + f"…（共 {len(value)} 字 of {len(value)} characters）"


class Side:
    """One bundle's files, each parsed at most once; a file that cannot be read is noted, not raised."""

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.unreadable: dict[str, str] = {}  # name -> why it could not be read
        self.ignored: set[str] = set()  # files not compared item by item (unreadable on either side)
        self.cache: dict[str, object] = {}  # what a section reads once and another reuses
        self._parsed: dict[str, object] = {}

    def read(self, name: str | None):
        """The file parsed by its kind (YAML, JSON, BPMN or DMN); None when missing, unreadable or ignored."""
        if not name or name not in self.files or name in self.ignored:
            return None
        if name not in self._parsed:
            self._parsed[name] = self._parse(name)
        return self._parsed[name]

    def _parse(self, name: str):
        suffix = PurePosixPath(name).suffix
        try:
            if suffix in (".yaml", ".yml"):
                return yamlfile.load(self.files[name], name)
            if suffix == ".json":
                return json.loads(self.files[name])
            if suffix in (".bpmn", ".dmn"):
                return parse_xml(name, self.files[name])
        except BundleError as exc:
            self.unreadable[name] = _reason(exc)
        except ValueError as exc:
            self.unreadable[name] = f"JSON 格式错误 (malformed JSON): {exc}"
        return None

    @cached_property
    def manifest(self) -> dict:
        data = self.read("bundle.yaml")
        return data if isinstance(data, dict) else {}

    @cached_property
    def scheme(self) -> dict:
        data = self.read(_name(self.manifest.get("scheme"), "scheme.yaml"))
        return data if isinstance(data, dict) else {}

    @cached_property
    def regions(self) -> list:
        data = self.read(_name(self.manifest.get("regions"), "regions.yaml"))
        found = data.get("regions") if isinstance(data, dict) else None
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    def trees(self, suffix: str) -> dict:
        """Every ``.bpmn`` or ``.dmn`` file that parses, by name."""
        parsed = {name: self.read(name) for name in sorted(self.files) if PurePosixPath(name).suffix == suffix}
        return {name: tree for name, tree in parsed.items() if tree is not None}

    @cached_property
    def bpmn(self) -> dict:
        return self.trees(".bpmn")

    @cached_property
    def dmn(self) -> dict:
        return self.trees(".dmn")

    def covered(self) -> set[str]:
        """The files a section compares element by element."""
        names = {"bundle.yaml", _name(self.manifest.get("scheme"), "scheme.yaml"),
                 _name(self.manifest.get("regions"), "regions.yaml")}
        return names | {n for n in self.files if PurePosixPath(n).suffix in (".bpmn", ".dmn")
                        or (n.startswith("forms/") and n.endswith(".json"))}

    def role(self, code) -> str | None:
        """A role or body code in words: 「牵头部门（lead_agency）」."""
        if code is None:
            return None
        declared = {b.get("code"): b.get("name") for b in self.manifest.get("bodies") or [] if isinstance(b, dict)}
        name = declared.get(code) or ROLE_NAMES.get(code)
        return f"{name}（{code}）" if name else str(code)


def pair(before: dict[str, str], after: dict[str, str]) -> tuple[Side, Side]:
    """Both sides read; a file either side cannot read is left out of both (said once, in "other files"),
    so that a broken grade table does not read as every row removed."""
    old, new = Side(before), Side(after)
    for side in (old, new):
        for name in side.files:
            side.read(name)
    old.ignored = new.ignored = set(old.unreadable) | set(new.unreadable)
    return old, new


def _reason(exc: BundleError) -> str:
    """The error without the file name it starts with (the change names the file)."""
    reason = exc.message.split(": ", 1)[1] if exc.file and ": " in exc.message else exc.message
    return f"第 {exc.line} 行 (line {exc.line}): {reason}" if exc.line else reason


def _name(value, default: str) -> str:
    return value if isinstance(value, str) and value else default
