"""``kaohe deploy``: the whole job of putting a variant into service, not only storing its version.

Checks and stores the bundle (``Engine.deploy``), adds the regions of its ``regions.yaml`` that the
region table lacks (rows an administrator edited are kept as they are), and with ``accounts`` gives
every region of the variant without one an account for its assessed government: no password, so
nobody can sign in with it until an administrator sets one (/admin/users).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ..engine import Engine
from ..people import accounts
from ..people.accounts import Grant
from ..people.regions import load_defaults
from ..records import audit
from ..store.models import ProcessVersion, Region, RoleAssignment, User
from . import problems, versions
from .bundle import read_folder


@dataclass
class DeployReport:
    version: ProcessVersion
    created: bool  # a new version
    current: int  # the variant's current version number after the deploy
    previous: int | None  # and before it
    regions_added: list[tuple[str, str]] = field(default_factory=list)
    regions_kept: list[str] = field(default_factory=list)  # in the table already, with another name or variant
    regions_total: int = 0  # the variant's regions in the table
    accounts_created: list[str] = field(default_factory=list)
    without_account: list[str] = field(default_factory=list)  # regions nobody is an assessed government of
    warnings: list[problems.Finding] = field(default_factory=list)  # what the check found that does not block


def deploy(engine: Engine, folder: Path, actor: str = "system", make_current: bool = False,
           create_accounts: bool = False) -> DeployReport:
    """Deploy a bundle folder, load its regions and (on request) the assessed governments' accounts."""
    files = read_folder(Path(folder), engine.forms_library)
    return deploy_files(engine, files, actor, make_current, create_accounts)


def deploy_files(engine: Engine, files: dict[str, str], actor: str = "system", make_current: bool = False,
                 create_accounts: bool = False, comment: str | None = None,
                 parent_variant: str | None = None) -> DeployReport:
    """``deploy`` of a bundle given as ``{relative name: text}``: a draft of the library, a folder read."""
    bundle = engine.check_files(files)
    with engine.store.read() as session:
        previous = session.scalar(select(ProcessVersion.version).where(ProcessVersion.variant == bundle.key,
                                                                       ProcessVersion.is_current.is_(True)))
    version, created = engine.deploy_files(files, actor=actor, make_current=make_current, comment=comment,
                                           parent_variant=parent_variant)
    report = DeployReport(version, created, 0, previous)
    found = problems.check_all(bundle.files, engine.runner.script_engine.environment.globals)  # checked already
    report.warnings = [f for f in found if f.severity == problems.WARNING]
    with engine.store.write() as session:
        report.current = versions.current_version(session, bundle.key).version
        added, report.regions_kept = load_defaults(session, bundle.key, bundle.regions)
        report.regions_added = [(r.code, r.name) for r in added]
        session.flush()
        if added:
            audit.record(session, engine.clock.now(), actor, "regions_load",
                         data={"variant": bundle.key, "added": [r.code for r in added]})
        rows = list(session.scalars(select(Region).where(Region.region_set == bundle.key).order_by(Region.code)))
        report.regions_total = len(rows)
        covered = set(session.scalars(
            select(RoleAssignment.region).join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.role == "assessed", User.active.is_(True),
                   (RoleAssignment.variant == bundle.key) | RoleAssignment.variant.is_(None))))
        for region in rows:
            if region.code in covered:
                continue
            if not create_accounts:
                report.without_account.append(region.code)
                continue
            username = _free_username(session, [f"gov-{region.code}", f"{bundle.key}-gov-{region.code}"[:64]])
            if username is None:
                report.without_account.append(region.code)
                continue
            accounts.create_user(session, username, region.name,
                                 [Grant("assessed", region=region.code, variant=bundle.key)])
            audit.record(session, engine.clock.now(), actor, "user_create",
                         data={"user": username, "role": "assessed", "region": region.code, "variant": bundle.key})
            report.accounts_created.append(username)
    return report


def _free_username(session, candidates: list[str]) -> str | None:
    for name in candidates:
        if session.scalars(select(User.id).where(User.username == name)).first() is None:
            return name
    return None
