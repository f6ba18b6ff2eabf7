"""Compare two procedures on one page: both diagrams side by side, coloured, and a table of every change.

``/admin/procedures/diff?from=A&to=B`` compares two versions (process_version ids; the API and the command line
also take ``variant:number``) or a draft (``draft:ID``) with anything else. Shortcuts redirect there: a version
against the one before it or against the template its variant was derived from, a draft against the version it
was copied from or against the template. Administrators, and read-only the lead agency of every variant compared
(``Viewer.reads_library``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import NotFound, PermissionDenied
from engine.procedure import diff, drafts, library
from engine.procedure.diff import sources
from engine.procedure.diff.sources import Source
from engine.store.models import ProcessVersion

from .security import engine, login_required

bp = Blueprint("diffs", __name__, url_prefix="/admin/procedures")


@bp.app_context_processor
def _template_variant() -> dict:
    """For the draft page's diff links: the national template has no template of its own."""
    return {"template_variant": library.TEMPLATE}


def _check(variant: str | None) -> None:
    """Administrators only: a diff is made of the procedure's machinery (process ids, message and variable names,
    settings) that the lead agency, which reads the library by names, is not shown."""
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可比较流程版本 (only administrators may compare procedure versions)")


def source(db, ref: str) -> Source:
    """One side of a diff, if the viewer may read it."""
    side = sources.find(db, ref)
    _check(side.variant)
    return side


def result(args: Mapping) -> dict:
    """The diff of ``from`` and ``to``, as the page and the API show it."""
    with engine().store.read() as db:
        before, after = source(db, args.get("from", "")), source(db, args.get("to", ""))
    return {"from": _side(before), "to": _side(after), **diff.compare(before.files, after.files)}


def _side(side: Source) -> dict:
    return {"label": side.label, "ref": side.ref, "variant": side.variant, "version_id": side.version_id,
            "draft_id": side.draft_id, "files": sorted(side.files)}


@bp.get("/diff")
@login_required
def page():
    _check(None)
    with engine().store.read() as db:
        rows = [r for r in db.scalars(select(ProcessVersion).order_by(ProcessVersion.variant, ProcessVersion.version))
                if g.viewer.is_admin]
        shortcuts = _templates(db, [r for r in rows if r.is_current])
    current = _(" (current)")
    choices = [(r.id, f"{r.title} · {r.variant} v{r.version}{current if r.is_current else ''}") for r in rows]
    chosen = request.args.get("from"), request.args.get("to")
    words = {"added": _("added"), "removed": _("removed"), "changed": _("changed")}
    if not all(chosen):
        return render_template("admin/diff.html", choices=choices, chosen=chosen, result=None, changes=words,
                               shortcuts=shortcuts)
    found = result(request.args)
    for key in ("from", "to"):  # a draft is not among the versions: offer it as chosen
        if found[key]["draft_id"] is not None:
            choices.append((found[key]["ref"], found[key]["label"]))
    diagrams = _diagram_files(found)
    marks = [{"element": c["element"], "change": c["change"]} for s in found["sections"]
             if s["key"] in ("bpmn", "lanes") for c in s["changes"]]
    urls = {key: url_for("diffs.diagram", ref=found[key]["ref"], file=name) for key, name in diagrams.items()}
    diagram = diagrams["to"] or diagrams["from"]
    return render_template("admin/diff.html", choices=choices, chosen=chosen, result=found, diagram=diagram,
                           urls=urls, marks=json.dumps(marks, ensure_ascii=False), changes=words, shortcuts=[])


def _templates(db, rows: list[ProcessVersion]) -> list[tuple[str, str, int, int]]:
    """For each variant's current version, its template's version: (variant title, template title, ids)."""
    found = []
    for row in rows:
        template = sources.template_of(db, row.variant)
        if template is not None and g.viewer.is_admin:
            found.append((row.title, template.title, template.id, row.id))
    return found


def _diagram_files(found: dict) -> dict[str, str | None]:
    """The BPMN file each side shows: the one asked for (``file=``), else the first both sides have, else each
    side's first (a bundle that renamed its diagram file)."""
    names = {key: [n for n in found[key]["files"] if n.endswith(".bpmn")] for key in ("from", "to")}
    asked = request.args.get("file")
    if asked and any(asked in n for n in names.values()):
        return {key: asked for key in names}
    common = [n for n in names["to"] if n in names["from"]]
    if common:
        return {key: common[0] for key in names}
    return {key: (n[0] if n else None) for key, n in names.items()}


@bp.get("/diff/diagram")
@login_required
def diagram():
    """One side's BPMN file, for the page's viewer; empty when that side has no such file (added or removed)."""
    name = request.args.get("file", "")
    with engine().store.read() as db:
        side = source(db, request.args.get("ref", ""))
    if not name.endswith(".bpmn"):
        raise NotFound(f"没有流程图 {name[:80]} (no diagram {name[:80]})")
    return Response(side.files.get(name, ""), mimetype="application/xml")


@bp.get("/versions/<int:version_id>/diff")
@login_required
def version_diff(version_id: int):
    """A version against the one before it (``against=previous``) or its variant's template (``template``)."""
    with engine().store.read() as db:
        row = db.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound(f"没有编号为 {version_id} 的流程版本 (no process version {version_id})")
        _check(row.variant)
        if request.args.get("against") == "template":
            other = sources.template_of(db, row.variant)
            missing = "该流程没有所依据的模板 (this procedure was not derived from a template)"
        else:
            other = sources.previous_of(db, row)
            missing = "这是该流程的第一版 (this is the procedure's first version)"
    if other is None:
        raise NotFound(missing)
    return redirect(url_for("diffs.page", **{"from": other.id, "to": version_id}))


@bp.get("/drafts/<int:draft_id>/diff")
@login_required
def draft_diff(draft_id: int):
    """A draft against the version it was copied from (``against=base``) or its variant's template."""
    with engine().store.read() as db:
        row = drafts.get(db, draft_id)
        _check(row.variant)
        if request.args.get("against") == "template":
            other = sources.template_of(db, row.variant)
            if other is None and row.parent_variant:  # a new variant, not published yet: its parent as it is now
                other = db.scalars(select(ProcessVersion).where(ProcessVersion.variant == row.parent_variant,
                                                                ProcessVersion.is_current.is_(True))).first()
            missing = "该草稿没有所依据的模板 (this draft was not derived from a template)"
        else:
            other = db.get(ProcessVersion, row.base_version_id) if row.base_version_id else None
            missing = "该草稿不是从已发布的版本复制的 (this draft was not copied from a published version)"
    if other is None:
        raise NotFound(missing)
    return redirect(url_for("diffs.page", **{"from": other.id, "to": f"draft:{draft_id}"}))
