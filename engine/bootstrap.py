"""``kaohe init``: schema, the shipped procedures, their regions, the roles and the demo accounts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from . import config
from .engine import Engine
from .people import accounts
from .people.accounts import Grant
from .procedure import bodies
from .store import upgrade
from .store.models import User

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Kaohe@2025"

# One account per national role; the variant's key prefixes the local ones (ziyang-, dazhou-, …).
_SHARED_ROLES = [
    ("lead", "lead_agency", "牵头部门经办人"),
    ("approver", "approver", "审定机关"),
    ("expert", "assessment_group", "考核工作组专家"),
    ("recipient", "recipient", "干部主管部门"),
]


@dataclass
class InitReport:
    deployed: list[str]
    regions: int
    users: list[tuple[str, str]]  # username, what the account is for


def bundled_variants() -> list[Path]:
    return sorted(p for p in config.PROCESSES.iterdir() if (p / "bundle.yaml").is_file())


def init(engine: Engine, demo: bool = True) -> InitReport:
    """Create or migrate the schema and deploy every bundled procedure; safe to run again."""
    upgrade(engine.store)
    with engine.store.write() as session:
        accounts.ensure_roles(session)
    deployed, regions, users = [], 0, []
    for folder in bundled_variants():
        bundle = engine.check(folder)
        version, created = engine.deploy(folder)
        deployed.append(f"{version.variant} v{version.version}" + ("" if created else " (unchanged)"))
        regions += engine.load_regions(bundle)
        if demo:
            users += _demo_users(engine, bundle)
    if demo:
        users += _ensure_user(engine, "admin", "系统管理员", [Grant("admin")])
    return InitReport(deployed, regions, users)


def _demo_users(engine: Engine, bundle) -> list[tuple[str, str]]:
    key = bundle.key
    prefix = "" if key.startswith("national") else key.split("-")[0] + "-"
    made = []
    for name, role, title in _SHARED_ROLES:
        made += _ensure_user(engine, prefix + name, title, [Grant(role, variant=key)])
    units = {u["code"]: u["name"] for u in bundle.scheme["units"]}
    for code, name in units.items():
        made += _ensure_user(engine, f"{prefix}unit-{code}", name, [Grant("member_unit", unit=code, variant=key)])
    for code, body in bodies.declared(bundle.manifest).items():  # the variant's own bodies (bundle.yaml)
        made += _ensure_user(engine, prefix + code.replace("_", "-"), body["name"], [Grant(code, variant=key)])
    for region in bundle.regions:
        # A division code names a government; a letter code a 管委会 or a department (杨陵: 区发展改革局).
        title = f"{region['name']}人民政府" if region["code"].isdigit() else region["name"]
        made += _ensure_user(engine, f"{prefix}gov-{region['code']}", title,
                             [Grant("assessed", region=region["code"], variant=key)])
    return made


def _ensure_user(engine: Engine, username: str, display_name: str, grants: list[Grant]) -> list[tuple[str, str]]:
    with engine.store.write() as session:
        if session.scalars(select(User).where(User.username == username)).first() is not None:
            return []
        accounts.create_user(session, username, display_name, grants, password=DEMO_PASSWORD)
    return [(username, display_name)]
