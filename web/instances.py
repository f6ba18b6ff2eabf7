"""Instance pages: the diagram with done, current and overdue steps, the timeline, the data, the files."""

from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path

from flask import Blueprint, Response, current_app, g, render_template, request, send_file
from lxml import etree
from sqlalchemy import select

from engine.errors import NotFound
from engine.people import access
from engine.records import audit, board, files, submissions
from engine.running import incidents
from engine.store.models import Campaign, Instance, Region

from . import english
from .security import engine, login_required, now
from .tasks import choices_of, submission
from .words import ACTIONS

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
bp = Blueprint("instances", __name__)


@bp.get("/instances")
@login_required
def index():
    with engine().store.read() as db:
        # Columns, not rows: an instance's state and a campaign's list of regions are large and not shown here
        # (2,850 regions a campaign made this page parse every campaign's list once per instance).
        rows = db.execute(select(Instance.id, Instance.region, Instance.process_id, Instance.version_id,
                                 Instance.status, Instance.updated_at, Campaign.label, Campaign.variant)
                          .join(Campaign, Campaign.id == Instance.campaign_id)
                          .order_by(Campaign.id.desc(), Instance.region.is_not(None), Instance.region))
        shown = list(islice((r for r in rows if g.viewer.sees_instance(r.variant, r.region)), 500))
        codes = {r.region for r in shown if r.region}
        names = dict(db.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all())
        processes = {(r.version_id, r.process_id): process_name(engine().version(db, r.version_id), r.process_id)
                     for r in shown}
    return render_template("instances.html", rows=shown, names=names, processes=processes)


def process_name(version, process_id: str) -> str:
    """A process as people call it (its name in the BPMN, or in English), the id only where it has none."""
    spec = version.specs.get(process_id, (None,))[0]
    return english.of(version).processes.get(process_id) or getattr(spec, "description", None) or process_id


def diagram_file(version, process_id: str) -> str:
    """The name of the BPMN file that defines ``process_id``."""
    for name, text in version.files.items():
        if name.endswith(".bpmn") and re.search(rf'<bpmn:process\b[^>]*\bid="{re.escape(process_id)}"', text):
            return name
    raise NotFound(f"流程 {process_id} 的图不存在 (no diagram for {process_id})")


@bp.get("/instances/<int:instance_id>")
@login_required
def show(instance_id: int):
    moment = now()
    with engine().store.read() as db:
        instance, variant = access.visible_instance(db, g.viewer, instance_id)
        campaign = db.get(Campaign, instance.campaign_id) if instance.campaign_id else None
        done, ready = board.progress(db, [instance.id])
        current = ready[instance.id]
        marks = {"done": sorted(done[instance.id]), "current": sorted({t.bpmn_id for t in current}),
                 "overdue": sorted({t.bpmn_id for t in current if t.due_at is not None and t.due_at < moment})}
        held = incidents.held_up(db, instance.id)
        if held is not None and held.bpmn_id:  # where it is held up, for the administrator who came from the list
            marks["incident"] = [held.bpmn_id]
        timeline = audit.history(db, instance.id)
        region = db.get(Region, instance.region) if instance.region else None
        shown = submissions.readable(db, engine(), g.viewer, instance, variant)
        version = engine().version(db, instance.version_id)
        choices = choices_of(db, instance)
        items = [submission(version, s.entry, choices) for s in shown.submissions]
    data_json = None if shown.data is None else json.dumps(shown.data, ensure_ascii=False, indent=2, default=str)
    return render_template("instance.html", instance=instance, campaign=campaign, region=region, marks=marks,
                           marks_json=json.dumps(marks), current=current, timeline=timeline, now=moment,
                           data_json=data_json, result=shown.result, submissions=items,
                           evidence=[e.file for e in shown.files], files=shown.file_map,
                           process=process_name(version, instance.process_id),
                           title=english.of(version).title or version.manifest["title"],
                           steps=english.step_names(version), actions=ACTIONS)


@bp.get("/instances/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int):
    with engine().store.read() as db:
        instance, _ = access.visible_instance(db, g.viewer, instance_id)
        version = engine().version(db, instance.version_id)
        text = version.files[diagram_file(version, instance.process_id)]
        words = english.of(version)
    return Response(for_display(text, words), mimetype="application/xml")


def for_display(text: str, words=english.NONE) -> bytes:
    """The diagram as people read it: bpmn-js writes a message's name under its envelope, and a message's name is
    the engine's identifier (``region_scored``); the message flow beside it carries the name for people. In
    English, the names the bundle's catalogue gives its elements, lanes and processes."""
    from engine.procedure.bundle import parse_xml

    root = parse_xml("diagram.bpmn", text)
    for message in root.iter(f"{{{BPMN}}}message"):
        message.attrib.pop("name", None)
    if words:
        for node in root.iter(etree.Element):
            said = (words.lanes if node.tag == f"{{{BPMN}}}lane" else words.processes
                    if node.tag == f"{{{BPMN}}}process" else words.steps).get(node.get("id") or "")
            if said and node.get("name") is not None:
                node.set("name", said)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@bp.get("/instances/<int:instance_id>/files/<sha256>")
@login_required
def download(instance_id: int, sha256: str):
    """An evidence file, to those who may read the task it was uploaded on (access.Viewer.reads), under the name
    it was uploaded with (``?name=``: the same bytes uploaded under several names keep each); audited."""
    with engine().store.read() as db:
        instance, variant = access.visible_instance(db, g.viewer, instance_id)
        uploads = [e.file for e in submissions.readable(db, engine(), g.viewer, instance, variant).files
                   if e.file.sha256 == sha256]
    name = request.args.get("name")
    row = next((f for f in uploads if f.name == name), uploads[0] if uploads else None)  # else the first upload
    if row is None:  # the same answer whether it was never uploaded here or is another unit's
        raise NotFound(f"流程实例 {instance_id} 中没有您可读取的文件 {sha256[:12]} "
                       f"(no file {sha256[:12]} in instance {instance_id} that you may read)")
    path = files.path_of(Path(current_app.config["UPLOAD_FOLDER"]), row)
    if not path.is_file():
        raise NotFound(f"文件 {row.name} 的内容缺失 (the stored content of {row.name} is missing)")
    files.record_download(engine().store, now(), g.viewer.username, row)
    # The stored type carries its charset already (text/plain; charset=utf-8): a mimetype would get a second one.
    response = send_file(path, as_attachment=True, download_name=row.name, max_age=0, etag=row.sha256)
    response.headers["Content-Type"] = row.content_type
    return response
