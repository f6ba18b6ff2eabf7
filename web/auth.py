"""Signing in and out, one's own account (password, sessions, API tokens), and the language."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine.errors import ValidationError
from engine.people import accounts, sessions, signin

from .security import engine, login_required, now, safe_next, sign_in

bp = Blueprint("auth", __name__)


@bp.get("/")
def index():
    if g.viewer is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for("inbox.index"))


@bp.get("/login")
def login():
    """The form; HEAD is answered here too, so that it can never sign in (CSRF is checked on POST only)."""
    return render_template("login.html", next=safe_next(request.args.get("next"), url_for("inbox.index")))


@bp.post("/login")
def login_submit():
    target = safe_next(request.values.get("next"), url_for("inbox.index"))
    username = request.form.get("username", "").strip()
    try:
        user = signin.authenticate(engine().store, now(), username, request.form.get("password", ""),
                                   current_app.config["PASSWORD_POLICY"], request.remote_addr)
    except signin.SignInFailed as exc:
        status = 429 if isinstance(exc, signin.SignInThrottled) else 401
        return render_template("login.html", next=target, error=exc.message, username=username), status
    sign_in(user.id)
    if "lang" not in session and user.language in accounts.LANGUAGES:  # the account's last choice, on a new browser
        session["lang"] = user.language
    return redirect(target)


@bp.post("/logout")
def logout():
    if g.viewer is not None:
        sessions.end(engine().store, now(), g.session_id, "logout", g.viewer.username, action="logout")
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["forget_drafts"] = True  # the page after this tells the browser to drop the form copies it keeps
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def language(code: str):
    if code in accounts.LANGUAGES:
        session["lang"] = code
        if g.viewer is not None:  # kept on the account too: mails of notices follow it
            with engine().store.write() as db:
                accounts.set_language(db, g.viewer.user_id, code)
    return redirect(safe_next(request.args.get("next"), url_for("auth.index")))


def _account_page(status: int = 200, **extra):
    with engine().store.read() as db:
        tokens = signin.tokens_of(db, g.viewer.user_id)
        live = sessions.live(db, g.viewer.user_id, now(), current_app.config["SESSION_LIFETIME"])
    values = {"new_token": None, "errors": {}, **extra}
    return render_template("account.html", tokens=tokens, sessions=live, current_session=g.session_id,
                           policy=current_app.config["PASSWORD_POLICY"], **values), status


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password():
    """Ends the user's other sessions and revokes their API tokens (the page says so)."""
    new = request.form.get("password", "")
    try:
        if new != request.form.get("confirm", ""):
            raise ValidationError(_("The two new passwords differ."),
                                  [{"field": "confirm", "message": _("The two new passwords differ.")}])
        signin.change_password(engine().store, now(), g.viewer.username, request.form.get("current", ""), new,
                               g.viewer.username, current_app.config["PASSWORD_POLICY"], keep_session=g.session_id)
    except ValidationError as exc:
        return _account_page(400, errors={e["field"]: e["message"] for e in exc.errors}, error=exc.message)
    flash(_("Your password has been changed. Your other sessions have ended and your API tokens are revoked."),
          "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    sessions.end(engine().store, now(), session_id, "user", g.viewer.username, user_id=g.viewer.user_id)
    flash(_("The session has ended."), "info")
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens")
@login_required
def new_token():
    """Shown once, in this response: only its hash is kept (and never in the session cookie)."""
    name = request.form.get("name", "").strip() or "API"
    token = signin.issue_token(engine().store, now(), g.viewer.username, name)
    return _account_page(new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    signin.revoke_token(engine().store, now(), g.viewer.user_id, token_id)
    flash(_("The token has been revoked."), "info")
    return redirect(url_for("auth.account"))
