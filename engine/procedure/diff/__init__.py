"""What changed between two bundles, for people: by element, with names, in every file of a procedure.

``compare(before, after)`` takes two bundles as ``{relative name: text}`` (a folder read by
``bundle.read_folder``, a published version's ``files``, a draft's) and returns a JSON-serialisable dict:
sections (settings, diagram, lanes, deadlines, reminders, grade tables, forms, scheme, bodies, regions, other
files), each a list of changes. A change names what changed (its id or code, its name, its kind, its lane)
and how: ``added``, ``removed`` or ``changed`` with the fields that differ, each before and after as text.
Layout in a diagram is not a change here (the diagrams are compared side by side on the page).

Neither bundle has to be valid: a file that cannot be read is reported as such in "other files", and the rest
is compared as far as it goes. Nothing is stored.
"""

from __future__ import annotations

from . import bpmn, dmn, forms, manifest, report, scheme
from .model import SECTIONS, Change, Side, clip, order, pair

__all__ = ["compare", "Change", "SECTIONS", "is_empty", "report"]


def compare(before: dict[str, str], after: dict[str, str]) -> dict:
    """Every difference between two bundles, grouped by section: ``{"sections": [...], "total": n}``."""
    old, new = pair(before, after)
    changes: list[Change] = []
    changes += manifest.settings(old, new)
    changes += bpmn.compare(old, new)
    changes += bpmn.lanes(old, new)
    changes += manifest.deadlines(old, new)
    changes += manifest.reminders(old, new)
    changes += dmn.compare(old, new)
    changes += forms.compare(old, new)
    changes += scheme.compare(old, new)
    changes += manifest.bodies(old, new)
    changes += manifest.regions(old, new)
    changes += _other_files(old, new)
    sections = []
    for key, title in SECTIONS.items():
        listed = [c.as_dict() for c in changes if c.section == key]
        sections.append({"key": key, "title": title, "count": len(listed), "changes": listed})
    return {"sections": sections, "total": len(changes)}


def is_empty(result: dict) -> bool:
    """True when ``compare`` found no difference."""
    return result["total"] == 0


def _other_files(old: Side, new: Side) -> list[Change]:
    """Files no section reads (notes, a README), and files a section could not read, compared as text."""
    label = "无法读取，未逐项比较 (could not be read, not compared item by item)"
    changes = [Change("files", "changed", name, name, "文件 (file)", file=name,
                      fields=[_field("unreadable", label, old.unreadable.get(name), new.unreadable.get(name))])
               for name in sorted(old.unreadable.keys() | new.unreadable.keys())]
    covered = old.covered() | new.covered()
    for name in order(list(old.files), list(new.files)):
        if name in covered or name in old.ignored:
            continue
        a, b = old.files.get(name), new.files.get(name)
        if a == b:
            continue
        kind = "added" if a is None else "removed" if b is None else "changed"
        fields = [] if kind != "changed" else [_field("text", "内容 (text)", clip(a), clip(b))]
        changes.append(Change("files", kind, name, name, "文件 (file)", file=name, fields=fields))
    return changes


def _field(key, label, before, after) -> dict:
    return {"field": key, "label": label, "before": before, "after": after}
