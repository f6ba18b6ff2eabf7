"""Signing in at the engine: the throttle's rows come and go, and an unknown name is counted like a real one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from web_fixtures import PASSWORD, set_passwords

from engine.people import signin
from engine.store.models import AuditEntry, SignInThrottle

POLICY = signin.Policy(address_failures=1000)


def _fail(engine, name: str, address: str = "192.0.2.1") -> str:
    with pytest.raises(signin.SignInFailed) as refused:
        signin.authenticate(engine.store, engine.clock.now(), name, "wrong", POLICY, address)
    return refused.value.message


def _count(engine, model) -> int:
    with engine.store.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_counters_of_a_window_gone_by_are_dropped(engine, clock):
    for n in range(30):
        _fail(engine, f"guess-{n}", f"198.51.100.{n}")
    assert _count(engine, SignInThrottle) == 60  # each name and each address
    clock.advance(minutes=16)
    _fail(engine, "later")
    assert _count(engine, SignInThrottle) == 2


def test_an_unknown_name_locks_like_a_real_one(engine):
    set_passwords(engine)
    assert [_fail(engine, "approver") for _ in range(6)] == [_fail(engine, "no-such") for _ in range(6)]


def test_a_successful_sign_in_clears_its_names_failures_but_not_its_addresses(engine):
    set_passwords(engine)
    for _ in range(4):
        _fail(engine, "approver")
    signin.authenticate(engine.store, engine.clock.now(), "approver", PASSWORD, POLICY, "192.0.2.1")
    with engine.store.read() as session:
        assert session.get(SignInThrottle, "user:approver") is None
        assert session.get(SignInThrottle, "addr:192.0.2.1").failures == 4
        assert session.scalar(select(func.count()).where(AuditEntry.action == "login_failed")) == 4


def test_failures_at_the_same_moment_are_all_counted(engine):
    """Eight first failures at once for one new name and address: the counter rows are made once, none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        messages = list(pool.map(lambda _: _fail(engine, "together", "192.0.2.8"), range(8)))
    assert messages.count(signin.WRONG) == 4 and len(messages) == 8
    with engine.store.read() as session:
        assert session.get(SignInThrottle, "addr:192.0.2.8").failures == 8
        assert session.get(SignInThrottle, "user:together").failures == 5
