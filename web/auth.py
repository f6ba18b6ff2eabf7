"""Signing in and out, one's own account (password, API tokens), and the language."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine import audit, signin
from engine.errors import ValidationError

from .security import engine, login_required, now, safe_next, sign_in

bp = Blueprint("auth", __name__)


@bp.get("/")
def index():
    if g.viewer is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for("inbox.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("inbox.index"))
    if request.method == "GET":
        return render_template("login.html", next=target)
    username = request.form.get("username", "").strip()
    try:
        signin.authenticate(engine().store, now(), username, request.form.get("password", ""),
                            current_app.config["PASSWORD_POLICY"])
    except signin.SignInFailed as exc:
        return render_template("login.html", next=target, error=exc.message, username=username), 401
    lang = session.get("lang")
    sign_in(username)
    if lang:
        session["lang"] = lang
    return redirect(target)


@bp.post("/logout")
def logout():
    if g.viewer is not None:
        with engine().store.write() as db:
            audit.record(db, now(), g.viewer.username, "logout")
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def language(code: str):
    from . import LANGUAGES

    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("auth.index")))


@bp.get("/account")
@login_required
def account():
    with engine().store.read() as db:
        tokens = signin.tokens_of(db, g.viewer.user_id)
    return render_template("account.html", tokens=tokens, new_token=None,
                           policy=current_app.config["PASSWORD_POLICY"], errors={})


@bp.post("/account/password")
@login_required
def change_password():
    new = request.form.get("password", "")
    try:
        if new != request.form.get("confirm", ""):
            raise ValidationError(_("The two new passwords differ."),
                                  [{"field": "confirm", "message": _("The two new passwords differ.")}])
        signin.change_password(engine().store, now(), g.viewer.username, request.form.get("current", ""), new,
                               g.viewer.username, current_app.config["PASSWORD_POLICY"])
    except ValidationError as exc:
        with engine().store.read() as db:
            tokens = signin.tokens_of(db, g.viewer.user_id)
        errors = {e["field"]: e["message"] for e in exc.errors}
        return render_template("account.html", tokens=tokens, new_token=None, errors=errors,
                               policy=current_app.config["PASSWORD_POLICY"], error=exc.message), 400
    flash(_("Your password has been changed."), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens")
@login_required
def new_token():
    """Shown once, in this response: only its hash is kept (and never in the session cookie)."""
    name = request.form.get("name", "").strip() or "API"
    token = signin.issue_token(engine().store, now(), g.viewer.username, name)
    with engine().store.read() as db:
        tokens = signin.tokens_of(db, g.viewer.user_id)
    return render_template("account.html", tokens=tokens, new_token=token, errors={},
                           policy=current_app.config["PASSWORD_POLICY"])


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    signin.revoke_token(engine().store, now(), g.viewer.user_id, token_id)
    flash(_("The token has been revoked."), "info")
    return redirect(url_for("auth.account"))
