"""Signing in: the password policy, throttling of failures by account name and by address, and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import NotFound, PermissionDenied, ValidationError
from ..records import audit
from ..store import Store, direct
from ..store.models import ApiToken, LoginState, SignInThrottle, User
from . import access, accounts, sessions
from .access import Viewer

logger = logging.getLogger(__name__)


class SignInFailed(PermissionDenied):
    """Wrong user name or password, or a locked or deactivated account."""

    code = "signin_failed"


class SignInThrottled(SignInFailed):
    """Too many failed sign-ins from one client address: refused without looking at the name or password."""

    code = "signin_throttled"


@dataclass(frozen=True)
class Policy:
    """How strong a password must be and how sign-in failures are handled."""

    min_length: int = 8
    min_kinds: int = 3  # of lower case, upper case, digits, other characters
    max_failures: int = 5  # per account name within lock_minutes, then locked for lock_minutes
    lock_minutes: int = 15
    address_failures: int = 20  # per client address within lock_minutes, then refused for lock_minutes
    known_days: int = 90  # a correct password from an address that signed in within this passes a lock

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


WRONG = "用户名或密码错误 (wrong user name or password)"


def authenticate(store: Store, now: datetime, username: str, password: str, policy: Policy = Policy(),
                 address: str | None = None) -> User:
    """The user if the password is right and neither the account nor the address is locked.

    An unknown or deactivated name costs the same hash and gets the same answers as a real one, and its
    failures lock it the same way. Failures are audited; refusals of a locked address are only counted, and
    summed up in one entry when its lock has passed, so anonymous requests cannot grow the audit log without
    bound."""
    where = sessions.address_key(address)
    with store.read() as session:
        blocked = _locked(session.get(SignInThrottle, "addr:" + where), now)
        user = None if blocked else session.scalars(select(User).where(User.username == username)).one_or_none()
    if blocked:
        with store.write() as session:
            row = _counter(session, now, "addr:" + where, policy)
            row.refused += 1
        raise SignInThrottled(_throttled(row.locked_until or now, now))
    stored = user.password_hash if user is not None and user.active and user.password_hash else None
    correct = accounts.check_password(stored or _dummy_hash(), password) and stored is not None
    for attempt in range(2):
        try:
            with store.write() as session:  # commits the counts and the audit entry before refusing
                refusal = _settle(session, now, username, user, correct, where, policy)
            break
        except IntegrityError:  # another process added the same new counter row first: count again
            if attempt:
                raise
    if refusal:
        raise refusal
    return user


def _settle(session: Session, now: datetime, username: str, user: User | None, correct: bool, where: str,
            policy: Policy) -> SignInFailed | None:
    """Count the attempt and audit it; the refusal to raise, or None for a sign-in."""
    actor = username[:64] or "-"
    account = session.get(SignInThrottle, "user:" + actor, with_for_update=True)
    locked = _locked(account, now)
    if correct and (locked is None or sessions.known_address(session, user.id, where,
                                                             now - timedelta(days=policy.known_days))):
        if account is not None and locked is None:  # a lock stays for other addresses until it runs out
            session.delete(account)
        _login_state(session, user.id).last_login_at = now
        audit.record(session, now, user.username, "login",
                     data={"address": where, **({"past_lock": True} if locked else {})})
        _sweep(session, now)
        return None
    # Both counters locked in one order, the name's then the address's: a first failure that found no row of
    # the name (so locked none) and took the address's must not then wait for the name's row that another
    # attempt holds while it waits for the address's (a deadlock on PostgreSQL).
    account = _counter(session, now, "user:" + actor, policy)
    address = _counter(session, now, "addr:" + where, policy)
    address.failures += 1
    if address.failures >= policy.address_failures:
        address.locked_until = address.expires_at = now + timedelta(minutes=policy.lock_minutes)
        audit.record(session, now, "-", "login_throttled", data={"address": where, "failures": address.failures})
        logger.warning("sign-ins from %s refused for %d minutes after %d failures", where, policy.lock_minutes,
                       address.failures)
    if locked is not None:
        audit.record(session, now, actor, "login_locked", data={"address": where, "until": locked.isoformat()})
        minutes = int((locked - now).total_seconds() // 60) + 1
        return SignInFailed(f"登录失败次数过多，账户已锁定，请 {minutes} 分钟后再试 "
                            f"(account locked for {minutes} more minutes)")
    account.failures += 1
    lock = account.failures >= policy.max_failures
    audit.record(session, now, actor, "login_failed", data={"address": where, "locked": lock})
    _sweep(session, now)
    if not lock:
        return SignInFailed(WRONG)
    account.locked_until = account.expires_at = now + timedelta(minutes=policy.lock_minutes)
    logger.warning("account name %s locked after %d failed sign-ins", actor, policy.max_failures)
    return SignInFailed(f"登录失败次数过多，账户已锁定 {policy.lock_minutes} 分钟 "
                        f"(account locked for {policy.lock_minutes} minutes)")


def _counter(session: Session, now: datetime, key: str, policy: Policy) -> SignInThrottle:
    """The counter row of ``key`` (locked for this transaction), a fresh one once its window has passed."""
    row = session.get(SignInThrottle, key, with_for_update=True)
    if row is not None and row.expires_at <= now:
        _summarise(session, now, row)
        row.failures, row.refused, row.locked_until, row.window_start = 0, 0, None, now
        row.expires_at = now + timedelta(minutes=policy.lock_minutes)
    elif row is None:
        row = SignInThrottle(key=key, failures=0, refused=0, window_start=now,
                             expires_at=now + timedelta(minutes=policy.lock_minutes))
        session.add(row)
        session.flush()
    return row


def _locked(row: SignInThrottle | None, now: datetime) -> datetime | None:
    return row.locked_until if row is not None and row.locked_until and row.locked_until > now else None


def _summarise(session: Session, now: datetime, row: SignInThrottle) -> None:
    if row.refused:
        audit.record(session, now, "-", "login_refused",
                     data={"address": row.key.removeprefix("addr:"), "count": row.refused,
                           "from": row.window_start.isoformat(), "until": row.expires_at.isoformat()})


def _sweep(session: Session, now: datetime, limit: int = 100) -> None:
    """Drop counters whose window and lock have passed (summing up what they refused)."""
    rows = list(session.scalars(select(SignInThrottle).where(SignInThrottle.expires_at <= now).limit(limit)))
    for row in rows:
        _summarise(session, now, row)
        session.delete(row)


def _throttled(until: datetime, now: datetime) -> str:
    minutes = int((until - now).total_seconds() // 60) + 1
    return (f"此地址登录失败次数过多，请 {minutes} 分钟后再试 "
            f"(too many failed sign-ins from this address; try again in {minutes} minutes)")


@cache
def _dummy_hash() -> str:
    """What an unknown name's password is checked against, so that it costs the same as a real one."""
    return accounts.hash_password(secrets.token_urlsafe(16))


def unlock(store: Store, now: datetime, username: str, actor: str) -> None:
    with store.write() as session:
        _user(session, username)
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == "user:" + username))
        audit.record(session, now, actor, "unlock", data={"user": username})


def locked_until(session: Session, user_id: int, now: datetime) -> datetime | None:
    user = session.get(User, user_id)
    return None if user is None else _locked(session.get(SignInThrottle, "user:" + user.username), now)


def change_password(store: Store, now: datetime, username: str, current: str | None, new: str, actor: str,
                    policy: Policy = Policy(), keep_session: int | None = None) -> None:
    """Set a new password; ``current`` must be right unless an administrator resets it (``current=None``).
    Every session but ``keep_session`` (the one changing it) ends, and every API token is revoked."""
    policy.check(new)
    with store.write() as session:
        user = _user(session, username)
        if current is not None and not accounts.check_password(user.password_hash, current):
            raise ValidationError("当前密码不正确 (the current password is wrong)",
                                  [{"field": "current", "message": "当前密码不正确"}])
        user.password_hash = accounts.hash_password(new)
        _login_state(session, user.id).password_changed_at = now
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == "user:" + username))
        audit.record(session, now, actor, "password", data={"user": username})
        cut_off(session, now, user, "password", actor, keep_session)


def cut_off(session: Session, now: datetime, user: User, reason: str, actor: str,
            keep_session: int | None = None) -> None:
    """End ``user``'s sessions (but ``keep_session``) and revoke their API tokens, audited."""
    sessions.end_all(session, now, user, reason, actor, keep=keep_session)
    ids = list(session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id,
                                                         ApiToken.revoked_at.is_(None))))
    if ids:
        session.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(revoked_at=now))
        audit.record(session, now, actor, "token_revoke", data={"user": user.username, "tokens": ids,
                                                                "reason": reason})


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
    """The user a live token belongs to, with their grants (one read), or None; its last use written if due."""
    found = token_use(store, now, token)
    if found is None:
        return None
    who, due = found
    if due is not None:
        with store.write(durable=False) as session:
            touch_token(session, due, now)
    return who


#: Before every API call: columns, not entities, and the statement built once (building it, and loading ORM
#: objects, cost more than running it).
_TOKEN_USE = direct.Statement(
    select(ApiToken.id.label("token_id"), ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           User.id, User.username, User.display_name, User.active)
    .join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == bindparam("digest")))


def token_use(store: Store, now: datetime, token: str) -> tuple[Viewer, int | None] | None:
    """The user a live token belongs to, with their grants (one read), and the token's id when its last use is
    due to be written (``touch_token``), else None; None for no live token. A caller that writes anyway (a
    submission) writes the last use in its own transaction instead of in one more."""
    with store.glance() as session:  # three reads, no transaction to begin and end around them (PostgreSQL)
        row = _TOKEN_USE.record(session, {"digest": _digest(token)})
        if row is None:
            return None
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not row.active:
            return None
        who = access.viewer_of(session, row)
    due = row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY
    return who, row.token_id if due else None


#: Core, built once: the ORM's UPDATE would first look through the session for token objects to keep in step.
_TOUCH = direct.Statement(update(ApiToken.__table__).where(ApiToken.id == bindparam("token_id"))
                          .values(last_used_at=bindparam("at")))


def touch_token(session: Session, token_id: int, now: datetime) -> None:
    """Write a token's last use (in the caller's write transaction)."""
    _TOUCH.rowcount(session, {"token_id": token_id, "at": now})


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_token(store: Store, now: datetime, user_id: int, token_id: int) -> None:
    with store.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise PermissionDenied(f"无此令牌 (no token {token_id})")
        if row.revoked_at is None:
            row.revoked_at = now
            username = session.get(User, user_id).username
            audit.record(session, now, username, "token_revoke",
                         data={"user": username, "tokens": [row.id], "name": row.name})


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在 (no user '{username}')")
    return user


def _login_state(session: Session, user_id: int) -> LoginState:
    state = session.get(LoginState, user_id)
    if state is None:
        state = LoginState(user_id=user_id)
        session.add(state)
    return state
