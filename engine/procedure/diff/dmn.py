"""DMN decision tables compared row by row: each rule's cells, column by column, with the column's label.

A row keeps its identity by id; rows whose ids changed (资阳 renames ``Rule_band_A`` to ``Rule_band_a``) are
paired in order, so a band moved from ``80 <= ? < 90`` to ``85 <= ? < 95`` reads as that row changed, not as
one row removed and another added.
"""

from __future__ import annotations

from lxml import etree

from .model import Change, Item, Side, compare_items

_KIND = "决策表 (decision table)"
_ROW = "规则行 (rule)"
LABELS = {"name": "名称 (name)", "id": "标识 (id)", "row": "行号 (row)", "hitPolicy": "命中策略 (hit policy)",
          "description": "说明 (description)", "label": "列名 (label)", "expression": "输入表达式 (input expression)",
          "output": "输出变量 (output name)"}


def compare(old: Side, new: Side) -> list[Change]:
    before, after = _tables(old), _tables(new)
    changes: list[Change] = []
    for decision in _keys(before, after):
        was, now = before.get(decision), after.get(decision)
        changes += compare_items("dmn", {decision: was.item} if was else {}, {decision: now.item} if now else {},
                                 LABELS)
        labels = LABELS | (was.labels if was else {}) | (now.labels if now else {})
        changes += compare_items("dmn", was.columns if was else {}, now.columns if now else {}, labels)
        changes += compare_items("dmn", *_paired(was.rows if was else {}, now.rows if now else {}), labels)
    return changes


class _Table:
    """One decision: its own item, its columns, and its rows by id (in order)."""

    def __init__(self, file: str, decision):
        ns = {"dmn": decision.nsmap.get(None) or etree.QName(decision).namespace}
        self.id = decision.get("id")
        name = decision.get("name") or self.id
        table = decision.find("dmn:decisionTable", ns)
        values = {"name": decision.get("name"),
                  "hitPolicy": table.get("hitPolicy", "UNIQUE") if table is not None else None,
                  "description": _text(decision.find("dmn:description", ns))}
        self.item = Item(name, _KIND, values, file, type="decision")
        self.columns: dict[str, Item] = {}
        self.labels: dict[str, str] = {}
        self.rows: dict[str, Item] = {}
        if table is None:
            return
        inputs = table.findall("dmn:input", ns)
        outputs = table.findall("dmn:output", ns)
        for number, column in enumerate(inputs, 1):
            label = column.get("label") or column.get("id")
            expression = _text(column.find("dmn:inputExpression/dmn:text", ns))
            self.labels[f"in{number}"] = f"{label}（{expression}）" if expression else label
            self.columns[f"{self.id}/{column.get('id')}"] = Item(
                label, "输入列 (input column)", {"label": column.get("label"), "expression": expression}, file,
                context=name, type="input")
        for number, column in enumerate(outputs, 1):
            label = column.get("label") or column.get("name") or column.get("id")
            self.labels[f"out{number}"] = f"{label}（{column.get('name')}）" if column.get("name") else label
            self.columns[f"{self.id}/{column.get('id')}"] = Item(
                label, "输出列 (output column)", {"label": column.get("label"), "output": column.get("name")}, file,
                context=name, type="output")
        for number, rule in enumerate(table.findall("dmn:rule", ns), 1):
            cells = {f"in{i}": _text(e.find("dmn:text", ns))
                     for i, e in enumerate(rule.findall("dmn:inputEntry", ns), 1)}
            outs = {f"out{i}": _text(e.find("dmn:text", ns))
                    for i, e in enumerate(rule.findall("dmn:outputEntry", ns), 1)}
            values = {"id": rule.get("id"), "row": str(number), **cells, **outs,
                      "description": _text(rule.find("dmn:description", ns))}
            shown = "、".join(v for v in outs.values() if v)
            self.rows[rule.get("id") or f"row{number}"] = Item(
                f"第 {number} 行" + (f" → {shown}" if shown else ""), _ROW, values, file, context=name, type="rule")


def _tables(side: Side) -> dict[str, _Table]:
    found = {}
    for file, tree in side.dmn.items():
        for decision in tree.iter():
            if isinstance(decision.tag, str) and etree.QName(decision).localname == "decision" and decision.get("id"):
                found.setdefault(decision.get("id"), _Table(file, decision))
    return found


def _paired(before: dict[str, Item], after: dict[str, Item]) -> tuple[dict[str, Item], dict[str, Item]]:
    """Rows by id; the rows left on each side paired in order, under the new row's id."""
    old_only = [k for k in before if k not in after]
    new_only = [k for k in after if k not in before]
    renamed = dict(zip(old_only, new_only, strict=False))
    return {renamed.get(k, k): v for k, v in before.items()}, after


def _keys(before: dict, after: dict) -> list[str]:
    return list(before) + [k for k in after if k not in before]


def _text(node) -> str | None:
    value = (node.text or "").strip() if node is not None else ""
    return value or None
