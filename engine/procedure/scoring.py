"""Indicator schemes and scores: exact decimals, checked against the scheme, ranked by competition."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..errors import BundleError, ExpressionError, ValidationError
from ..running import years
from . import scoring_rules

#: The scale of a variant that states none (``scale:`` in bundle.yaml).
TOTAL_POINTS = Decimal(100)


def scale(manifest: dict) -> Decimal:
    """The variant's total points (``scale:``, any positive number; 100 where it states none)."""
    value = manifest.get("scale", TOTAL_POINTS)
    try:
        points = decimal(value, "scale")
    except ValidationError:
        points = Decimal(-1)
    if points <= 0:
        raise BundleError(f"scale 应为正数 (scale must be a positive number of points), not {value!r}",
                          file="bundle.yaml")
    return points


def decimal(value, what: str = "score") -> Decimal:
    """A score as an exact Decimal; floats go through their shortest repr, so 89.99 stays 89.99."""
    if isinstance(value, bool):
        raise ValidationError(f"{what} 不是数字: {value!r}")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError(f"{what} 不是数字: {value!r}") from exc
    if not result.is_finite():
        raise ValidationError(f"{what} 不是有限的数字: {value!r}")
    return result


def validate_scheme(scheme, name: str = "scheme.yaml", total: Decimal = TOTAL_POINTS) -> None:
    """Parts add up to the scale, each part's indicators to the part, every unit is declared; BundleError for
    the first problem (``scheme_problems`` lists them all)."""
    for problem in scheme_problems(scheme, name, total):
        raise problem


def scheme_problems(scheme, name: str = "scheme.yaml", total: Decimal = TOTAL_POINTS) -> list[BundleError]:
    """Every problem of a scheme, each naming the indicator, part or unit (a shape it cannot read stops there)."""
    if not isinstance(scheme, dict):
        return [BundleError("the scheme must be a mapping", file=name)]
    for key in ("parts", "units", "indicators"):
        if not isinstance(scheme.get(key), list) or not scheme[key]:
            return [BundleError(f"'{key}' must be a non-empty list", file=name)]
    found = []
    places = scheme.get("decimals", 2)
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 6:
        found.append(BundleError(f"decimals 应为 0 至 6 的整数 (decimals, the places a typed score may have, must be a "
                                 f"whole number from 0 to 6): {places!r}", file=name))
    try:
        parts = {str(p["code"]): Decimal(str(p["points"])) for p in scheme["parts"]}
        units = {str(u["code"]) for u in scheme["units"]}
        points = [(str(i["code"]), str(i["part"]), str(i["unit"]), Decimal(str(i["points"])))
                  for i in scheme["indicators"]]
    except (KeyError, TypeError, InvalidOperation) as exc:
        return found + [BundleError(f"every part needs code and points, every unit a code, every indicator "
                                    f"code, part, unit and points ({exc!r})", file=name)]
    if sum(parts.values()) != total:
        found.append(BundleError(f"the parts add up to {sum(parts.values())} points, not {total} (the scale)",
                                 file=name))
    codes = [code for code, *_ in points]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        found.append(BundleError(f"duplicate indicator codes: {', '.join(duplicates)}", file=name))
    for code, part, unit, value in points:
        if part not in parts:
            found.append(BundleError(f"indicator {code}: unknown part '{part}'", file=name))
        if unit not in units:
            found.append(BundleError(f"indicator {code}: unknown unit '{unit}'", file=name))
        if value <= 0:
            found.append(BundleError(f"indicator {code}: points must be positive", file=name))
    for indicator in scheme["indicators"]:
        try:
            scoring_rules.check(indicator, name)
        except BundleError as exc:
            found.append(exc)
    for part, points_of_part in parts.items():
        got = sum((v for _, p, _, v in points if p == part), Decimal(0))
        if got != points_of_part:
            found.append(BundleError(f"the indicators of part '{part}' add up to {got} points, not {points_of_part}",
                                     file=name))
    try:
        _validate_veto(scheme.get("veto"), set(codes), name)
    except BundleError as exc:
        found.append(exc)
    return found


def _validate_veto(veto, indicators: set[str], name: str) -> None:
    """``veto:`` is a list of items, each with its own code and a name."""
    if veto is None:
        return
    if not isinstance(veto, list) or not all(isinstance(v, dict) and v.get("code") and v.get("name") for v in veto):
        raise BundleError("veto 应为否决项列表，每项有 code 和 name (veto must list items with code and name)",
                          file=name)
    codes = [str(v["code"]) for v in veto]
    clashes = sorted({c for c in codes if codes.count(c) > 1} | (set(codes) & indicators))
    if clashes:
        raise BundleError(f"否决项代码重复或与指标代码相同 (veto codes must be unique and differ from indicator "
                          f"codes): {', '.join(clashes)}", file=name)


def veto_items(scheme: dict) -> list[dict]:
    """The scheme's veto items as ``{code, name}``, in scheme order."""
    return [{"code": str(v["code"]), "name": str(v["name"])} for v in scheme.get("veto") or []]


def check_veto_items(scheme: dict, rows) -> None:
    """Every veto item of the scheme recorded exactly once, and nothing else."""
    known = {v["code"]: v["name"] for v in veto_items(scheme)}
    errors, seen = [], set()
    for n, row in enumerate(rows if isinstance(rows, list) else []):
        code = str(row.get("veto")) if isinstance(row, dict) else None
        if code not in known:
            errors.append({"field": f"veto_items/{n}/veto", "message": f"否决项 {code} 不在指标体系中"})
        elif code in seen:
            errors.append({"field": f"veto_items/{n}/veto", "message": f"否决项 {code} 重复"})
        seen.add(code)
    for code, name in known.items():
        if code not in seen:
            errors.append({"field": "veto_items", "message": f"否决项 {code}（{name}）未认定"})
    if errors:
        raise ValidationError("否决项有误：" + "；".join(e["message"] for e in errors[:5]), errors)


def vetoes_hit(rows) -> list[str]:
    """The codes of the veto items recorded as hit, in the order recorded (for BPMN scripts)."""
    try:
        return [str(row["veto"]) for row in rows if row.get("hit") is True]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ExpressionError(f"vetoes_hit expects [{{'veto', 'hit', ...}}]: {exc!r}") from None


def scoring_units(scheme: dict) -> list[str]:
    """Codes of the member units that score at least one indicator, in scheme order."""
    used = {str(i["unit"]) for i in scheme["indicators"]}
    return [str(u["code"]) for u in scheme["units"] if str(u["code"]) in used]


def check_form_data(scheme: dict, unit: str | None, data: dict) -> None:
    """What the scheme says of submitted data: a unit's scores, self-evaluation scores, veto items."""
    if unit and "scores" in data:
        check_unit_scores(scheme, unit, data["scores"])
    if "self_scores" in data:
        check_self_scores(scheme, data["self_scores"])
    if "veto_items" in data:
        check_veto_items(scheme, data["veto_items"])


def decimals(scheme: dict) -> int:
    """How many decimal places a typed score may have (``decimals:`` in the scheme; 2 when left out)."""
    return int(scheme.get("decimals", 2))


#: The tables of typed scores checked against the scheme: {form field: what its scores are called}.
SCORED = {"self_scores": "自评分", "scores": "得分"}
#: The same words in English, for a page shown in English (the server's own check speaks Chinese, like every
#: engine message); {label} is the indicator's code and name, {what} what the score is called.
_WORDS = {"zh": {"below": "{label}：{what}不得小于 0", "above": "{label}：{what}不得超过 {maximum} 分",
                 "decimals": "{label}：{what}最多保留 {places} 位小数"},
          "en": {"below": "{label}: the {what} must not be below 0",
                 "above": "{label}: the {what} must not be above {maximum} points",
                 "decimals": "{label}: the {what} may have at most {places} decimal places"}}
_WHAT_EN = {"自评分": "self-evaluation score", "得分": "score"}


def score_words(indicator: dict, places: int, what: str, english_name: str | None = None) -> dict:
    """The bounds of a typed score of ``indicator`` and what is said when it is outside them, in words; the
    server's check and the page's (data attributes read by web/static/numbers.js) both take them from here.
    ``english_name``: say it in English, naming the indicator so."""
    maximum = Decimal(str(indicator["points"]))
    lang = "zh" if english_name is None else "en"
    label = f"{indicator['code']} {indicator['name'] if english_name is None else english_name}"
    what = what if english_name is None else _WHAT_EN[what]
    return {"min": "0", "max": f"{maximum}", "places": places,
            **{key: text.format(label=label, what=what, maximum=maximum, places=places)
               for key, text in _WORDS[lang].items()}}


def score_problem(indicator: dict, value: Decimal, places: int, what: str) -> str | None:
    """What is wrong with a typed score of ``indicator``, in words (「T1 制造业产品质量合格率：得分不得超过 15 分」)."""
    words = score_words(indicator, places, what)
    if value < 0:
        return words["below"]
    if value > Decimal(words["max"]):
        return words["above"]
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return words["decimals"]
    return None


def score_bounds(scheme: dict, table: str, code: str, english_names: dict | None = None) -> dict | None:
    """The bounds and words of a score typed in row ``code`` of form table ``table`` (None when not checked
    against the scheme: another table, an unknown indicator, or one whose points a rule computes); in English
    when ``english_names`` (indicator code -> English name) is given."""
    indicator = next((i for i in scheme.get("indicators", []) if str(i["code"]) == code), None)
    if table not in SCORED or indicator is None or (table == "scores" and indicator.get("rule")):
        return None
    english_name = None if english_names is None else english_names.get(code, indicator["name"])
    return score_words(indicator, decimals(scheme), SCORED[table], english_name)


def check_self_scores(scheme: dict, scores) -> None:
    """Self-evaluation scores name indicators of the scheme, each within 0 and its points."""
    indicators = {str(i["code"]): i for i in scheme["indicators"]}
    errors = []
    for n, row in enumerate(scores if isinstance(scores, list) else []):
        code = str(row.get("indicator")) if isinstance(row, dict) else None
        if code not in indicators:
            errors.append({"field": f"self_scores/{n}/indicator", "message": f"指标 {code} 不在指标体系中"})
            continue
        try:
            value = decimal(row.get("score"))
        except ValidationError as exc:
            errors.append({"field": f"self_scores/{n}/score", "message": exc.message})
            continue
        problem = score_problem(indicators[code], value, decimals(scheme), SCORED["self_scores"])
        if problem:
            errors.append({"field": f"self_scores/{n}/score", "message": problem})
    if errors:
        raise ValidationError("自评分有误：" + "；".join(e["message"] for e in errors[:5]), errors)


def check_unit_scores(scheme: dict, unit: str, scores: list[dict]) -> None:
    """A member unit scores each of its own indicators exactly once, within 0 and the maximum; for an indicator
    with a scoring rule it enters the measured value and the points are computed here (into ``score``)."""
    mine = {str(i["code"]): i for i in scheme["indicators"] if str(i["unit"]) == unit}
    errors = []
    seen = set()
    for n, row in enumerate(scores):
        code = str(row.get("indicator"))
        field = f"scores/{n}/score"
        if code not in mine:
            errors.append({"field": f"scores/{n}/indicator", "message": f"指标 {code} 不由本单位评分"})
            continue
        if code in seen:
            errors.append({"field": f"scores/{n}/indicator", "message": f"指标 {code} 重复评分"})
        seen.add(code)
        indicator = mine[code]
        if indicator.get("rule"):
            problem = _apply_rule(indicator, row)
            if problem:
                errors.append({"field": f"scores/{n}/measured", "message": problem})
            continue
        try:
            value = decimal(row.get("score"))
        except ValidationError as exc:
            errors.append({"field": field, "message": f"指标 {code}（{indicator['name']}）：{exc.message}"})
            continue
        problem = score_problem(indicator, value, decimals(scheme), SCORED["scores"])
        if problem:
            errors.append({"field": field, "message": problem})
    for code in mine:
        if code not in seen:
            errors.append({"field": "scores", "message": f"指标 {code}（{mine[code]['name']}）未评分"})
    if errors:
        raise ValidationError("评分有误：" + "；".join(e["message"] for e in errors[:5]), errors)


def _apply_rule(indicator: dict, row: dict) -> str | None:
    """Compute a rule indicator's points from the row's ``measured`` value into ``score``; the problem, if any."""
    code, name = indicator["code"], indicator["name"]
    try:
        measured = decimal(row.get("measured"), "实测值")
    except ValidationError:
        what = "次数" if indicator["rule"]["kind"] in scoring_rules.COUNTED else "实测值"
        return f"指标 {code}（{name}）按规则计分，请填写{what}"
    if indicator["rule"]["kind"] in scoring_rules.COUNTED and (measured < 0 or measured != measured.to_integral()):
        return f"指标 {code}（{name}）的次数应为不小于 0 的整数"
    points = scoring_rules.points(indicator, measured)
    row["score"] = float(points)  # a JSON number like any typed score; exact: points have few digits
    if Decimal(str(row["score"])) != points:
        row["score"] = f"{points.normalize():f}"
    return None


def year_label(kind, year: int) -> str:
    """The label of the assessment year starting in ``year``, as ``assessment_year`` states it."""
    return years.parse(kind).label(year)


def as_decimal(value, what: str) -> Decimal:
    """`value` as a finite Decimal (via str, so 0.1 stays 0.1), or ExpressionError."""
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ExpressionError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ExpressionError(f"{what} is not a number: {value!r}")
    return number


def total_score(unit_scores: list[dict]) -> str:
    """The exact sum of every unit's indicator scores, as a plain decimal string ("89.99")."""
    total = Decimal(0)
    try:
        for unit in unit_scores:
            for item in unit["scores"]:
                total += as_decimal(item["score"], f"score of {item.get('indicator')!r} ({unit.get('unit')!r})")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ExpressionError(f"total_score expects [{{'unit', 'scores': [{{'indicator', 'score'}}]}}]: "
                              f"{exc!r}") from None
    # normalize() drops trailing zeros without rounding ("100.0" -> "100"); "f" keeps "1E+2" out.
    return f"{total.normalize():f}"


def rank(results: list[dict]) -> list[dict]:
    """Copies of `results`, best score first, each with a competition `rank` (1, 1, 3); a region whose `veto`
    is true comes after every other. For procedures written before ``results:`` (engine/results.py)."""
    try:
        rows = [(bool(r.get("veto")), as_decimal(r["score"], f"score of region {r.get('region')!r}"), str(r["region"]),
                 dict(r)) for r in results]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ExpressionError(f"rank expects [{{'region', 'score', ...}}]: {exc!r}") from None
    rows.sort(key=lambda row: (row[0], -row[1], row[2]))
    ranked, previous, current = [], None, 0
    for position, (vetoed, score, _, row) in enumerate(rows, 1):
        if (vetoed, score) != previous:
            previous, current = (vetoed, score), position
        row["rank"] = current
        ranked.append(row)
    return ranked
