"""The signed-in user on each request from a server-side session, CSRF tokens, and the login_required guard."""

from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from engine.engine import Engine
from engine.people import access, sessions

CSRF_FIELD = "csrf_token"
SESSION_ID = "sid"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def engine() -> Engine:
    return current_app.extensions["kaohe"]


def now():
    return engine().clock.now()


def viewer() -> access.Viewer:
    return g.viewer


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


#: API blueprints that a page's own script may also call with the browser's session and its CSRF token in an
#: ``X-CSRF-Token`` header (the library's editors save files this way); a call with a bearer token is an API call.
SESSION_OR_TOKEN = {"procedures_api"}


def token_call() -> bool:
    """Whether this request is signed in by a bearer token (the API), not by the session cookie."""
    return request.blueprint == "api" or (
        request.blueprint in SESSION_OR_TOKEN and request.headers.get("Authorization", "").lower().startswith("bearer"))


def load_user() -> None:
    """Before each request: the viewer of the session whose id the cookie holds, if it is still live."""
    g.viewer = g.session_id = None
    token = session.get(SESSION_ID)
    if not token or request.endpoint == "static" or token_call():
        return
    found = sessions.resume(engine().store, now(), token, current_app.config["SESSION_LIFETIME"])
    if isinstance(found, str):
        session.pop(SESSION_ID, None)
        lifetime = current_app.config["SESSION_LIFETIME"]
        if found == "idle":
            flash(_("You were signed out after %(minutes)d minutes without activity.",
                    minutes=lifetime.idle_minutes), "info")
        elif found == "expired":
            flash(_("You were signed out %(hours)d hours after signing in.", hours=lifetime.hours), "info")
        elif found != "logout":
            flash(_("Your session was ended. Sign in again."), "info")
        return
    g.viewer, g.session_id = found


def check_csrf() -> None:
    """Refuse a state-changing request whose token does not match the session's."""
    if request.method not in UNSAFE or token_call():
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token", "")
    expected = session.get(CSRF_FIELD)
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description=_("The form has expired or did not come from this site. Reload the page and "
                                 "try again."))


def sign_in(user_id: int) -> None:
    """Start a server-side session: the cookie gets its random id (and a new CSRF token), nothing else."""
    lang = session.get("lang")
    session.clear()  # no fixation: whatever the cookie held before signing in is dropped
    session[SESSION_ID] = sessions.start(engine().store, now(), user_id, request.remote_addr,
                                         request.user_agent.string)
    session.permanent = True
    if lang:
        session["lang"] = lang
    csrf_token()


def login_required(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if g.viewer is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return guarded


def admin_required(view):
    @wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not g.viewer.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return guarded


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site, never another host; a control character (CR/LF: a header split) is a 400."""
    if not target:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        abort(400, description="跳转地址含控制字符 (the next= address holds control characters)")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
