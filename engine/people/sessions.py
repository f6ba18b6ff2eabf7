"""Web sessions kept server-side: started at sign-in, ended by sign-out, time-outs, a password change, an
administrator or deactivation. The browser holds only a random id; a row keeps its SHA-256."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..records import audit
from ..store import Store
from ..store.models import User, WebSession
from . import access
from .access import Viewer

#: How long a session's row is kept after it began: what the account page, the audit and the known addresses of
#: signin (engine/signin.py, Policy.known_days) read.
KEEP = timedelta(days=90)

#: How often a session's last activity is written: a minute's precision for the idle time-out, not a write on
#: every page.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    """A session ends after ``idle_minutes`` without a request, and ``hours`` after sign-in whatever happens."""

    idle_minutes: int = 30
    hours: int = 12

    def ended(self, row: WebSession, now: datetime) -> str | None:
        """Why ``row`` is over at ``now`` (ended, "idle", "expired"), or None while it is live."""
        if row.ended_at is not None:
            return row.end_reason or "ended"
        if now - row.created_at >= timedelta(hours=self.hours):
            return "expired"
        if now - row.last_seen_at > timedelta(minutes=self.idle_minutes):
            return "idle"
        return None


def start(store: Store, now: datetime, user_id: int, address: str | None, agent: str | None) -> str:
    """A new session for ``user_id``; returns the id for the cookie, which is not kept anywhere else."""
    token = secrets.token_urlsafe(32)
    with store.write() as session:
        session.execute(delete(WebSession).where(WebSession.user_id == user_id, WebSession.created_at < now - KEEP))
        session.add(WebSession(user_id=user_id, token_hash=_digest(token), created_at=now, last_seen_at=now,
                               address=address_key(address), user_agent=(agent or "")[:200] or None))
    return token


def resume(store: Store, now: datetime, token: str, lifetime: Lifetime) -> tuple[Viewer, int] | str:
    """The viewer and the session's row id for a live session, else why it is over ("idle", "expired",
    "logout", ..., "unknown"); a session found over is marked ended."""
    with store.read() as session:
        found = session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                                .where(WebSession.token_hash == _digest(token))).one_or_none()
        if found is None:
            return "unknown"
        row, user = found
        why = lifetime.ended(row, now) or (None if user.active else "deactivated")
        who = access.viewer_of(session, user) if why is None else None
    if why is not None:
        if row.ended_at is None:
            with store.write(durable=False) as session:
                session.execute(update(WebSession).where(WebSession.id == row.id, WebSession.ended_at.is_(None))
                                .values(ended_at=now, end_reason=why))
        return why
    if now - row.last_seen_at >= SEEN_EVERY:
        with store.write(durable=False) as session:
            session.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now))
    return who, row.id


def end(store: Store, now: datetime, session_id: int, reason: str, actor: str, user_id: int | None = None,
        action: str = "session_end") -> None:
    """End one session (of ``user_id`` only, when given: one's own from the account page), audited as
    ``action``."""
    with store.write() as session:
        row = session.get(WebSession, session_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            raise NotFound(f"会话 {session_id} 不存在 (no session {session_id})")
        if row.ended_at is None:
            row.ended_at, row.end_reason = now, reason
            audit.record(session, now, actor, action, data={"user": session.get(User, row.user_id).username,
                                                            "session": row.id, "reason": reason})


def end_all(session: Session, now: datetime, user: User, reason: str, actor: str, keep: int | None = None) -> int:
    """End every open session of ``user`` but ``keep``, audited; returns how many were open."""
    query = update(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(WebSession.id != keep)
    count = session.execute(query.values(ended_at=now, end_reason=reason)).rowcount
    if count:
        audit.record(session, now, actor, "session_end", data={"user": user.username, "count": count,
                                                               "reason": reason})
    return count


def live(session: Session, user_id: int, now: datetime, lifetime: Lifetime) -> list[WebSession]:
    """The user's sessions still live at ``now``, the newest first."""
    rows = session.scalars(select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                           .order_by(WebSession.id.desc()))
    return [row for row in rows if lifetime.ended(row, now) is None]


def known_address(session: Session, user_id: int, address: str, since: datetime) -> bool:
    """Whether ``user_id`` has signed in from ``address`` since ``since``."""
    return session.scalars(select(WebSession.id).where(WebSession.user_id == user_id,
                                                       WebSession.address == address,
                                                       WebSession.created_at >= since).limit(1)).first() is not None


def address_key(address: str | None) -> str:
    """A client address as kept and throttled: an IPv6 address by its /64, which one host usually holds whole."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
