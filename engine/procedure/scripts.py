"""The sandbox's static checks of a bundle: every expression and script of a BPMN or DMN file, before it runs.

``scan`` finds each piece of code by where it stands in the XML (a condition, a timer, a DMN cell, a script) and
checks it with the sandbox's own ``check``, so that code the sandbox would refuse at run time is refused at
deploy, with its file, line and element.
"""

from __future__ import annotations

import ast
import re

from lxml import etree

from ..errors import BundleError, ForbiddenCode
from ..running.sandbox import check

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# (parent local name or None for any parent, local name) -> how the element's text is checked.
_CODE = {(None, name): "eval" for name in (
    "conditionExpression condition timeDate timeDuration timeCycle loopCardinality completionCondition"
    " loopCondition messagePayload").split()} | {
    (None, "script"): "exec", (None, "preScript"): "exec", (None, "postScript"): "exec",
    ("processVariableCorrelation", "expression"): "eval",
    ("correlationPropertyRetrievalExpression", "formalExpression"): "eval",
    ("correlationPropertyRetrievalExpression", "messagePath"): "eval",
    ("inputExpression", "text"): "eval", ("inputEntry", "text"): "cell", ("outputEntry", "text"): "eval",
}
#: spiffworkflow:property values that the engine evaluates as expressions.
EXPRESSION_PROPERTIES = {"dueDate"}
# The pattern DMNEngine uses to find a "?" outside quotes.
_QUESTION = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')


def cell(text: str) -> str:
    """The expression SpiffWorkflow's DMNEngine builds from an input cell, with a dummy input."""
    if _QUESTION.search(text):
        return _QUESTION.sub("dmninputexpr", text)
    try:
        ast.parse(text, mode="eval")
        return f"(dmninputexpr) == ({text})"
    except SyntaxError:
        return f"dmninputexpr {text}"  # a cell like "< 90" or "in ('A', 'B')"


def _known(namespace: str | None) -> bool:
    return namespace in (_BPMN, _SPIFF) or "/spec/DMN/" in (namespace or "")


def scan(filename: str, xml: bytes) -> None:
    """Check every expression and script in a BPMN or DMN file; raise BundleError/ForbiddenCode for the first."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise BundleError(f"not well-formed XML: {exc.msg}", file=filename, line=exc.lineno) from None
    # Entities are never expanded, but a DOCTYPE has no use in BPMN or DMN: refuse it outright.
    if root.getroottree().docinfo.doctype:
        raise BundleError("DOCTYPE declarations are not allowed", file=filename)
    for problem in problems(filename, root):
        raise problem


def problems(filename: str, root: etree._Element) -> list[BundleError]:
    """Every expression and script of a parsed BPMN or DMN file that the sandbox would refuse, in file order."""
    found = []
    for element in root.iter(etree.Element):
        name, parent = etree.QName(element), element.getparent()
        mode = _CODE.get((None, name.localname)) or (
            parent is not None and _CODE.get((etree.QName(parent).localname, name.localname)))
        source = element.text or ""
        if name.localname == "property" and element.get("name") in EXPRESSION_PROPERTIES:
            mode, source = "eval", element.get("value") or ""
        text = source.strip()
        if not mode or not _known(name.namespace) or not text or mode == "cell" and text == "-":
            continue
        try:
            check(cell(text) if mode == "cell" else source, "exec" if mode == "exec" else "eval")
        except (ForbiddenCode, SyntaxError) as exc:
            owner = next((e.get("id") for e in (element, *element.iterancestors()) if e.get("id")), None)
            where = {"file": filename, "line": element.sourceline, "element": owner}
            if isinstance(exc, ForbiddenCode):
                found.append(ForbiddenCode(exc.message, **where))
            else:
                found.append(BundleError(foreign(text, mode) or f"表达式语法错误，须为 Python (syntax error: "
                                                               f"{exc.msg} in {text!r})", **where))
    return found


_JUEL = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.S)
_RANGE = re.compile(r"^\s*([\[\]\(])\s*([^.\s]+)\s*\.\.\s*([^.\s]+)\s*([\[\]\)])\s*$")


def foreign(text: str, mode: str) -> str | None:
    """Why an expression written in another modeler's language does not run here, and what to write instead:
    Camunda's ``${…}`` (JUEL), Zeebe's ``= …`` and DMN's FEEL ranges ``[80..90)`` are not Python."""
    juel = _JUEL.match(text)
    if juel:
        inner = juel.group(1).strip().replace("&&", " and ").replace("||", " or ").replace("!", " not ")
        inner = re.sub(r"\s+", " ", inner).replace("not =", "!=").strip()
        return (f"表达式 {text} 是 Camunda 的 JUEL 写法 ${{…}}，本系统的表达式须为 Python，应写为 {inner} "
                f"(syntax error: {text} is Camunda's JUEL; expressions here are Python: write {inner})")
    if text.startswith("=") and not text.startswith("=="):
        inner = text[1:].strip()
        return (f"表达式 {text} 是 Camunda 8 的 FEEL 写法（以 = 开头），本系统的表达式须为 Python，应写为 {inner} "
                f"(syntax error: {text} is FEEL as Camunda 8 writes it; expressions here are Python: write {inner})")
    feel = _RANGE.match(text) if mode == "cell" else None
    if feel:
        left, low, high, right = feel.groups()
        python = f"{low} {'<=' if left == '[' else '<'} ? {'<=' if right == ']' else '<'} {high}"
        return (f"单元格 {text} 是 FEEL 的区间写法，本系统的单元格须为 Python，应写为 {python} "
                f"(语法错误 syntax error: the FEEL range {text} is not Python: write {python})")
    return None
