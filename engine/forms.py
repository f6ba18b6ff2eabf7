"""Forms: JSON Schema (2020-12) files checked at deploy, and submitted data checked against them."""

from __future__ import annotations

import json

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import BundleError, ValidationError

#: The most of a validator's own message kept in an error: it may quote the whole offending value.
DETAIL_CHARS = 200
#: The most a saved draft may weigh, as JSON (the form's own limits apply besides).
DRAFT_BYTES = 1024 * 1024
#: The keywords that bound a value's size; a draft is checked against these alone, being unfinished.
_SIZE_KEYWORDS = {"maxLength", "maxItems", "maxProperties", "additionalProperties", "$ref", "$id", "$schema"}
_SUBSCHEMAS = {"properties", "$defs", "definitions"}

_TYPES = {"string": "文本", "number": "数字", "integer": "整数", "boolean": "是/否", "array": "列表",
          "object": "对象", "null": "空值"}


def check_form_file(name: str, text: str) -> dict:
    """Parse a form file; a ``*.schema.json`` must be a valid 2020-12 schema."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"malformed JSON: {exc.msg}", file=name, line=exc.lineno) from exc
    if not isinstance(document, dict):
        raise BundleError("a form file must hold a JSON object", file=name)
    if name.endswith(".schema.json"):
        try:
            Draft202012Validator.check_schema(document)
        except SchemaError as exc:
            raise BundleError(f"not a valid JSON Schema: {exc.message}", file=name) from exc
    return document


class FormValidator:
    """A form's validators: jsonschema-rs answers "valid?" fast; jsonschema explains what is not.

    Both implement JSON Schema 2020-12 with format checks, so they agree on what is valid; the Rust one
    is some hundred times faster on the common case, the Python one names every failing field.
    """

    def __init__(self, schema: dict):
        self.schema = schema
        self.fast = jsonschema_rs.validator_for(schema, validate_formats=True)
        self.full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validator(schema: dict) -> FormValidator:
    """Build a form's validators once and keep them."""
    return FormValidator(schema)


def validate(schema: dict | FormValidator, data, form: str = "") -> None:
    """Raise ValidationError listing every field that fails, with messages in Chinese."""
    checker = schema if isinstance(schema, FormValidator) else validator(schema)
    if checker.fast.is_valid(data):
        return
    _raise(checker.full, checker.schema, data, form,
           fallback=lambda: clip(next(checker.fast.iter_errors(data)).message))


def _raise(full: Draft202012Validator, root: dict, data, form: str, fallback=None) -> None:
    errors = [{"field": clip("/".join(str(p) for p in error.absolute_path)), "message": _message(error, root),
               "detail": clip(error.message)}
              for error in sorted(full.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
    if not errors:  # the two disagree: trust the stricter one, and say so
        if fallback is None:
            return
        errors = [{"field": "", "message": "数据不符合表单要求", "detail": fallback()}]
    listing = "；".join(f"{e['field'] or '表单'}：{e['message']}" for e in errors[:5])
    raise ValidationError(f"表单「{form}」数据有误：{listing}", errors[:100])


def clip(text: str) -> str:
    """At most ``DETAIL_CHARS`` of ``text``: a message never carries a large value back to who sent it."""
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"


def check_draft(schema: dict, data, form: str = "") -> None:
    """A draft may be unfinished (nothing is required, a number may still be text) but no larger than the form
    allows: every ``maxLength``, ``maxItems``, ``maxProperties`` and closed object holds, and the whole is at most
    ``DRAFT_BYTES``. Raise ValidationError naming each field over its limit."""
    size = len(json.dumps(data, ensure_ascii=False).encode())
    if size > DRAFT_BYTES:
        message = f"草稿过大：{size} 字节，上限 {DRAFT_BYTES} 字节 (the draft exceeds {DRAFT_BYTES} bytes)"
        raise ValidationError(message, [{"field": "", "message": message}])
    limits = _size_limits(schema)
    _raise(Draft202012Validator(limits), schema, data, form)


def _size_limits(schema):
    """``schema`` with only the keywords that bound sizes, through properties, items and definitions."""
    if not isinstance(schema, dict):
        return schema
    kept = {k: v for k, v in schema.items() if k in _SIZE_KEYWORDS and k != "additionalProperties"}
    if schema.get("additionalProperties") is False:
        kept["additionalProperties"] = False
    elif isinstance(schema.get("additionalProperties"), dict):
        kept["additionalProperties"] = _size_limits(schema["additionalProperties"])
    for key in _SUBSCHEMAS & schema.keys():
        if isinstance(schema[key], dict):
            kept[key] = {name: _size_limits(sub) for name, sub in schema[key].items()}
    if isinstance(schema.get("items"), dict):
        kept["items"] = _size_limits(schema["items"])
    return kept


def _message(error, root: dict) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        title = (error.schema.get("properties", {}).get(missing, {}).get("title")
                 or _node(root, error.absolute_path).get("properties", {}).get(missing, {}).get("title", missing))
        return f"必填项「{title}」未填写"
    if kind == "additionalProperties":
        return "含有表单中没有的字段"
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return "应为" + "或".join(_TYPES.get(n, n) for n in names)
    if kind in ("minimum", "exclusiveMinimum"):
        return f"不能小于{value}" if kind == "minimum" else f"应大于{value}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"不能大于{value}" if kind == "maximum" else f"应小于{value}"
    if kind in ("enum", "const", "oneOf", "anyOf"):
        return "取值不在允许的选项中"
    if kind == "format":
        return "日期格式应为 YYYY-MM-DD" if value == "date" else f"格式应为 {value}"
    if kind == "pattern":
        return "格式不正确"
    if kind in ("minLength", "minItems"):
        return f"至少需要 {value} 项" if kind == "minItems" else f"至少 {value} 个字符"
    if kind in ("maxLength", "maxItems"):
        return f"最多 {value} 项" if kind == "maxItems" else f"最多 {value} 个字符"
    if kind == "maxProperties":
        return f"最多 {value} 个字段"
    return clip(error.message)


def _node(schema: dict, path) -> dict:
    """The subschema that describes the value at ``path`` (through properties and items)."""
    for part in path:
        schema = schema.get("items", {}) if isinstance(part, int) else schema.get("properties", {}).get(part, {})
    return schema if isinstance(schema, dict) else {}
