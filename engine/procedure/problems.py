"""Every problem of a bundle at once, for the library's check (issue 10).

``check_all`` is what the library page, the API and ``kaohe procedures check`` call: each check of
``bundle.inspect`` reports all it finds, with its severity, instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import bundle
from .findings import ERROR, WARNING, Finding

__all__ = ["ERROR", "WARNING", "Finding", "by_file", "check_all", "errors"]


def check_all(files: dict[str, str], helpers: Iterable[str] = ()) -> list[Finding]:
    """The problems of a bundle given as ``{relative name: text}``; no errors when it can be published."""
    return list(bundle.inspect(files, helpers)[1].findings)


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings that block publishing."""
    return [f for f in findings if f.severity == ERROR]


def by_file(findings: list[Finding]) -> list[tuple[str | None, list[Finding]]]:
    """The findings grouped by file (bundle-wide ones first), each file's in line order."""
    files = sorted({f.file for f in findings}, key=lambda name: (name is not None, name or ""))
    return [(name, sorted((f for f in findings if f.file == name), key=lambda f: (f.line is None, f.line or 0)))
            for name in files]
