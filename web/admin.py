"""Administration: users, who holds which role where, regions and role names, holidays, failed deliveries."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from engine.clock import CHINA
from engine.errors import Conflict, NotFound, ValidationError
from engine.people import accounts, sessions, signin
from engine.people import regions as regions_table
from engine.people.accounts import ROLE_NAMES, Grant
from engine.procedure import bodies, versions
from engine.records import audit, mail
from engine.running import calendar
from engine.running import timers as timer_rows
from engine.store.models import CalendarDay, Instance, ProcessVersion, Region, Role, RoleAssignment, User

from .security import admin_required, engine, now

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user(db, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在 (no user {user_id})")
    return user


def _choices(db) -> dict:
    builtin = [{"code": r.code, "name": r.name} for r in db.scalars(select(Role).order_by(Role.code))
               if r.code in ROLE_NAMES]
    declared = [{"code": code, "name": f"{name}（{variant}）"}
                for (variant, code), name in sorted(bodies.names(db).items(), key=lambda kv: str(kv[0]))
                if variant is not None]
    titles = dict(db.execute(select(ProcessVersion.variant, ProcessVersion.title)
                             .where(ProcessVersion.is_current.is_(True))).all())
    return {"roles": builtin + declared, "variants": sorted(titles.items()), "units": _units(db),
            "regions": list(db.scalars(select(Region).order_by(Region.region_set, Region.code)))}


def _units(db) -> list[tuple[str, str, str]]:
    """(variant, code, name) of every member unit the current versions' schemes name."""
    rows = db.execute(select(ProcessVersion.variant, ProcessVersion.scheme).where(ProcessVersion.is_current.is_(True)))
    return sorted((variant, str(u["code"]), u.get("name") or str(u["code"]))
                  for variant, scheme in rows for u in (scheme or {}).get("units", []))


@bp.get("/users")
@admin_required
def users():
    return _users()


def _users(new: dict | None = None, status: int = 400):
    """The user list and the new-user form; ``new``: a refused form's values (never its password) and why."""
    query = request.args.get("q", "").strip()
    with engine().store.read() as db:
        select_users = select(User).order_by(User.username)
        if query:
            select_users = select_users.where(User.username.contains(query) | User.display_name.contains(query))
        rows = list(db.scalars(select_users.limit(500)))
        grants = {u.id: accounts.grants_of(db, u.username) if u.active else [] for u in rows}
        locked = {u.id: signin.locked_until(db, u.id, now()) for u in rows}
    return render_template("admin/users.html", rows=rows, grants=grants, locked=locked, q=query,
                           new=new or {}), status if new else 200


@bp.post("/users")
@admin_required
def create_user():
    form = {k: request.form.get(k, "").strip() for k in ("username", "display_name", "email")}
    try:
        user = _create_user(form["username"], form["display_name"] or form["username"], form["email"] or None,
                            request.form.get("password", ""))
    except (ValidationError, Conflict) as exc:  # the form again, as typed (but the password)
        return _users({**form, "problem": str(exc)}, 409 if isinstance(exc, Conflict) else 400)
    flash(_("User %(name)s created. Now give them a role.", name=form["username"]), "success")
    return redirect(url_for("admin.user", user_id=user.id))


def _create_user(username: str, display: str, email: str | None, password: str) -> User:
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValidationError(_("A user name is 1 to 64 letters, digits, dots, dashes or underscores."),
                              [{"field": "username", "message": _("Invalid user name.")}])
    current_app.config["PASSWORD_POLICY"].check(password)
    with engine().store.write() as db:
        if db.scalars(select(User).where(User.username == username)).first() is not None:
            raise Conflict(f"用户 {username} 已存在 (user '{username}' exists)")
        user = accounts.create_user(db, username, display, [], password=password, email=email)
        audit.record(db, now(), g.viewer.username, "user_create", data={"user": username})
    return user


@bp.get("/users/<int:user_id>")
@admin_required
def user(user_id: int):
    return _user_page(user_id)


def _user_page(user_id: int, grant: dict | None = None):
    """A user's page; ``grant``: a refused role grant's values and why, shown in its form."""
    with engine().store.read() as db:
        row = _user(db, user_id)
        assignments = list(db.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user_id)
                                      .order_by(RoleAssignment.id)))
        locked = signin.locked_until(db, user_id, now())
        live = sessions.live(db, user_id, now(), current_app.config["SESSION_LIFETIME"])
        choices = _choices(db)
    return render_template("admin/user.html", user=row, assignments=assignments, locked=locked, sessions=live,
                           grant=grant or {}, **choices), 400 if grant else 200


@bp.post("/users/<int:user_id>")
@admin_required
def update_user(user_id: int):
    with engine().store.write() as db:
        row = _user(db, user_id)
        row.display_name = request.form.get("display_name", "").strip() or row.display_name
        row.email = request.form.get("email", "").strip() or None
        was_active, row.active = row.active, request.form.get("active") == "on"
        audit.record(db, now(), g.viewer.username, "user_update",
                     data={"user": row.username, "active": row.active})
        if was_active and not row.active:
            signin.cut_off(db, now(), row, "deactivated", g.viewer.username)
    flash(_("Saved."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@admin_required
def reset_password(user_id: int):
    with engine().store.read() as db:
        username = _user(db, user_id).username
    signin.change_password(engine().store, now(), username, None, request.form.get("password", ""),
                           g.viewer.username, current_app.config["PASSWORD_POLICY"])
    flash(_("The password has been reset."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/sessions/end")
@admin_required
def end_sessions(user_id: int):
    with engine().store.write() as db:
        sessions.end_all(db, now(), _user(db, user_id), "admin", g.viewer.username)
    flash(_("The user's sessions have ended."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/unlock")
@admin_required
def unlock(user_id: int):
    with engine().store.read() as db:
        username = _user(db, user_id).username
    signin.unlock(engine().store, now(), username, g.viewer.username)
    flash(_("The account is unlocked."), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/grants")
@admin_required
def add_grant(user_id: int):
    form = {k: request.form.get(k, "").strip() for k in ("role", "region", "unit", "variant")}
    grant = Grant(form["role"], form["region"] or None, form["unit"] or None, form["variant"] or None)
    try:
        _add_grant(user_id, grant)
    except ValidationError as exc:  # the form again, as chosen
        return _user_page(user_id, {**form, "problem": str(exc)})
    return redirect(url_for("admin.user", user_id=user_id))


def _add_grant(user_id: int, grant: Grant) -> None:
    if not grant.role:
        raise ValidationError(_("Choose a role."), [{"field": "role", "message": _("Choose a role.")}])
    with engine().store.write() as db:
        row = _user(db, user_id)
        if grant.role not in ROLE_NAMES:  # a body a variant declares: granted for that variant only
            if grant.role not in bodies.of_variant(db, grant.variant or ""):
                raise ValidationError(f"流程 {grant.variant or '（全部）'} 没有机构 {grant.role} (a body is "
                                      f"granted for the procedure that declares it)",
                                      [{"field": "variant", "message": "该流程未声明此机构"}])
            if db.get(Role, grant.role) is None:
                db.add(Role(code=grant.role, name=grant.role))
                db.flush()
        elif db.get(Role, grant.role) is None:
            raise ValidationError(f"未知角色 {grant.role} (unknown role)", [{"field": "role", "message": "未知角色"}])
        if grant.region and db.get(Region, grant.region) is None:
            raise ValidationError(f"未知地区 {grant.region} (unknown region)",
                                  [{"field": "region", "message": "未知地区"}])
        if grant.unit and grant.unit not in {code for variant, code, _name in _units(db)
                                             if grant.variant in (None, variant)}:
            raise ValidationError(f"{'流程 ' + grant.variant if grant.variant else '已部署的流程'}没有成员单位 "
                                  f"{grant.unit[:64]} (no member unit '{grant.unit[:64]}' in the procedure)",
                                  [{"field": "unit", "message": "未知成员单位"}])
        exists = db.scalars(select(RoleAssignment).where(
            RoleAssignment.user_id == user_id, RoleAssignment.role == grant.role,
            _same(RoleAssignment.variant, grant.variant), _same(RoleAssignment.region, grant.region),
            _same(RoleAssignment.unit, grant.unit))).first()
        if exists is None:
            db.add(RoleAssignment(user_id=user_id, role=grant.role, variant=grant.variant, region=grant.region,
                                  unit=grant.unit))
            audit.record(db, now(), g.viewer.username, "grant_add", data={"user": row.username, **grant.__dict__})


def _same(column, value):
    return column.is_(None) if value is None else column == value


@bp.post("/users/<int:user_id>/grants/<int:grant_id>/delete")
@admin_required
def remove_grant(user_id: int, grant_id: int):
    with engine().store.write() as db:
        row = db.get(RoleAssignment, grant_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"授权 {grant_id} 不存在 (no grant {grant_id})")
        audit.record(db, now(), g.viewer.username, "grant_remove",
                     data={"user": _user(db, user_id).username, "role": row.role, "variant": row.variant,
                           "region": row.region, "unit": row.unit})
        db.delete(row)
    return redirect(url_for("admin.user", user_id=user_id))


@bp.get("/regions")
@admin_required
def regions():
    return _regions()


def _regions(region: dict | None = None):
    """Roles, bodies, regions and versions; ``region``: a refused region form's values and why."""
    with engine().store.read() as db:
        rows = list(db.scalars(select(Region).order_by(Region.region_set, Region.code)))
        used = set(db.scalars(select(Instance.region).where(Instance.region.is_not(None)).distinct()))
        roles = [r for r in db.scalars(select(Role).order_by(Role.code)) if r.code in ROLE_NAMES]
        declared = [(variant, code, body["name"], sorted(body["powers"]))
                    for variant, code, body in sorted(bodies.current(db), key=lambda b: b[:2])]
        users = dict(db.execute(select(RoleAssignment.role, func.count()).group_by(RoleAssignment.role)).all())
        deployed = list(db.execute(select(ProcessVersion.variant, ProcessVersion.version, ProcessVersion.title,
                                          ProcessVersion.deployed_at, ProcessVersion.is_current)
                                   .order_by(ProcessVersion.variant, ProcessVersion.version)).all())
        titles = dict(db.execute(select(ProcessVersion.variant, ProcessVersion.title)
                                 .where(ProcessVersion.is_current.is_(True))).all())
    return render_template("admin/regions.html", rows=rows, used=used, roles=roles, holders=users, declared=declared,
                           versions=deployed, titles=titles, region=region or {}), 400 if region else 200


@bp.post("/regions")
@admin_required
def save_region():
    form = {k: request.form.get(k, "").strip() for k in ("code", "name", "region_set")}
    try:
        _save_region(form["code"], form["name"], form["region_set"])
    except ValidationError as exc:  # the form again, as typed
        return _regions({**form, "problem": str(exc)})
    flash(_("Saved."), "success")
    return redirect(url_for("admin.regions"))


def _save_region(code: str, name: str, region_set: str) -> None:
    problem = regions_table.code_problem(code)
    if problem or not name or len(name) > 100 or not region_set:
        raise ValidationError(_("A region needs a code (GB/T 2260, or letters for a department), a name and a "
                                "procedure."), [{"field": "code", "message": problem or _("Invalid region.")}])
    with engine().store.write() as db:
        if db.scalars(select(ProcessVersion.id).where(ProcessVersion.variant == region_set).limit(1)).first() is None:
            raise ValidationError(f"流程 {region_set} 尚未部署 (variant '{region_set}' is not deployed)",
                                  [{"field": "region_set", "message": _("Invalid region.")}])
        row = db.get(Region, code)
        if row is None:
            db.add(Region(code=code, name=name, region_set=region_set))
        else:
            row.name, row.region_set = name, region_set
        audit.record(db, now(), g.viewer.username, "region_save", data={"code": code, "name": name})


@bp.get("/regions/export.<fmt>")
@admin_required
def export_regions(fmt: str):
    """The regions (of one variant with ``?variant=``) as CSV or Excel, in the columns an import reads."""
    if fmt not in ("csv", "xlsx"):
        raise NotFound(f"没有 {fmt} 格式 (no format {fmt})")
    variant = request.args.get("variant") or None
    with engine().store.read() as db:
        rows = regions_table.listing(db, variant)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    body, mimetype = ((regions_table.to_csv(rows), "text/csv; charset=utf-8") if fmt == "csv" else
                      (regions_table.to_xlsx(rows), xlsx))
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename=regions-{variant or 'all'}.{fmt}"})


@bp.post("/regions/import")
@admin_required
def import_regions():
    """Add or update the regions of an uploaded .csv or .xlsx file: all rows, or none and every bad row named."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError(_("Choose a .csv or .xlsx file."), [{"field": "file", "message": _("No file.")}])
    with engine().store.write() as db:
        report = regions_table.import_file(db, upload.filename, upload.read(),
                                           request.form.get("variant") or None, g.viewer.username, now())
    flash(_("Regions imported: %(added)d added, %(changed)d changed, %(unchanged)d unchanged.",
            added=len(report.added), changed=len(report.changed), unchanged=len(report.unchanged)), "success")
    return redirect(url_for("admin.regions"))


@bp.post("/versions/<variant>/<int:number>/publish")
@admin_required
def publish_version(variant: str, number: int):
    """Make a deployed version current: new campaigns start on it."""
    with engine().store.write() as db:
        versions.publish(db, variant, number, g.viewer.username, now())
    flash(_("Version %(number)d of %(variant)s is current.", number=number, variant=variant), "success")
    return redirect(url_for("admin.regions"))


@bp.post("/regions/<code>/delete")
@admin_required
def delete_region(code: str):
    with engine().store.write() as db:
        if db.scalars(select(Instance.id).where(Instance.region == code).limit(1)).first() is not None:
            raise Conflict(f"地区 {code} 已参加考核，不能删除 (region {code} has been assessed)")
        db.execute(delete(Region).where(Region.code == code))
        audit.record(db, now(), g.viewer.username, "region_delete", data={"code": code})
    return redirect(url_for("admin.regions"))


@bp.post("/roles/<code>")
@admin_required
def rename_role(code: str):
    name = request.form.get("name", "").strip()
    with engine().store.write() as db:
        role = db.get(Role, code)
        if role is None:
            raise NotFound(f"角色 {code} 不存在 (no role {code})")
        if name:
            role.name = name
            audit.record(db, now(), g.viewer.username, "role_rename", data={"code": code, "name": name})
    return redirect(url_for("admin.regions"))


@bp.get("/deadlines")
@admin_required
def deadlines():
    return _deadlines()


def _deadlines(bulk: dict | None = None):
    """Holiday corrections, the years without holiday data, and timers and mails that failed; ``bulk``: a
    refused bulk entry's text and errors, shown again in its form."""
    today = now().astimezone(CHINA).date()
    with engine().store.read() as db:
        corrections = list(db.scalars(select(CalendarDay).where(CalendarDay.day >= date(today.year - 1, 1, 1))
                                      .order_by(CalendarDay.day)))
        timers = timer_rows.failed_timers(db)
        mails = mail.failed_mails(db)
    warnings = engine().calendar.warnings([today.year, today.year + 1])
    return render_template("admin/deadlines.html", corrections=corrections, warnings=warnings, timers=timers,
                           mails=mails, bulk=bulk or {}), 400 if bulk else 200


@bp.post("/deadlines/calendar/bulk")
@admin_required
def save_calendar_days():
    """A year's holidays and 调休 working days in one form: every line taken, or none and each bad line named."""
    holidays_text, workdays_text = request.form.get("holidays", ""), request.form.get("workdays", "")
    try:
        holidays = calendar.parse_bulk(holidays_text, "holiday")
        workdays = calendar.parse_bulk(workdays_text, "workday")
        with engine().store.write() as db:
            count = calendar.set_corrections(db, holidays, workdays)
            audit.record(db, now(), g.viewer.username, "calendar_day",
                         data={"holidays": [d.isoformat() for d, _ in holidays],
                               "workdays": [d.isoformat() for d, _ in workdays]})
    except ValidationError as exc:
        return _deadlines({"holidays": holidays_text, "workdays": workdays_text, "problem": str(exc),
                           "errors": [e["message"] for e in exc.errors]})
    engine().reload_calendar()
    flash(_("%(count)d days saved.", count=count), "success")
    return redirect(url_for("admin.deadlines"))


@bp.post("/deadlines/calendar")
@admin_required
def save_calendar_day():
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError as exc:
        raise ValidationError(_("A date is written YYYY-MM-DD."), [{"field": "day", "message": str(exc)}]) from exc
    kind, name = request.form.get("kind", ""), request.form.get("name", "").strip()[:100]
    with engine().store.write() as db:
        if request.form.get("remove"):
            calendar.remove_correction(db, day)
        else:
            calendar.set_correction(db, day, kind, name)
        audit.record(db, now(), g.viewer.username, "calendar_day",
                     data={"day": day.isoformat(), "kind": None if request.form.get("remove") else kind, "name": name})
    engine().reload_calendar()
    return redirect(url_for("admin.deadlines"))


@bp.post("/deadlines/timers/<int:timer_id>/retry")
@admin_required
def retry_timer(timer_id: int):
    with engine().store.write() as db:
        timer_rows.retry(db, timer_id)
        audit.record(db, now(), g.viewer.username, "timer_retry", data={"timer": timer_id})
    engine().timers_changed()
    return redirect(url_for("admin.deadlines"))


@bp.post("/deadlines/mails/<int:mail_id>/retry")
@admin_required
def retry_mail(mail_id: int):
    with engine().store.write() as db:
        mail.retry(db, mail_id, now())
        audit.record(db, now(), g.viewer.username, "mail_retry", data={"mail": mail_id})
    return redirect(url_for("admin.deadlines"))
