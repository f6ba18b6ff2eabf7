"""A diff as lines of text, for ``kaohe procedures diff``: one line per change, one per field that differs."""

from __future__ import annotations

MARKS = {"added": "+", "removed": "-", "changed": "~"}
WORDS = {"added": "新增 added", "removed": "删除 removed", "changed": "修改 changed"}


def lines(result: dict, before: str, after: str) -> list[str]:
    """``result`` of ``compare`` as text; ``before`` and ``after`` name the two sides."""
    out = [f"比较 comparing: {before} → {after}",
           f"共 {result['total']} 处不同 ({result['total']} differences)" if result["total"]
           else "两者相同 (no differences)"]
    for section in result["sections"]:
        if not section["count"]:
            continue
        out += ["", f"== {section['title']}: {section['count']}"]
        for change in section["changes"]:
            where = "，".join(p for p in (change["context"], change["lane"]) if p)
            out.append(f"{MARKS[change['change']]} {change['kind']} {change['name']} [{change['element']}]"
                       f"{'（' + where + '）' if where else ''} {WORDS[change['change']]}")
            for field in change["fields"]:
                if change["change"] == "changed":
                    out.append(f"    {field['label']}: {_one(field['before'])} → {_one(field['after'])}")
                else:
                    out.append(f"    {field['label']}: {_one(field['before'] or field['after'])}")
    return out


def _one(value: str | None, width: int = 160) -> str:
    """A value on one line: line breaks shown as ⏎, long texts cut."""
    if value is None:
        return "（无 none）"
    flat = " ⏎ ".join(line.strip() for line in value.strip().splitlines())
    return flat if len(flat) <= width else flat[:width] + "…"
