"""What someone with the database file or the data folder finds of passwords, API tokens and the session key."""

from __future__ import annotations

import hashlib
import stat

from sqlalchemy import select
from web_fixtures import PASSWORD, set_passwords

from engine.people import accounts, signin
from engine.store.models import ApiToken, User


def test_passwords_are_stored_as_salted_scrypt_only(engine):
    with engine.store.write() as session:
        for username in ("admin", "lead_agency"):
            user = session.scalars(select(User).where(User.username == username)).one()
            user.password_hash = accounts.hash_password(PASSWORD)
    with engine.store.read() as session:
        stored = session.scalars(select(User.password_hash).where(User.username.in_(["admin", "lead_agency"])))
        first, second = list(stored)
    assert first.startswith("scrypt$16384$8$1$") and PASSWORD not in first
    assert first != second  # the same password, salted apart
    assert accounts.check_password(first, PASSWORD) and not accounts.check_password(first, PASSWORD + "x")


def test_api_tokens_are_stored_as_their_sha256_only(engine):
    set_passwords(engine)
    token = signin.issue_token(engine.store, engine.clock.now(), "admin", "报送系统")
    with engine.store.read() as session:
        [row] = session.scalars(select(ApiToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in " ".join(str(v) for v in vars(row).values())


def test_the_generated_session_key_is_readable_by_its_owner_only(engine, tmp_path, monkeypatch):
    from web import create_app

    monkeypatch.delenv("KAOHE_SECRET_KEY", raising=False)
    monkeypatch.setenv("KAOHE_DATA_DIR", str(tmp_path / "data"))
    app = create_app({"ENGINE": engine, "UPLOAD_FOLDER": str(tmp_path / "files")})
    key = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert app.config["SECRET_KEY"] == key.read_text().strip() and len(app.config["SECRET_KEY"]) >= 64
