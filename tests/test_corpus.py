"""The corpus: odd and broken BPMN/DMN files, each refused with its reason or run to its end; never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.cli import main
from engine.errors import BundleError
from engine.procedure import bundle
from engine.running.simulate import run_simulation

CORPUS = Path(__file__).parent / "corpus"

#: file -> (element, words the reason must hold), or None for a file that runs to its end.
EXPECTED = {
    "bpmn-js.bpmn": ("corpus_region", "is not executable"),
    "call-missing.bpmn": ("Call", "which no BPMN file defines"),
    "camunda-modeler.bpmn": ("Flow_yes", "Camunda's JUEL"),
    "camunda-formkey.bpmn": ("Task_fill", "names no form"),
    "dmn-feel.dmn": ("E1", "语法错误"),
    "dmn-no-decision.dmn": (None, "the DMN file has no <decision>"),
    "dmn-ok.dmn": None,
    "dmn12-dmndi.dmn": (None, "save the file as DMN 1.3"),
    "dollar-expression.bpmn": ("F2", "syntax error"),
    "duplicate-ids.bpmn": (None, "'Task_a' is not a valid value"),
    "empty.bpmn": (None, "malformed XML"),
    "escalation-in-subprocess.bpmn": None,
    "escalation-uncaught.bpmn": None,
    "manual-task-in-lane.bpmn": None,
    "manual-task-no-lane.bpmn": ("Task_hand", "manual task is in no lane"),
    "multi-instance-cardinality.bpmn": None,
    "multi-instance-no-input.bpmn": ("Task_each", "neither loopDataInputRef nor loopCardinality"),
    "no-region-process.bpmn": (None, "'corpus_region' was not found"),
    "non-executable.bpmn": ("corpus_region", "not executable"),
    "not-xml.bpmn": (None, "malformed XML"),
    "plain-service-task.bpmn": ("Task_call", "no service operators"),
    "reserved-ids.bpmn": ("Start", "reserved by SpiffWorkflow"),
    "scripts-only.bpmn": None,
    "service-task.bpmn": ("Task_call", "no service operators"),
    "terminate-in-subprocess.bpmn": None,
    "unknown-element.bpmn": (None, "'bpmn:frobnicate': This element is not expected"),
    "unnamed-lane.bpmn": ("Lane_unnamed", "lane has no name"),
}


def _bundle(name: str, tmp_path: Path) -> Path:
    """The corpus file wrapped as a bundle: base/'s manifest and campaign, and a region process that calls a DMN."""
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS / "base", folder)
    if name.endswith(".bpmn"):
        (folder / "decision-caller.bpmn").unlink()
    shutil.copy(CORPUS / name, folder / name)
    return folder


def test_every_corpus_file_has_an_expected_outcome():
    assert sorted(p.name for p in CORPUS.glob("*.*") if p.suffix in (".bpmn", ".dmn")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_corpus_file_is_refused_with_its_reason_or_runs_to_its_end(name, tmp_path, monkeypatch, migrated_sqlite):
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    folder = _bundle(name, tmp_path)
    # catch_exceptions=False: any exception that is not a clear refusal fails the test with its traceback.
    result = CliRunner().invoke(main, ["deploy", str(folder)], catch_exceptions=False)
    expected = EXPECTED[name]
    if expected is None:
        assert result.exit_code == 0, result.stderr
        outcome = run_simulation(str(folder), 2025)
        assert outcome["regions"] and "Traceback" not in str(outcome)
        return
    element, reason = expected
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert reason in result.stderr and (name in result.stderr or "bundle.yaml" in result.stderr), result.stderr
    if element:
        assert f"[{element}]" in result.stderr


def _deploy(tmp_path, monkeypatch, migrated_sqlite, *args):
    database = tmp_path / "kaohe.db"
    shutil.copy(migrated_sqlite, database)
    monkeypatch.setenv("KAOHE_DATABASE_URL", f"sqlite:///{database}")
    return CliRunner().invoke(main, ["deploy", *args], catch_exceptions=False)


def test_deploying_a_single_file_says_a_bundle_is_a_folder(tmp_path, monkeypatch, migrated_sqlite):
    result = _deploy(tmp_path, monkeypatch, migrated_sqlite, str(CORPUS / "scripts-only.bpmn"))
    assert result.exit_code == 2
    assert "流程包应为一个文件夹" in result.stderr and "not a single file" in result.stderr
    assert "not found" not in result.stderr


def test_every_problem_of_a_bundle_is_listed_at_once(tmp_path, monkeypatch, migrated_sqlite):
    folder = _bundle("service-task.bpmn", tmp_path)
    shutil.copy(CORPUS / "manual-task-no-lane.bpmn", folder / "second.bpmn")
    shutil.copy(CORPUS / "unnamed-lane.bpmn", folder / "third.bpmn")
    result = _deploy(tmp_path, monkeypatch, migrated_sqlite, str(folder))
    assert result.exit_code == 2
    for where in ("second.bpmn:9 [Task_hand]", "service-task.bpmn:9 [Task_call]", "third.bpmn:8 [Lane_unnamed]"):
        assert where in result.stderr
    assert "lane 'None'" not in result.stderr


def test_a_spiffworkflow_refusal_names_the_line_of_its_element(engine, tmp_path):
    with pytest.raises(BundleError, match="not executable") as caught:
        engine.deploy(_bundle("non-executable.bpmn", tmp_path))
    error = caught.value
    assert (error.file, error.element) == ("non-executable.bpmn", "corpus_region")
    assert 'id="corpus_region"' in (CORPUS / "non-executable.bpmn").read_text().splitlines()[error.line - 1]


def test_an_unexpected_parser_failure_is_a_refusal_naming_the_file(engine, tmp_path, monkeypatch):
    def broken(self, node, filename=None):
        raise IndexError("list index out of range")
    monkeypatch.setattr(SpiffBpmnParser, "add_dmn_xml", broken)
    monkeypatch.setattr(bundle, "_checked", {})  # not the answer of an earlier check of the same files
    with pytest.raises(BundleError, match="IndexError") as caught:
        engine.deploy(_bundle("dmn-ok.dmn", tmp_path))
    assert caught.value.file == "dmn-ok.dmn" and "无法解析" in caught.value.message


def test_xsd_errors_are_said_without_namespace_uris(engine, tmp_path):
    with pytest.raises(BundleError) as caught:
        engine.deploy(_bundle("unknown-element.bpmn", tmp_path))
    assert "bpmn:frobnicate" in caught.value.message and "http://" not in caught.value.message
    assert "不符合" in caught.value.message
