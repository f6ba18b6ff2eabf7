"""A scheme written back as ``scheme.yaml`` text by the scheme editor: one line per part, unit, indicator and
veto item, as the shipped schemes are written, under the comment the file began with."""

from __future__ import annotations

import yaml

#: The lists of a scheme, written one flow mapping per item, in this order.
LISTS = ("parts", "units", "indicators", "veto")


def dump(scheme: dict, previous: str = "") -> str:
    """``scheme`` as YAML; the leading comment lines of ``previous`` (the file it replaces) are kept."""
    lines = []
    for line in previous.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    for key, value in scheme.items():
        if key in LISTS and isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"  - {_flow(item)}" for item in value)
        else:
            lines.append(yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=10**6).rstrip())
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6).strip()
