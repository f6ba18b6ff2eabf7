"""Forms from JSON Schema: posted fields read back into typed data, and every shipped form renders."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from engine import config
from web import formview

SCHEMA = {"type": "object", "required": ["comment", "flag"], "properties": {
    "comment": {"type": "string"}, "note": {"type": "string"}, "flag": {"type": "boolean"},
    "score": {"type": "number"}, "count": {"type": "integer"},
    "rows": {"type": "array", "items": {"type": "object", "required": ["indicator"], "properties": {
        "indicator": {"type": "string"}, "score": {"type": "number"}, "note": {"type": "string"}}}},
    "evidence": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "sha256": {"type": "string"}}}}}}


@pytest.mark.parametrize(("posted", "data"), [
    ({"comment": "", "note": ""}, {"comment": "", "evidence": []}),  # required text kept, optional dropped
    ({"comment": "a\r\nb"}, {"comment": "a\nb", "evidence": []}),
    ({"flag": "true", "score": "89.5", "count": "3"}, {"flag": True, "score": 89.5, "count": 3, "evidence": []}),
    ({"flag": "false", "score": "90", "count": "3.5"}, {"flag": False, "score": 90, "count": "3.5",
                                                       "evidence": []}),
    ({"score": "abc"}, {"score": "abc", "evidence": []}),  # left for the schema to refuse, at its field
    ({"score": "NaN"}, {"score": "NaN", "evidence": []}),
    ({"rows-1-indicator": "M1", "rows-0-indicator": "T1", "rows-0-score": "4", "rows-2-indicator": "",
      "rows-2-note": ""}, {"rows": [{"indicator": "T1", "score": 4}, {"indicator": "M1"}], "evidence": []}),
    ({"evidence-0-name": "a.pdf", "evidence-0-sha256": "ab", "evidence-1-name": "b.pdf",
      "evidence-1-sha256": "cd", "evidence-1-remove": "1"}, {"evidence": [{"name": "a.pdf", "sha256": "ab"}]}),
])
def test_posted_fields_become_typed_data(posted, data):
    assert formview.parse(SCHEMA, MultiDict(posted)) == data


@pytest.mark.parametrize("name", sorted(p.name for p in (config.ROOT / "forms").glob("*.schema.json")))
def test_every_shipped_form_renders_and_reads_back(app, name):
    schema = json.loads((config.ROOT / "forms" / name).read_text())
    ui = json.loads((config.ROOT / "forms" / name.replace(".schema.", ".uischema.")).read_text())
    fields = formview.build(schema, ui, {}, rows={"targets": [{"indicator": "T1"}], "self_scores": [
        {"indicator": "T1"}], "scores": [{"indicator": "T1"}]}, labels={"T1": "T1 指标"})
    assert [f.key for f in fields] == ui["ui:order"]
    with app.test_request_context():
        from flask import render_template_string

        html = render_template_string('{% from "_form.html" import field %}{% for f in fields %}{{ field(f) }}'
                                      '{% endfor %}', fields=fields)
    for f in fields:
        assert f'data-key="{f.key}"' in html


def test_errors_land_at_their_fields_or_above_the_form():
    fields = formview.build(SCHEMA, {}, {"rows": [{"indicator": "T1"}]},
                            {"rows/0/score": ["应为数字"], "": ["表单有误"], "nowhere": ["x"]})
    rows = next(f for f in fields if f.key == "rows")
    assert rows.rows[0][1][1].errors == ["应为数字"]
    assert formview.unplaced(fields, {"rows/0/score": ["应为数字"], "": ["表单有误"], "nowhere": ["x"]}) == [
        "表单有误", "nowhere：x"]
