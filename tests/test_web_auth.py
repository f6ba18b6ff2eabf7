"""Signing in and out: server-side sessions and their ends, throttling, lock-out, idle and absolute time-outs,
CSRF, cookies, password policy, the audit trail, languages."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select
from web_fixtures import BEIJING, PASSWORD, add_web_user, csrf, login, post, set_passwords, token_of

from engine.people.accounts import Grant
from engine.store.models import AuditEntry, User

COOKIE = "kaohe_session"
NEW_PASSWORD = "Better#2026"


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


# -- server-side sessions (issue 8, item 2) -------------------------------------------------------
def _at(client, address: str):
    """``client`` as seen from ``address``."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _signed_in(client) -> bool:
    return client.get("/inbox").status_code == 200


def _new_token(client) -> str:
    return post(client, "/account/tokens", {"name": "报送"}).text.split('id="new-token">')[1].split("<")[0]


def _audited(engine, action: str) -> list[dict]:
    with engine.store.read() as session:
        return [e.data for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                                .order_by(AuditEntry.id))]


def test_the_old_cookie_opens_nothing_after_signing_out(client, gov):
    login(client, gov)
    stolen = client.get_cookie(COOKIE).value
    post(client, "/logout")
    client.set_cookie(COOKIE, stolen)  # the cookie as it was before signing out, CSRF token and all
    assert client.get("/inbox").status_code == 302
    response = post(client, "/account/tokens", {"name": "after logout"})
    assert response.status_code == 302 and "kh_" not in response.text
    assert not _signed_in(client)


def test_the_cookie_holds_only_a_random_session_id(client, gov):
    login(client, gov)
    with client.session_transaction() as session:
        assert set(session) - {"_permanent"} == {"sid", "csrf_token"} and gov not in str(dict(session))


def test_a_password_change_ends_the_other_sessions_and_revokes_the_tokens(app, engine, gov):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, gov)
    token = _new_token(phone)
    bearer = {"Authorization": f"Bearer {token}"}
    assert phone.get("/api/v1/tasks", headers=bearer).status_code == 200
    login(laptop, gov)
    changed = post(laptop, "/account/password", {"current": PASSWORD, "password": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD}, follow_redirects=True)
    assert _signed_in(laptop)  # the session that changed it goes on
    assert not _signed_in(phone)
    assert phone.get("/api/v1/tasks", headers=bearer).status_code == 401
    assert "令牌已被撤销" in changed.text  # the page says so, before and after
    assert "revokes all your API tokens" in laptop.get("/lang/en?next=/account", follow_redirects=True).text
    assert _audited(engine, "session_end") == [{"user": gov, "count": 1, "reason": "password"}]
    [revoked] = _audited(engine, "token_revoke")
    assert revoked["reason"] == "password" and len(revoked["tokens"]) == 1


def test_a_password_reset_by_an_administrator_ends_every_session(app, engine, gov):
    set_passwords(engine)
    user, admin = app.test_client(), app.test_client()
    login(user, gov)
    login(admin, "admin")
    post(admin, f"/admin/users/{_user_id(engine, gov)}/password", {"password": NEW_PASSWORD})
    assert not _signed_in(user)
    assert _signed_in(admin)


def _user_id(engine, username: str) -> int:
    with engine.store.read() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def test_an_administrator_ends_a_users_sessions(app, engine, gov):
    set_passwords(engine)
    user, admin = app.test_client(), app.test_client()
    login(user, gov)
    login(admin, "admin")
    page = admin.get(f"/admin/users/{_user_id(engine, gov)}")
    assert page.text.count("<td>127.0.0.1</td>") == 1
    post(admin, f"/admin/users/{_user_id(engine, gov)}/sessions/end")
    assert not _signed_in(user)
    assert _audited(engine, "session_end") == [{"user": gov, "count": 1, "reason": "admin"}]
    assert "<td>127.0.0.1</td>" not in admin.get(f"/admin/users/{_user_id(engine, gov)}").text


def test_deactivating_a_user_ends_their_sessions_and_revokes_their_tokens(app, engine, gov):
    set_passwords(engine)
    user, admin = app.test_client(), app.test_client()
    login(user, gov)
    bearer = {"Authorization": f"Bearer {_new_token(user)}"}
    login(admin, "admin")
    user_id = _user_id(engine, gov)
    post(admin, f"/admin/users/{user_id}", {"display_name": "x"})  # the "active" box left unticked
    post(admin, f"/admin/users/{user_id}", {"display_name": "x", "active": "on"})
    assert not _signed_in(user)  # reactivating does not bring the old session back
    assert user.get("/api/v1/tasks", headers=bearer).status_code == 401
    assert [d["reason"] for d in _audited(engine, "session_end")] == ["deactivated"]


def test_the_account_page_lists_ones_sessions_and_ends_another(app, engine, gov):
    here, there = app.test_client(), _at(app.test_client(), "10.1.2.3")
    login(here, gov)
    login(there, gov)
    page = here.get("/account").text
    assert "10.1.2.3" in page and page.count("/account/sessions/") == 1  # the current one has no button
    session_id = re.search(r"/account/sessions/(\d+)/end", page).group(1)
    post(here, f"/account/sessions/{session_id}/end")
    assert not _signed_in(there) and _signed_in(here)
    assert "10.1.2.3" not in here.get("/account").text
    assert _audited(engine, "session_end")[0]["reason"] == "user"


def test_one_cannot_end_another_users_session(app, engine, gov):
    set_passwords(engine)
    mine, theirs = app.test_client(), app.test_client()
    login(mine, gov)
    login(theirs, "approver")
    their_id = re.search(r"/account/sessions/(\d+)/end", _two_sessions(app, "approver")).group(1)
    assert post(mine, f"/account/sessions/{their_id}/end").status_code == 404
    assert _signed_in(theirs)


def _two_sessions(app, username: str) -> str:
    client = app.test_client()
    login(client, username)
    return client.get("/account").text


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(client, clock, gov):
    login(client, gov)
    for _ in range(12 * 3 - 1):
        clock.advance(minutes=20)
        assert _signed_in(client)
    clock.advance(minutes=20)
    response = client.get("/inbox", follow_redirects=True)
    assert response.request.path == "/login" and "12 小时" in response.text


def test_the_absolute_lifetime_is_configurable(engine, tmp_path, clock, gov):
    from web import create_app

    client = create_app({"ENGINE": engine, "SECRET_KEY": "x", "SESSION_HOURS": 1,
                         "UPLOAD_FOLDER": str(tmp_path)}).test_client()
    login(client, gov)
    for minutes in (25, 25, 9):
        clock.advance(minutes=minutes)
        assert _signed_in(client)
    clock.advance(minutes=2)
    assert not _signed_in(client)


def test_revoking_a_token_is_audited(client, engine, gov):
    login(client, gov)
    _new_token(client)
    token_id = client.get("/account").text.split("/account/tokens/")[1].split("/")[0]
    post(client, f"/account/tokens/{token_id}/revoke")
    assert _audited(engine, "token_revoke") == [{"user": gov, "tokens": [int(token_id)], "name": "报送"}]


# -- signing in (issue 8, item 3) -----------------------------------------------------------------
def _error(response) -> str:
    return re.search(r'id="login-error">([^<]*)<', response.text).group(1)


def test_head_on_the_sign_in_page_neither_signs_in_nor_counts_failures(client, engine, gov):
    response = client.open("/login", method="HEAD", data={"username": gov, "password": PASSWORD})
    assert response.status_code == 200 and not _signed_in(client)
    for _ in range(6):
        client.open("/login", method="HEAD", data={"username": gov, "password": "wrong"})
    assert _actions(engine) == []
    assert login(client, gov).status_code == 302  # not locked


def test_an_unknown_name_costs_the_same_password_hash(client, engine, gov, monkeypatch):
    add_web_user(engine, "gone", Grant("assessed", region=BEIJING))
    with engine.store.write() as session:
        session.scalars(select(User).where(User.username == "gone")).one().active = False
    login(client, "warm-up", "wrong")  # the first unknown name also makes the dummy hash, once
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    for name in (gov, "nobody", "gone", "approver"):  # "approver" has no password at all
        calls.clear()
        assert login(client, name, "wrong").status_code == 401
        assert len(calls) == 1, name


def test_an_unknown_name_gets_the_same_words_as_a_real_one(client, gov):
    def answers(name):
        return [(r.status_code, _error(r)) for r in (login(client, name, "wrong") for _ in range(7))]

    real, unknown = answers(gov), answers("nobody")
    assert real == unknown
    assert "锁定" in real[4][1] and "锁定" in real[6][1]


def test_password_spraying_from_one_address_is_stopped(app, engine, clock, gov):
    set_passwords(engine)
    sprayer = _at(app.test_client(), "203.0.113.9")
    names = ["approver", "lead_agency", "admin", "nobody", "recipient"]
    for name in names:
        for _ in range(4):
            assert login(sprayer, name, "Summer2025!").status_code == 401
    refused = login(sprayer, gov)  # even the right password, from that address
    assert refused.status_code == 429 and "此地址" in _error(refused)
    assert login(_at(app.test_client(), "198.51.100.7"), gov).status_code == 302
    for _ in range(50):
        assert login(sprayer, "admin", "Winter2025!").status_code == 429
    assert len(_audited(engine, "login_failed")) == 20 and len(_audited(engine, "login_throttled")) == 1
    clock.advance(minutes=16)
    assert login(sprayer, gov).status_code == 302
    [summary] = _audited(engine, "login_refused")
    assert summary["address"] == "203.0.113.9" and summary["count"] == 51


def test_a_third_party_cannot_lock_an_administrator_out(app, engine, clock):
    set_passwords(engine)
    office = _at(app.test_client(), "10.0.0.5")
    login(office, "admin")
    post(office, "/logout")
    clock.advance(days=3)
    attacker = _at(app.test_client(), "203.0.113.66")
    for _ in range(5):
        login(attacker, "admin", "guess")
    assert "锁定" in _error(login(attacker, "admin"))  # the lock holds elsewhere, even for the right password
    assert "锁定" in _error(login(_at(app.test_client(), "10.0.0.77"), "admin"))
    assert "锁定" in _error(login(office, "admin", "typo"))
    assert login(office, "admin").status_code == 302  # the right password from an address known to sign in
    assert _audited(engine, "login")[-1] == {"address": "10.0.0.5", "past_lock": True}
    assert "锁定" in _error(login(attacker, "admin"))  # and the lock stays for the others


def test_the_language_chosen_is_kept_on_the_account_and_follows_to_a_new_browser(app, client, engine, gov):
    login(client, "gov-bj")
    client.get("/lang/en")
    with engine.store.read() as session:
        assert session.scalars(select(User.language).where(User.username == "gov-bj")).one() == "en"
    other = app.test_client()  # another browser, no language chosen in it
    assert '<html lang="zh-CN">' in other.get("/login").text
    login(other, "gov-bj")
    assert '<html lang="en">' in other.get("/inbox").text
