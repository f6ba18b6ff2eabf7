"""The grade table editor of a draft (issue 11): bands over the scale above dmn-js's decision table.

The page reads the draft's DMN file and what it needs from the rest of the bundle (grades, scale, veto items),
and saves through the draft file API (``PUT /api/v1/procedures/drafts/<id>/files/<name>``), which answers with
the findings the page puts on their rows. Nothing is written here.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from engine.errors import NotFound
from engine.procedure import drafts, grading

from .security import admin_required, engine

bp = Blueprint("edit_grades", __name__, url_prefix="/admin/procedures/drafts")


def dmn_file(files: dict[str, str], decision: str) -> str | None:
    """The DMN file that holds ``decision`` (else the first DMN file), or None."""
    names = sorted(n for n in files if n.endswith(".dmn"))
    return next((n for n in names if f'id="{decision}"' in files[n]), names[0] if names else None)


@bp.get("/<int:draft_id>/grades")
@admin_required
def grade_table(draft_id: int):
    with engine().store.read() as db:
        files = dict(drafts.get(db, draft_id).files)
    name = dmn_file(files, grading.settings(files)["decision"])
    if name is None:
        raise NotFound(f"草稿 {draft_id} 没有 DMN 文件 (draft {draft_id} has no DMN file)")
    return redirect(url_for("edit_grades.page", draft_id=draft_id, name=name))


@bp.get("/<int:draft_id>/grades/<path:name>")
@admin_required
def page(draft_id: int, name: str):
    with engine().store.read() as db:
        draft = drafts.get(db, draft_id)
        files = dict(draft.files)
        if not name.endswith(".dmn") or name not in files:
            raise NotFound(f"草稿 {draft_id} 没有 DMN 文件 {name} (draft {draft_id} has no DMN file '{name}')")
        findings = drafts.findings(draft, engine().runner.script_engine.environment.globals)
    data = {"draft": draft_id, "file": name, "revision": draft.revision, "text": files[name],
            "editable": draft.published_version_id is None, **grading.settings(files),
            "findings": [f.as_dict() for f in findings if f.file == name],
            "api": url_for("procedures_api.api_save_file", draft_id=draft_id, name=name)}
    return render_template("admin/grades.html", data=data, draft=draft, name=name,
                           others=sorted(n for n in files if n.endswith(".dmn") and n != name))
