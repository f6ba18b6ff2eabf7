"""Findings: the problems a check of a bundle collects, each with where it is, how bad, and why.

Every check of a bundle reports to a ``Report`` instead of raising at its first problem, so that one pass lists
them all. An error blocks deploying and publishing; a warning is said and does not. ``Report.raise_errors``
turns the errors into the one BundleError that deploy has always raised.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from lxml import etree

from ..errors import BundleError

logger = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem of a draft: where it is, how bad it is, and why, for an administrator."""

    file: str | None
    line: int | None
    element: str | None  # the BPMN/DMN element's id, a form field's path, a scheme row's id
    name: str | None  # that element's name, for people
    severity: str  # "error" blocks publishing; "warning" does not
    reason: str  # in Chinese with English

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        if self.element:
            where = f"{where} [{self.element}]" if where else f"[{self.element}]"
        return f"{where}: {self.reason}" if where else self.reason


class Report:
    """The findings of one check of a bundle, in the order the checks made them."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._raised: dict[int, BundleError] = {}  # index of a finding -> the exception it came from

    def error(self, reason: str, file: str | None = None, line: int | None = None, element: str | None = None,
              name: str | None = None) -> None:
        self.findings.append(Finding(file, line, element, name, ERROR, reason))

    def warning(self, reason: str, file: str | None = None, line: int | None = None, element: str | None = None,
                name: str | None = None) -> None:
        self.findings.append(Finding(file, line, element, name, WARNING, reason))

    def at(self, severity: str, reason: str, file: str, node: etree._Element) -> None:
        """A finding about an XML element: its line, id and name."""
        self.findings.append(Finding(file, node.sourceline, node.get("id"), node.get("name"), severity, reason))

    def add(self, exc: BundleError, line: int | None = None) -> None:
        """An error a check raised (``line``: where it is, when the check does not know); deploy raises the same
        exception when it is the only error."""
        self._raised[len(self.findings)] = exc.with_traceback(None)  # kept with the cached check: not its frames
        self.findings.append(Finding(exc.file, exc.line or line, exc.element, None, ERROR, reason_of(exc)))

    @contextmanager
    def guard(self, file: str | None = None, line: int | None = None):
        """Run one check: what it raises becomes a finding (on ``line`` if it names none), and the next check runs."""
        try:
            yield
        except BundleError as exc:
            self.add(exc, line)
        except Exception as exc:  # a check tripped on input odd enough to break it: say so, never a traceback
            logger.exception("a check of %s failed unexpectedly", file or "the bundle")
            self.error(f"无法检查此文件 (the file could not be checked): {type(exc).__name__}: {exc}", file=file)

    def drop(self, unwanted) -> None:
        """Leave out the findings for which ``unwanted(index, finding)`` is true."""
        kept = [(n, f) for n, f in enumerate(self.findings) if not unwanted(n, f)]
        self._raised = {new: self._raised[old] for new, (old, _) in enumerate(kept) if old in self._raised}
        self.findings = [f for _, f in kept]

    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    def name_elements(self, trees: dict[str, etree._Element]) -> None:
        """Give each finding about an element of an XML file that element's name, and its line when it has none."""
        found: dict[tuple[str, str], etree._Element] = {}
        for file, tree in trees.items():
            for node in tree.iter(etree.Element):
                if node.get("id"):
                    found.setdefault((file, node.get("id")), node)
        for n, f in enumerate(self.findings):
            node = found.get((f.file, f.element)) if f.file and f.element else None
            if node is not None and (f.name is None or f.line is None):
                self.findings[n] = Finding(f.file, f.line or node.sourceline, f.element, f.name or node.get("name"),
                                           f.severity, f.reason)

    def raise_errors(self) -> None:
        """Raise one BundleError listing every error (the first one gives its file, line, element and class)."""
        listed = [(n, f) for n, f in enumerate(self.findings) if f.severity == ERROR]
        if not listed:
            return
        n, first = listed[0]
        if len(listed) == 1 and n in self._raised:
            raise self._raised[n]
        reason = first.reason
        if len(listed) > 1:
            reason += "\n" + "\n".join(f"  - {f}" for _, f in listed[1:])
        kind = type(self._raised[n]) if n in self._raised else BundleError
        error = kind(reason, file=first.file, line=first.line, element=first.element)
        error.details["problems"] = [{"file": f.file, "line": f.line, "element": f.element, "name": f.name,
                                      "reason": f.reason} for _, f in listed]
        raise error


def reason_of(exc: BundleError) -> str:
    """The reason of a BundleError without the "file:line [element]: " its message starts with."""
    reason = getattr(exc, "reason", None)
    if reason is not None:
        return reason
    if (exc.file or exc.line or exc.element) and ": " in exc.message:
        return exc.message.split(": ", 1)[1]
    return exc.message
