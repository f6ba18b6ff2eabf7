"""Bodies: who does a variant's work. The seven built-in roles, and the bodies a variant declares in bundle.yaml.

A body is a code (what lanes, grants and escalation name), a name people read, and its *powers*: what its
holders may see and do besides the tasks of its lanes. A built-in role is a preset of powers; a declared body
takes a preset (``like: approver``) or lists its powers. docs/bundles.md ("Bodies") says it for administrators.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import BundleError
from ..people.accounts import ROLE_NAMES
from ..store import direct
from ..store.models import ProcessVersion

#: What a body may be given, in bundle.yaml's words: follow every region of a procedure (the campaign board,
#: every instance, every result, the raw data); see its own region's instance (an assessed government); score
#: indicators (a member unit: sees the instances of its grant's regions, its scores kept from other scorers);
#: assess on site (an assessment group: its work read by scorers, and by the region once announced); receive
#: the announced results; supervise (start campaigns, reassign tasks, release other people's claims).
POWERS = ("sees_all_regions", "own_region", "scores", "assesses", "receives_results", "supervises")
#: The built-in roles as presets of powers; ``admin`` is above them all (``Viewer.is_admin``).
PRESETS: dict[str, frozenset[str]] = {
    "assessed": frozenset({"own_region"}),
    "lead_agency": frozenset({"sees_all_regions", "supervises"}),
    "member_unit": frozenset({"scores"}),
    "assessment_group": frozenset({"sees_all_regions", "assesses"}),
    "approver": frozenset({"sees_all_regions"}),
    "recipient": frozenset({"receives_results"}),
    "admin": frozenset({"sees_all_regions", "supervises"}),
}
_CODE = re.compile(r"[a-z][a-z0-9_]{1,31}")
_KEYS = {"code", "name", "like", "powers"}


def check(manifest: dict) -> None:
    """``bodies:`` is a list of {code, name, like | powers} with new, distinct codes; BundleError otherwise."""
    entries = manifest.get("bodies")
    if entries is None:
        return
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BundleError("bodies 应为 {code, name, like 或 powers} 的列表 (bodies must be a list of "
                          "{code, name, like or powers})", file="bundle.yaml")
    seen: set[str] = set()
    for entry in entries:
        code = entry.get("code")
        where = f"bodies: {code}"
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise BundleError(f"机构代码 {code!r} 无效 (a body's code is 2-32 lower-case letters, digits or _, "
                              f"starting with a letter)", file="bundle.yaml")
        if code in ROLE_NAMES:
            raise BundleError(f"机构代码 {code} 是内置角色 ({where}: a built-in role; lanes may name it without "
                              f"declaring it)", file="bundle.yaml")
        if code in seen:
            raise BundleError(f"机构代码 {code} 重复 ({where}: declared twice)", file="bundle.yaml")
        seen.add(code)
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise BundleError(f"{where}: 未知的键 (unknown keys): {', '.join(map(str, unknown))}", file="bundle.yaml")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise BundleError(f"{where}: 须有名称 (a body needs a name of 1-100 characters)", file="bundle.yaml")
        if ("like" in entry) == ("powers" in entry):
            raise BundleError(f"{where}: 须写 like（仿照的内置角色）或 powers（权限列表）之一 (state either like: a "
                              f"built-in role, or powers: a list)", file="bundle.yaml")
        if "like" in entry and entry["like"] not in set(PRESETS) - {"admin"}:
            raise BundleError(f"{where}: like 须为内置角色 (like must be one of "
                              f"{', '.join(r for r in PRESETS if r != 'admin')})", file="bundle.yaml")
        powers = entry.get("powers", [])
        if not isinstance(powers, list) or not all(p in POWERS for p in powers):
            raise BundleError(f"{where}: 未知的权限 (powers must be a list of {', '.join(POWERS)})",
                              file="bundle.yaml")


def declared(manifest: dict) -> dict[str, dict]:
    """The bodies a (checked) manifest declares: code -> {name, powers}."""
    return {e["code"]: {"name": e["name"].strip(),
                        "powers": PRESETS[e["like"]] if "like" in e else frozenset(e["powers"])}
            for e in manifest.get("bodies") or []}


def codes(manifest: dict) -> set[str]:
    """What lanes, grants and escalation of this variant may name: the built-in roles and its own bodies."""
    return set(ROLE_NAMES) | set(declared(manifest))


#: content hash -> the bodies a version declares: a version's content never changes, so each is read once.
_DECLARED: dict[str, dict[str, dict]] = {}


#: The current versions (of some variants): read on every request (viewer_of), so built once.
_CURRENT = select(ProcessVersion.variant, ProcessVersion.content_hash).where(ProcessVersion.is_current.is_(True))
_CURRENT_DIRECT = direct.Statement(_CURRENT)
_CURRENT_OF = _CURRENT.where(ProcessVersion.variant.in_(bindparam("variants", expanding=True)))


def current(session: Session, variants=None):
    """(variant, code, {name, powers}) of each body the current versions (of ``variants``) declare."""
    if variants is None:
        found_rows = _CURRENT_DIRECT.all(session, {})
    else:
        found_rows = session.connection().execute(_CURRENT_OF, {"variants": list(variants)}).all()
    for variant, digest in found_rows:
        found = _DECLARED.get(digest)
        if found is None:  # the manifest only on a miss: viewer_of asks on every request
            manifest = session.scalar(select(ProcessVersion.manifest).where(ProcessVersion.content_hash == digest))
            found = _DECLARED[digest] = declared(manifest)
        for code, body in found.items():
            yield variant, code, body


def powers(session: Session, variants=None) -> dict[tuple[str, str], frozenset[str]]:
    """(variant, code) -> powers of every body the current versions declare (of ``variants``, if given)."""
    return {(variant, code): body["powers"] for variant, code, body in current(session, variants)}


def names(session: Session) -> dict[tuple[str | None, str], str]:
    """(variant, code) -> name of every declared body, and (None, code) -> name of each built-in role."""
    found: dict[tuple[str | None, str], str] = {(None, code): name for code, name in ROLE_NAMES.items()}
    found.update({(variant, code): body["name"] for variant, code, body in current(session)})
    return found


def of_variant(session: Session, variant: str) -> dict[str, str]:
    """code -> name of the bodies one may grant in ``variant``: the built-in roles, then its declared bodies."""
    return {**ROLE_NAMES, **{code: body["name"] for _, code, body in current(session, [variant])}}

