"""The assessed: regions, 管委会 and departments, each in the region set of one variant; CSV and Excel files.

Codes: an all-digit code is a GB/T 2260 administrative division code (6 digits) or a statistical
division code below it (9 digits for a 乡镇/街道, 12 for a village: 统计用区划代码). Who has no such code
(a 管委会, a department of the government: 区政府各相关部门) gets a code of 1 to 12 ASCII letters, digits,
``-``, ``_`` or ``.``, with at least one letter, such as ``FGJ`` or ``610403-fgj``. Names are not checked
against any list: the assessed are not always governments.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ValidationError
from ..records import audit
from ..store.models import ProcessVersion, Region

#: Column headings an import recognises (any one word of a heading cell), and the export's headings.
COLUMNS = {
    "code": {"code", "代码", "区划代码", "编码", "行政区划代码"},
    "name": {"name", "名称", "地区", "单位", "地区名称", "单位名称"},
    "variant": {"variant", "region_set", "流程", "考核流程", "区域集"},
}
HEADINGS = ["区划代码 code", "名称 name", "考核流程 variant"]
MAX_ROWS = 10_000
_OTHER_CODE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9._-]{1,12}$")


def code_problem(code: str) -> str | None:
    """Why ``code`` cannot be a region code (Chinese, with English), or None when it can."""
    if not code:
        return "代码为空 (no code)"
    if code.isascii() and code.isdigit():
        if len(code) in (6, 9, 12):
            return None
        return (f"代码 {code} 应为 6 位 GB/T 2260 代码（或 9、12 位统计用区划代码） "
                "(an all-digit code has 6, 9 or 12 digits)")
    if _OTHER_CODE.match(code):
        return None
    return (f"代码 {code} 无效：非数字代码为 1–12 个英文字母、数字或 -_.，且含字母 "
            f"(a code without a GB/T 2260 number is 1-12 ASCII letters, digits, '-', '_' or '.', with a letter)")


@dataclass
class Row:
    """One line of a region file: its row number (1 = headings), code, name and variant."""

    line: int
    code: str
    name: str
    variant: str


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def listing(session: Session, variant: str | None = None) -> list[Region]:
    query = select(Region).order_by(Region.region_set, Region.code)
    if variant:
        query = query.where(Region.region_set == variant)
    return list(session.scalars(query))


def load_defaults(session: Session, variant: str, defaults: list[dict]) -> tuple[list[Region], list[str]]:
    """Add a bundle's regions that the table lacks; returns those added and the codes kept as they were."""
    added, kept = [], []
    for region in defaults:
        row = session.get(Region, region["code"])
        if row is None:
            row = Region(code=region["code"], name=region["name"], region_set=variant)
            session.add(row)
            added.append(row)
        elif (row.name, row.region_set) != (region["name"], variant):
            kept.append(row.code)
    return added, kept


def import_file(session: Session, name: str, content: bytes, variant: str | None, actor: str,
                at: datetime) -> ImportReport:
    """Import a .csv or .xlsx file of regions: every row, or none and every bad row named."""
    deployed = set(session.scalars(select(ProcessVersion.variant).distinct()))
    return import_rows(session, read_file(name, content, variant, deployed), actor, at)


def read_file(name: str, content: bytes, variant: str | None = None, deployed: set[str] | None = None) -> list[Row]:
    """The rows of a .csv or .xlsx file; ValidationError names every row that is not a region (of a variant
    in ``deployed``, when given)."""
    table = read_table(name, content)
    if not table:
        raise ValidationError(f"{name}: 文件为空 (the file is empty)")
    columns = _columns(table[0], variant is not None, name)
    rows, errors, seen = [], [], {}
    for line, cells in enumerate(table[1:], start=2):
        values = {key: cell_text(cells[i]) if i < len(cells) else "" for key, i in columns.items()}
        if not any(values.values()):
            continue  # a blank line
        row = Row(line, values["code"], values["name"], values.get("variant") or variant or "")
        problems = [p for p in (code_problem(row.code), name_problem(row.name),
                                _variant_problem(row.variant, deployed)) if p]
        if row.code in seen:
            problems.append(f"代码 {row.code} 与第 {seen[row.code]} 行重复 (code repeats row {seen[row.code]})")
        seen.setdefault(row.code, line)
        errors += [{"field": f"第 {line} 行 (row {line})", "message": p} for p in problems]
        rows.append(row)
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"{name}: 至多 {MAX_ROWS} 行 (at most {MAX_ROWS} rows)")
    if errors:
        raise ValidationError(f"{name}: {len(errors)} 处错误，未导入任何地区 ({len(errors)} errors; nothing imported)",
                              errors)
    return rows


def read_table(name: str, content: bytes, sheet: str | None = None) -> list[list]:
    """The cells of a .csv file, or of the first sheet of an .xlsx file (or the one whose title holds ``sheet``),
    row by row; ValidationError when it is neither."""
    if name.lower().endswith(".xlsx"):
        return _xlsx_rows(content, sheet)
    if name.lower().endswith(".csv"):
        return _csv_rows(content)
    raise ValidationError(f"{name}: 只接受 .csv 或 .xlsx 文件 (only .csv and .xlsx files are read)")


def import_rows(session: Session, rows: list[Row], actor: str, at: datetime) -> ImportReport:
    """Add or update every row, or none: a variant that is not deployed is named with its rows."""
    deployed = set(session.scalars(select(ProcessVersion.variant).distinct()))
    errors = [{"field": f"第 {r.line} 行 (row {r.line})",
               "message": f"流程 {r.variant} 尚未部署 (variant '{r.variant}' is not deployed)"}
              for r in rows if r.variant not in deployed]
    if errors:
        raise ValidationError(f"{len(errors)} 处错误，未导入任何地区 ({len(errors)} errors; nothing imported)", errors)
    report = ImportReport()
    for r in rows:
        region = session.get(Region, r.code)
        if region is None:
            session.add(Region(code=r.code, name=r.name, region_set=r.variant))
            report.added.append(r.code)
        elif (region.name, region.region_set) != (r.name, r.variant):
            region.name, region.region_set = r.name, r.variant
            report.changed.append(r.code)
        else:
            report.unchanged.append(r.code)
    audit.record(session, at, actor, "regions_import", data={"added": report.added, "changed": report.changed})
    return report


def to_csv(regions: list[Region]) -> bytes:
    """UTF-8 with a byte order mark, so that Excel opens the Chinese names correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADINGS)
    writer.writerows([r.code, r.name, r.region_set] for r in regions)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(regions: list[Region]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "地区 regions"
    sheet.append(HEADINGS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in regions:
        sheet.append([r.code, r.name, r.region_set])
    for row in sheet.iter_rows(min_row=2, max_col=1):
        row[0].number_format = "@"  # text: an all-digit code stays a code
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_rows(content: bytes) -> list[list]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in Chinese saves CSV as GBK
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError("CSV 文件既不是 UTF-8 也不是 GBK 编码 (the CSV file is neither UTF-8 nor GBK)")
    return [row for row in csv.reader(io.StringIO(text))]


def _xlsx_rows(content: bytes, titled: str | None = None) -> list[list]:
    """The first sheet's rows, or (``titled``) those of the sheet whose title holds that word ([] if none)."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValidationError(f"不是有效的 Excel 文件 (not a valid .xlsx file): {exc}") from None
    try:
        sheets = [s for s in book.worksheets if titled is None or titled in s.title.lower()]
        rows = []
        for row in sheets[0].iter_rows(values_only=True) if sheets else ():
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def cell_text(value) -> str:
    """A cell as text: None is empty, a whole float (Excel's 110000) an integer."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 110000 as a number
    return "" if value is None else str(value).strip()


def _columns(headings: list, variant_given: bool, name: str) -> dict[str, int]:
    found = {}
    for i, cell in enumerate(headings):
        words = set(re.split(r"[\s/()（）]+", cell_text(cell).lower()))
        for key, aliases in COLUMNS.items():
            if key not in found and words & aliases:
                found[key] = i
    missing = [k for k in ("code", "name") if k not in found] + (
        [] if variant_given or "variant" in found else ["variant"])
    if missing:
        raise ValidationError(f"{name}: 第 1 行应为列标题，缺少 {', '.join(missing)} 列 "
                              f"(row 1 must name the columns: {' | '.join(HEADINGS)}; missing {', '.join(missing)})")
    return found


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a region's name, or None."""
    if not name:
        return "名称为空 (no name)"
    if len(name) > 100 or any(ord(c) < 32 for c in name):
        return "名称过长或含控制字符 (the name is longer than 100 characters or has control characters)"
    return None


def _variant_problem(variant: str, deployed: set[str] | None) -> str | None:
    if not variant:
        return "未写考核流程 (no variant)"
    if deployed is not None and variant not in deployed:
        return f"流程 {variant} 尚未部署 (variant '{variant}' is not deployed)"
    return None if len(variant) <= 64 else "考核流程名称过长 (the variant is longer than 64 characters)"
