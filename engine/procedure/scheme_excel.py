"""Indicator schemes to and from Excel workbooks, the form in which quality offices pass schemes around.

The workbook's first sheet, 指标体系, is the one circulated: a row per indicator with 一级指标 (the part),
二级指标 (the group), 代码, 指标, 分值, 责任单位 and 评分规则. Three more sheets carry what a round trip needs
and a circulated sheet may lack: 一级指标 (code, name, points of each part), 责任单位 (code and name of each
member unit) and 否决项 (veto items). Imported without them, parts and units are made from the names in the
main sheet (their points from the indicators' sum) and blank codes are numbered. A bad row refuses the whole
workbook with every problem named by sheet and row, in words.
"""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal, InvalidOperation

from ..errors import BundleError, ValidationError
from . import scoring_rules

MAIN = "指标体系"
PARTS, UNITS, VETO, ABOUT = "一级指标", "责任单位", "否决项", "说明"
COLUMNS = ["一级指标", "二级指标", "代码", "指标", "分值", "责任单位", "评分规则", "评分规则说明"]
#: Header words accepted for each column of the main sheet (a circulated sheet words them its own way).
HEADERS = {"part": ("一级指标", "考核项目", "一级"), "group": ("二级指标", "考核内容", "二级"),
           "code": ("代码", "指标代码", "编号", "序号"), "name": ("指标", "考核指标", "三级指标", "考核要点"),
           "points": ("分值", "分数", "标准分"), "unit": ("责任单位", "评分单位", "考核单位"),
           "rule": ("评分规则", "计分规则")}
#: A rule's kind and keys in Chinese, for the 评分规则 column (the English names are read too).
KIND_WORDS = {"shortfall": "差额扣分", "interpolate": "插值", "per_occurrence": "按次扣分", "bonus": "加分"}
KEY_WORDS = {"target": "目标", "per": "每", "deduct": "扣", "cap": "上限", "add": "加", "low": "低", "high": "高"}
CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
CODE_WORDS = "代码「{}」应为 1 至 32 个字母、数字、下划线、点或连字符 (a code is letters, digits, _ . -)"
MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024
#: The most a workbook may unpack to: a small .xlsx that inflates to gigabytes is a zip bomb, not a scheme.
MAX_UNPACKED = 50 * 1024 * 1024
#: What openpyxl raises on a file that is not a workbook or is a damaged one (XML parse errors are SyntaxErrors).
UNREADABLE = (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, IndexError, AttributeError, SyntaxError)


def to_xlsx(scheme: dict) -> bytes:
    """The scheme as a workbook: the circulated sheet first, then parts, units, veto items, and the title."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    main = book.active
    main.title = MAIN
    parts = {str(p["code"]): p for p in scheme.get("parts", [])}
    units = {str(u["code"]): u for u in scheme.get("units", [])}
    main.append(COLUMNS)
    for indicator in scheme.get("indicators", []):
        rule = indicator.get("rule")
        main.append([parts.get(str(indicator.get("part")), {}).get("name", indicator.get("part")),
                     indicator.get("group", ""), indicator.get("code"), indicator.get("name"),
                     indicator.get("points"),
                     units.get(str(indicator.get("unit")), {}).get("name", indicator.get("unit")),
                     rule_words(rule) if rule else "", scoring_rules.describe(indicator) if rule else ""])
    sheets = ((PARTS, ["代码", "名称", "分值"], [[p.get("code"), p.get("name"), p.get("points")]
                                               for p in scheme.get("parts", [])]),
              (UNITS, ["代码", "名称"], [[u.get("code"), u.get("name")] for u in scheme.get("units", [])]),
              (VETO, ["代码", "名称", "领域"], [[v.get("code"), v.get("name"), v.get("domain", "")]
                                             for v in scheme.get("veto") or []]))
    for title, header, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    about = book.create_sheet(ABOUT)
    about.append(["标题", scheme.get("title", "")])
    if "decimals" in scheme:
        about.append(["小数位数", scheme["decimals"]])
    for sheet in book.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for letter, width in zip("ABCDEFGH", (14, 18, 8, 40, 8, 14, 30, 40), strict=True):
            sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rule_words(rule: dict) -> str:
    """A scoring rule as the 评分规则 column writes it: 「差额扣分：目标=95，每=1，扣=0.25」."""
    items = []
    for key in ("target", "per", "deduct", "cap", "add", "low", "high"):
        if key in rule:
            value = rule[key]
            text = "/".join(_plain(v) for v in value) if isinstance(value, list) else _plain(value)
            items.append(f"{KEY_WORDS[key]}={text}")
    return f"{KIND_WORDS[rule['kind']]}：{'，'.join(items)}"


def _plain(value) -> str:
    return str(value)


def parse_rule(text: str) -> dict:
    """The rule a 评分规则 cell states (Chinese or English words); ValueError says what is wrong, in words."""
    kinds = {**{v: k for k, v in KIND_WORDS.items()}, **{k: k for k in KIND_WORDS}}
    keys = {**{v: k for k, v in KEY_WORDS.items()}, **{k: k for k in KEY_WORDS}}
    text = text.strip().replace("＝", "=").replace("／", "/")
    head, *tail = re.split(r"[:：]", text, maxsplit=1)
    rest = tail[0] if tail else ""
    kind = kinds.get(head.strip())
    if kind is None:
        raise ValueError(f"评分规则应以 {'、'.join(KIND_WORDS.values())} 之一开头，"
                         f"如「差额扣分：目标=95，每=1，扣=0.25」 (a rule starts with its kind)")
    rule: dict = {"kind": kind}
    for item in filter(None, (part.strip() for part in re.split(r"[,，;；]", rest))):
        name, equals, value = item.partition("=")
        key = keys.get(name.strip())
        if not equals or key is None:
            raise ValueError(f"看不懂「{item[:40]}」，应写成 名称=数值 (each item is name=number)")
        try:
            if key in ("low", "high"):
                pair = [_number(v.strip()) for v in value.split("/")]
                if len(pair) != 2:
                    raise InvalidOperation
                rule[key] = pair
            else:
                rule[key] = _number(value.strip())
        except InvalidOperation:
            pair = "; low/high are value/points" if key in ("low", "high") else ""
            raise ValueError(f"「{item[:40]}」的数值有误 (not a number{pair})") from None
    return rule


def _number(text: str):
    number = Decimal(text)
    if not number.is_finite():
        raise InvalidOperation
    return int(number) if number == number.to_integral_value() and "." not in text else float(text)


def from_xlsx(data: bytes) -> dict:
    """The scheme a workbook holds; ValidationError listing every bad row (``errors``: sheet, row, message)."""
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        raise ValidationError(f"文件过大，上限 {MAX_BYTES // 1024 // 1024} MB (the workbook exceeds "
                              f"{MAX_BYTES // 1024 // 1024} MB)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise ValidationError(f"工作簿解压后超过 {MAX_UNPACKED // 1024 // 1024} MB (the workbook unpacks to more "
                                  f"than {MAX_UNPACKED // 1024 // 1024} MB)")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except UNREADABLE as exc:
        raise ValidationError("不是 Excel 工作簿 (.xlsx)，无法读取 (not an .xlsx workbook)") from exc
    try:
        return _Reader(book).scheme()
    except UNREADABLE as exc:  # read_only sheets are parsed as they are read
        raise ValidationError("工作簿内容损坏，无法读取 (the workbook is damaged and cannot be read)") from exc
    finally:
        book.close()


class _Reader:
    """Reads the sheets of one workbook, gathering every problem before refusing."""

    def __init__(self, book):
        self.book = book
        self.errors: list[dict] = []

    def problem(self, sheet: str, row: int | None, message: str) -> None:
        where = f"「{sheet}」表第 {row} 行" if row else f"「{sheet}」表"
        self.errors.append({"sheet": sheet, "row": row, "field": f"{sheet}/{row or ''}",
                            "message": f"{where}：{message}"})

    def rows(self, title: str) -> list[tuple[int, dict[str, object]]]:
        """Non-empty rows of a sheet under its header row, as (row number, {header: value})."""
        if title not in self.book.sheetnames:
            return []
        found, header = [], None
        for number, values in enumerate(self.book[title].iter_rows(values_only=True), 1):
            if number > MAX_ROWS:
                self.problem(title, number, f"行数超过 {MAX_ROWS} (too many rows)")
                break
            cells = [_text(v) if isinstance(v, str) else v for v in values]
            if all(v in (None, "") for v in cells):
                continue
            if header is None:
                header = [_text(v) if v is not None else "" for v in cells]
                continue
            found.append((number, dict(zip(header, cells, strict=False))))
        return found

    def scheme(self) -> dict:
        main_title = MAIN if MAIN in self.book.sheetnames else self.book.sheetnames[0]
        rows = self.rows(main_title)
        if not rows:
            raise ValidationError(f"「{main_title}」表没有指标行 (the sheet lists no indicators)",
                                  [{"field": main_title, "message": "没有指标行"}])
        columns = self.columns(main_title, rows[0][1])
        parts = self.named(PARTS, points=True)
        units = self.named(UNITS)
        indicators = [self.indicator(main_title, number, row, columns, parts, units) for number, row in rows]
        indicators = [i for i in indicators if i]
        self.number_codes(indicators)
        if PARTS not in self.book.sheetnames:  # parts from the names, points summed
            for part in parts.values():
                total = sum((Decimal(str(i["points"])) for i in indicators if i["part"] == part["code"]), Decimal(0))
                part["points"] = int(total) if total == total.to_integral_value() else float(total)
        veto = [{"code": str(v["code"]), "name": str(v["name"]), **({"domain": v["domain"]} if v.get("domain") else {})}
                for v in self.named(VETO, domain=True).values()]
        if self.errors:
            raise ValidationError(f"工作簿有 {len(self.errors)} 处错误，未导入：" + "；".join(
                e["message"] for e in self.errors[:5]) + " (the workbook was not imported)", self.errors[:100])
        scheme: dict = {}
        about = {values[0]: values[1] for values in self._about()}
        if about.get("标题"):
            scheme["title"] = str(about["标题"])
        if about.get("小数位数") not in (None, ""):
            scheme["decimals"] = about["小数位数"]
        scheme.update(parts=[{k: p[k] for k in ("code", "name", "points")} for p in parts.values()],
                      units=[{"code": u["code"], "name": u["name"]} for u in units.values()],
                      indicators=indicators)
        if veto:
            scheme["veto"] = veto
        return scheme

    def _about(self):
        if ABOUT not in self.book.sheetnames:
            return []
        return [[_text(v) if isinstance(v, str) else v for v in (*values, None)][:2]
                for values in self.book[ABOUT].iter_rows(values_only=True, max_col=2) if values and values[0]]

    def columns(self, sheet: str, row: dict) -> dict[str, str]:
        found = {}
        for key, words in HEADERS.items():
            header = next((h for h in row if h in words), None)
            if header is not None:
                found[key] = header
            elif key in ("part", "name", "points", "unit"):
                self.problem(sheet, 1, f"缺少「{words[0]}」列 (the column {words[0]} is missing)")
        if self.errors:
            raise ValidationError("；".join(e["message"] for e in self.errors), self.errors)
        return found

    def named(self, sheet: str, points: bool = False, domain: bool = False) -> dict[str, dict]:
        """The rows of a code/name sheet, keyed by code; a row's problems are noted."""
        items: dict[str, dict] = {}
        for number, row in self.rows(sheet):
            code, name = _text(row.get("代码")), _text(row.get("名称"))
            if not CODE.match(code):
                self.problem(sheet, number, CODE_WORDS.format(code[:32]))
                continue
            if not name:
                self.problem(sheet, number, "名称为空 (the name is empty)")
                continue
            if code in items:
                self.problem(sheet, number, f"代码 {code} 重复 (duplicate code)")
                continue
            item = {"code": code, "name": name}
            if points:
                item["points"] = self.points(sheet, number, row.get("分值"))
            if domain and _text(row.get("领域")):
                item["domain"] = _text(row.get("领域"))
            items[code] = item
        return items

    def points(self, sheet: str, number: int, value):
        if isinstance(value, bool) or value in (None, ""):
            self.problem(sheet, number, "分值为空 (no points)")
            return 0
        try:
            points = Decimal(str(value).strip())
        except InvalidOperation:
            points = Decimal(-1)
        if not points.is_finite() or points <= 0:
            self.problem(sheet, number, f"分值「{str(value)[:20]}」应为正数 (points must be a positive number)")
            return 0
        return int(points) if points == points.to_integral_value() else float(points)

    def indicator(self, sheet, number, row, columns, parts, units) -> dict | None:
        cell = {key: row.get(header) for key, header in columns.items()}
        part_name, name = _text(cell.get("part")), _text(cell.get("name"))
        unit_name, code = _text(cell.get("unit")), _text(cell.get("code"))
        problems_before = len(self.errors)
        if not name:
            self.problem(sheet, number, "指标名称为空 (the indicator has no name)")
        part = _find(parts, part_name)
        if part is None and PARTS in self.book.sheetnames:
            self.problem(sheet, number, f"一级指标「{part_name[:40]}」不在「{PARTS}」表中 (unknown part)")
        elif part is None and part_name:
            part = parts[f"P{len(parts) + 1}"] = {"code": f"P{len(parts) + 1}", "name": part_name, "points": 0}
        elif part is None:
            self.problem(sheet, number, "一级指标为空 (no part)")
        unit = _find(units, unit_name)
        if unit is None and UNITS in self.book.sheetnames:
            self.problem(sheet, number, f"责任单位「{unit_name[:40]}」不在「{UNITS}」表中 (unknown member unit)")
        elif unit is None and unit_name:
            unit = units[f"U{len(units) + 1}"] = {"code": f"U{len(units) + 1}", "name": unit_name}
        elif unit is None:
            self.problem(sheet, number, "责任单位为空 (no member unit)")
        if code and not CODE.match(code):
            self.problem(sheet, number, CODE_WORDS.format(code[:32]))
        points = self.points(sheet, number, cell.get("points"))
        indicator = {"code": code, "part": part and part["code"], "group": _text(cell.get("group")),
                     "name": name, "points": points, "unit": unit and unit["code"], "row": number}
        if not indicator["group"]:
            del indicator["group"]
        rule_text = _text(cell.get("rule"))
        if rule_text:
            try:
                indicator["rule"] = parse_rule(rule_text)
                scoring_rules.check({**indicator, "code": code or f"第 {number} 行"}, "")
            except ValueError as exc:
                self.problem(sheet, number, str(exc))
            except BundleError as exc:  # the rule's own check, said at its row
                self.problem(sheet, number, exc.message)
        return indicator if len(self.errors) == problems_before else None

    def number_codes(self, indicators: list[dict]) -> None:
        """Blank codes numbered I1, I2, …; a repeated code is a problem of its row."""
        used: dict[str, int] = {}
        for indicator in indicators:
            if indicator["code"] in used:
                self.problem(MAIN, indicator["row"], f"代码 {indicator['code']} 与第 {used[indicator['code']]} 行重复 "
                             f"(duplicate code)")
            elif indicator["code"]:
                used[indicator["code"]] = indicator["row"]
        n = 0
        for indicator in indicators:
            while not indicator["code"]:
                n += 1
                if f"I{n}" not in used:
                    indicator["code"] = f"I{n}"
                    used[indicator["code"]] = indicator["row"]
        for indicator in indicators:
            del indicator["row"]
            if "rule" in indicator:  # keep the scheme's key order: code, part, group, name, points, unit, rule
                indicator["rule"] = indicator.pop("rule")


def _find(items: dict[str, dict], word: str) -> dict | None:
    """The item named or coded ``word``."""
    if not word:
        return None
    return items.get(word) or next((i for i in items.values() if i["name"] == word), None)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
