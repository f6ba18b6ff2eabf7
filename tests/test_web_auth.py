"""Signing in and out: lock-out, idle time-out, CSRF, cookies, password policy, the audit trail, languages."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from web_fixtures import BEIJING, PASSWORD, add_web_user, csrf, login, post, set_passwords, token_of

from engine.accounts import Grant
from engine.store.models import AuditEntry


@pytest.fixture
def gov(engine):
    add_web_user(engine, "gov-bj", Grant("assessed", region=BEIJING))
    return "gov-bj"


def _actions(engine) -> list[tuple[str, str]]:
    with engine.store.read() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if e.action.startswith(("login", "logout"))]


def test_a_signed_out_visitor_is_led_to_the_sign_in_page(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/login")
    page = client.get("/login")
    assert "登录" in page.text and 'name="csrf_token"' in page.text
    assert client.get("/inbox").location.startswith("/login?next=/inbox")


def test_signing_in_and_out_is_audited(client, engine, gov):
    response = login(client, gov)
    assert response.status_code == 302 and response.location == "/inbox"
    assert "gov-bj" in client.get("/inbox").text
    assert post(client, "/logout").location.endswith("/login")
    assert client.get("/inbox").status_code == 302
    assert _actions(engine) == [("gov-bj", "login"), ("gov-bj", "logout")]


def test_a_wrong_password_is_refused_and_audited(client, engine, gov):
    response = login(client, gov, "wrong")
    assert response.status_code == 401 and "用户名或密码错误" in response.text
    assert login(client, "nobody", PASSWORD).status_code == 401
    assert _actions(engine) == [("gov-bj", "login_failed"), ("nobody", "login_failed")]


def test_five_failures_lock_the_account_for_fifteen_minutes(client, engine, clock, gov):
    for _ in range(5):
        assert login(client, gov, "wrong").status_code == 401
    refused = login(client, gov)
    assert refused.status_code == 401 and "锁定" in refused.text
    clock.advance(minutes=14)
    assert login(client, gov).status_code == 401
    clock.advance(minutes=2)
    assert login(client, gov).status_code == 302
    assert [a for _, a in _actions(engine)].count("login_locked") == 2


def test_an_idle_session_ends_after_thirty_minutes(client, clock, gov):
    login(client, gov)
    clock.advance(minutes=29)
    assert client.get("/inbox").status_code == 200  # activity restarts the idle time
    clock.advance(minutes=29)
    assert client.get("/inbox").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/inbox")
    assert response.status_code == 302 and "/login" in response.location


def test_the_idle_time_is_configurable(engine, tmp_path, clock, gov):
    from web import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": "x", "IDLE_MINUTES": 5,
                      "UPLOAD_FOLDER": str(tmp_path)})
    client = app.test_client()
    login(client, gov)
    clock.advance(minutes=6)
    assert client.get("/inbox").status_code == 302


@pytest.mark.parametrize("url", ["/login", "/logout", "/account/password", "/account/tokens"])
def test_a_post_without_the_csrf_token_is_refused(client, gov, url):
    login(client, gov)
    response = client.post(url, data={"username": gov, "password": PASSWORD})
    assert response.status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400


def test_the_sign_in_form_needs_its_token_too(client, gov):
    client.get("/login")
    assert client.post("/login", data={"username": gov, "password": PASSWORD}).status_code == 400


def test_session_cookie_flags(client, gov):
    response = login(client, gov)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookies_can_be_required(engine, tmp_path, gov):
    from web import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": "x", "SESSION_COOKIE_SECURE": True,
                      "UPLOAD_FOLDER": str(tmp_path)})
    response = login(app.test_client(), gov)
    assert "Secure" in response.headers["Set-Cookie"]


def test_pages_carry_security_headers(client):
    headers = client.get("/login").headers
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_next_never_leads_to_another_site(client, gov):
    page = client.get("/login?next=//evil.example/x")
    response = client.post("/login", data={"csrf_token": token_of(page.text), "username": gov,
                                           "password": PASSWORD, "next": "https://evil.example/"})
    assert response.location == "/inbox"


@pytest.mark.parametrize(("password", "ok"), [
    ("short1A", False),           # too short
    ("alllowercase", False),      # one kind
    ("lowerUPPER", False),        # two kinds
    ("lowerUPPER1", True),
    ("lower-case-1", True),
])
def test_the_password_policy(client, engine, gov, password, ok):
    login(client, gov)
    response = post(client, "/account/password", {"current": PASSWORD, "password": password, "confirm": password})
    assert (response.status_code == 302) is ok
    if not ok:
        assert "密码强度不足" in response.text
    post(client, "/logout")
    assert (login(client, gov, password).status_code == 302) is ok


def test_changing_the_password_needs_the_current_one(client, gov):
    login(client, gov)
    response = post(client, "/account/password", {"current": "wrong", "password": "Better#2026",
                                                  "confirm": "Better#2026"})
    assert response.status_code == 400 and "当前密码不正确" in response.text


def test_chinese_by_default_english_on_request(client, gov):
    login(client, gov)
    assert "待办" in client.get("/inbox").text
    client.get("/lang/en?next=/inbox")
    page = client.get("/inbox")
    assert "Inbox" in page.text and "待办" not in page.text
    client.get("/lang/zh")
    assert "待办" in client.get("/inbox").text


def test_api_tokens_are_shown_once_and_can_be_revoked(client, engine, gov):
    set_passwords(engine)
    login(client, gov)
    page = post(client, "/account/tokens", {"name": "报送系统"})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("kh_")
    assert token not in client.get("/account").text
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    token_id = client.get("/account").text.split("/account/tokens/")[1].split("/")[0]
    post(client, f"/account/tokens/{token_id}/revoke")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert csrf(client)
