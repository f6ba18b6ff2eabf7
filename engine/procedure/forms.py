"""Forms: JSON Schema (2020-12) files checked at deploy, and submitted data checked against them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from re import _constants as sre_constants
from re import _parser as sre_parser

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as JsonSchemaError
from jsonschema.validators import extend
from referencing import Registry
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from ..errors import BundleError, ValidationError

#: The most of a validator's own message kept in an error: it may quote the whole offending value.
DETAIL_CHARS = 200
#: The most a saved draft may weigh, as JSON (the form's own limits apply besides).
DRAFT_BYTES = 1024 * 1024
#: The keywords that bound a value's size; a draft is checked against these alone, being unfinished.
_SIZE_KEYWORDS = {"maxLength", "maxItems", "maxProperties", "additionalProperties", "$ref", "$id", "$schema"}
_SUBSCHEMAS = {"properties", "$defs", "definitions"}

_TYPES = {"string": "文本", "number": "数字", "integer": "整数", "boolean": "是/否", "array": "列表",
          "object": "对象", "null": "空值"}


#: The one meta-schema a form may name; both validators hold it, so naming it fetches nothing.
META_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
#: Keywords whose values are instance data, not schemas: a "$ref" inside a default is just text.
DATA_KEYWORDS = {"const", "enum", "default", "examples"}
#: The base URI jsonschema-rs gives a schema without ``$id``; a relative ``$ref`` is joined to it.
RS_BASE = "json-schema:///"


def check_forms(texts: Mapping[str, str]) -> dict[str, dict]:
    """Check every form file of a bundle (``{name under forms/: text}``): each parses, each schema is valid
    2020-12, and every ``$ref`` resolves inside the bundle, to the same file or another form of it."""
    documents = {name: check_form_file(f"forms/{name}", text, texts) for name, text in sorted(texts.items())}
    schemas = schema_texts(texts)
    for name in schemas:
        validator(documents[name], schemas, name)  # resolves every reference, with nothing but the bundle
    return documents


def schema_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """The ``*.schema.json`` forms among ``{name: text}``: all that a ``$ref`` may name."""
    return {name: text for name, text in texts.items() if name.endswith(".schema.json")}


def check_form_file(name: str, text: str, forms: Mapping[str, str] | None = None) -> dict:
    """Parse a form file; a ``*.schema.json`` must be a valid 2020-12 schema whose references stay inside
    the bundle (``forms``: the bundle's form files by name under ``forms/``)."""
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
        _check_references(name, text, document, schema_texts(forms or {}))
        for where, pattern in _patterns(document, ""):
            _check_pattern(name, where, pattern)
    return document


def _check_references(name: str, text: str, document: dict, schemas: Mapping[str, str]) -> None:
    """Refuse what would make a validator look outside the bundle: a ``$ref`` to a URL or a file that is not
    one of its forms, an ``$id`` (which moves what relative references mean), another meta-schema."""
    for key, value in _keywords(document):
        where = _line_of(text, value)
        if key == "$schema" and value.rstrip("#") != META_SCHEMA:
            raise BundleError(f"只支持 JSON Schema 2020-12 (only {META_SCHEMA} may be named): {value[:200]}",
                              file=name, line=where)
        if key == "$id":
            raise BundleError("表单中不允许使用 $id (a form may not set $id: references are resolved inside "
                              "the bundle)", file=name, line=where)
        if key in ("$ref", "$dynamicRef") and not value.startswith("#"):
            target = value.split("#", 1)[0]
            if ":" in target or target.startswith(("/", "\\")) or ".." in target.split("/") or target not in schemas:
                raise BundleError(f"$ref 只能指向本表单或流程包内的其他表单 (a $ref may only name this form or "
                                  f"another *.schema.json form of the bundle): {value[:200]}",
                                  file=name, line=where)


def _keywords(node) -> Iterator[tuple[str, str]]:
    """Every ``$schema``, ``$id``, ``$ref`` and ``$dynamicRef`` in a schema, outside instance data."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$schema", "$id", "$ref", "$dynamicRef") and isinstance(value, str):
                yield key, value
            elif key not in DATA_KEYWORDS:
                yield from _keywords(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


def _line_of(text: str, value: str) -> int | None:
    at = text.find(json.dumps(value, ensure_ascii=False))
    at = text.find(json.dumps(value)) if at < 0 else at
    return None if at < 0 else text.count("\n", 0, at) + 1


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

    def __init__(self, schema: dict, forms: Mapping[str, str] | None = None, name: str = ""):
        self.schema = schema
        library = Library(forms or {})
        try:
            self.fast = jsonschema_rs.validator_for(schema, validate_formats=True, retriever=library.rs)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
            raise BundleError(f"$ref 无法在流程包内解析 (a $ref does not resolve inside the bundle): "
                              f"{str(exc).splitlines()[0][:300]}", file=f"forms/{name}" if name else None) from exc
        self.full = _Explaining(schema, format_checker=Draft202012Validator.FORMAT_CHECKER,
                                registry=Registry(retrieve=library.python))


@functools.lru_cache(maxsize=512)
def _matcher(pattern: str):
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _pattern(validator, pattern, instance, schema):
    """``pattern`` matched by jsonschema-rs's regex engine: ``^(a+)+$`` on a long near miss takes microseconds,
    where Python's ``re`` would backtrack for minutes."""
    if validator.is_type(instance, "string") and not _matcher(pattern).is_valid(instance):
        yield JsonSchemaError(f"{instance!r} does not match {pattern!r}")


def _multiple_of(validator, step, instance, schema):
    """``multipleOf`` in exact decimals, as jsonschema-rs decides it: 0.07 is a multiple of 0.01 (in binary
    floating point 0.07 / 0.01 is 7.000000000000001, which the Python validator refuses)."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        whole = (Decimal(str(instance)) / Decimal(str(step))) % 1 == 0
    except (InvalidOperation, ArithmeticError):
        whole = False
    if not whole:
        yield JsonSchemaError(f"{instance!r} is not a multiple of {step!r}")


#: The explaining validator, with patterns and multiples decided as the fast one decides them.
_Explaining = extend(Draft202012Validator, {"pattern": _pattern, "multipleOf": _multiple_of})


class Library:
    """What a form's ``$ref`` may reach: the other forms of its own version, by name, and nothing else.

    Both validators fetch unknown references by default (jsonschema-rs over HTTP and from ``file://``;
    jsonschema over HTTP), which would send the server to any URL a bundle names at each submission.
    """

    def __init__(self, forms: Mapping[str, str]):
        self.forms = forms

    def document(self, uri: str) -> dict:
        name = uri.removeprefix(RS_BASE)
        if not name.endswith(".schema.json") or name not in self.forms:
            raise NoSuchResource(ref=uri)
        return json.loads(self.forms[name])

    def rs(self, uri: str) -> dict:
        return self.document(uri)

    def python(self, uri: str):
        return DRAFT202012.create_resource(self.document(uri))


def validator(schema: dict, forms: Mapping[str, str] | None = None, name: str = "") -> FormValidator:
    """Build a form's validators once and keep them; ``forms``: the version's forms a ``$ref`` may name."""
    return FormValidator(schema, forms, name)


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
    raise ValidationError(summary(root.get("title") or form, root, errors), errors[:100])


def summary(title: str, root: dict, errors: list[dict]) -> str:
    """「指标评分」填写有误：指标得分第 2 行·得分：不能大于 15；… — the first few errors, each field in words."""
    listing = "；".join(f"{words(root, e['field']) or '表单'}：{e['message']}" for e in errors[:5])
    more = f"（共 {len(errors)} 处）" if len(errors) > 5 else ""
    return f"「{title}」填写有误：{listing}{more}"


def words(root: dict, field: str) -> str:
    """A field's path (``scores/1/score``) as its titles: 指标得分第 2 行·得分."""
    parts, node = [], root
    for part in filter(None, field.split("/")):
        if part.isdigit():
            node = node.get("items", {}) if isinstance(node, dict) else {}
            if parts:
                parts[-1] += f"第 {int(part) + 1} 行"
            continue
        node = node.get("properties", {}).get(part, {}) if isinstance(node, dict) else {}
        parts.append(node.get("title", part) if isinstance(node, dict) else part)
    return "·".join(parts)


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
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(value)
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
    if kind == "multipleOf":
        places = _places(value)
        return f"最多保留 {places} 位小数" if places is not None else f"应为 {value} 的整数倍"
    return clip(error.message)


_BOUNDS = {"minimum": "不能小于{}", "exclusiveMinimum": "应大于{}", "maximum": "不能大于{}",
           "exclusiveMaximum": "应小于{}"}


def _places(step) -> int | None:
    """The decimal places a ``multipleOf`` of 1, 0.1, 0.01… allows; None for any other step."""
    places = -Decimal(str(step)).normalize().as_tuple().exponent
    return places if places >= 0 and Decimal(str(step)) == Decimal(1).scaleb(-places) else None


_BOUNDS_EN = {"minimum": "must not be below {}", "exclusiveMinimum": "must be above {}",
              "maximum": "must not be above {}", "exclusiveMaximum": "must be below {}"}


def number_words(prop: dict, english: bool = False) -> dict:
    """The bounds of a numeric field of a form and what the check says outside them (the same words as the
    server's, or their English), for the page to check before sending (web/static/numbers.js); the server
    stays the judge."""
    integer = prop.get("type") == "integer"
    if english:
        words = {"nan": "must be a whole number" if integer else "must be a number"}
    else:
        words = {"nan": "应为" + _TYPES["integer" if integer else "number"]}
    said = _BOUNDS_EN if english else _BOUNDS
    for kind, bound in (("minimum", "min"), ("maximum", "max")):
        if isinstance(prop.get(kind), (int, float)) and not isinstance(prop.get(kind), bool):
            words[bound] = f"{prop[kind]}"
            words["below" if bound == "min" else "above"] = said[kind].format(prop[kind])
    step = prop.get("multipleOf")
    if integer:
        words.update(places=0, decimals=words["nan"])
    elif isinstance(step, (int, float)) and not isinstance(step, bool) and _places(step) is not None:
        places = _places(step)
        words.update(places=places, decimals=f"may have at most {places} decimal places" if english
                     else f"最多保留 {places} 位小数")
    return words


def _node(schema: dict, path) -> dict:
    """The subschema that describes the value at ``path`` (through properties and items)."""
    for part in path:
        schema = schema.get("items", {}) if isinstance(part, int) else schema.get("properties", {}).get(part, {})
    return schema if isinstance(schema, dict) else {}


#: A list whose options are the campaign's (``"x-kaohe-choices": "regions"``), not the schema's.
CHOICES = "x-kaohe-choices"


def choice_fields(schema: dict) -> dict[str, str]:
    """The top-level fields of ``schema`` whose options come from the campaign: {field: kind}."""
    return {key: prop[CHOICES] for key, prop in schema.get("properties", {}).items()
            if isinstance(prop, dict) and isinstance(prop.get(CHOICES), str)}


def check_choices(schema: dict, data: dict, options: dict[str, list[str]]) -> None:
    """Each value of a ``x-kaohe-choices`` field is one of the campaign's options (its regions)."""
    errors = []
    for key, kind in choice_fields(schema).items():
        allowed = set(options.get(kind, []))
        for n, value in enumerate(data.get(key) or []):
            if value not in allowed:
                errors.append({"field": f"{key}/{n}", "message": f"{str(value)[:40]} 不是本考核的考核对象"})
    if errors:
        raise ValidationError("所选地区不属于本考核 (a region chosen is not assessed in this campaign)", errors)
