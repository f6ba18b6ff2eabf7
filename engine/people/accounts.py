"""Users, their roles by region and unit, password hashes, and who may act on which task."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import NotFound, PermissionDenied
from ..store import direct
from ..store.models import InboxTask, Role, RoleAssignment, User

ROLE_NAMES = {
    "assessed": "被考核政府",
    "lead_agency": "牵头部门",
    "member_unit": "成员单位",
    "assessment_group": "考核工作组/专家",
    "approver": "审定机关",
    "recipient": "结果接收机关",
    "admin": "系统管理员",
}

# scrypt cost: about 50 ms on one core, 16 MiB of memory.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    return "scrypt${}${}${}${}${}".format(_N, _R, _P, *(base64.b64encode(x).decode() for x in (salt, digest)))


def check_password(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=64 * 1024 * 1024, dklen=len(expected))
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Grant:
    """One role a user holds: for one variant, one region and one member unit (None: all of them)."""

    role: str
    region: str | None = None
    unit: str | None = None
    variant: str | None = None

    def covers(self, task) -> bool:
        """Whether this grant lets its holder act on ``task`` (an inbox row)."""
        # A body a variant declares is that variant's: its grant must name the variant to cover anything.
        return (self.role == task.role
                and (self.variant is not None or self.role in ROLE_NAMES)
                and (self.variant is None or self.variant == task.variant)
                and (self.region is None or self.region == task.region)
                and (task.unit is None or self.unit is None or self.unit == task.unit))


def ensure_roles(session: Session) -> None:
    for code, name in ROLE_NAMES.items():
        if session.get(Role, code) is None:
            session.add(Role(code=code, name=name))


def create_user(session: Session, username: str, display_name: str, grants: list[Grant],
                password: str | None = None, email: str | None = None) -> User:
    user = User(username=username, display_name=display_name, email=email,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    for grant in grants:
        if grant.role not in ROLE_NAMES and session.get(Role, grant.role) is None:
            # A body a variant declares: its row only anchors grants; its name is read from bundle.yaml.
            session.add(Role(code=grant.role, name=grant.role))
            session.flush()
        session.add(RoleAssignment(user_id=user.id, role=grant.role, variant=grant.variant,
                                   region=grant.region, unit=grant.unit))
    return user


#: The languages an account may keep (its holder's last choice; notices' mails are written in it).
LANGUAGES = ("zh", "en")


def set_language(session: Session, user_id: int, language: str) -> None:
    """Keep a user's choice of language on the account, for what reaches them outside a page (mails)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
    user = session.get(User, user_id)
    if user is not None:
        user.language = language


def grants_of(session: Session, username: str) -> list[Grant]:
    """The roles an active user holds; NotFound for an unknown or deactivated user."""
    rows = _GRANTS.all(session, {"username": username})
    if not rows:
        raise NotFound(f"用户 {username} 不存在或已停用 (no active user '{username}')")
    return [Grant(role, region, unit, variant) for _, role, region, unit, variant in rows if role is not None]


# Read for every action a user takes: built once, run on the driver.
_GRANTS = direct.Statement(
    select(User.id, RoleAssignment.role, RoleAssignment.region, RoleAssignment.unit, RoleAssignment.variant)
    .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
    .where(User.username == bindparam("username"), User.active.is_(True)))


def authorize(grants: list[Grant], task: InboxTask, username: str) -> None:
    """Raise PermissionDenied unless one grant covers the task's role, region and unit."""
    if not any(g.covers(task) for g in grants):
        # Says only "not yours": naming the role, region and unit would tell them to whoever guesses task ids.
        raise PermissionDenied(f"无权办理该任务 (task {task.id} is not yours)")
