"""Engine errors and HTTP errors, mapped in one place to a page or to JSON ``{"error", "message"}``."""

from __future__ import annotations

import logging

from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from engine import errors
from engine.people.signin import SignInFailed

logger = logging.getLogger(__name__)

#: Most specific first.
STATUS = [
    (SignInFailed, 401),
    (errors.NotFound, 404),
    (errors.PermissionDenied, 403),
    (errors.ValidationError, 400),
    (errors.BundleError, 400),
    (errors.Conflict, 409),
    (errors.HeldUp, 409),
    (errors.ExpressionError, 500),
    (errors.KaoheError, 500),
]


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


#: The most of a message (and so of any value quoted in it) an error answer repeats.
MESSAGE_CHARS = 300


def short(text) -> str:
    """``text`` cut to ``MESSAGE_CHARS``: an error never echoes a large offending value back."""
    text = "" if text is None else str(text)
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"


def short_errors(items: list[dict]) -> list[dict]:
    """Field errors with every text cut short, and at most a hundred of them."""
    return [{k: short(v) if isinstance(v, str) else v for k, v in item.items()} for item in items[:100]]


def kaohe_error(exc: errors.KaoheError):
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    if status >= 500:
        logger.error("request %s failed: %s", request.path, short(exc))
    if _wants_json():
        body = {"error": exc.code, "message": short(exc.message)}
        if getattr(exc, "errors", None):
            body["errors"] = short_errors(exc.errors)
        return jsonify(body), status
    return render_template("error.html", status=status, message=short(exc.message),
                           errors=short_errors(getattr(exc, "errors", []))), status


def http_error(exc: HTTPException):
    titles = {400: _("Bad request"), 401: _("Please sign in"), 403: _("Not allowed"), 404: _("Not found"),
              405: _("Method not allowed"), 413: _("The upload is too large")}
    message = titles.get(exc.code, exc.name)
    if exc.description and exc.description != type(exc).description:  # a message of ours, not werkzeug's
        message = short(exc.description)
    elif exc.code == 413 and g.get("body_limit"):  # passed while reading a body without a Content-Length
        message = g.body_limit
    if _wants_json():
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "too_large"}.get(exc.code, "error")
        return jsonify({"error": code, "message": message}), exc.code
    return render_template("error.html", status=exc.code, message=message, errors=[]), exc.code


#: Words of the database driver -> the kind of outage: the database cannot be reached, or it cannot write.
OUTAGES = {
    "could not connect": "unreachable", "connection refused": "unreachable", "server closed the connection":
    "unreachable", "terminating connection": "unreachable", "connection is closed": "unreachable",
    "the database system is": "unreachable", "unable to open database": "unreachable",
    "database or disk is full": "disk_full", "no space left on device": "disk_full", "could not extend file":
    "disk_full", "disk i/o error": "disk_full", "attempt to write a readonly database": "disk_full",
}
UNAVAILABLE = ("数据库暂时不可用，本次提交未保存，请稍后重试 "
               "(the database is unavailable; nothing was saved; please try again)")


def outage_of(exc: BaseException) -> str | None:
    """The kind of outage a database error means, or None for any other error (a fault of ours: a 500)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return next((kind for words, kind in OUTAGES.items() if words in text), None)


def database_error(exc: DBAPIError):
    kind = outage_of(exc)
    if kind is None:
        raise exc
    # One line per failure, named by its kind: an outage is not a bug, its traceback helps nobody.
    logger.error("database %s: %s %s", kind, request.method, request.path)
    if _wants_json():
        response = jsonify({"error": "unavailable", "message": UNAVAILABLE})
    else:
        response = render_template("error.html", status=503, message=UNAVAILABLE, errors=[])
    return response, 503, {"Retry-After": "30"}


def init_app(app) -> None:
    app.register_error_handler(errors.KaoheError, kaohe_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(DBAPIError, database_error)
