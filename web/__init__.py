"""The web app: server-rendered pages per audience and a JSON API, all through the engine facade."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, request, session
from flask_babel import Babel
from markupsafe import Markup, escape

from engine import config
from engine.clock import due_text, local
from engine.engine import Engine
from engine.people import access
from engine.people.accounts import ROLE_NAMES
from engine.people.inbox import COUNT_CAP
from engine.people.sessions import Lifetime
from engine.people.signin import Policy
from engine.procedure import bodies, problems
from engine.records import files
from engine.store import Store

from . import english, limits

LANGUAGES = {"zh": "中文", "en": "English"}


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app; ``test_config`` may pass ``ENGINE`` (an Engine) and any setting."""
    app = Flask(__name__)
    app.config.from_mapping(
        IDLE_MINUTES=int(os.environ.get("KAOHE_IDLE_MINUTES", 30)),
        SESSION_HOURS=int(os.environ.get("KAOHE_SESSION_HOURS", 12)),
        PASSWORD_MIN_LENGTH=int(os.environ.get("KAOHE_PASSWORD_MIN_LENGTH", 8)),
        PASSWORD_MIN_KINDS=int(os.environ.get("KAOHE_PASSWORD_MIN_KINDS", 3)),
        LOCK_FAILURES=5,
        LOCK_MINUTES=15,
        ADDRESS_FAILURES=20,
        UPLOAD_FOLDER=str(config.upload_dir()),
        MAX_UPLOAD_BYTES=int(os.environ.get("KAOHE_MAX_UPLOAD_BYTES", files.MAX_BYTES)),
        MAX_UPLOADS_PER_POST=5,
        MAX_FORM_BYTES=int(os.environ.get("KAOHE_MAX_FORM_BYTES", limits.FORM_BYTES)),
        UPLOAD_QUOTA=files.Quota.from_env(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("KAOHE_SECURE_COOKIES", "") == "1",
        SESSION_COOKIE_NAME="kaohe_session",
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("MAX_CONTENT_LENGTH"):  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = limits.largest_body(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("KAOHE_SECRET_KEY") or _stored_secret(config.data_dir())
    app.config["PASSWORD_POLICY"] = Policy(app.config["PASSWORD_MIN_LENGTH"], app.config["PASSWORD_MIN_KINDS"],
                                           app.config["LOCK_FAILURES"], app.config["LOCK_MINUTES"],
                                           app.config["ADDRESS_FAILURES"])
    app.config["SESSION_LIFETIME"] = Lifetime(app.config["IDLE_MINUTES"], app.config["SESSION_HOURS"])
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["SESSION_HOURS"])
    app.extensions["kaohe"] = app.config.get("ENGINE") or Engine(Store(config.database_url()))

    Babel(app, locale_selector=_locale)
    from . import errors, security

    errors.init_app(app)
    limits.init_app(app)  # first: its before_request refuses a body before anything reads it
    app.before_request(security.load_user)
    app.before_request(security.check_csrf)
    app.after_request(_headers)
    app.context_processor(_template_globals)
    app.jinja_env.filters["localtime"] = lambda t, fmt="%Y-%m-%d %H:%M": local(t).strftime(fmt) if t else ""
    app.jinja_env.filters["due"] = due_text  # a deadline at midnight reads as the day before at 24:00
    app.jinja_env.filters["options"] = options
    app.jinja_env.filters["tally"] = lambda n: f"{COUNT_CAP - 1}+" if n >= COUNT_CAP else str(n)
    app.jinja_env.filters["by_file"] = problems.by_file  # admin/_findings.html
    app.jinja_env.globals["region_name"] = english.region_name  # in imported macros too (_chart.html)

    # dryrun adds its API routes to procedures.api_bp, migrating its own to api.bp, when imported: before those
    # blueprints are registered.
    from . import (
        admin,
        api,
        auditlog,
        auth,
        campaigns,
        diffs,
        dryrun,
        edit_bpmn,
        edit_forms,
        edit_grades,
        edit_regions,
        edit_scheme,
        edit_settings,
        inbox,
        incidents,
        instances,
        migrating,
        procedures,
        procedures_api,
        tasks,
    )

    for module in (auth, inbox, tasks, instances, campaigns, admin, auditlog, incidents, procedures, dryrun, diffs,
                   migrating, edit_bpmn, edit_grades, edit_regions, edit_forms, edit_scheme, edit_settings, api):
        app.register_blueprint(module.bp)
    app.register_blueprint(procedures_api.api_bp)
    return app


def options(pairs, selected=None) -> Markup:
    """``<option>`` elements for (value, label) pairs, the ``selected`` value marked. Built in Python: a menu
    of a lead agency's thousands of regions took most of its inbox page's time through a Jinja loop."""
    chosen = None if selected is None else str(selected)
    return Markup("".join(f'<option value="{escape(value)}"{" selected" if str(value) == chosen else ""}>'
                          f"{escape(label)}</option>" for value, label in pairs))


def _locale() -> str:
    return session.get("lang") if session.get("lang") in LANGUAGES else "zh"


def _stored_secret(folder: Path) -> str:
    """A signing key kept in the data folder, so sessions survive a restart."""
    path = folder / "secret_key"
    if not path.exists():
        config.private_dir(folder)
        # Created 0600 from the start: written first and narrowed after, it could be read in between.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
                                "style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    if current_app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS: browsers keep to it
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        # Pages and files are private (a sign-in form holds a CSRF token): no cache, shared or local, keeps them.
        # Set, not defaulted: send_file has already written its own "no-cache" on a download.
        response.headers["Cache-Control"] = "no-store"
    return response


def body_name(code: str, variant: str | None = None) -> str:
    """The name of a role or of a variant's body (bundle.yaml ``bodies``), read once a request."""
    from . import english
    from .security import engine
    from .words import ROLES

    if english.wanted():  # the procedure's own English name, else the built-in role's
        found = english.body_names().get((variant, code)) or (str(ROLES[code]) if code in ROLES else None)
        if found:
            return found
    names = g.get("body_names")
    if names is None:
        with engine().store.read() as db:
            names = g.body_names = bodies.names(db)
    return names.get((variant, code)) or names.get((None, code)) or code


def _template_globals() -> dict:
    from engine.people import inbox  # not at the top: web.inbox, the blueprint, takes that name in this package

    from .security import csrf_token, engine, now

    counts = {}
    who = g.get("viewer")
    if who is not None:
        with engine().store.read() as db:
            counts = inbox.counts(db, who, now())
    return {"csrf_token": csrf_token, "viewer": who, "counts": counts, "ROLE_NAMES": ROLE_NAMES, "body_name": body_name,
            "LANGUAGES": LANGUAGES, "current_lang": _locale(), "OVERSEERS": access.OVERSEERS}
