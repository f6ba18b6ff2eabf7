"""A campaign's results as an assessment office's Excel workbook (issue 12, item 10).

The summary sheet (rank, region, score, grade, veto items, consequences, the announcement's date, its 文号 and
its first line); for those who oversee the campaign also one sheet per part of the scheme with
every indicator per region, self score beside assessed score; one sheet per member unit with the scores it gave
and their basis; and the veto items hit. Indicator scores are read from what was submitted (the audit log's
completions of the campaign's instances), the last submission of each winning, so the workbook shows what the
forms received, in one query however many regions there are. Text cells stay text (``as_text``).
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..procedure import scoring
from ..store.models import AuditEntry, Campaign, Instance
from .board import CONSEQUENCES, as_text

HEAD = ["排名", "地区代码", "地区"]


def campaign_workbook(session: Session, campaign: Campaign, scheme: dict, rows: list[dict], scale: str,
                      announced_on: str | None = None, announcement: str | None = None,
                      detail: bool = False, document_number: str | None = None) -> bytes:
    """The workbook; ``rows``: ``results.table``; ``detail``: the indicator, unit and veto sheets too."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    summary.title = "考核结果"
    summary.append([f"{campaign.label} 质量工作考核结果"])
    summary["A1"].font = Font(bold=True, size=14)
    if announced_on:
        first = (announcement or "").strip().splitlines()[0][:200] if announcement else ""
        summary.append([f"公告日期：{announced_on}", f"文号：{document_number}" if document_number else "", first])
    submitted = _submitted(session, campaign) if detail else {}
    headings = [*HEAD, f"得分（满分 {scale}）", "等级", "否决项", "结果运用"] + (["自评总分"] if detail else [])
    summary.append(headings)
    for cell in summary[summary.max_row]:
        cell.font = Font(bold=True)
    for r in rows:
        veto = ("是" + (f"（{'、'.join(r['veto_items'])}）" if r.get("veto_items") else "")) if r["veto"] else "否"
        line = [r["rank"], r["region"], r["name"], scoring.decimal(r["score"]), r["grade"], veto,
                "、".join(CONSEQUENCES.get(n, n) for n, hit in r.get("consequences", {}).items() if hit)]
        if detail:
            own = submitted.get(r["region"], {}).get("self", {})
            line.append(sum(own.values(), Decimal(0)) if own else None)
        summary.append(line)
    _widths(summary, (8, 12, 24, 12, 8, 14, 24, 10))
    if detail:
        _parts(book, scheme, rows, submitted)
        _units(book, scheme, rows, submitted)
        _vetoes(book, rows, submitted)
    for sheet in book.worksheets:
        for line in sheet.iter_rows():
            for cell in line:
                as_text(cell)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _submitted(session: Session, campaign: Campaign) -> dict[str, dict]:
    """Per region: ``self`` {indicator: score}, ``assessed`` {indicator: (score, basis)}, ``veto`` [hit items]."""
    found: dict[str, dict] = {}
    entries = session.execute(
        select(Instance.region, AuditEntry.data).join(Instance, Instance.id == AuditEntry.instance_id)
        .where(Instance.campaign_id == campaign.id, Instance.region.is_not(None), AuditEntry.action == "complete")
        .order_by(AuditEntry.id))
    for region, data in entries:
        if not isinstance(data, dict):
            continue
        mine = found.setdefault(region, {"self": {}, "assessed": {}, "veto": []})
        for row in data.get("self_scores") or []:
            if isinstance(row, dict) and row.get("indicator") is not None and row.get("score") is not None:
                mine["self"][str(row["indicator"])] = scoring.decimal(row["score"])
        for row in data.get("scores") or []:
            if isinstance(row, dict) and row.get("indicator") is not None and row.get("score") is not None:
                mine["assessed"][str(row["indicator"])] = (scoring.decimal(row["score"]), row.get("basis") or "")
        if isinstance(data.get("veto_items"), list):
            mine["veto"] = [row for row in data["veto_items"] if isinstance(row, dict) and row.get("hit")]
    return found


def _parts(book, scheme: dict, rows: list[dict], submitted: dict) -> None:
    """One sheet per part: each indicator's self and assessed score per region, and the part's totals."""
    for part in scheme.get("parts", []):
        indicators = [i for i in scheme.get("indicators", []) if i.get("part") == part["code"]]
        if not indicators:
            continue
        sheet = book.create_sheet(_title(book, f"{part['name']}（{part.get('points', '')}分）"))
        headings = list(HEAD)
        for i in indicators:
            headings += [f"{i['code']} {i['name']}（{i['points']}分）自评", f"{i['code']} 考核"]
        sheet.append(headings + ["自评合计", "考核合计"])
        for r in rows:
            mine = submitted.get(r["region"], {"self": {}, "assessed": {}})
            line, own, given = [r["rank"], r["region"], r["name"]], Decimal(0), Decimal(0)
            for i in indicators:
                code = str(i["code"])
                self_score = mine["self"].get(code)
                assessed = mine["assessed"].get(code, (None, ""))[0]
                line += [self_score, assessed]
                own += self_score or 0
                given += assessed or 0
            sheet.append(line + [own, given])
        _widths(sheet, (6, 10, 16) + (12,) * (2 * len(indicators) + 2))


def _units(book, scheme: dict, rows: list[dict], submitted: dict) -> None:
    """One sheet per member unit: the indicators it scores, each region's score and its basis."""
    for unit in scheme.get("units", []):
        indicators = [i for i in scheme.get("indicators", []) if str(i.get("unit")) == str(unit["code"])]
        if not indicators:
            continue
        sheet = book.create_sheet(_title(book, unit.get("name") or str(unit["code"])))
        headings = list(HEAD)
        for i in indicators:
            headings += [f"{i['code']} {i['name']}（{i['points']}分）", "评分依据"]
        sheet.append(headings)
        for r in rows:
            given = submitted.get(r["region"], {}).get("assessed", {})
            line = [r["rank"], r["region"], r["name"]]
            for i in indicators:
                line += list(given.get(str(i["code"]), (None, "")))
            sheet.append(line)
        _widths(sheet, (6, 10, 16) + (12, 30) * len(indicators))


def _vetoes(book, rows: list[dict], submitted: dict) -> None:
    sheet = book.create_sheet(_title(book, "否决项"))
    sheet.append([*HEAD, "否决项", "情况说明"])
    for r in rows:
        for item in submitted.get(r["region"], {}).get("veto", []):
            sheet.append([r["rank"], r["region"], r["name"], item.get("veto") or item.get("name"),
                          item.get("evidence") or ""])
    _widths(sheet, (6, 10, 16, 16, 60))


def _title(book, wanted: str) -> str:
    """A sheet name Excel accepts: no []:*?/\\, at most 31 characters, not one the book has."""
    title = re.sub(r"[\[\]:*?/\\]", "", wanted)[:31] or "Sheet"
    taken = {s.title for s in book.worksheets}
    n = 2
    while title in taken:
        suffix = f"（{n}）"
        title = title[:31 - len(suffix)] + suffix
        n += 1
    return title


def _widths(sheet, widths) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
