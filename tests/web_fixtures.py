"""Helpers for the web tests: users with passwords, signing in, forms with their CSRF token."""

from __future__ import annotations

import re
from functools import cache

from engine.engine import Engine
from engine.people import accounts
from engine.people.accounts import Grant
from engine.store.models import User

PASSWORD = "Kaohe@2025"
BEIJING, TIANJIN = "110000", "120000"


@cache
def password_hash() -> str:
    """One scrypt hash for every test user: hashing costs about 50 ms."""
    return accounts.hash_password(PASSWORD)


def add_web_user(engine: Engine, username: str, *grants: Grant) -> None:
    with engine.store.write() as session:
        user = accounts.create_user(session, username, f"{username} 用户", list(grants))
        user.password_hash = password_hash()


def set_passwords(engine: Engine) -> None:
    """Give every existing user (the conftest's one per role) the test password."""
    with engine.store.write() as session:
        for user in session.query(User):
            user.password_hash = password_hash()


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": token_of(page.text), "username": username,
                                       "password": password})


def csrf(client) -> str:
    """The session's CSRF token (the page that sets it has been seen)."""
    with client.session_transaction() as session:
        if "csrf_token" not in session:
            session["csrf_token"] = "test-token"
        return session["csrf_token"]


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)


def task_ids(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'/tasks/([0-9a-f-]{36})"', html)))
