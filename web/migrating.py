"""Migrating running instances to a newer version: the campaigns behind, a preview, confirm, the result (pages),
and the same in the API (``/api/v1/procedures/migration-preview``, ``/api/v1/procedures/migrations``)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, render_template, request
from sqlalchemy import func, select

from engine.errors import PermissionDenied, ValidationError
from engine.procedure import migration, versions
from engine.store.models import Campaign, Instance, ProcessVersion

from . import api
from .security import admin_required, engine

bp = Blueprint("migrating", __name__)


@bp.get("/admin/procedures/migrations")
@admin_required
def index():
    """Campaigns with running instances on a version older than their variant's current one."""
    with engine().store.read() as db:
        counts = db.execute(select(Instance.campaign_id, ProcessVersion.version, func.count())
                            .join(ProcessVersion, ProcessVersion.id == Instance.version_id)
                            .where(Instance.status == "running", Instance.campaign_id.is_not(None))
                            .group_by(Instance.campaign_id, ProcessVersion.version)).all()
        on = {}
        for campaign_id, version, count in counts:
            on.setdefault(campaign_id, {})[version] = count
        campaigns = list(db.scalars(select(Campaign).where(Campaign.id.in_(list(on))).order_by(Campaign.id.desc())))
        current = {c.variant: versions.current_version(db, c.variant).version for c in campaigns}
    rows = [{"campaign": c, "on": sorted(on[c.id].items()), "current": current[c.variant],
             "behind": sum(n for v, n in on[c.id].items() if v < current[c.variant])} for c in campaigns]
    return render_template("admin/migrations.html", rows=rows)


@bp.get("/admin/campaigns/<int:campaign_id>/migrate")
@admin_required
def preview(campaign_id: int):
    to_version = _number(request.args.get("to_version"))
    plan = migration.preview(engine(), campaign_id, to_version)
    return _page(campaign_id, plan)


@bp.post("/admin/campaigns/<int:campaign_id>/migrate")
@admin_required
def migrate(campaign_id: int):
    to_version = _number(request.form.get("to_version"))
    if to_version is None:
        raise ValidationError("请选择目标版本 (choose the version to migrate to)",
                              [{"field": "to_version", "message": "必填 (required)"}])
    chosen = [_number(v) for v in request.form.getlist("instance")]
    if not chosen:
        raise ValidationError("请至少选择一个流程实例 (choose at least one instance)",
                              [{"field": "instance", "message": "必填 (required)"}])
    plan = migration.migrate(engine(), g.viewer.username, campaign_id, to_version, chosen)
    with engine().store.read() as db:
        rest = list(db.scalars(select(Instance.id).where(Instance.campaign_id == campaign_id,
                                                         Instance.id.not_in(chosen))))
    if rest:  # the result shows the whole campaign: those not ticked stay where they are
        left = migration.preview(engine(), campaign_id, to_version, rest).rows
        for row in left:
            row.outcome = "skipped"
        plan.rows = sorted(plan.rows + left, key=lambda r: (r.region is not None, r.region or "", r.instance_id))
    return _page(campaign_id, plan, done=True)


def _page(campaign_id: int, plan: migration.Plan, done: bool = False):
    with engine().store.read() as db:
        campaign = db.get(Campaign, campaign_id)
        choices = [v.version for v in versions.versions(db, campaign.variant)]
        title = db.get(ProcessVersion, plan.to_version_id).title
    return render_template("admin/migrate.html", campaign=campaign, plan=plan, choices=choices, done=done,
                           title=title)


def _number(text) -> int | None:
    """A positive whole number from a form or query field, None when empty; anything else is refused."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, bool) or not isinstance(text, int | str) or not str(text).strip().isdigit():
        raise ValidationError(f"应为正整数 (a positive whole number is expected): {str(text)[:50]}")
    return int(str(text).strip())


# -- the API (on the API blueprint: bearer tokens, JSON errors) ------------------------------------------
def _admin() -> None:
    if not g.viewer.is_admin:
        raise PermissionDenied("仅管理员可迁移流程实例 (only administrators migrate instances)")


@api.bp.get("/procedures/migration-preview")
def api_preview():
    """Each instance of a campaign with whether it can move to ``to_version`` (default: the current one)."""
    _admin()
    campaign_id = _number(request.args.get("campaign"))
    if campaign_id is None:
        raise ValidationError("缺少参数 campaign (the query parameter 'campaign' is required)",
                              [{"field": "campaign", "message": "必填 (required)"}])
    plan = migration.preview(engine(), campaign_id, _number(request.args.get("to_version")))
    return jsonify(plan.as_json())


@api.bp.post("/procedures/migrations")
def api_migrate():
    """Migrate a campaign's instances (all, or ``instances``) to ``to_version``; each is migrated or refused."""
    _admin()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the body must be a JSON object)")
    campaign_id = _number(body.get("campaign"))
    chosen = body.get("instances")
    if chosen is not None and (not isinstance(chosen, list) or not chosen or len(chosen) > 10000):
        raise ValidationError("instances 应为流程实例编号的非空列表 (instances must be a non-empty list of ids)",
                              [{"field": "instances", "message": "应为非空列表 (a non-empty list)"}])
    ids = [_number(i) for i in chosen] if chosen is not None else None
    if campaign_id is None and ids is None:
        raise ValidationError("请指定 campaign 或 instances (give 'campaign' or 'instances')",
                              [{"field": "campaign", "message": "必填 (required)"}])
    plan = migration.migrate(engine(), g.viewer.username, campaign_id, _number(body.get("to_version")), ids)
    return jsonify(plan.as_json())
