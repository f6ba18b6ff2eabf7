"""Every problem of a bundle at once, for the library's check (issue 10).

``check_all`` is what the library page, the API and ``kaohe procedures check`` call. For now it reports what
``bundle.check_bundle`` reports: the problems of the first check that fails (``checks.refuse`` gathers several
of one kind); the checks themselves are to report all of their problems here, each with its severity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..errors import BundleError
from . import bundle


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


def check_all(files: dict[str, str], helpers: Iterable[str] = ()) -> list[Finding]:
    """The problems of a bundle given as ``{relative name: text}``; empty when it can be published."""
    try:
        bundle.check_bundle(files, helpers)
    except BundleError as exc:
        listed = exc.details.get("problems")
        if listed:
            return [Finding(p["file"], p["line"], p["element"], None, "error", p["reason"]) for p in listed]
        reason = exc.message.split(": ", 1)[1] if (exc.file or exc.line or exc.element) and ": " in exc.message \
            else exc.message
        return [Finding(exc.file, exc.line, exc.element, None, "error", reason)]
    return []


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings that block publishing."""
    return [f for f in findings if f.severity == "error"]
