"""Forms compared field by field: label, type, bounds, choices, required; and each form's layout file.

A field is named by its path in the form's data (``veto_items[].evidence``: the ``evidence`` of each row of
the ``veto_items`` table) and shown by its label (``title``). Conditional rules (``if``/``then``, ``allOf``)
are compared as written.
"""

from __future__ import annotations

import json

from .model import Change, Item, Side, compare_items, text

FIELD = "表单字段 (form field)"
FORM = "表单 (form)"
LAYOUT = "表单界面 (form layout)"
LABELS = {
    "title": "标签 (label)", "type": "类型 (type)", "required": "必填 (required)", "description": "说明 (description)",
    "choices": "选项 (choices)", "minimum": "最小值 (minimum)", "maximum": "最大值 (maximum)",
    "exclusiveMinimum": "须大于 (exclusive minimum)", "exclusiveMaximum": "须小于 (exclusive maximum)",
    "multipleOf": "倍数 (multiple of)", "minLength": "最少字数 (min length)", "maxLength": "最多字数 (max length)",
    "pattern": "格式 (pattern)", "format": "格式 (format)", "minItems": "最少行数 (min rows)",
    "maxItems": "最多行数 (max rows)", "uniqueItems": "各行不重复 (unique rows)", "default": "默认值 (default)",
    "const": "固定值 (constant)", "$ref": "引用 (reference)", "additionalProperties": "允许其他字段 (other fields)",
    "rules": "条件规则 (conditional rules)",
}
_PLAIN = [k for k in LABELS if k not in ("title", "required", "choices", "rules")]
_RULES = ("if", "then", "else", "allOf", "anyOf", "not", "dependentRequired", "dependentSchemas")


def compare(old: Side, new: Side) -> list[Change]:
    changes: list[Change] = []
    for name in _names(old, new):
        changes += compare_items("forms", _fields(old, name), _fields(new, name), LABELS)
    return changes


def _names(old: Side, new: Side) -> list[str]:
    names = [n for n in old.files if _is_form(n)]
    return names + [n for n in new.files if _is_form(n) and n not in old.files]


def _is_form(name: str) -> bool:
    return name.startswith("forms/") and name.endswith(".json")


def _fields(side: Side, name: str) -> dict[str, Item]:
    if name not in side.files:
        return {}
    document = side.read(name)
    if not isinstance(document, dict):
        return {}
    if not name.endswith(".schema.json"):
        return {name: Item(f"{_title(side, name)}：界面 (layout)", LAYOUT, _flat(document), name, type="layout")}
    title = document.get("title") or name.removeprefix("forms/")
    items = {name: Item(title, FORM, {"title": document.get("title"), "description": document.get("description"),
                                      "rules": _rules(document),
                                      "additionalProperties": text(document.get("additionalProperties"))},
                        name, type="form")}
    _walk(document, "", None, name, title, items)
    for key, node in (document.get("$defs") or {}).items():
        _walk(node, f"$defs/{key}", None, name, title, items)
    return items


def _title(side: Side, layout: str) -> str:
    """A layout file's form as people call it: the title of the schema beside it."""
    schema = layout.removesuffix(".uischema.json") + ".schema.json"
    try:
        title = json.loads(side.files[schema]).get("title")
    except (KeyError, ValueError, AttributeError):
        title = None
    return title or layout.removeprefix("forms/")


def _walk(node, path: str, required: bool | None, file: str, form: str, items: dict[str, Item]) -> None:
    if not isinstance(node, dict):
        return
    if path:
        values = {"title": node.get("title"), "required": text(required) if required is not None else None,
                  "choices": _choices(node), "rules": _rules(node)}
        values |= {k: text(node[k]) for k in _PLAIN if k in node and not isinstance(node[k], dict)}
        values = {k: v for k, v in values.items() if v is not None}
        items[f"{file}#{path}"] = Item(node.get("title") or path.rsplit(".", 1)[-1], FIELD, values, file,
                                       context=form, type="field")
    needed = node.get("required") if isinstance(node.get("required"), list) else []
    for key, child in (node.get("properties") or {}).items():
        _walk(child, f"{path}.{key}" if path else key, key in needed, file, form, items)
    if isinstance(node.get("items"), dict):
        _walk(node["items"], f"{path}[]", None, file, form, items)


def _choices(node: dict) -> str | None:
    if isinstance(node.get("enum"), list):
        return text(node["enum"])
    for key in ("oneOf", "anyOf"):
        options = node.get(key)
        if isinstance(options, list) and options and all(isinstance(o, dict) and "const" in o for o in options):
            return "、".join(f"{text(o['const'])} {o.get('title', '')}".strip() for o in options)
    return None


def _rules(node: dict) -> str | None:
    rules = {k: node[k] for k in _RULES if k in node}
    if "anyOf" in rules and _choices({"anyOf": rules["anyOf"]}):
        del rules["anyOf"]
    return text(rules) if rules else None


def _flat(node, path: str = "") -> dict[str, str | None]:
    """A layout file as ``{path: value}``: ``comment/ui:widget`` → ``textarea``."""
    if isinstance(node, dict):
        flat: dict[str, str | None] = {}
        for key, value in node.items():
            flat |= _flat(value, f"{path}/{key}" if path else key)
        return flat
    return {path: text(node)}
