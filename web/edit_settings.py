"""The general settings of a draft (issue 11): title, assessment year, scale, grades, consequences and calendar
of its bundle.yaml, as a plain form, so that an administrator changes them without uploading a file.

Only those settings are rewritten (``manifest_edit``: every other section and every comment stays as it was);
the save carries the revision the page was read at (a stale one is refused naming who saved and when) and is
audited as any draft save. The page shows what the library's check finds in bundle.yaml.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import BundleError, StaleDraft
from engine.procedure import drafts, manifest_edit, yamlfile
from engine.running import results

from .edit_scheme import scheme_name
from .procedures import draft_of, findings_of, revision_of
from .security import admin_required, engine, now

bp = Blueprint("edit_settings", __name__, url_prefix="/admin/procedures/drafts")

#: What the standard consequences are called; another is shown by its name.
WORDS = {"commended": _l("Commended"), "must_rectify": _l("Written rectification report"),
         "interview": _l("Interview")}
_DAY = re.compile(r"^(\d\d)-(\d\d)$")


def _form_of(manifest: dict) -> dict:
    """The form's values for a manifest as stored (what is not of the right shape shows empty, for the check's
    findings below the form to name)."""
    year = manifest.get("assessment_year")
    rules = _mapping(_mapping(manifest.get("results")).get("consequences"))
    names = list(results.STANDARD) + [n for n in rules if n not in results.STANDARD]
    grades = [str(g) for g in manifest.get("grades")] if isinstance(manifest.get("grades"), list) else []
    try:
        scale = f"{Decimal(str(manifest.get('scale', 100))).normalize():f}"
    except InvalidOperation:
        scale = str(manifest.get("scale"))

    def rule(name: str) -> dict:
        return _mapping(rules.get(name))

    return {"title": str(manifest.get("title") or ""),
            "year": year if year in ("calendar", "july") else "custom",
            "year_start": str(year.get("start", "")) if isinstance(year, dict) else "", "scale": scale,
            "grades": grades, "grades_was": grades, "failing_grade": str(manifest.get("failing_grade") or ""),
            "consequences": [{"name": n, "grades": [str(g) for g in rule(n).get("grades") or []],
                              "best": str(rule(n).get("best", "")), "last": str(rule(n).get("last", "")),
                              "vetoed": bool(rule(n).get("vetoed"))} for n in names],
            "extend_weekends": bool(_mapping(manifest.get("calendar")).get("extend_weekends")), "new": ""}


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _form_sent() -> dict:
    """The form's values as typed, kept whatever is wrong with them."""
    sent = request.form
    grades = [v.strip() for v in sent.getlist("grade")]
    was = sent.getlist("grade_was")
    names = [n for n in sent.getlist("consequence") if n and not sent.get(f"{n}_remove")]
    return {"title": sent.get("title", "").strip(), "year": sent.get("assessment_year", ""),
            "year_start": sent.get("year_start", "").strip(), "scale": sent.get("scale", "").strip(),
            "grades": [g for g in grades if g], "grades_was": [w for g, w in zip(grades, was, strict=False) if g],
            "failing_grade": sent.get("failing_grade", ""),
            "consequences": [{"name": n, "grades": sent.getlist(f"{n}_grades"), "best": sent.get(f"{n}_best", ""),
                              "last": sent.get(f"{n}_last", ""), "vetoed": bool(sent.get(f"{n}_vetoed"))}
                             for n in names],
            "extend_weekends": bool(sent.get("extend_weekends")), "new": sent.get("new_consequence", "").strip()}


def _settings(form: dict, manifest: dict) -> tuple[dict, list[str]]:
    """The settings a sent form asks for, and every problem with it (a grade renamed in the form is followed
    by the failing grade and the consequences that named it)."""
    problems, out = [], {}
    out["title"] = form["title"]
    if not form["title"] or len(form["title"]) > 200:
        problems.append(_("The name of the assessment is required (at most 200 characters)."))
    if form["year"] in ("calendar", "july"):
        out["assessment_year"] = form["year"]
    elif form["year"] == "custom":
        day = _DAY.match(form["year_start"])
        try:
            date(2001, int(day.group(1)), int(day.group(2))) if day else date.fromisoformat("x")
        except ValueError:
            problems.append(_("The start of the year must be a day written MM-DD, such as 09-01 (not 02-29)."))
        old = manifest.get("assessment_year")
        out["assessment_year"] = {"start": form["year_start"],
                                  **({"label": old["label"]} if isinstance(old, dict) and "label" in old else {})}
    else:
        problems.append(_("Choose when the assessment year starts."))
    try:
        scale = Decimal(form["scale"])
        if not scale.is_finite() or scale <= 0 or scale > 10**9:
            raise InvalidOperation
        out["scale"] = int(scale) if scale == scale.to_integral() else float(scale)
    except InvalidOperation:
        problems.append(_("The total points must be a positive number, such as 100 or 150.5."))
    grades = form["grades"]
    renamed = {w: g for g, w in zip(grades, form["grades_was"], strict=False) if w and w not in grades}
    if not grades and (manifest.get("grades") or manifest.get("grade_decision")):
        problems.append(_("At least one grade is required: the grade table gives one of them."))
    if len(set(grades)) != len(grades) or any(len(g) > 40 for g in grades):
        problems.append(_("Each grade needs its own name (at most 40 characters)."))
    out["grades"] = grades or None
    failing = renamed.get(form["failing_grade"], form["failing_grade"])
    if grades and failing not in grades:
        problems.append(_("The failing grade must be one of the grades."))
    out["failing_grade"] = failing if grades else None
    rules = {}
    if form["new"]:
        if not results._IDENTIFIER.match(form["new"]) or form["new"] in [c["name"] for c in form["consequences"]]:
            problems.append(_("A new consequence needs a name of letters, digits and _ not used yet, such as "
                              "warned."))
        else:
            form["consequences"].append({"name": form["new"], "grades": [], "best": "", "last": "", "vetoed": False})
            form["new"] = ""
    for item in form["consequences"]:
        rule, words = {}, WORDS.get(item["name"], item["name"])
        picked = [renamed.get(g, g) for g in item["grades"]]
        item["grades"] = picked
        if any(g not in grades for g in picked):
            problems.append(_("%(name)s: only grades of this procedure can be ticked.", name=words))
        if picked:
            rule["grades"] = [g for g in grades if g in picked]
        for key in ("best", "last"):
            text = item[key].strip()
            if text and not (text.isdigit() and len(text) < 6):
                problems.append(_("%(name)s: the first and last N must be whole numbers, 0 or more.", name=words))
            elif text and int(text):
                rule[key] = int(text)
        if item["vetoed"]:
            rule["vetoed"] = True
        if rule or item["name"] not in results.STANDARD:  # another one stays defined for the BPMN that reads it
            rules[item["name"]] = rule or {"grades": []}
    out["consequences"] = rules
    out["extend_weekends"] = form["extend_weekends"]
    out["renamed"] = renamed
    return out, problems


def _written(text: str, manifest: dict, settings: dict) -> str:
    """bundle.yaml with the settings that changed rewritten, everything else as it was."""
    for key in manifest_edit.VALUES:
        if manifest.get(key) != settings[key]:
            text = manifest_edit.set_value(text, key, settings[key])
    old = manifest.get("results") if isinstance(manifest.get("results"), dict) else None
    if (old or {}).get("consequences", {}) != settings["consequences"] and (old is not None or settings[
            "consequences"]):
        text = manifest_edit.set_section(text, "results", {**(old or {}), "consequences": settings["consequences"]})
    calendar = manifest.get("calendar") if isinstance(manifest.get("calendar"), dict) else {}
    if bool(calendar.get("extend_weekends")) != settings["extend_weekends"]:
        text = manifest_edit.set_section(text, "calendar", {**calendar, "extend_weekends": settings["extend_weekends"]})
    return text


def _page(draft, form: dict, revision: int, problems=(), stale: str | None = None, status: int = 200,
          unreadable: str | None = None):
    scheme = scheme_name(draft.files)
    found = [f for f in findings_of(draft) if f.file in ("bundle.yaml", scheme) or (f.file or "").endswith(".dmn")]
    return render_template("admin/draft_settings.html", draft=draft, form=form, revision=revision,
                           problems=problems, stale=stale, findings=found, words=WORDS, unreadable=unreadable,
                           standard=results.STANDARD, can_edit=draft.published_version_id is None,
                           has_dmn=any(n.endswith(".dmn") for n in draft.files)), status


def _manifest(draft) -> dict:
    manifest = yamlfile.load(draft.files.get("bundle.yaml", ""), "bundle.yaml")
    if not isinstance(manifest, dict):
        raise BundleError("bundle.yaml 应为映射 (bundle.yaml must be a mapping)", file="bundle.yaml")
    return manifest


@bp.get("/<int:draft_id>/settings")
@admin_required
def page(draft_id: int):
    with engine().store.read() as db:
        draft = draft_of(db, draft_id)
        try:
            return _page(draft, _form_of(_manifest(draft)), draft.revision)
        except BundleError as exc:
            return _page(draft, _form_of({}), draft.revision, unreadable=exc.message)


@bp.post("/<int:draft_id>/settings")
@admin_required
def save(draft_id: int):
    revision, form = revision_of(request.form.get("revision")), _form_sent()
    with engine().store.write() as db:
        draft = draft_of(db, draft_id)
        manifest = _manifest(draft)
        settings, problems = _settings(form, manifest)
        if problems:
            return _page(draft, form, revision, problems, status=400)
        text = _written(draft.files["bundle.yaml"], manifest, settings)
        try:
            drafts.save_file(db, draft, "bundle.yaml", text, revision, g.viewer.username, now())
        except StaleDraft as exc:
            return _page(draft, form, revision, stale=exc.message, status=409)
        draft.title = settings["title"]  # what the library lists the draft by
    flash(_("Saved."), "success")
    if settings["renamed"]:
        flash(_("Grades renamed (%(names)s): the grade table must give the new names — see the problems below and "
                "open the grade table.", names="、".join(f"{a} → {b}" for a, b in settings["renamed"].items())),
              "warning")
    return redirect(url_for("edit_settings.page", draft_id=draft_id))
