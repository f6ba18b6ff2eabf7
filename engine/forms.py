"""Forms: JSON Schema (2020-12) files checked at deploy, and submitted data checked against them."""

from __future__ import annotations

import functools
import json
import re
from re import _constants as sre_constants
from re import _parser as sre_parser

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as JsonSchemaError
from jsonschema.validators import extend

from .errors import BundleError, ValidationError

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
        for where, pattern in _patterns(document, ""):
            _check_pattern(name, where, pattern)
    return document


def _patterns(node, where: str):
    """Every ``patternProperties`` key in a schema, with where it is (a ``pattern`` is matched by the Rust engine,
    which does not backtrack; property names are matched by Python's ``re``, which does)."""
    if isinstance(node, dict):
        if isinstance(node.get("patternProperties"), dict):
            yield from ((f"{where}/patternProperties", key) for key in node["patternProperties"])
        for key, value in node.items():
            yield from _patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{where}/{index}")


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}


def _nested_repeat(items, inside: bool) -> bool:
    """Whether an unbounded repetition sits inside another: ``(a+)+``, ``(a*b?)*``, the patterns that backtrack
    exponentially on a near miss (Python's ``re`` explains a failed field with them)."""
    for op, value in items:
        if op in _REPEATS:
            low, high, body = value
            unbounded = high == sre_constants.MAXREPEAT or high > 16
            if unbounded and inside or _nested_repeat(body, inside or unbounded):
                return True
        elif op == sre_constants.SUBPATTERN and _nested_repeat(value[3], inside):
            return True
        elif op == sre_constants.BRANCH and any(_nested_repeat(branch, inside) for branch in value[1]):
            return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT) and _nested_repeat(value[1], inside):
            return True
    return False


def _check_pattern(name: str, where: str, pattern: str) -> None:
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise BundleError(f"正则表达式有误 (invalid pattern at {where}: {exc})", file=name) from exc
    if _nested_repeat(list(parsed), False):
        raise BundleError(f"正则表达式含嵌套的重复，可能极慢 (pattern at {where} nests one repetition in another, "
                          f"which can take exponential time: {pattern!r})", file=name)


class FormValidator:
    """A form's validators: jsonschema-rs answers "valid?" fast; jsonschema explains what is not.

    Both implement JSON Schema 2020-12 with format checks, so they agree on what is valid; the Rust one
    is some hundred times faster on the common case, the Python one names every failing field.
    """

    def __init__(self, schema: dict):
        self.schema = schema
        self.fast = jsonschema_rs.validator_for(schema, validate_formats=True)
        self.full = _Explaining(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.lru_cache(maxsize=512)
def _matcher(pattern: str):
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _pattern(validator, pattern, instance, schema):
    """``pattern`` matched by jsonschema-rs's regex engine: ``^(a+)+$`` on a long near miss takes microseconds,
    where Python's ``re`` would backtrack for minutes."""
    if validator.is_type(instance, "string") and not _matcher(pattern).is_valid(instance):
        yield JsonSchemaError(f"{instance!r} does not match {pattern!r}")


#: The explaining validator, with patterns matched as the fast one matches them.
_Explaining = extend(Draft202012Validator, {"pattern": _pattern})


def validator(schema: dict) -> FormValidator:
    """Build a form's validators once and keep them."""
    return FormValidator(schema)


def validate(schema: dict | FormValidator, data, form: str = "") -> None:
    """Raise ValidationError listing every field that fails, with messages in Chinese."""
    checker = schema if isinstance(schema, FormValidator) else validator(schema)
    if checker.fast.is_valid(data):
        return
    errors = [{"field": "/".join(str(p) for p in error.absolute_path), "message": _message(error, checker.schema),
               "detail": error.message}
              for error in sorted(checker.full.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]
    if not errors:  # the two disagree: trust the stricter one, and say so
        detail = next(checker.fast.iter_errors(data)).message
        errors = [{"field": "", "message": "数据不符合表单要求", "detail": detail}]
    listing = "；".join(f"{e['field'] or '表单'}：{e['message']}" for e in errors[:5])
    raise ValidationError(f"表单「{form}」数据有误：{listing}", errors)


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
    return error.message


def _node(schema: dict, path) -> dict:
    """The subschema that describes the value at ``path`` (through properties and items)."""
    for part in path:
        schema = schema.get("items", {}) if isinstance(part, int) else schema.get("properties", {}).get(part, {})
    return schema if isinstance(schema, dict) else {}
