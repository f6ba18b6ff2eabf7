"""``deadlines.explain``: how a due date was computed, in words, for each way a task gets one."""

from __future__ import annotations

from datetime import date

import pytest

from engine.running.calendar import WorkCalendar
from engine.running.deadlines import explain, legal_basis

BUNDLE_YAML = """key: x
deadlines:                      # fixed due dates of user tasks
  Task_target_filing: {date: "10-01", year: 0}     # 第六条（一）国庆前备案
  Task_self_evaluation: {date: "07-15", year: 1}
calendar:
  extend_weekends: false  # Task_target_filing: not this one
"""
MANIFEST = {"deadlines": {"Task_target_filing": {"date": "10-01", "year": 0},
                          "Task_self_evaluation": {"date": "07-15", "year": 1}}}


def test_a_fixed_date_names_the_rule_the_words_of_the_banfa_and_the_move_off_a_holiday():
    words = explain(WorkCalendar(), MANIFEST, "Task_target_filing", "目标备案", date(2025, 10, 9), data={"year": 2025},
                    bundle_yaml=BUNDLE_YAML)
    assert words == ("目标备案截止 2025年10月9日：第六条（一）国庆前备案；"
                     "bundle.yaml deadlines: 10-01（考核年度起始之年）；"
                     "2025-10-01 是国庆节假期，期限顺延至 2025-10-09（民法典第二百零三条） "
                     "(last day off: moved to the next working day)")


def test_a_fixed_date_of_the_next_year_without_a_comment_and_a_late_start():
    words = explain(WorkCalendar(), MANIFEST, "Task_self_evaluation", "自我评价", date(2026, 7, 20),
                    data={"year": 2025, "deadline_shift_days": 5}, bundle_yaml=BUNDLE_YAML)
    assert words.startswith("自我评价截止 2026年7月20日：bundle.yaml deadlines: 07-15（次年）")
    assert "顺延 5 天" in words


@pytest.mark.parametrize(("expression", "data", "expected"), [
    ("deadline(announcement['announced_on'], months=1)", {"announcement": {"announced_on": "2025-09-01"}},
     "自 2025年9月1日 起 1个月（民法典第二百零一、二百零二条）；2025-10-01 是国庆节假期，期限顺延至 2025-10-09"),
    ("working_days(sent_on, 5)", {"sent_on": "2025-09-28"}, "自 2025年9月28日 起 5 个工作日"),
    ("fixed_deadline(year, '10-01', 1)", {"year": 2024}, "2025年 10-01；2025-10-01 是国庆节假期"),
    ("deadline(missing, days=3)", {}, None),  # the start is not in the data: the expression alone
    ("'2025-10-09T00:00:00+08:00'", {}, None),  # not a helper: the expression alone
])
def test_a_due_date_expression_is_explained_from_the_tasks_data(expression, data, expected):
    words = explain(WorkCalendar(), {}, "Task_x", "整改报告", date(2025, 10, 9), expression=expression, data=data)
    assert words.startswith(f"整改报告截止 2025年10月9日：dueDate {expression}")
    if expected is None:
        assert words == f"整改报告截止 2025年10月9日：dueDate {expression}"
    else:
        assert expected in words


def test_a_timer_and_an_unknown_source_say_so():
    assert "计时器" in explain(WorkCalendar(), {}, "Task_x", "审定", date(2025, 9, 30), timer=True)
    assert "期限来源不明" in explain(WorkCalendar(), {}, "Task_x", "审定", date(2025, 9, 30))


def test_the_legal_basis_is_read_only_from_the_deadlines_block():
    assert legal_basis(BUNDLE_YAML, "Task_target_filing") == "第六条（一）国庆前备案"
    assert legal_basis(BUNDLE_YAML, "Task_self_evaluation") == ""
    assert legal_basis("calendar:\n  Task_target_filing: x  # not a deadline\n", "Task_target_filing") == ""
