"""A bundle's BPMN and DMN files parsed by SpiffWorkflow's spiff parser, with every refusal it makes as a finding.

SpiffWorkflow stops at the first problem of a file. So each BPMN file is first checked against the BPMN schema
here, which lists every schema error with its line; a file that passes is handed to the parser, and what the
parser raises (a ValidationException, or IndexError and the like on odd files) becomes a finding naming the
file, the element and the element's line (SpiffWorkflow reads ``node.line_number``, which lxml calls
``sourceline``, so it never knows the line itself).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from contextlib import contextmanager

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from ..errors import BundleError
from .findings import Report

logger = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_SCHEMA_LOCK = threading.Lock()  # one XMLSchema object, and its error log, shared by every thread
MAX_SCHEMA_ERRORS = 50


def parse(trees: dict[str, etree._Element], process_ids: list[str], report: Report, skip: set[str],
          lines: dict[str, int] | None = None):
    """The parser holding every file that parses, ``{process id: (spec, subprocess specs)}`` of each of
    ``process_ids`` and the files that failed; what fails is reported (``lines``: where bundle.yaml names each
    process). Files in ``skip`` (refused already) are
    left out, and processes are built only when every file is in: otherwise SpiffWorkflow would blame a task
    for the decision or process of a file left out."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    failed = set(skip)
    for name, tree in trees.items():
        if name in skip:
            continue
        if name.endswith(".bpmn") and not schema_valid(name, tree, report):
            failed.add(name)
            continue
        with reported(report, name, trees):
            if name.endswith(".dmn"):
                parser.add_dmn_xml(tree, filename=name)
            else:
                parser.add_bpmn_xml(tree, filename=name)
            continue
        failed.add(name)
    specs = {}
    for process_id in process_ids if not failed else []:
        with reported(report, "bundle.yaml", trees, (lines or {}).get(process_id)):
            spec = parser.get_spec(process_id)
            specs[process_id] = (spec, parser.get_subprocess_specs(process_id))
    return parser, specs, failed


def schema_valid(name: str, tree: etree._Element, report: Report) -> bool:
    """Check a BPMN file against the BPMN schema SpiffWorkflow uses, reporting every error (up to 50)."""
    document = copy.deepcopy(tree)
    with _SCHEMA_LOCK:
        VALIDATOR.preprocess(document)  # as the parser does: bpmn-js writes correlation expressions oddly
        if VALIDATOR.validator.validate(document):
            return True
        errors = list(VALIDATOR.validator.error_log)
    for error in errors[:MAX_SCHEMA_ERRORS]:
        report.error(f"XML 结构不符合 BPMN/DMN 标准 (not valid BPMN/DMN): {plain(error.message)}",
                     file=name, line=error.line)
    return False


@contextmanager
def reported(report: Report, name: str | None, trees: dict | None = None, line: int | None = None):
    """Report what parsing raises as a finding naming the file, the line and the element (``line``: where it is
    when SpiffWorkflow names no element); the block is left at the first problem."""
    try:
        yield
    except BundleError as exc:
        report.add(exc, line)
    except ValidationException as exc:
        error = bundle_error(exc, name, trees or {})
        report.add(error, line if error.file == name else None)
    except etree.LxmlError as exc:
        report.error(f"XML 校验失败 (the XML could not be checked): {plain(str(exc))}", file=name)
    except Exception as exc:  # SpiffWorkflow's parser fails with IndexError, KeyError, ... on odd files
        logger.warning("checking %s failed unexpectedly", name or "the bundle", exc_info=True)
        report.error(f"无法解析此文件 (the file could not be parsed): {type(exc).__name__}: {plain(str(exc))}",
                     file=name)


def plain(text: str) -> str:
    """libxml2's text without namespace URIs: ``{…BPMN…/MODEL}task`` becomes ``bpmn:task``."""
    text = text.replace(f"{{{BPMN_NS}}}", "bpmn:").replace(f"{{{SPIFF_NS}}}", "spiffworkflow:")
    return re.sub(r"\{[^{}\s]*\}", "", text).strip().rstrip(".").strip()


def bundle_error(exc: ValidationException, name: str | None, trees: dict) -> BundleError:
    """SpiffWorkflow's refusal as a BundleError with the file, the element and the element's line."""
    message = plain(str(exc).split("\n", 1)[0])
    file = getattr(exc, "file_name", None) or name
    element = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if line is None and element:
        found = [(n, node) for n, tree in trees.items() if file in (None, n) or file not in trees
                 for node in tree.iter() if node.get("id") == element]
        if found:
            file, line = found[0][0], found[0][1].sourceline
    if "XMLSchema" in message or "xs:" in message or "not expected" in message or "Element '" in message:
        message = f"XML 结构不符合 BPMN/DMN 标准 (not valid BPMN/DMN): {message}"
    else:
        message = f"流程定义有误 (invalid process definition): {message}"
    return BundleError(message, file=file, line=line, element=element)
