"""The audit log for administrators: filtered by who, what, when, instance or campaign; paged; exported as CSV
or Excel with the same filters; and the chain checked on request."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.clock import CHINA, local
from engine.errors import ValidationError
from engine.records import audit
from engine.records.board import FORMULA_STARTS, as_text
from engine.store.models import Campaign

from .security import admin_required, engine
from .words import ACTIONS

bp = Blueprint("auditlog", __name__, url_prefix="/admin/audit")
PAGE = 100
#: The most rows one export holds; narrow the filters for more.
EXPORT_CAP = 100_000
HEADINGS = ["序号 No.", "时间 Time", "操作人 Actor", "操作 Action", "流程实例 Instance", "步骤 Step", "内容 Data"]


def _day(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("A date is written YYYY-MM-DD."),
                              [{"field": name, "message": _("A date is written YYYY-MM-DD.")}]) from None


def _number(name: str) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        raise ValidationError(_("Give a number."), [{"field": name, "message": _("Give a number.")}])
    return int(text)


def _filters() -> audit.Filters:
    """The filters of the query string; China's calendar days, the last one included."""
    since, until = _day("from"), _day("to")
    return audit.Filters(
        actor=request.args.get("actor", "").strip()[:64] or None,
        actions=[a for a in request.args.getlist("action") if a][:50],
        since=datetime.combine(since, time(), CHINA) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), CHINA) if until else None,
        instance_id=_number("instance"), campaign_id=_number("campaign"))


def _data(entry) -> str:
    return json.dumps(entry.data, ensure_ascii=False, sort_keys=True) if entry.data else ""


@bp.get("")
@admin_required
def index():
    try:
        filters = _filters()
        before = _number("before")
        problem = None
    except ValidationError as exc:  # said above the form, which keeps what was typed
        filters, before, problem = audit.Filters(), None, str(exc)
    with engine().store.read() as db:
        rows = audit.search(db, filters, before, PAGE + 1)
        known = audit.actions(db)
        campaigns = [(c.id, c.label) for c in db.query(Campaign).order_by(Campaign.id.desc())]
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items(multi=False) if k != "before"}
    args["action"] = request.args.getlist("action")
    return render_template("admin/audit.html", rows=rows, more=more, args=args, known=known, actions=ACTIONS,
                           campaigns=campaigns, problem=problem, data=_data,
                           older=url_for("auditlog.index", **{**args, "before": rows[-1].id}) if more else None)


@bp.get("/export.<any(csv, xlsx):fmt>")
@admin_required
def export(fmt: str):
    filters = _filters()
    with engine().store.read() as db:
        rows = audit.search(db, filters, None, EXPORT_CAP)
    table = [[e.id, local(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.actor, str(ACTIONS.get(e.action, e.action)),
              e.instance_id or "", e.bpmn_id or "", _data(e)] for e in rows]
    stamp = datetime.now(CHINA).strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADINGS)
        # A spreadsheet opening the CSV reads "=…" as a formula: such cells are quoted with a leading apostrophe.
        writer.writerows([f"'{c}" if isinstance(c, str) and c.startswith(FORMULA_STARTS) else c for c in row]
                         for row in table)
        body, mimetype = out.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    else:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        sheet = book.active
        sheet.title = "审计日志 audit log"
        sheet.append(HEADINGS)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table:
            sheet.append(row)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                as_text(cell)
        for column, width in zip("ABCDEFG", (8, 20, 16, 18, 10, 24, 80), strict=True):
            sheet.column_dimensions[column].width = width
        out = io.BytesIO()
        book.save(out)
        body, mimetype = out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with engine().store.write() as db:  # who took a copy of the log is itself in the log
        audit.record(db, engine().clock.now(), g.viewer.username, "audit_export",
                     data={"rows": len(table), "format": fmt, "filters": dict(request.args.items())})
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename=audit-{stamp}.{fmt}"})


@bp.post("/verify")
@admin_required
def verify():
    with engine().store.read() as db:
        report = audit.verify(db)
    if report.broken is None:
        flash(_("The audit log is intact: %(count)d entries, the last one #%(head)s.", count=report.entries,
                head=report.head_id or 0), "success")
    else:
        flash(_("The audit log is broken at entry #%(id)s: %(reason)s", id=report.broken.id,
                reason=report.broken.reason), "error")
    return redirect(url_for("auditlog.index"))
