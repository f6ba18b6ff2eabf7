"""Form schemas: checked at deploy, and validators that never reach outside the version's own forms."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import NATIONAL

from engine.errors import BundleError, ValidationError
from engine.procedure import forms

FORM = "filing-review.schema.json"


@pytest.fixture
def listener():
    """A local HTTP server that serves a schema and counts the requests it gets."""
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


@pytest.fixture
def bundle(tmp_path):
    folder = tmp_path / "national-local"
    shutil.copytree(NATIONAL, folder)
    (folder / "forms").mkdir()
    return folder


def _form(**comment) -> dict:
    """The filing review form with its comment field replaced."""
    schema = json.loads((NATIONAL.parent.parent / "forms" / FORM).read_text(encoding="utf-8"))
    schema["properties"]["comment"] = comment
    return schema


def test_a_validator_never_fetches_a_url(listener):
    url, asked = listener
    with pytest.raises(BundleError, match="does not resolve inside the bundle"):
        forms.validator({"properties": {"comment": {"$ref": f"{url}/comment.json"}}})
    assert asked == []


def test_a_validator_never_reads_a_file(tmp_path):
    (tmp_path / "comment.json").write_text('{"type": "integer"}', encoding="utf-8")
    with pytest.raises(BundleError, match="does not resolve inside the bundle"):
        forms.validator({"properties": {"comment": {"$ref": (tmp_path / "comment.json").as_uri()}}})


@pytest.mark.parametrize("comment", [
    {"$ref": "{url}/comment.json"}, {"$ref": "file:///etc/passwd"}, {"$ref": "../../../etc/passwd"},
    {"$ref": "missing.schema.json"}, {"$ref": "notification.uischema.json"}, {"$dynamicRef": "{url}/x"},
    {"$id": "{url}/comment", "type": "string"}, {"$schema": "{url}/meta", "type": "string"}])
def test_a_reference_outside_the_bundle_is_refused_at_deploy(engine, bundle, comment, listener):
    comment = {key: value.replace("{url}", listener[0]) for key, value in comment.items()}
    (bundle / "forms" / FORM).write_text(json.dumps(_form(**comment), indent=2), encoding="utf-8")
    with pytest.raises(BundleError) as caught:
        engine.deploy(bundle)
    assert caught.value.file == f"forms/{FORM}" and caught.value.line > 1
    text = (bundle / "forms" / FORM).read_text(encoding="utf-8").splitlines()[caught.value.line - 1]
    assert next(iter(comment.values())) in text
    assert listener[1] == []


def test_a_pointer_that_goes_nowhere_is_refused_at_deploy(engine, bundle):
    (bundle / "forms" / FORM).write_text(json.dumps(_form(**{"$ref": "#/$defs/nothing"})), encoding="utf-8")
    with pytest.raises(BundleError, match="does not resolve inside the bundle") as caught:
        engine.deploy(bundle)
    assert caught.value.file == f"forms/{FORM}"


def test_references_inside_the_form_and_to_another_form_of_the_bundle_are_resolved(engine, bundle):
    (bundle / "forms" / "shared.schema.json").write_text(json.dumps(
        {"$defs": {"comment": {"type": "string", "maxLength": 10, "not": {"$ref": "#/$defs/blank"}},
                   "blank": {"const": "   "}}}), encoding="utf-8")
    (bundle / "forms" / FORM).write_text(json.dumps(_form(**{"$ref": "shared.schema.json#/$defs/comment"})),
                                         encoding="utf-8")
    version, created = engine.deploy(bundle)
    assert created
    with engine.store.read() as session:
        checker = engine.version(session, version.id).validator(FORM)
    forms.validate(checker, {"filing_decision": "accept", "comment": "同意"}, FORM)
    for comment in ("同意" * 6, "   "):
        with pytest.raises(ValidationError) as caught:
            forms.validate(checker, {"filing_decision": "accept", "comment": comment}, FORM)
        assert [e["field"] for e in caught.value.errors] == ["comment"]


# -- patterns: matched without catastrophic backtracking ------------------------------------------------
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


DECIMALS = {"type": "object", "title": "达标", "additionalProperties": False,
            "properties": {"rate": {"type": "number", "title": "达标率", "multipleOf": 0.01}}}


@pytest.mark.parametrize("value", [0.07, 89.99, 3.3, 100])
def test_a_number_with_two_decimals_is_taken_whatever_binary_floats_make_of_it(value):
    forms.validate(DECIMALS, {"rate": value})


@pytest.mark.parametrize("data", [{"rate": 1.005}, {"rate": 1.005, "extra": 1}])
def test_a_third_decimal_is_refused_in_words_and_a_valid_one_is_not_blamed_beside_another_error(data):
    with pytest.raises(ValidationError) as refused:
        forms.validate(DECIMALS, data)
    assert "达标率：最多保留 2 位小数" in refused.value.message


def test_only_the_real_error_is_named_when_a_two_decimal_number_sits_beside_it():
    with pytest.raises(ValidationError) as refused:
        forms.validate(DECIMALS, {"rate": 0.07, "extra": 1})
    assert [e["field"] for e in refused.value.errors] == [""]
    assert "小数" not in refused.value.message
