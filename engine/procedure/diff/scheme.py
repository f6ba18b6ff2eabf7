"""The indicator scheme compared by code: parts, groups, indicators (points, who scores, rule), units, veto items."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .. import scoring_rules
from .model import Change, Item, Side, compare_items, text

LABELS = {"name": "名称 (name)", "title": "标题 (title)", "decimals": "得分小数位数 (decimals)",
          "part": "所属部分 (part)", "group": "指标组 (group)", "points": "分值 (points)",
          "unit": "评分单位 (scored by)", "rule": "计分规则 (scoring rule)", "indicators": "指标数 (indicators)",
          "domain": "领域 (domain)"}


_ORDER = ("scheme", "part", "group", "indicator", "unit", "veto")


def compare(old: Side, new: Side) -> list[Change]:
    """Parts first, then groups, indicators, units and veto items, each in the scheme's order."""
    changes = compare_items("scheme", _items(old), _items(new), LABELS)
    return sorted(changes, key=lambda c: _ORDER.index(c.element.split(":", 1)[0]))


def _items(side: Side) -> dict[str, Item]:
    scheme = side.scheme
    if not scheme:
        return {}
    file = side.manifest.get("scheme") or "scheme.yaml"
    parts = {p.get("code"): p.get("name") for p in _rows(scheme, "parts")}
    units = {u.get("code"): u.get("name") for u in _rows(scheme, "units")}
    items = {"scheme": Item(scheme.get("title") or "指标体系", "指标体系 (scheme)",
                            {"title": text(scheme.get("title")), "decimals": text(scheme.get("decimals"))}, file)}
    for part in _rows(scheme, "parts"):
        items[f"part:{part.get('code')}"] = Item(str(part.get("name") or part.get("code")), "部分 (part)",
                                                 {"name": text(part.get("name")), "points": text(part.get("points"))},
                                                 file)
    groups: dict[str, list[dict]] = {}
    for indicator in _rows(scheme, "indicators"):
        groups.setdefault(f"group:{indicator.get('part')}/{indicator.get('group')}", []).append(indicator)
    for key, members in groups.items():
        first = members[0]
        if first.get("group") is None:
            continue
        items[key] = Item(str(first["group"]), "指标组 (group)",
                          {"part": _named(parts, first.get("part")), "points": _sum(m.get("points") for m in members),
                           "indicators": str(len(members))}, file, context=parts.get(first.get("part")))
    for indicator in _rows(scheme, "indicators"):
        values = {"name": text(indicator.get("name")), "part": _named(parts, indicator.get("part")),
                  "group": text(indicator.get("group")), "points": text(indicator.get("points")),
                  "unit": _named(units, indicator.get("unit")), "rule": _rule(indicator)}
        items[f"indicator:{indicator.get('code')}"] = Item(
            f"{indicator.get('code')} {indicator.get('name') or ''}".strip(), "指标 (indicator)", values, file,
            context=text(indicator.get("group")))
    for unit in _rows(scheme, "units"):
        items[f"unit:{unit.get('code')}"] = Item(str(unit.get("name") or unit.get("code")), "评分单位 (member unit)",
                                                 {"name": text(unit.get("name"))}, file)
    for veto in _rows(scheme, "veto"):
        values = {k: text(v) for k, v in veto.items() if k != "code"}
        items[f"veto:{veto.get('code')}"] = Item(f"{veto.get('code')} {veto.get('name') or ''}".strip(),
                                                 "否决项 (veto item)", values, file)
    return items


def _rows(scheme: dict, key: str) -> list[dict]:
    rows = scheme.get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _named(names: dict, code) -> str | None:
    if code is None:
        return None
    return f"{names[code]}（{code}）" if names.get(code) else str(code)


def _rule(indicator: dict) -> str | None:
    if not indicator.get("rule"):
        return None
    try:
        return scoring_rules.describe(indicator)
    except (KeyError, TypeError, ValueError, IndexError):  # a draft's rule may be incomplete: show it as written
        return text(indicator["rule"])


def _sum(points) -> str | None:
    try:
        total = sum((Decimal(str(p)) for p in points), Decimal(0))
    except InvalidOperation:
        return None
    return f"{total.normalize():f}"
