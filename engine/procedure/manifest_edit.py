"""Rewrite one top-level section or setting of a draft's bundle.yaml, keeping the rest of the file as written.

The modeler keeps lanes → bodies, fixed deadlines and the reminder policy in bundle.yaml, where the engine reads
them; the general settings page (web/edit_settings.py) the title, year, scale, grades, results and calendar.
bundle.yaml is written by hand and its comments cite the 办法: only the section changed is rewritten, and an
entry that stays keeps its place and its comment (one level down too: ``results.consequences``' rules).
"""

from __future__ import annotations

import json
import re

from ..errors import BundleError
from .yamlfile import load

#: The mapping sections the editors write (``set_section``).
SECTIONS = ("lanes", "deadlines", "reminders", "results", "calendar")
#: Sections whose entry comments cite the 办法 for the value itself (deadlines.legal_basis reads them as the
#: basis of a due date): a changed value loses its comment, which would cite the article of another date.
CITES_VALUE = ("deadlines",)
#: The one-line settings the editors write (``set_value``), in the order a new one is placed.
VALUES = ("title", "assessment_year", "scale", "grades", "failing_grade")
_ORDER = ("key", "title", "assessment_year", "scale", "campaign_process", "region_process", "grade_decision",
          "grades", "failing_grade")
_BARE = re.compile(r"^[^\s:#'\"{}\[\],&*!|>%@`?-][^:#{}\[\],]*(?<!\s)$")
_ENTRY = re.compile(r"^  (\"[^\"]*\"|'[^']*'|[^\s:#][^:#]*?)\s*:(.*)$")
_SUB = re.compile(r"^    (\"[^\"]*\"|'[^']*'|[^\s:#][^:#]*?)\s*:(.*)$")


def _plain(text: str) -> bool:
    """Whether YAML reads ``text`` written without quotes back as the same string."""
    return bool(_BARE.match(text)) and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~",
                                                             "y", "n") and not re.fullmatch(r"[\d.+-].*", text)


def _key(text: str) -> str:
    return text if _plain(text) else json.dumps(text, ensure_ascii=False)


def _flow(value) -> str:
    """A value in YAML flow style: what bundle.yaml's hand-written entries look like."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return str(value) if _plain(str(value)) and "-" not in str(value) else json.dumps(str(value), ensure_ascii=False)


def _comment(rest: str) -> str:
    """The trailing ``# ...`` of a line's value part, outside quotes ('' when none)."""
    quote = None
    for i, char in enumerate(rest):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (i == 0 or rest[i - 1].isspace()):
            return rest[i:].strip()
    return ""


def _placed(line: str, rest: str) -> tuple[str, int]:
    """A line's comment and the column it starts at."""
    comment = _comment(rest)
    return comment, line.rfind(comment) if comment else 0


def _with(text: str, placed: tuple[str, int]) -> str:
    comment, column = placed
    return f"{text}{' ' * max(1, column - len(text))}{comment}" if comment else text


def _in_file_order(value: dict, old) -> dict:
    """``value`` with the entries the file already has in the file's order, nested mappings too; a new entry
    stays where it was given. The page's JSON may list them otherwise (Flask sorts its keys): an unchanged
    entry must not move."""
    if not isinstance(old, dict):
        return value
    kept = iter([key for key in old if key in value])
    ordered = {}
    for key in value:
        key = next(kept) if key in old else key
        ordered[key] = _in_file_order(value[key], old[key]) if isinstance(value[key], dict) and key in old \
            else value[key]
    return ordered


def set_section(text: str, section: str, value: dict) -> str:
    """``text`` with its top-level ``section:`` replaced by ``value``; BundleError for what cannot be written."""
    if section not in SECTIONS:
        raise BundleError(f"不能由编辑器修改的设置 (not a section the editor writes: {section})", file="bundle.yaml")
    if not isinstance(value, dict):
        raise BundleError(f"{section} 须为映射 ({section} must be a mapping)", file="bundle.yaml")
    found = load(text, "bundle.yaml") if text.strip() else {}
    before = found.get(section) if isinstance(found, dict) else None
    value = _in_file_order(value, before)
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{section}\s*:", line)), None)
    comments: dict[str, tuple[str, int]] = {}
    header = ("", 0)
    if start is None:
        start = end = len(lines)
    else:
        header = _placed(lines[start], lines[start].split(":", 1)[1])
        end = start + 1
        parent = ""
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
            entry, sub = _ENTRY.match(lines[end]), _SUB.match(lines[end])
            if entry:
                parent = str(load(entry.group(1), "bundle.yaml"))
                comments[parent] = _placed(lines[end], entry.group(2))
            elif sub:
                comments[f"{parent}\n{load(sub.group(1), 'bundle.yaml')}"] = _placed(lines[end], sub.group(2))
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1  # keep the blank lines before the next section
    block = [_with(f"{section}:", header)] if value else [f"{section}: {{}}"]
    for key, item in value.items():
        if isinstance(item, dict) and (len(item) > 3 or any(isinstance(v, dict) for v in item.values())):
            block.append(_with(f"  {_key(str(key))}:", comments.get(str(key), ("", 0))))
            block += [_with(f"    {_key(str(k))}: {_flow(v)}", comments.get(f"{key}\n{k}", ("", 0)))
                      for k, v in item.items()]
            continue
        cited = section in CITES_VALUE and (not isinstance(before, dict) or before.get(key) != item)
        block.append(_with(f"  {_key(str(key))}: {_flow(item)}", ("", 0) if cited else comments.get(str(key), ("", 0))))
    new = "\n".join(lines[:start] + block + lines[end:]) + "\n"
    if load(new, "bundle.yaml").get(section) != (value or {}):
        raise BundleError(f"无法写入 {section} (could not write {section} as given)", file="bundle.yaml")
    return new


def set_value(text: str, key: str, value) -> str:
    """``text`` with its top-level ``key:`` set to ``value`` on one line (its comment kept), added after the keys
    that come before it when missing, removed when ``value`` is None; BundleError for what cannot be written."""
    if key not in VALUES:
        raise BundleError(f"不能由编辑器修改的设置 (not a setting the editor writes: {key})", file="bundle.yaml")
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if re.match(rf"^{key}\s*:", line)), None)
    if at is None:
        if value is None:
            return text
        before = _ORDER[:_ORDER.index(key)]
        found = [i for i, line in enumerate(lines) if any(re.match(rf"^{k}\s*:", line) for k in before)]
        at = end = (found[-1] + 1 if found else 0)
        while end < len(lines) and lines[end][:1] in (" ", "\t"):
            at = end = end + 1  # after the whole of the key before (a block value)
        placed = ("", 0)
    else:
        end = at + 1
        while end < len(lines) and lines[end][:1] in (" ", "\t") and lines[end].strip():
            end += 1
        placed = _placed(lines[at], lines[at].split(":", 1)[1])
    line = [] if value is None else [_with(f"{key}: {_flow(value)}", placed)]
    new = "\n".join(lines[:at] + line + lines[end:]) + "\n"
    if (load(new, "bundle.yaml") or {}).get(key) != value:
        raise BundleError(f"无法写入 {key} (could not write {key} as given)", file="bundle.yaml")
    return new
