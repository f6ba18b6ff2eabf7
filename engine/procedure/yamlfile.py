"""YAML as the product reads it: plain data, no anchors and no aliases.

An alias repeats a whole node, so a few nested ones multiply: a 2 KB ``bundle.yaml`` with six levels of them
was stored as an 8 MB manifest, and nine levels ran out of memory. The files we read are short and written
by hand; nothing in them needs an alias, so any anchor or alias is refused before anything is built.
"""

from __future__ import annotations

import yaml

from ..errors import BundleError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str, name: str):
    """Parse the YAML ``text`` of the file ``name``; a BundleError names the file and line of what is wrong."""
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise BundleError(f"YAML 锚点和别名不允许使用 (anchors and aliases are not allowed: "
                                  f"'{event.anchor}')", file=name, line=event.start_mark.line + 1)
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise BundleError(f"YAML 格式错误 (malformed YAML): {exc}", file=name,
                          line=None if mark is None else mark.line + 1) from exc


def read(files: dict[str, str], name: str):
    """The YAML file ``name`` of a bundle's ``files``, parsed; BundleError when it is missing or malformed."""
    if name not in files:
        raise BundleError("file named in bundle.yaml is missing", file=name)
    return load(files[name], name)


def key_lines(text: str) -> dict[str, int]:
    """The line of each key of a YAML mapping, and of each key one level below (``"deadlines.Task_x"``);
    empty when the text is not a mapping. For findings about a setting, which name the line it is on."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        lines.setdefault(str(key.value), key.start_mark.line + 1)
        if isinstance(value, yaml.MappingNode):
            for inner, _ in value.value:
                lines.setdefault(f"{key.value}.{inner.value}", inner.start_mark.line + 1)
    return lines
