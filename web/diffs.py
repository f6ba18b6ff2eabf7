"""Compare two procedures on one page: both diagrams side by side, coloured, and a table of every change.

``/admin/procedures/diff?from=ID&to=ID`` compares two published versions (ids of process_version; the API and
the command line also take ``variant:number``). Administrators, and read-only the lead agency (a body that
supervises) of every variant compared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from flask import Blueprint, Response, g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.errors import NotFound, PermissionDenied
from engine.procedure import diff
from engine.procedure.diff.sources import Source, find_version, version_source
from engine.store.models import ProcessVersion

from .security import engine, login_required

bp = Blueprint("diffs", __name__, url_prefix="/admin/procedures")


def may_read(viewer, variant: str | None) -> bool:
    """Administrators; the lead agency (a body that supervises) of the variant, read-only."""
    return viewer.is_admin or (variant is not None and bool(viewer.holding("supervises", variant)))


def source(db, ref: str) -> Source:
    """One side of a diff, if the viewer may read it (else 403, the same as for a version that exists)."""
    side = version_source(find_version(db, ref))
    if not may_read(g.viewer, side.variant):
        raise PermissionDenied("您无权查看该流程的版本 (you may not read the versions of this procedure)")
    return side


def result(args: Mapping) -> dict:
    """The diff of ``from`` and ``to``, as the page and the API show it."""
    with engine().store.read() as db:
        before, after = source(db, args.get("from", "")), source(db, args.get("to", ""))
    return {"from": _side(before), "to": _side(after), **diff.compare(before.files, after.files)}


def _side(side: Source) -> dict:
    return {"label": side.label, "variant": side.variant, "version_id": side.version_id,
            "files": sorted(side.files)}


@bp.get("/diff")
@login_required
def page():
    if not (g.viewer.is_admin or g.viewer.holding("supervises", None)):
        raise PermissionDenied("只有管理员和牵头部门可以比较流程版本 (only administrators and the lead agency "
                               "compare procedure versions)")
    with engine().store.read() as db:
        rows = db.execute(select(ProcessVersion.id, ProcessVersion.variant, ProcessVersion.version,
                                 ProcessVersion.title, ProcessVersion.is_current)
                          .order_by(ProcessVersion.variant, ProcessVersion.version)).all()
    current = _(" (current)")
    choices = [(r.id, f"{r.title} · {r.variant} v{r.version}{current if r.is_current else ''}")
               for r in rows if may_read(g.viewer, r.variant)]
    chosen = request.args.get("from"), request.args.get("to")
    words = {"added": _("added"), "removed": _("removed"), "changed": _("changed")}
    if not all(chosen):
        return render_template("admin/diff.html", choices=choices, chosen=chosen, result=None, changes=words)
    found = result(request.args)
    diagram = _diagram_file(found)
    marks = [{"element": c["element"], "change": c["change"]} for s in found["sections"]
             if s["key"] in ("bpmn", "lanes") for c in s["changes"]]
    urls = {side: url_for("diffs.diagram", ref=found[side]["version_id"], file=diagram) for side in ("from", "to")}
    return render_template("admin/diff.html", choices=choices, chosen=chosen, result=found, diagram=diagram,
                           urls=urls, marks=json.dumps(marks, ensure_ascii=False), changes=words)


def _diagram_file(found: dict) -> str | None:
    """The BPMN file shown: the one asked for, else the first both sides have, else the first of either."""
    names = [[n for n in found[side]["files"] if n.endswith(".bpmn")] for side in ("from", "to")]
    asked = request.args.get("file")
    if asked and any(asked in n for n in names):
        return asked
    common = [n for n in names[1] if n in names[0]]
    return (common or names[1] or names[0] or [None])[0]


@bp.get("/diff/diagram")
@login_required
def diagram():
    """One side's BPMN file, for the page's viewer; empty when that side has no such file (added or removed)."""
    name = request.args.get("file", "")
    with engine().store.read() as db:
        side = source(db, request.args.get("ref", ""))
    if not name.endswith(".bpmn"):
        raise NotFound(f"没有流程图 {name} (no diagram {name})")
    return Response(side.files.get(name, ""), mimetype="application/xml")
