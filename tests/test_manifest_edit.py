"""engine/procedure/manifest_edit.py: one section of bundle.yaml rewritten, the rest and its comments kept."""

from pathlib import Path

import pytest
import yaml

from engine.errors import BundleError
from engine.procedure.manifest_edit import set_section, set_value
from engine.running.deadlines import legal_basis

TEXT = (Path(__file__).resolve().parent.parent / "processes" / "ziyang-2016" / "bundle.yaml").read_text()


def test_only_the_section_changes_and_kept_entries_keep_their_comments():
    new = set_section(TEXT, "deadlines", {"Task_target_filing": {"date": "03-31", "year": 0},
                                          "Task_initial_review": {"date": "01-20", "year": 1}})
    assert yaml.safe_load(new)["deadlines"] == {"Task_target_filing": {"date": "03-31", "year": 0},
                                                "Task_initial_review": {"date": "01-20", "year": 1}}
    assert '  Task_target_filing: {date: "03-31", year: 0}     # 第八条（一）每年年初' in new
    assert "Task_self_evaluation" not in new
    old_lines = [line for line in TEXT.splitlines() if not line.startswith("  Task_")]
    new_lines = [line for line in new.splitlines() if not line.startswith("  Task_")]
    assert old_lines == new_lines


def test_a_deadline_whose_date_changed_loses_the_comment_that_cited_the_article_of_the_old_date():
    text = (Path(__file__).resolve().parent.parent / "processes" / "national-2013" / "bundle.yaml").read_text()
    deadlines = yaml.safe_load(text)["deadlines"] | {"Task_target_filing": {"date": "03-31", "year": 0}}
    new = set_section(text, "deadlines", deadlines)
    assert legal_basis(text, "Task_target_filing") == "第六条（一）每年6月30日前"
    assert legal_basis(new, "Task_target_filing") == ""  # not 6月30日 as the basis of 3月31日
    assert legal_basis(new, "Task_self_evaluation") == "第六条（二）每年7月15日前"  # unchanged: kept


def test_a_lane_name_that_needs_quotes_is_quoted():
    lanes = yaml.safe_load(TEXT)["lanes"] | {"初审: 专家组": "assessment_group", "yes": "approver"}
    assert yaml.safe_load(set_section(TEXT, "lanes", lanes))["lanes"] == lanes


def test_a_missing_section_is_added_and_an_empty_one_written_as_empty():
    text = "key: x\n"
    assert yaml.safe_load(set_section(text, "deadlines", {"T": {"date": "06-30", "year": 0}}))["deadlines"] == {
        "T": {"date": "06-30", "year": 0}}
    assert yaml.safe_load(set_section(TEXT, "deadlines", {}))["deadlines"] == {}


def test_reminders_with_a_nested_escalation_round_trip():
    reminders = yaml.safe_load(TEXT)["reminders"] | {"before_days": [3]}
    assert yaml.safe_load(set_section(TEXT, "reminders", reminders))["reminders"] == reminders


@pytest.mark.parametrize(("section", "value"), [("scale", {"a": 1}), ("lanes", ["x"])])
def test_other_sections_and_shapes_are_refused(section, value):
    with pytest.raises(BundleError):
        set_section(TEXT, section, value)


def test_entries_that_stay_keep_their_place_whatever_order_they_are_given_in():
    """The modeler's page gets bundle.yaml's sections as JSON with sorted keys: saving them back moves nothing."""
    reminders = yaml.safe_load(TEXT)["reminders"]
    given = {key: dict(sorted(value.items())) if isinstance(value, dict) else value
             for key, value in sorted(reminders.items())}
    assert set_section(TEXT, "reminders", given) == TEXT
    lanes = yaml.safe_load(TEXT)["lanes"]
    assert set_section(TEXT, "lanes", dict(sorted(lanes.items()))) == TEXT
    # a renamed lane stays where it was given; a new deadline goes where it was given (last)
    renamed = {("市级有关部门" if name == "市级相关部门" else name): code for name, code in lanes.items()}
    new = set_section(TEXT, "lanes", renamed)
    assert list(yaml.safe_load(new)["lanes"]) == list(renamed)
    deadlines = {"Task_self_evaluation": {"date": "12-31", "year": 0},
                 "Task_target_filing": {"date": "03-31", "year": 0},
                 "Task_initial_review": {"date": "01-20", "year": 1}}
    assert list(yaml.safe_load(set_section(TEXT, "deadlines", deadlines))["deadlines"]) == [
        "Task_target_filing", "Task_self_evaluation", "Task_initial_review"]


def test_a_rule_of_results_keeps_its_comment_and_the_rest_of_the_file_is_kept():
    results = yaml.safe_load(TEXT)["results"]
    results["consequences"] = {**results["consequences"], "interview": {"vetoed": True}}
    new = set_section(TEXT, "results", results)
    assert yaml.safe_load(new)["results"] == results
    assert "    commended: {grades: [a]}     # 第九条：a 级通报表扬" in new  # unchanged, its comment where it was
    assert new.replace("    interview: {vetoed: true}\n", "") == TEXT
    assert set_section(TEXT, "results", yaml.safe_load(TEXT)["results"]) == TEXT


def test_one_line_settings_are_set_in_place_added_in_order_and_removed():
    new = set_value(TEXT, "scale", 150.5)
    assert "scale: 150.5                    # total points of the scheme (第五条：100分)" in new
    assert [line for line in new.splitlines() if not line.startswith("scale:")] == \
        [line for line in TEXT.splitlines() if not line.startswith("scale:")]
    new = set_value(new, "assessment_year", {"start": "09-01", "label": "single"})
    assert yaml.safe_load(new)["assessment_year"] == {"start": "09-01", "label": "single"}
    assert yaml.safe_load(set_value(TEXT, "title", "名称: 带冒号 # 与井号"))["title"] == "名称: 带冒号 # 与井号"
    assert yaml.safe_load(set_value(TEXT, "grades", ["优秀", "良好", "yes"]))["grades"] == ["优秀", "良好", "yes"]
    assert "failing_grade" not in yaml.safe_load(set_value(TEXT, "failing_grade", None))
    added = set_value("key: x\ntitle: t\ngrades: [a]\nscheme: s.yaml\n", "failing_grade", "a")
    assert added == "key: x\ntitle: t\ngrades: [a]\nfailing_grade: a\nscheme: s.yaml\n"
    with pytest.raises(BundleError):
        set_value(TEXT, "key", "other")
