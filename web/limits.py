"""Limits on what a request may carry, enforced before anything parses it: body size per route, JSON nesting,
integers a database column can hold. Each refusal is a 400 or 413 that says which limit was passed."""

from __future__ import annotations

import json

from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

#: Default cap of a request body that carries no file (a form, a JSON call): generous for the largest form.
FORM_BYTES = 1024 * 1024
#: Containers within containers a JSON body may hold; forms need three or four.
JSON_DEPTH = 32
#: The largest integer a BIGINT column (and SQLite's INTEGER) holds.
BIGGEST = 2**63 - 1
#: Routes that take files, and how many files one request may carry.
UPLOADS = {"api.upload": "one", "tasks.submit": "many", "procedures.upload": "one",
           "procedures_api.api_upload": "one", "procedures_api.api_save_file": "one", "procedures.save_file": "one"}


def largest_body(config) -> int:
    """The largest body of any route: Flask's own cap, behind the per-route ones."""
    return config["MAX_UPLOADS_PER_POST"] * config["MAX_UPLOAD_BYTES"] + config["MAX_FORM_BYTES"]


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def body_limit() -> tuple[int, str, str]:
    """This request's body cap, and what it allows, in Chinese and in English."""
    config = current_app.config
    kind = UPLOADS.get(request.endpoint or "")
    form, file = config["MAX_FORM_BYTES"], config["MAX_UPLOAD_BYTES"]
    if kind == "one":
        return file + 64 * 1024, f"一个文件 {_size(file)}", f"one file of {_size(file)}"
    if kind == "many" and request.mimetype == "multipart/form-data":
        files = config["MAX_UPLOADS_PER_POST"]
        return (files * file + form, f"{files} 个文件各 {_size(file)} 加表单 {_size(form)}",
                f"{files} files of {_size(file)} and a form of {_size(form)}")
    return form, f"表单或 JSON {_size(form)}", f"a form or JSON body of {_size(form)}"


def cap_body() -> None:
    """Before each request, before the CSRF check or a view reads the form: refuse a body over the route's cap
    from its Content-Length, and make the reader stop at the cap when there is none (chunked)."""
    limit, chinese, english = body_limit()
    limit = min(limit, current_app.config["MAX_CONTENT_LENGTH"] or limit)
    g.body_limit = f"请求内容超过上限：{chinese} (the request exceeds its limit: {english})"
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(description=g.body_limit)
    request.max_content_length = limit
    request.max_form_memory_size = min(limit, current_app.config["MAX_FORM_BYTES"])


def _too_big(text: str) -> BadRequest:
    return BadRequest(description=f"数字 {text[:24]}{'…' if len(text) > 24 else ''} 超出范围 "
                                  f"(a number above {BIGGEST} is out of range)")


class BoundedInt(IntegerConverter):
    """``<int:…>`` in a route, up to what the database holds: a larger one is a 400, not an OverflowError."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > BIGGEST:
            raise _too_big(value)
        return number


class BoundedArgs(ImmutableMultiDict):
    """Query and form arguments whose ``get(…, type=int)`` refuses integers no column holds."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's own signature
        value = super().get(key, default, type)
        if type is int and isinstance(value, int) and abs(value) > BIGGEST:
            raise _too_big(str(value))
        return value


class DepthLimitedJson(DefaultJSONProvider):
    """Flask's JSON, whose ``loads`` (request bodies) answers nesting past ``JSON_DEPTH`` with a 400, never with
    a RecursionError."""

    def loads(self, s, **kwargs):
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            value = None
            depth = JSON_DEPTH + 1
        else:
            depth = _depth(value)
        if depth > JSON_DEPTH:
            raise BadRequest(description=f"JSON 嵌套超过 {JSON_DEPTH} 层 (JSON nested deeper than {JSON_DEPTH} levels)")
        return value


def _depth(value) -> int:
    """How deep containers nest in ``value``, without recursion (stopping once past the limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class KaoheRequest(Request):
    parameter_storage_class = BoundedArgs


def init_app(app: Flask) -> None:
    app.request_class = KaoheRequest
    app.json = DepthLimitedJson(app)
    app.url_map.converters["int"] = BoundedInt
    app.before_request(cap_body)
