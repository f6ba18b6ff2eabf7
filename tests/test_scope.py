"""engine/procedure/scope.py: the variables in scope at an element, and one expression checked there."""

from pathlib import Path

import pytest

from engine.errors import BundleError
from engine.procedure import bundle, scope

ROOT = Path(__file__).resolve().parent.parent
ZIYANG = ROOT / "processes" / "ziyang-2016"


@pytest.fixture(scope="module")
def files():
    return bundle.read_folder(ZIYANG, ROOT / "forms")


def test_a_gateway_sees_what_the_steps_before_it_define(files):
    found = scope.in_scope(files, "assessment.bpmn", "Gateway_confirmation")
    assert {"score", "confirmation", "vetoed", "region", "year"} <= set(found.variables)
    assert "announcement" not in found.variables  # the announcement comes later
    assert "deadline" in found.provided and "deadline" not in found.variables


def test_a_flow_sees_what_its_source_did(files):
    assert "announced_on" in scope.in_scope(files, "assessment.bpmn", "Flow_c12").variables
    assert "announced_on" not in scope.in_scope(files, "assessment.bpmn", "Task_notify_results").variables


def test_an_unknown_element_is_refused(files):
    with pytest.raises(BundleError, match="Nope"):
        scope.in_scope(files, "assessment.bpmn", "Nope")
    with pytest.raises(BundleError, match="other.bpmn"):
        scope.in_scope(files, "other.bpmn", "Flow_c10")


@pytest.mark.parametrize(("expression", "reason"), [
    ("approval == 'return'", None),
    ("len(str(approval)) > 0", None),
    ("approvel == 'return'", "approvel"),
    ("__import__('os')", "__import__"),
    ("approval ==", "syntax error"),
    ("  ", "empty"),
])
def test_one_expression_is_checked_by_the_sandbox_and_the_names(files, expression, reason):
    found = scope.check_expression(expression, scope.in_scope(files, "assessment.bpmn", "Flow_c10"))
    if reason is None:
        assert found is None
    else:
        assert reason in found
