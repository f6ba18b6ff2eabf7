"""A bundle's English catalogue (english.yaml): the shipped ones are whole, a bad one is refused at deploy."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from conftest import NATIONAL, ZIYANG

from engine import config
from engine.errors import BundleError
from engine.procedure import bundle, english


def _files(folder):
    return bundle.read_folder(folder, config.ROOT / "forms")


@pytest.mark.parametrize("folder", [NATIONAL, ZIYANG], ids=["national-2013", "ziyang-2016"])
def test_the_shipped_catalogues_pass_and_name_every_step_form_and_indicator(folder):
    files = _files(folder)
    checked, report = bundle.inspect(files)
    assert checked is not None and not report.findings
    words = english.Catalogue.of(files)
    assert words.title and "质" not in words.title
    for bpmn_id, task in checked.user_tasks.items():
        assert words.steps.get(bpmn_id), f"no English name for {bpmn_id}"
        assert words.instructions.get(bpmn_id, "").startswith("## "), f"no English instructions for {bpmn_id}"
        form = words.forms.get(task["form"])
        assert form and form.get("title"), f"no English for {task['form']}"
        schema = json.loads(files[f"forms/{task['form']}"])
        assert set(schema["properties"]) <= set(form["fields"]), f"a field of {task['form']} left in Chinese"
    scheme = words.scheme
    assert {str(i["code"]) for i in checked.scheme["indicators"]} == set(scheme["indicators"])
    assert {str(u["code"]) for u in checked.scheme["units"]} == set(scheme["units"])
    assert {str(v["code"]) for v in checked.scheme["veto"]} == set(scheme["veto"])
    assert set(words.lanes) == set(re.findall(r'<bpmn:lane id="(\w+)"', files["assessment.bpmn"]))
    assert set(checked.manifest["lanes"].values()) == set(words.bodies)
    regions = yaml.safe_load(files[checked.manifest["regions"]])["regions"]
    assert {str(r["code"]) for r in regions} == set(words.regions), "a region without its English name"
    # nothing Chinese is left in what the catalogue says (its keys are the bundle's own names)
    said = json.dumps([words.title, words.steps, words.instructions, words.forms, words.bodies,
                       list(words.lanes.values()), words.processes, words.regions], ensure_ascii=False)
    assert not [c for c in said if "\u4e00" <= c <= "\u9fff" and c not in "产品工程服务环境"]  # option keys


BAD = [
    # (what is changed, the catalogue's text to add or replace, expected reason, line of the finding)
    ("unknown step", "steps:\n  Task_nonexistent: Nothing\n", "the bundle has no BPMN element 'Task_nonexistent'",
     2),
    ("instructions of no user task", "instructions:\n  Gateway_filing: text\n", "no user task 'Gateway_filing'", 2),
    ("unknown form field", "forms:\n  target-filing.schema.json:\n    fields:\n      targets.goal: {title: Goal}\n",
     "form 'target-filing.schema.json' has no field 'targets.goal'", 4),
    ("unknown form", "forms:\n  no-such.schema.json: {title: X}\n", "form 'no-such.schema.json' is not in", 2),
    ("unknown option", "forms:\n  filing-review.schema.json:\n    fields:\n      filing_decision:\n"
                       "        options: {maybe: Maybe}\n", "field 'filing_decision' has no option 'maybe'", 5),
    ("a list for a name", "steps:\n  Task_target_filing: [Target, filing]\n",
     "steps.Task_target_filing must be text, not list", 2),
    ("a number for a title", "title: 2013\n", "title must be text, not int", 1),
    ("a section that is not a mapping", "bodies: [assessed]\n", "bodies must be a mapping, not list", 1),
    ("unknown body", "bodies:\n  governor: Governor\n", "no role or body 'governor'", 2),
    ("unknown indicator", "scheme:\n  indicators:\n    T99: Nothing\n", "no indicator 'T99'", 3),
    ("unknown lane", "lanes:\n  Lane_province: Province\n", "no lane 'Lane_province'", 2),
    ("unknown section", "glossary:\n  考核: assessment\n", "unknown section 'glossary'", 1),
    ("unknown key of a field", "forms:\n  filing-review.schema.json:\n    fields:\n      comment: {label: X}\n",
     "unknown key 'label'", 4),
    ("malformed YAML", "steps: {Task_target_filing: [\n", "malformed YAML", None),
    ("a region's name not text", "regions:\n  \"110000\": [Bei, jing]\n", "regions.110000 must be text", 2),
]


@pytest.mark.parametrize("text, reason, line", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_bad_catalogue_is_refused_with_a_finding_on_its_line(sqlite_engine, tmp_path, text, reason, line):
    folder = tmp_path / "national"
    shutil.copytree(NATIONAL, folder)
    (folder / "english.yaml").write_text(text, encoding="utf-8")
    _, report = bundle.inspect(_files(folder))
    found = [f for f in report.findings if f.file == "english.yaml"]
    assert len(found) == 1 and found[0].severity == "error", found
    assert reason in found[0].reason
    if line is not None:
        assert found[0].line == line
    with pytest.raises(BundleError, match="english.yaml"):
        sqlite_engine.deploy(folder)


def test_a_bundle_without_a_catalogue_deploys_and_has_an_empty_one(tmp_path):
    folder = tmp_path / "national"
    shutil.copytree(NATIONAL, folder)
    (folder / "english.yaml").unlink()
    files = _files(folder)
    checked, report = bundle.inspect(files)
    assert checked is not None and not report.findings
    words = english.Catalogue.of(files)
    assert not words and words.step("Task_target_filing", "目标备案") == "目标备案"


def test_a_form_is_translated_on_a_copy():
    files = _files(NATIONAL)
    words = english.Catalogue.of(files)
    schema = json.loads(files["forms/filing-review.schema.json"])
    ui = json.loads(files["forms/filing-review.uischema.json"])
    before = (json.dumps(schema), json.dumps(ui))
    shown, shown_ui = words.form("filing-review.schema.json", schema, ui)
    assert shown["title"] == "Review of the filed targets"
    assert shown["properties"]["filing_decision"]["title"] == "Decision"
    assert [c["title"] for c in shown["properties"]["filing_decision"]["oneOf"]] == \
        ["Accept the filing", "Return for revision"]
    assert shown_ui["comment"]["ui:help"].startswith("When returning, state what must be revised")
    assert (json.dumps(schema), json.dumps(ui)) == before  # the version's own form is left as it is
    # a table's column, by table.column
    scoring = json.loads(files["forms/indicator-scoring.schema.json"])
    shown, _ = words.form("indicator-scoring.schema.json", scoring, {})
    assert shown["properties"]["scores"]["items"]["properties"]["basis"]["title"] == "Grounds for the score"


def test_the_catalogue_keeps_the_chinese_texts_of_the_bundle():
    """The catalogue is beside the bundle: the bundle's own texts are the Chinese ones, unchanged."""
    catalogue = yaml.safe_load((NATIONAL / "english.yaml").read_text(encoding="utf-8"))
    assert 'name="目标备案"' in (NATIONAL / "assessment.bpmn").read_text(encoding="utf-8")
    assert catalogue["steps"]["Task_target_filing"] == "Target filing"


@pytest.mark.parametrize("broken", ["assessment.bpmn", "forms/target-filing.schema.json"])
def test_a_file_refused_on_its_own_is_not_blamed_on_the_catalogue(broken):
    """A BPMN file or form that does not parse is its own check's finding: the catalogue's entries for it are
    left unchecked rather than all reported as naming nothing."""
    files = _files(NATIONAL)
    files[broken] = files[broken].replace("<", "<<", 1) if broken.endswith(".bpmn") else "{,"
    _, report = bundle.inspect(files)
    assert report.errors() and [f for f in report.findings if f.file == broken]
    assert not [f for f in report.findings if f.file == "english.yaml"]


def test_a_region_left_out_of_the_regions_file_is_a_warning_and_the_bundle_deploys(sqlite_engine, tmp_path):
    """An administrator drops a region from the regions file (a county transferred): the catalogue's English name
    of it is not used, and says so, but does not stop the deploy."""
    folder = tmp_path / "ziyang"
    shutil.copytree(ZIYANG, folder)
    regions = folder / "regions.yaml"
    regions.write_text(regions.read_text(encoding="utf-8").replace('  - {code: "512081", name: 简阳市}\n', ""),
                       encoding="utf-8")
    _, report = bundle.inspect(_files(folder))
    [found] = [f for f in report.findings if f.file == "english.yaml"]
    assert found.severity == "warning" and "no region '512081'" in found.reason and found.line
    sqlite_engine.deploy(folder)


def test_the_english_of_what_the_scheme_no_longer_has_is_taken_out_and_the_rest_kept_as_written():
    text = (NATIONAL / "english.yaml").read_text(encoding="utf-8")
    scheme = yaml.safe_load((NATIONAL / "scheme.yaml").read_text(encoding="utf-8"))
    assert english.without_stale_scheme(text, scheme) is None  # nothing stale: nothing to write
    scheme["parts"] = [p for p in scheme["parts"] if p["code"] != "targets"]  # a part, in a flow mapping
    scheme["indicators"] = [i for i in scheme["indicators"] if i["code"] not in ("M7", "M17")]
    scheme["veto"] = []  # every veto item: the section goes
    pruned = english.without_stale_scheme(text, scheme)
    gone = [line for line in text.splitlines() if line not in pruned.splitlines()]
    assert gone == ["  parts: {targets: Quality targets, measures: Quality measures}",
                    "    M7: Quality supervision capacity and rules",
                    "    M17: Comprehensive inspection and quarantine capacity at ports",
                    "  veto:", "    V1: A regional or systemic product quality and safety incident occurred"]
    assert "  parts: {measures: Quality measures}" in pruned.splitlines()
    assert "forms:                          # by form file" in pruned  # comments kept
    assert english.without_stale_scheme(pruned, scheme) is None  # and once out, nothing more
