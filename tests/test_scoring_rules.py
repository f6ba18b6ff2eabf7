"""Scoring rules: an indicator's points computed from a measured value, exactly, at the edges of each rule."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from drive import Driver, unit_scores

from engine.errors import BundleError, ValidationError
from engine.procedure import scoring, scoring_rules

RULES = Path(__file__).parent / "bundles" / "scoring-rules"
SHORTFALL = {"code": "T1", "name": "合格率", "points": 15, "rule": {"kind": "shortfall", "target": 95, "per": 1,
                                                                 "deduct": 0.25}}
INTERPOLATE = {"code": "T2", "name": "满意度", "points": 13, "rule": {"kind": "interpolate", "low": [60, 0],
                                                                   "high": [90, 13]}}
PER_OCCURRENCE = {"code": "M8", "name": "事故", "points": 4,
                  "rule": {"kind": "per_occurrence", "deduct": 1.5, "cap": 3}}
BONUS = {"code": "M9", "name": "加分", "points": 3, "rule": {"kind": "bonus", "add": 0.5}}


@pytest.mark.parametrize(("indicator", "measured", "points"), [
    (SHORTFALL, "95", "15"), (SHORTFALL, "99.9", "15"), (SHORTFALL, "94.99", "14.9975"),
    (SHORTFALL, "93.7", "14.675"), (SHORTFALL, "35", "0"), (SHORTFALL, "34.99", "0"), (SHORTFALL, "0", "0"),
    (INTERPOLATE, "60", "0"), (INTERPOLATE, "59.9", "0"), (INTERPOLATE, "75", "6.5"), (INTERPOLATE, "90", "13"),
    (INTERPOLATE, "100", "13"), (INTERPOLATE, "61", "0.4333333333333333333333333333"),
    (PER_OCCURRENCE, "0", "4"), (PER_OCCURRENCE, "1", "2.5"), (PER_OCCURRENCE, "2", "1"), (PER_OCCURRENCE, "9", "1"),
    (BONUS, "0", "0"), (BONUS, "5", "2.5"), (BONUS, "6", "3"), (BONUS, "20", "3"),
])
def test_points_from_a_measured_value(indicator, measured, points):
    assert scoring_rules.points(indicator, Decimal(measured)) == Decimal(points)


@pytest.mark.parametrize(("rule", "message"), [
    ({"kind": "ratio"}, "kind must be one of"),
    ({"kind": "shortfall", "target": 95}, "a shortfall rule takes deduct, per, target"),
    ({"kind": "shortfall", "target": 95, "deduct": 0.25, "floor": 0}, "it has deduct, floor, target"),
    ({"kind": "shortfall", "target": 95, "deduct": -1}, "must be positive"),
    ({"kind": "shortfall", "target": "high", "deduct": 1}, "target must be a number"),
    ({"kind": "interpolate", "low": [90, 0], "high": [60, 13]}, "low's value must be below high's"),
    ({"kind": "interpolate", "low": [60, 0], "high": [90, 20]}, "within 0 and 13"),
    ({"kind": "interpolate", "low": 60, "high": [90, 13]}, "must be [value, points]"),
])
def test_a_rule_an_administrator_got_wrong_is_refused_naming_the_indicator(rule, message):
    with pytest.raises(BundleError) as caught:
        scoring_rules.check({"code": "T9", "name": "x", "points": 13, "rule": rule})
    assert message in str(caught.value) and "T9" in str(caught.value)


def test_the_unit_enters_the_measured_value_and_the_engine_computes_the_points():
    scheme = {"indicators": [dict(SHORTFALL, unit="stats"), dict(INTERPOLATE, unit="stats")]}
    rows = [{"indicator": "T1", "measured": 93.7, "basis": "统计公报"},
            {"indicator": "T2", "measured": 75, "basis": "调查"}]
    scoring.check_unit_scores(scheme, "stats", rows)
    assert [r["score"] for r in rows] == [14.675, 6.5]
    with pytest.raises(ValidationError) as caught:
        scoring.check_unit_scores(scheme, "stats", [{"indicator": "T1", "score": 15, "basis": "x"},
                                                    {"indicator": "T2", "measured": "n/a", "basis": "x"}])
    assert [e["field"] for e in caught.value.errors] == ["scores/0/measured", "scores/1/measured"]
    assert "T1（合格率）按规则计分，请填写实测值" in caught.value.message


def test_a_count_is_a_whole_number():
    scheme = {"indicators": [dict(PER_OCCURRENCE, unit="u")]}
    with pytest.raises(ValidationError, match="次数应为不小于 0 的整数"):
        scoring.check_unit_scores(scheme, "u", [{"indicator": "M8", "measured": 1.5, "basis": "x"}])


def test_a_campaign_scores_rule_indicators_from_what_their_bodies_measured(engine):
    engine.deploy(RULES)
    drive = Driver(engine, "scoring-rules", ["110000"])
    drive.file_targets("110000")
    drive.do("Task_self_evaluation", region="110000")
    drive.do("Task_onsite_check", region="110000")
    measured = {"T1": 93.7, "T2": 75, "M8": 1, "M9": 2}
    for unit, scores in unit_scores(drive.scheme, "100").items():
        for row in scores:
            if row["indicator"] in measured:
                del row["score"]
                row["measured"] = measured[row["indicator"]]
        drive.do("Task_indicator_scoring", {"scores": scores}, region="110000", unit=unit)
    # full marks but for the rules: 15 - 0.325, 6.5 of 13, 4 - 1.5, 1 of 3 points
    expected = Decimal(100) - Decimal("0.325") - Decimal("6.5") - Decimal("1.5") - Decimal(2)
    assert Decimal(drive.region_data("110000")["score"]) == expected
