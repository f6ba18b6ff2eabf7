"""Form patterns: matched without catastrophic backtracking, or refused at deploy where Python's re would match."""

from __future__ import annotations

import json
import time

import pytest

from engine import forms
from engine.errors import BundleError, ValidationError


@pytest.mark.parametrize(("pattern", "near_miss"), [
    ("^(a+)+$", "a" * 50_000 + "!"),
    (r"^(\w+\s?)*$", "abc def " * 5_000 + "!"),
    ("^(a|aa)*$", "a" * 50_000 + "!"),
])
def test_a_backtracking_pattern_answers_a_near_miss_at_once_naming_the_field(pattern, near_miss):
    checker = forms.validator({"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}})
    started = time.monotonic()
    with pytest.raises(ValidationError) as caught:
        forms.validate(checker, {"code": near_miss}, "f.schema.json")
    assert time.monotonic() - started < 1
    assert caught.value.errors[0]["field"] == "code" and caught.value.errors[0]["message"] == "格式不正确"
    forms.validate(checker, {"code": near_miss[:-1]}, "f.schema.json")  # and a match is still a match


@pytest.mark.parametrize(("key", "message"), [
    ("^(a+)+$", "nests one repetition in another"),
    ("^(x", "is not a 'regex'"),
])
def test_pattern_properties_python_would_backtrack_on_are_refused_at_deploy(key, message):
    schema = {"type": "object", "patternProperties": {key: {"type": "string"}}}
    with pytest.raises(BundleError, match=message) as caught:
        forms.check_form_file("forms/odd.schema.json", json.dumps(schema))
    assert caught.value.file == "forms/odd.schema.json"


def test_ordinary_patterns_are_accepted():
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": r"^[A-Z]{2}-\d+(\.\d+)*$"}},
              "patternProperties": {r"^x-\d{1,3}$": {"type": "string"}}}
    forms.check_form_file("forms/ok.schema.json", json.dumps(schema))
