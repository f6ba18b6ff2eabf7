"""Incidents for administrators: what is held up where, and retrying or cancelling it with a reason."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .security import admin_required, engine

bp = Blueprint("incidents", __name__, url_prefix="/admin/incidents")


@bp.get("")
@admin_required
def index():
    return render_template("admin/incidents.html", rows=engine().incidents())


@bp.post("/<int:incident_id>/retry")
@admin_required
def retry(incident_id: int):
    instance_id = engine().retry_incident(incident_id, g.viewer.username, request.form.get("reason", ""),
                                          upgrade=request.form.get("upgrade") == "on")
    flash(_("Instance #%(id)s was run again.", id=instance_id), "success")
    return redirect(url_for("incidents.index"))


@bp.post("/<int:incident_id>/cancel")
@admin_required
def cancel(incident_id: int):
    instance_id = engine().cancel_incident(incident_id, g.viewer.username, request.form.get("reason", ""))
    flash(_("Instance #%(id)s was cancelled.", id=instance_id), "success")
    return redirect(url_for("incidents.index"))
