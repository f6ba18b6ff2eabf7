"""What a bundle shows, in the viewer's language: its English catalogue (english.yaml) when the user chose
English, the bundle's own Chinese wherever the catalogue says nothing, and always in Chinese mode."""

from __future__ import annotations

from flask import g, session
from sqlalchemy import select

from engine.procedure import english, scoring, scoring_rules
from engine.store.models import ProcessVersion

#: What a catalogue-less bundle shows in English: its Chinese.
NONE = english.Catalogue()


def wanted() -> bool:
    """Whether the viewer chose English."""
    return session.get("lang") == "en"


def of(version) -> english.Catalogue:
    """The catalogue of a loaded version to show, if the viewer chose English; an empty one otherwise."""
    return version.english if wanted() else NONE


def of_versions(db, version_ids) -> dict[int, english.Catalogue]:
    """The catalogues of these versions to show (read once per version's content), or none in Chinese mode."""
    return english.of_versions(db, version_ids) if wanted() and version_ids else {}


def step_names(version) -> dict[str, str]:
    """Every user task's BPMN id and name, as the viewer reads them."""
    words = of(version)
    return {bpmn_id: words.step(bpmn_id, name) for bpmn_id, name in version.step_names.items()}


def current_titles(db) -> dict[str, str]:
    """The title of each variant's current version, as the viewer reads it."""
    rows = db.execute(select(ProcessVersion.id, ProcessVersion.variant, ProcessVersion.title)
                      .where(ProcessVersion.is_current.is_(True))).all()
    words = of_versions(db, [r.id for r in rows])
    return {r.variant: (words[r.id].title if r.id in words else None) or r.title for r in rows}


def current_bodies(db) -> dict[tuple[str, str], str]:
    """(variant, code) -> the English name the current version of a variant gives a role or body; {} in Chinese."""
    if not wanted():
        return {}
    rows = db.execute(select(ProcessVersion.id, ProcessVersion.variant).where(ProcessVersion.is_current.is_(True)))
    rows = dict(rows.all())
    return {(rows[version_id], code): name for version_id, words in english.of_versions(db, rows).items()
            for code, name in words.bodies.items()}


def region_names() -> dict[str, str]:
    """Region code -> its English name in the current versions' catalogues (``regions:``), read once a request;
    {} in Chinese mode."""
    if not wanted():
        return {}
    found = g.get("english_regions")
    if found is None:
        from .security import engine

        found = {}
        with engine().store.read() as db:
            ids = db.scalars(select(ProcessVersion.id).where(ProcessVersion.is_current.is_(True))).all()
            for words in english.of_versions(db, ids).values():
                found.update(words.regions)
        g.english_regions = found
    return found


def region_name(code: str | None, chinese: str | None) -> str | None:
    """A region's name as the viewer reads it: the bundle's English in English mode, else the given Chinese."""
    return region_names().get(str(code)) or chinese if code else chinese


def form(version, form_name: str | None, schema: dict, ui: dict) -> tuple[dict, dict]:
    """A user task's form with the catalogue's titles, descriptions, help and option titles."""
    return of(version).form(form_name, schema, ui)


def indicator_label(words: english.Catalogue, indicator: dict) -> str:
    """「T1 Pass rate of manufactured products (15 points; …)」: an indicator as an English form row names it."""
    code = str(indicator["code"])
    rule = f"; {describe(indicator)}" if indicator.get("rule") else ""
    return f"{code} {words.scheme_name('indicators', code, indicator['name'])} ({indicator['points']} points{rule})"


def describe(indicator: dict) -> str:
    """The scoring rule in English words (scoring_rules.describe says it in Chinese)."""
    rule = indicator["rule"]
    kind = rule["kind"]
    if kind == "shortfall":
        text = f"target {rule['target']}, {rule['deduct']} deducted per {rule.get('per', 1)} below it, down to 0"
    elif kind == "interpolate":
        (x0, p0), (x1, p1) = rule["low"], rule["high"]
        text = f"{p0} points at {x0} or below, {p1} at {x1} or above, in proportion between"
    elif kind == "per_occurrence":
        text = f"{rule['deduct']} deducted per occurrence, at most {rule.get('cap', indicator['points'])}"
    else:
        text = f"{rule['add']} added per item, at most {indicator['points']}"
    return f"{text}; give the {'count' if kind in scoring_rules.COUNTED else 'measured value'}"


def scheme_labels(version, labels: dict[str, str]) -> dict[str, str]:
    """The labels of a form's indicator and veto rows (web.tasks.indicator_rows) in English, where it has them."""
    words = of(version)
    if not words.scheme:
        return labels
    scheme = version.scheme
    english_labels = dict(labels)
    english_labels.update((str(i["code"]), indicator_label(words, i)) for i in scheme.get("indicators", []))
    english_labels.update((str(v["code"]), f"{v['code']} {words.scheme_name('veto', v['code'], v['name'])}")
                          for v in scoring.veto_items(scheme))
    return english_labels


def indicator_names(version) -> dict[str, str] | None:
    """Indicator code -> English name when the viewer chose English (the Chinese where the catalogue has none);
    None in Chinese mode."""
    if not wanted():
        return None
    words = of(version)
    return {str(i["code"]): words.scheme_name("indicators", i["code"], i["name"])
            for i in version.scheme.get("indicators", [])}


def unit_name(version, code: str | None, chinese: str | None) -> str | None:
    return of(version).scheme_name("units", code, chinese) if code else chinese


def body_names() -> dict[tuple[str, str], str]:
    """(variant, code) -> English body name, read once a request (English mode only)."""
    found = g.get("english_bodies")
    if found is None:
        from .security import engine

        with engine().store.read() as db:
            found = g.english_bodies = current_bodies(db)
    return found


def name_grades(version, view, drawn: dict | None = None) -> dict | None:
    """Grades that are words (优秀, 良好 …) in English, where the catalogue's ``grades`` names them: in the
    ranking rows of a board (``view.results``) and under the bars of its chart (``drawn``, returned)."""
    names = of(version).grades
    if names:
        for row in view.results:
            if row.get("grade") in names:
                row["grade"] = names[row["grade"]]
        for bar in (drawn or {}).get("bars", []):
            bar["label"] = names.get(bar["grade"], bar["grade"])
    return drawn
