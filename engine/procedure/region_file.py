"""A draft's regions file and its bodies as rows, for the regions and bodies editor (issue 11).

The rows come from the draft's ``regions.yaml`` (whatever it names in bundle.yaml ``regions:``) and from
bundle.yaml ``bodies:``; the page writes them back itself (web/frontend/lib/regions.js) through the draft file
API. Here: reading them for the page, and importing and exporting them as Excel (.xlsx: a sheet of regions and
one of bodies) or CSV (regions only) — a file with any bad row is refused whole, each bad row named.
"""

from __future__ import annotations

import csv
import io
import re

from ..errors import BundleError, ValidationError
from ..people.regions import COLUMNS, HEADINGS, MAX_ROWS, cell_text, code_problem, name_problem, read_table
from . import bodies as body_rules
from . import yamlfile

DEFAULT_NAME = "regions.yaml"
BODY_HEADINGS = ["机构代码 code", "名称 name", "仿照角色 like", "权限 powers"]
BODY_COLUMNS = {"code": {"code", "代码", "机构代码"}, "name": {"name", "名称", "机构名称"},
                "like": {"like", "仿照", "仿照角色"}, "powers": {"powers", "权限"}}


def file_name(files: dict[str, str]) -> str:
    """The name bundle.yaml gives its regions file (``regions.yaml`` when it names none or cannot be read)."""
    try:
        return str(manifest(files).get("regions") or DEFAULT_NAME)
    except BundleError:
        return DEFAULT_NAME


def read(files: dict[str, str]) -> dict:
    """{file, columns, rows, bodies} of a draft: its regions as {code, name, ...} (every key any row has, code
    and name first) and its declared bodies as {code, name, like | powers}; BundleError if a file cannot be read."""
    name = file_name(files)
    data = yamlfile.load(files.get(name, ""), name) or {}
    listed = data.get("regions", []) if isinstance(data, dict) else None
    if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
        raise BundleError("应为 regions: 下的 {code, name} 列表 (expected 'regions:' with a list of {code, name})",
                          file=name)
    columns = ["code", "name"]
    for row in listed:
        columns += [str(k) for k in row if str(k) not in columns]
    rows = [{str(k): "" if v is None else str(v) for k, v in row.items()} for row in listed]
    declared = manifest(files).get("bodies") or []
    if not isinstance(declared, list):
        raise BundleError("bodies 应为列表 (bodies must be a list)", file="bundle.yaml")
    entries = [{"code": str(e.get("code", "")), "name": str(e.get("name", "")),
                **({"like": str(e["like"])} if "like" in e else {"powers": [str(p) for p in e.get("powers") or []]})}
               for e in declared if isinstance(e, dict)]
    return {"file": name, "columns": columns, "rows": rows, "bodies": entries}


def import_file(filename: str, content: bytes, variant: str, columns: list[str]) -> dict:
    """{rows, bodies} of an uploaded .xlsx or .csv (bodies: None when it has no bodies sheet): every row, or a
    ValidationError naming each bad one, with its row number, and nothing read."""
    table = read_table(filename, content)
    if not table:
        raise ValidationError(f"{filename}: 文件为空 (the file is empty)")
    found = _headings(table[0], {**COLUMNS, **{c: {c.lower()} for c in columns if c not in COLUMNS}})
    if "code" not in found or "name" not in found:
        raise ValidationError(f"{filename}: 第 1 行应为列标题，须有代码和名称两列 (row 1 must name the columns: "
                              f"{' | '.join(HEADINGS[:2])})")
    rows, errors, seen = [], [], {}
    for line, cells in enumerate(table[1:], start=2):
        values = {key: cell_text(cells[i]) if i < len(cells) else "" for key, i in found.items()}
        if not any(values.values()):
            continue
        problems = [p for p in (code_problem(values["code"]), name_problem(values["name"])) if p]
        if values.get("variant") and values["variant"] != variant:
            problems.append(f"属于流程 {values['variant']}，不是 {variant} (this row is of variant "
                            f"'{values['variant']}', not '{variant}')")
        if values["code"] in seen:
            problems.append(f"代码 {values['code']} 与第 {seen[values['code']]} 行重复 "
                            f"(code repeats row {seen[values['code']]})")
        seen.setdefault(values["code"], line)
        errors += [{"field": f"第 {line} 行 (row {line})", "message": p} for p in problems]
        values.pop("variant", None)
        rows.append(values)
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"{filename}: 至多 {MAX_ROWS} 行 (at most {MAX_ROWS} rows)")
    bodies = _import_bodies(filename, content, errors)
    if errors:
        raise ValidationError(f"{filename}: {len(errors)} 处错误，未导入任何一行 ({len(errors)} errors; "
                              f"nothing imported)", errors)
    return {"rows": rows, "bodies": bodies}


def export(read_rows: dict, variant: str, fmt: str) -> bytes:
    """The regions (and, in .xlsx, the bodies) as a file ``import_file`` reads back."""
    extra = [c for c in read_rows["columns"] if c not in ("code", "name")]
    headings = HEADINGS + extra
    lines = [[r.get("code", ""), r.get("name", ""), variant] + [r.get(c, "") for c in extra] for r in read_rows["rows"]]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headings)
        writer.writerows(lines)
        return out.getvalue().encode("utf-8-sig")  # Excel opens UTF-8 Chinese correctly only with a BOM
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    regions = book.active
    regions.title = "地区 regions"
    for sheet, head, body in ((regions, headings, lines),
                              (book.create_sheet("机构 bodies"), BODY_HEADINGS,
                               [[b["code"], b["name"], b.get("like", ""), ", ".join(b.get("powers", []))]
                                for b in read_rows["bodies"]])):
        sheet.append(head)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for line in body:
            sheet.append(line)
        for row in sheet.iter_rows(min_row=2, max_col=1):
            row[0].number_format = "@"  # text: an all-digit code stays a code
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import_bodies(filename: str, content: bytes, errors: list[dict]) -> list[dict] | None:
    if not filename.lower().endswith(".xlsx"):
        return None
    table = read_table(filename, content, sheet="bodies")
    if not table:
        return None
    found = _headings(table[0], BODY_COLUMNS)
    if "code" not in found or "name" not in found:
        errors.append({"field": "机构 bodies 第 1 行 (bodies, row 1)",
                       "message": f"应为列标题 (must name the columns: {' | '.join(BODY_HEADINGS)})"})
        return None
    entries, lines = [], []
    for line, cells in enumerate(table[1:], start=2):
        values = {key: cell_text(cells[i]) if i < len(cells) else "" for key, i in found.items()}
        if not any(values.values()):
            continue
        entry = {"code": values["code"], "name": values["name"]}
        if values.get("like"):
            entry["like"] = values["like"]
        else:
            entry["powers"] = [p for p in re.split(r"[\s,，、]+", values.get("powers", "")) if p]
        entries.append(entry)
        lines.append(line)
    seen: dict[str, int] = {}
    for entry, line in zip(entries, lines, strict=True):
        where = {"field": f"机构 bodies 第 {line} 行 (bodies, row {line})"}
        try:
            body_rules.check({"bodies": [entry]})
        except BundleError as exc:
            errors.append({**where, "message": exc.message.split(": ", 1)[-1]})
        if entry["code"] in seen:
            errors.append({**where, "message": f"机构代码 {entry['code']} 与第 {seen[entry['code']]} 行重复 "
                                               f"(code repeats row {seen[entry['code']]})"})
        seen.setdefault(entry["code"], line)
    return entries


def _headings(cells: list, known: dict[str, set[str]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        words = set(re.split(r"[\s/()（）]+", cell_text(cell).lower()))
        for key, aliases in known.items():
            if key not in found and words & aliases:
                found[key] = i
    return found


def manifest(files: dict[str, str]) -> dict:
    """bundle.yaml of ``files`` as a mapping ({} if it is not one); BundleError if it is not YAML."""
    manifest = yamlfile.load(files.get("bundle.yaml", ""), "bundle.yaml")
    return manifest if isinstance(manifest, dict) else {}
