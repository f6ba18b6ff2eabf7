"""Signing in: the password policy, lock-out after repeated failures, and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import access, accounts, audit
from .access import Viewer
from .errors import NotFound, PermissionDenied, ValidationError
from .store import Store
from .store.models import ApiToken, LoginState, User

logger = logging.getLogger(__name__)


class SignInFailed(PermissionDenied):
    """Wrong user name or password, or a locked or deactivated account."""

    code = "signin_failed"


@dataclass(frozen=True)
class Policy:
    """How strong a password must be and how sign-in failures are handled."""

    min_length: int = 8
    min_kinds: int = 3  # of lower case, upper case, digits, other characters
    max_failures: int = 5
    lock_minutes: int = 15

    def check(self, password: str) -> None:
        """Raise ValidationError naming what the password lacks."""
        kinds = sum(any(test(c) for c in password) for test in
                    (str.islower, str.isupper, str.isdigit, lambda c: c in string.punctuation or c == " "))
        problems = []
        if len(password) < self.min_length:
            problems.append(f"至少 {self.min_length} 个字符")
        if kinds < self.min_kinds:
            problems.append(f"至少包含大写字母、小写字母、数字、符号中的 {self.min_kinds} 类")
        if problems:
            raise ValidationError("密码强度不足：" + "，".join(problems),
                                  [{"field": "password", "message": "，".join(problems)}])


def authenticate(store: Store, now: datetime, username: str, password: str, policy: Policy = Policy()) -> User:
    """The user if the password is right and the account is not locked; every outcome is audited."""
    with store.write() as session:  # commits the failure count and the audit entry before refusing
        user, refusal = _attempt(session, now, username, password, policy)
    if refusal:
        raise SignInFailed(refusal)
    return user


def _attempt(session: Session, now: datetime, username: str, password: str, policy: Policy):
    """(user, None) on success, (None, why) on refusal, with the failure counted and audited."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    actor = username[:64] or "-"
    wrong = "用户名或密码错误 (wrong user name or password)"
    if user is None or not user.active:
        audit.record(session, now, actor, "login_failed", data={"reason": "unknown or inactive user"})
        return None, wrong
    state = _state(session, user.id)
    if state.locked_until is not None and state.locked_until > now:
        audit.record(session, now, actor, "login_locked", data={"until": state.locked_until.isoformat()})
        minutes = int((state.locked_until - now).total_seconds() // 60) + 1
        return None, (f"登录失败次数过多，账户已锁定，请 {minutes} 分钟后再试 "
                      f"(account locked for {minutes} more minutes)")
    if not accounts.check_password(user.password_hash, password):
        state.failures += 1
        locked = state.failures >= policy.max_failures
        audit.record(session, now, actor, "login_failed", data={"reason": "wrong password", "locked": locked})
        if not locked:
            return None, wrong
        state.locked_until, state.failures = now + timedelta(minutes=policy.lock_minutes), 0
        logger.warning("account %s locked after %d failed sign-ins", username, policy.max_failures)
        return None, (f"登录失败次数过多，账户已锁定 {policy.lock_minutes} 分钟 "
                      f"(account locked for {policy.lock_minutes} minutes)")
    state.failures, state.locked_until, state.last_login_at = 0, None, now
    audit.record(session, now, user.username, "login")
    return user, None


def unlock(store: Store, now: datetime, username: str, actor: str) -> None:
    with store.write() as session:
        user = _user(session, username)
        state = _state(session, user.id)
        state.failures, state.locked_until = 0, None
        audit.record(session, now, actor, "unlock", data={"user": username})


def locked_until(session: Session, user_id: int, now: datetime) -> datetime | None:
    state = session.get(LoginState, user_id)
    return state.locked_until if state and state.locked_until and state.locked_until > now else None


def change_password(store: Store, now: datetime, username: str, current: str | None, new: str, actor: str,
                    policy: Policy = Policy()) -> None:
    """Set a new password; ``current`` must be right unless an administrator resets it (``current=None``)."""
    policy.check(new)
    with store.write() as session:
        user = _user(session, username)
        if current is not None and not accounts.check_password(user.password_hash, current):
            raise ValidationError("当前密码不正确 (the current password is wrong)",
                                  [{"field": "current", "message": "当前密码不正确"}])
        user.password_hash = accounts.hash_password(new)
        state = _state(session, user.id)
        state.password_changed_at, state.failures, state.locked_until = now, 0, None
        audit.record(session, now, actor, "password", data={"user": username})


# -- API tokens -----------------------------------------------------------------------------------
def issue_token(store: Store, now: datetime, username: str, name: str, days: int | None = 365) -> str:
    """A new bearer token for ``username``; only its hash is kept, so this is the one time it is shown."""
    token = "kh_" + secrets.token_urlsafe(32)
    with store.write() as session:
        user = _user(session, username)
        session.add(ApiToken(user_id=user.id, name=name[:100] or "API", token_hash=_digest(token), created_at=now,
                             expires_at=now + timedelta(days=days) if days else None))
        audit.record(session, now, username, "token_issue", data={"name": name})
    return token


#: How often a token's last use is written: not on every call, which would make every API read a write.
LAST_USED_EVERY = timedelta(minutes=5)


def token_viewer(store: Store, now: datetime, token: str) -> Viewer | None:
    """The user a live token belongs to, with their grants (one read), or None."""
    with store.read() as session:
        found = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                                .where(ApiToken.token_hash == _digest(token))).one_or_none()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not user.active:
            return None
        who = access.viewer_of(session, user)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        with store.write(durable=False) as session:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return who


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_token(store: Store, now: datetime, user_id: int, token_id: int) -> None:
    with store.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise PermissionDenied(f"无此令牌 (no token {token_id})")
        row.revoked_at = row.revoked_at or now


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在 (no user '{username}')")
    return user


def _state(session: Session, user_id: int) -> LoginState:
    state = session.get(LoginState, user_id)
    if state is None:
        state = LoginState(user_id=user_id, failures=0)
        session.add(state)
    return state
