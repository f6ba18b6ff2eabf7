"""Forms rendered on the server from a JSON Schema and its UI schema, and posted fields read back into data.

Inputs are named by their path with dashes (``scores-0-score``); errors from the engine name fields
by the same path with slashes (``scores/0/score``), so each error lands at its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.procedure import forms

_MISSING = object()
#: A list whose options are not in the schema but in the campaign: ``"x-kaohe-choices": "regions"``.
CHOICES = "x-kaohe-choices"


@dataclass
class Field:
    """One input (or one read-only value) of a form."""

    key: str
    name: str  # input name: scores-0-score
    path: str  # error path: scores/0/score
    title: str
    kind: str  # text textarea number date radio select yesno checkbox table evidence choices
    required: bool = False
    help: str = ""
    value: Any = None
    options: list[tuple[Any, str]] = field(default_factory=list)
    readonly: bool = False
    rows_hint: int = 4
    errors: list[str] = field(default_factory=list)
    columns: list[Field] = field(default_factory=list)  # table: one Field per column, for the header
    rows: list[tuple[str, list[Field]]] = field(default_factory=list)  # table: (row label, its fields)
    checks: dict = field(default_factory=dict)  # a number's bounds and their words (forms.number_words)

    def label_of(self, value) -> str:
        """The option title of a value, 是/否 for booleans, else the value itself."""
        for option, title in self.options:
            if option == value:
                return title
        if isinstance(value, list):  # several choices (the campaign's regions): their names
            titles = dict(self.options)
            return "、".join(str(titles.get(v, v)) for v in value)
        if isinstance(value, bool):
            return "是" if value else "否"
        return "" if value is None else str(value)


def _kind(prop: dict, ui: dict, key: str) -> str:
    kind = prop.get("type")
    widget = ui.get("ui:widget")
    if kind == "array" and prop.get(CHOICES):
        return "choices"
    if kind == "array":
        items = prop.get("items", {})
        return "evidence" if key == "evidence" or "sha256" in items.get("properties", {}) else "table"
    if kind == "boolean":
        return "checkbox" if prop.get("const") is True else "yesno"
    if kind in ("number", "integer"):
        return "number"
    if _options(prop):
        return "radio" if widget == "radio" else "select"
    if prop.get("format") == "date" or widget == "date":
        return "date"
    return "textarea" if widget == "textarea" else "text"


def _options(prop: dict) -> list[tuple[Any, str]]:
    choices = prop.get("oneOf") or prop.get("anyOf") or []
    options = [(c["const"], c.get("title", str(c["const"]))) for c in choices if isinstance(c, dict) and "const" in c]
    return options or [(v, str(v)) for v in prop.get("enum", [])]


def _ordered(schema: dict, ui: dict) -> list[str]:
    props = list(schema.get("properties", {}))
    order = [k for k in ui.get("ui:order", []) if k in props]
    return order + [k for k in props if k not in order]


def build(schema: dict, ui: dict, values: dict, errors: dict[str, list[str]] | None = None,
          rows: dict[str, list[dict]] | None = None, labels: dict[str, str] | None = None,
          readonly: bool = False, prefix: str = "", choices: dict[str, list[tuple[str, str]]] | None = None,
          english: bool = False) -> list[Field]:
    """The fields of ``schema`` holding ``values``; ``rows`` prefills tables (one row per indicator or veto
    item) and ``labels`` names each row by its indicator or veto item code; ``choices`` are the options of
    a ``x-kaohe-choices`` list (``regions``: the campaign's regions, (code, name)); ``english``: numbers' checks
    speak English."""
    errors, rows, labels = errors or {}, rows or {}, labels or {}
    required = set(schema.get("required", []))
    fields = []
    for key in _ordered(schema, ui):
        prop, sub_ui = schema["properties"][key], ui.get(key, {})
        name = f"{prefix}-{key}" if prefix else key
        path = name.replace("-", "/")
        kind = _kind(prop, sub_ui, key)
        item = Field(key, name, path, prop.get("title", key), kind, key in required,
                     help=sub_ui.get("ui:help") or prop.get("description", ""),
                     value=values.get(key) if isinstance(values, dict) else None, options=_options(prop),
                     readonly=readonly or bool(sub_ui.get("ui:readonly")),
                     rows_hint=sub_ui.get("ui:options", {}).get("rows", 4), errors=errors.get(path, []))
        if kind == "number":
            item.checks = {**forms.number_words(prop, english), "label": item.title}
        if kind == "choices":
            item.options = list((choices or {}).get(prop[CHOICES], []))
        if kind in ("table", "evidence"):
            items, items_ui = prop.get("items", {}), sub_ui.get("items", {})
            present = item.value if isinstance(item.value, list) else None
            if present is None and kind == "table":
                present = rows.get(key, [{}])
            item.columns = build(items, items_ui, {}, readonly=readonly, english=english)
            item.rows = [(labels.get(str(row.get("indicator", row.get("veto"))), "") if isinstance(row, dict) else "",
                          build(items, items_ui, row if isinstance(row, dict) else {}, errors, readonly=readonly,
                                prefix=f"{name}-{n}", english=english))
                         for n, row in enumerate(present or [])]
            code = next((c for c in ("indicator", "veto") if c in items.get("properties", {})), None)
            if kind == "table" and code:
                for _, cells in item.rows:
                    for cell in cells:
                        cell.readonly = cell.readonly or (cell.key == code and bool(labels))
        fields.append(item)
    return fields


def bound_scores(fields: list[Field], bounds) -> None:
    """Give each score typed in a table of indicators the bounds the scheme sets for its row:
    ``bounds(table, code)`` is scoring.score_bounds with the scheme (None where the scheme sets none)."""
    for item in fields:
        for _, cells in item.rows:
            code = next((c.value for c in cells if c.key == "indicator"), None)
            found = bounds(item.key, str(code)) if code is not None else None
            for cell in cells:
                if found and cell.key == "score" and cell.kind == "number":
                    cell.checks = {**cell.checks, **found, "label": ""}  # the words name the indicator


def unplaced(fields: list[Field], errors: dict[str, list[str]]) -> list[str]:
    """Error messages with no field of their own (form-level ones), to show above the form."""
    placed = set()

    def walk(items):
        for item in items:
            placed.add(item.path)
            for _, cells in item.rows:
                walk(cells)

    walk(fields)
    return [f"{path or '表单'}：{m}" if path else m for path, messages in errors.items() if path not in placed
            for m in messages]


def errors_by_path(errors: list[dict]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(error.get("field") or "", []).append(error.get("message", ""))
    return grouped


# -- reading posted fields ------------------------------------------------------------------------
def parse(schema: dict, form, prefix: str = "") -> dict:
    """Typed data from posted fields (a MultiDict); what cannot be typed stays text, for the schema to refuse."""
    data = {}
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        name = f"{prefix}-{key}" if prefix else key
        kind = prop.get("type")
        if kind == "array" and prop.get(CHOICES):
            value = form.getlist(name) or _MISSING
        elif kind == "array":
            value = _array(prop.get("items", {}), form, name, key == "evidence")
        elif kind == "boolean":
            value = _boolean(form.get(name))
        elif kind in ("number", "integer"):
            value = _number(form.get(name), kind == "integer")
        else:
            value = form.get(name)
            if value is None or (value == "" and key not in required):
                value = _MISSING
            else:
                value = value.replace("\r\n", "\n")
        if value is not _MISSING:
            data[key] = value
    return data


def _array(items: dict, form, name: str, evidence: bool):
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
    indices = sorted({int(m.group(1)) for key in form.keys() if (m := pattern.match(key))})
    if not indices and not evidence:
        return _MISSING
    rows = []
    for n in indices:
        if form.get(f"{name}-{n}-remove"):
            continue
        row = parse(items, form, f"{name}-{n}")
        if any(v not in ("", None) for v in row.values()):
            rows.append(row)
    return rows


def _boolean(text):
    if text is None or text == "":
        return _MISSING
    return {"true": True, "on": True, "1": True, "false": False, "0": False}.get(text, text)


def _number(text, integer: bool):
    if text is None or text.strip() == "":
        return _MISSING
    text = text.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    if integer or (number == number.to_integral_value() and not re.search(r"[.eE]", text)):
        return int(number) if number == number.to_integral_value() else text
    return float(text)
