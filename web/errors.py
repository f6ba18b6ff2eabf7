"""Engine errors and HTTP errors, mapped in one place to a page or to JSON ``{"error", "message"}``."""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from engine import errors
from engine.signin import SignInFailed

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


def kaohe_error(exc: errors.KaoheError):
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    if status >= 500:
        logger.error("request %s failed: %s", request.path, exc)
    if _wants_json():
        body = {"error": exc.code, "message": exc.message}
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors
        return jsonify(body), status
    return render_template("error.html", status=status, message=exc.message,
                           errors=getattr(exc, "errors", [])), status


def http_error(exc: HTTPException):
    titles = {400: _("Bad request"), 401: _("Please sign in"), 403: _("Not allowed"), 404: _("Not found"),
              405: _("Method not allowed"), 413: _("The upload is too large")}
    message = titles.get(exc.code, exc.name)
    if exc.description and exc.description != type(exc).description:  # a message of ours, not werkzeug's
        message = exc.description
    if _wants_json():
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "too_large"}.get(exc.code, "error")
        return jsonify({"error": code, "message": message}), exc.code
    return render_template("error.html", status=exc.code, message=message, errors=[]), exc.code


def init_app(app) -> None:
    app.register_error_handler(errors.KaoheError, kaohe_error)
    app.register_error_handler(HTTPException, http_error)
