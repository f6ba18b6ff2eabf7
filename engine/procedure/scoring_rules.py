"""How an indicator's points are computed from what its scorer enters: the common shapes of local 评分细则.

An indicator of the scheme without ``rule`` is scored directly (points typed in, 0 to its maximum). With a
``rule``, its scorer (the scheme's ``unit``: a member unit, a statistics bureau, a third-party evaluator)
enters a measured value and the engine computes the points, exactly (Decimal), never below 0 nor above the
indicator's points:

- ``{kind: shortfall, target: 95, per: 1, deduct: 0.25}``: full points at or above the target, less
  ``deduct`` for every ``per`` below it (in proportion), 扣完为止;
- ``{kind: interpolate, low: [60, 0], high: [95, 15]}``: straight line between two (value, points) pairs,
  flat beyond them — a satisfaction score of 0–100 (社会评价) is ``low: [0, 0], high: [100, <points>]``;
- ``{kind: per_occurrence, deduct: 1, cap: 5}``: less ``deduct`` for each occurrence counted (a whole number),
  at most ``cap`` in all (default: the indicator's points);
- ``{kind: bonus, add: 0.5}``: ``add`` for each occurrence, up to the indicator's points (加分项).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..errors import BundleError

KINDS = {"shortfall": {"target", "per", "deduct"}, "interpolate": {"low", "high"},
         "per_occurrence": {"deduct", "cap"}, "bonus": {"add"}}
REQUIRED = {"shortfall": {"target", "deduct"}, "interpolate": {"low", "high"}, "per_occurrence": {"deduct"},
            "bonus": {"add"}}
#: Kinds whose measured value is a count of occurrences (a whole number ≥ 0).
COUNTED = {"per_occurrence", "bonus"}


def _number(value, what: str, name: str) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise BundleError(f"指标 {what} 的计分规则 {name} 应为数字 (the rule's {name} must be a number): {value!r}",
                          file="scheme.yaml")
    return number


def check(indicator: dict, file: str = "scheme.yaml") -> None:
    """Refuse a rule an administrator got wrong, naming the indicator and the key."""
    rule = indicator.get("rule")
    code = str(indicator.get("code"))
    if rule is None:
        return
    if not isinstance(rule, dict) or rule.get("kind") not in KINDS:
        raise BundleError(f"指标 {code} 的计分规则应为 {'、'.join(KINDS)} 之一 (the rule's kind must be one of "
                          f"{', '.join(KINDS)})", file=file)
    kind = rule["kind"]
    keys = set(rule) - {"kind"}
    if keys - KINDS[kind] or REQUIRED[kind] - keys:
        raise BundleError(f"指标 {code} 的 {kind} 规则应有 {'、'.join(sorted(REQUIRED[kind]))}，可有 "
                          f"{'、'.join(sorted(KINDS[kind] - REQUIRED[kind])) or '无'} (a {kind} rule takes "
                          f"{', '.join(sorted(KINDS[kind]))}; it has {', '.join(sorted(keys)) or 'none'})", file=file)
    for name in keys:
        values = rule[name] if name in ("low", "high") else [rule[name]]
        if name in ("low", "high") and not (isinstance(values, list) and len(values) == 2):
            raise BundleError(f"指标 {code} 的 {name} 应为 [数值, 分数] (must be [value, points])", file=file)
        numbers = [_number(v, code, name) for v in values]
        if name in ("per", "deduct", "add", "cap") and numbers[0] <= 0:
            raise BundleError(f"指标 {code} 的计分规则 {name} 应大于 0 (must be positive)", file=file)
    if kind == "interpolate":
        low, high = ([_number(v, code, n) for v in rule[n]] for n in ("low", "high"))
        if low[0] >= high[0]:
            raise BundleError(f"指标 {code}：low 的数值应小于 high 的数值 (low's value must be below high's)",
                              file=file)
        points = _number(indicator.get("points"), code, "points")
        for at in (low[1], high[1]):
            if not Decimal(0) <= at <= points:
                raise BundleError(f"指标 {code}：插值的分数 {at} 应在 0 与 {points} 之间 (the points of an "
                                  f"interpolation must be within 0 and {points})", file=file)


def points(indicator: dict, measured) -> Decimal:
    """The points ``indicator`` gives for ``measured`` (already a finite Decimal), exactly."""
    rule = indicator["rule"]
    maximum = Decimal(str(indicator["points"]))
    kind = rule["kind"]
    if kind == "shortfall":
        short = max(Decimal(0), Decimal(str(rule["target"])) - measured)
        got = maximum - short / Decimal(str(rule.get("per", 1))) * Decimal(str(rule["deduct"]))
    elif kind == "interpolate":
        (x0, p0), (x1, p1) = ([Decimal(str(v)) for v in rule[n]] for n in ("low", "high"))
        clamped = min(max(measured, x0), x1)
        got = p0 + (p1 - p0) * (clamped - x0) / (x1 - x0)
    elif kind == "per_occurrence":
        cap = Decimal(str(rule.get("cap", maximum)))
        got = maximum - min(measured * Decimal(str(rule["deduct"])), cap)
    else:  # bonus
        got = measured * Decimal(str(rule["add"]))
    return min(max(got, Decimal(0)), maximum)


def describe(indicator: dict) -> str:
    """The rule in words, for the scorer's form: 「目标 95，每低 1 扣 0.25 分，扣完为止；填写实测值」."""
    rule = indicator.get("rule")
    if not rule:
        return ""
    kind = rule["kind"]
    if kind == "shortfall":
        text = f"目标 {rule['target']}，每低 {rule.get('per', 1)} 扣 {rule['deduct']} 分，扣完为止"
    elif kind == "interpolate":
        (x0, p0), (x1, p1) = rule["low"], rule["high"]
        text = f"{x0} 及以下得 {p0} 分，{x1} 及以上得 {p1} 分，其间按比例"
    elif kind == "per_occurrence":
        text = f"每发生一次扣 {rule['deduct']} 分，最多扣 {rule.get('cap', indicator['points'])} 分"
    else:
        text = f"每项加 {rule['add']} 分，最多 {indicator['points']} 分"
    return f"{text}；填写{'次数' if kind in COUNTED else '实测值'}"
