"""Server-side web sessions: why one is over, and how long its row is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.people import sessions
from engine.store.models import User, WebSession

LIFETIME = sessions.Lifetime(idle_minutes=30, hours=12)


def _user(engine, username: str = "approver") -> User:
    with engine.store.read() as session:
        return session.scalars(select(User).where(User.username == username)).one()


def test_a_live_session_gives_its_viewer(engine):
    token = sessions.start(engine.store, engine.clock.now(), _user(engine).id, "192.0.2.1", "test")
    who, session_id = sessions.resume(engine.store, engine.clock.now(), token, LIFETIME)
    assert who.username == "approver" and session_id > 0


@pytest.mark.parametrize(("minutes", "why"), [(31, "idle"), (None, "expired")])
def test_a_session_runs_out(engine, clock, minutes, why):
    token = sessions.start(engine.store, clock.now(), _user(engine).id, None, None)
    if minutes is None:
        for _ in range(12 * 2):
            clock.advance(minutes=30)
            sessions.resume(engine.store, clock.now(), token, LIFETIME)
    else:
        clock.advance(minutes=minutes)
    assert sessions.resume(engine.store, clock.now(), token, LIFETIME) == why
    with engine.store.read() as session:
        assert session.scalars(select(WebSession.end_reason)).one() == why


def test_a_session_of_a_deactivated_user_is_over(engine):
    user = _user(engine)
    token = sessions.start(engine.store, engine.clock.now(), user.id, None, None)
    with engine.store.write() as session:
        session.get(User, user.id).active = False
    assert sessions.resume(engine.store, engine.clock.now(), token, LIFETIME) == "deactivated"
    assert sessions.resume(engine.store, engine.clock.now(), "made-up", LIFETIME) == "unknown"


def test_a_sessions_row_is_kept_ninety_days(engine, clock):
    user = _user(engine)
    sessions.start(engine.store, clock.now(), user.id, "192.0.2.1", None)
    clock.advance(days=91)
    sessions.start(engine.store, clock.now(), user.id, "192.0.2.2", None)
    with engine.store.read() as session:
        assert list(session.scalars(select(WebSession.address))) == ["192.0.2.2"]
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.1", "192.0.2.1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("not an address", "unknown"),
    (None, "unknown"),
])
def test_an_address_is_throttled_as_its_host_holds_it(address, key):
    assert sessions.address_key(address) == key
