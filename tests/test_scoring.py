"""Scores: exact decimals, the scheme's checks, competition ranking, year labels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import BundleError, ExpressionError, ValidationError
from engine.procedure import scoring
from engine.running import years

SCHEME = {
    "parts": [{"code": "targets", "points": 40}, {"code": "measures", "points": 60}],
    "units": [{"code": "u1", "name": "单位一"}, {"code": "u2", "name": "单位二"}],
    "indicators": [
        {"code": "T1", "part": "targets", "unit": "u1", "name": "合格率", "points": 40},
        {"code": "M1", "part": "measures", "unit": "u1", "name": "规划", "points": 25.5},
        {"code": "M2", "part": "measures", "unit": "u2", "name": "监管", "points": 34.5},
    ],
}


@pytest.mark.parametrize(("unit_scores", "expected"), [
    ([], "0"),
    ([{"unit": "u", "scores": [{"indicator": "T1", "score": "89.5"}, {"indicator": "T2", "score": "0.49"}]}],
     "89.99"),
    ([{"unit": "u", "scores": [{"indicator": "T1", "score": 0.1}]},
      {"unit": "v", "scores": [{"indicator": "T2", "score": 0.2}, {"indicator": "T3", "score": 5}]}], "5.3"),
    ([{"unit": "u", "scores": [{"indicator": "T1", "score": "40.00"}]},
      {"unit": "v", "scores": [{"indicator": "T2", "score": "49.50"}]}], "89.5"),
    ([{"unit": "u", "scores": [{"indicator": "T1", "score": "1e2"}]}], "100"),
])
def test_total_score_is_exact(unit_scores, expected):
    assert scoring.total_score(unit_scores) == expected


@pytest.mark.parametrize("unit_scores", [
    [{"unit": "u", "scores": [{"indicator": "T1", "score": "abc"}]}],
    [{"unit": "u", "scores": [{"indicator": "T1", "score": None}]}],
    [{"unit": "u", "scores": [{"indicator": "T1", "score": True}]}],
    [{"unit": "u", "scores": [{"indicator": "T1", "score": "NaN"}]}],
    [{"unit": "u"}],
    None,
])
def test_total_score_refuses_what_is_not_a_number(unit_scores):
    with pytest.raises(ExpressionError):
        scoring.total_score(unit_scores)


@pytest.mark.parametrize(("results", "expected"), [
    ([], []),
    ([{"region": "510000", "score": "90"}, {"region": "110000", "score": "90.00"},
      {"region": "320000", "score": "88.5"}],
     [("110000", 1), ("510000", 1), ("320000", 3)]),
    ([{"region": "a", "score": 70}, {"region": "b", "score": "95.5"}, {"region": "c", "score": "70"},
      {"region": "d", "score": "69.99"}],
     [("b", 1), ("a", 2), ("c", 2), ("d", 4)]),
    # a vetoed region is ranked after every other whatever its score (kaohe simulate showed it first)
    ([{"region": "a", "score": "99", "veto": True}, {"region": "b", "score": "60"}, {"region": "c", "score": "90"}],
     [("c", 1), ("b", 2), ("a", 3)]),
])
def test_rank_is_competition_ranking(results, expected):
    ranked = scoring.rank(results)
    assert [(r["region"], r["rank"]) for r in ranked] == expected
    assert all("rank" not in r for r in results)  # the input is not changed


def test_rank_refuses_a_bad_score():
    with pytest.raises(ExpressionError, match="'x'"):
        scoring.rank([{"region": "x", "score": "n/a"}])


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["parts"][0].update(points=41), "add up to 101 points, not 100"),
    (lambda s: s["indicators"][1].update(points=25), "part 'measures' add up to 59.5 points, not 60"),
    (lambda s: s["indicators"][2].update(unit="nobody"), "unknown unit 'nobody'"),
    (lambda s: s["indicators"][2].update(code="M1"), "duplicate indicator codes: M1"),
    (lambda s: s.pop("units"), "'units' must be a non-empty list"),
])
def test_a_broken_scheme_is_refused(change, message):
    import copy
    scheme = copy.deepcopy(SCHEME)
    change(scheme)
    with pytest.raises(BundleError, match=message):
        scoring.validate_scheme(scheme)


def test_the_shipped_example_scheme_is_valid():
    scoring.validate_scheme(SCHEME)
    assert scoring.scoring_units(SCHEME) == ["u1", "u2"]


@pytest.mark.parametrize(("unit", "scores", "message"), [
    ("u1", [{"indicator": "T1", "score": 40}], "M1"),  # one of its indicators left out
    ("u1", [{"indicator": "T1", "score": 40.5}, {"indicator": "M1", "score": 1}], "T1 合格率：得分不得超过 40 分"),
    ("u1", [{"indicator": "T1", "score": -1}, {"indicator": "M1", "score": 1}], "T1 合格率：得分不得小于 0"),
    # 「可保留两位小数」: 2.555 is not published as 2.555 (issue 12)
    ("u1", [{"indicator": "T1", "score": 2.555}, {"indicator": "M1", "score": 1}], "T1 合格率：得分最多保留 2 位小数"),
    ("u2", [{"indicator": "T1", "score": 1}, {"indicator": "M2", "score": 1}], "不由本单位评分"),
    ("u2", [{"indicator": "M2", "score": 1}, {"indicator": "M2", "score": 1}], "重复评分"),
])
def test_a_unit_scores_exactly_its_own_indicators_within_their_points(unit, scores, message):
    with pytest.raises(ValidationError, match=message):
        scoring.check_unit_scores(SCHEME, unit, scores)


def test_full_marks_are_accepted():
    scoring.check_unit_scores(SCHEME, "u1", [{"indicator": "T1", "score": 40}, {"indicator": "M1", "score": 25.5}])


@pytest.mark.parametrize(("kind", "year", "label"), [
    ("july", 2025, "2025—2026年度"), ("calendar", 2025, "2025年度"),
    ({"start": "09-01"}, 2025, "2025—2026年度"), ({"start": "01-01"}, 2025, "2025年度"),
    ({"start": "09-01", "label": "single"}, 2025, "2025年度"),
    ({"start": "01-01", "label": "span"}, 2025, "2025—2026年度"),
])
def test_year_labels(kind, year, label):
    assert scoring.year_label(kind, year) == label


@pytest.mark.parametrize(("kind", "start", "last"), [
    ("july", "2025-07-01", "2026-06-30"), ("calendar", "2025-01-01", "2025-12-31"),
    ({"start": "09-01"}, "2025-09-01", "2026-08-31"), ({"start": "03-01"}, "2027-03-01", "2028-02-29"),
])
def test_assessment_years_start_on_any_day(kind, start, last):
    year = years.parse(kind)
    first = int(start[:4])
    assert (year.start(first).isoformat(), year.last_day(first).isoformat()) == (start, last)


THOUSAND = {
    "parts": [{"code": "targets", "points": 400}, {"code": "measures", "points": 600}],
    "units": [{"code": "u1", "name": "单位一"}],
    "indicators": [{"code": "T1", "part": "targets", "unit": "u1", "name": "合格率", "points": 400},
                   {"code": "M1", "part": "measures", "unit": "u1", "name": "规划", "points": 599.5},
                   {"code": "M2", "part": "measures", "unit": "u1", "name": "监管", "points": 0.5}],
    "veto": [{"code": "V1", "name": "产品质量安全事件"}, {"code": "V2", "name": "工程质量安全事件"}],
}


def test_a_scheme_adds_up_to_its_own_scale():
    scoring.validate_scheme(THOUSAND, total=scoring.scale({"scale": 1000}))
    with pytest.raises(BundleError, match="not 100"):
        scoring.validate_scheme(THOUSAND)   # no scale stated: 100 points
    scoring.check_unit_scores(THOUSAND, "u1", [{"indicator": "T1", "score": 399.75}, {"indicator": "M1", "score": 0},
                                               {"indicator": "M2", "score": 0.5}])


@pytest.mark.parametrize(("value", "points"), [(None, "100"), (1000, "1000"), (150.5, "150.5"), ("120", "120")])
def test_the_scale_is_any_positive_number(value, points):
    manifest = {} if value is None else {"scale": value}
    assert scoring.scale(manifest) == Decimal(points)


@pytest.mark.parametrize("value", [0, -10, "lots", True, float("nan")])
def test_a_scale_that_is_not_a_positive_number_is_refused(value):
    with pytest.raises(BundleError, match="scale must be a positive number"):
        scoring.scale({"scale": value})


@pytest.mark.parametrize(("veto", "message"), [
    ([{"code": "V1"}], "code and name"),
    ([{"code": "V1", "name": "a"}, {"code": "V1", "name": "b"}], "V1"),
    ([{"code": "T1", "name": "与指标同码"}], "T1"),
    ("V1", "code and name"),
])
def test_bad_veto_items_are_refused(veto, message):
    scheme = dict(THOUSAND, veto=veto)
    with pytest.raises(BundleError, match=message):
        scoring.validate_scheme(scheme, total=Decimal(1000))


def test_vetoes_hit_lists_the_codes_recorded_as_hit():
    rows = [{"veto": "V1", "hit": False, "evidence": ""}, {"veto": "V2", "hit": True, "evidence": "事件"}]
    assert scoring.vetoes_hit(rows) == ["V2"]
    assert scoring.vetoes_hit([]) == []
    with pytest.raises(ExpressionError, match="vetoes_hit"):
        scoring.vetoes_hit([{"hit": True}])
