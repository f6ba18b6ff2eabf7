"""Notices in the reader's language: a reminder, an escalation, a 督办, an extended deadline, a reassigned task or an
incident keeps its message and what it names (the step, the region, the deadline, the holder), and is worded when
it is read or mailed — in Chinese, or in English for one who chose English, with the step's, region's and body's
English names from the bundle's catalogue (english.yaml) where it has them, and the campaign's year as
"2025–2026 assessment year". A notice written before this (no message) reads as written.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from ..procedure.english import Catalogue
from ..running.years import english_label
from . import mail

#: The messages a notice may carry.
MESSAGES = ("reminder", "escalation", "urge", "extended", "reassigned", "incident")
URGE = {"zh": ("督办：{task}", "请尽快办理“{task}”。"),
        "en": ("Urged: {task}", "Please do “{task}” as soon as possible.")}
EXTENDED = {"zh": ("期限延长：{what}", "{what}的截止时间延长至 {deadline}。原因：{reason}"),
            "en": ("Deadline extended: {what}", "The deadline of {what} is extended to {deadline}. Reason: {reason}")}
REASSIGNED = {"zh": ("任务改派：{task}", "{by} 将任务「{task}」改派给您。"),
              "en": ("Task reassigned: {task}", "{by} has given the task “{task}” to you.")}
INCIDENT = {"zh": ("流程故障：{where}", "{where}运行出错，已停在上一个正常状态，等待处理。\n错误：{error}\n"
                   "请在“故障”页面重试或取消。({link})"),
            "en": ("Process failure: {where}", "{where} failed and is held at its last good state until it is "
                   "handled.\nError: {error}\nRetry or cancel it on the Incidents page. ({link})")}


def params(task, region_name: str | None, link: str, **more) -> dict:
    """What a notice about ``task`` names, kept with it (JSON): the step, the region, the deadline, the address."""
    return {"task": task.name, "bpmn_id": task.bpmn_id, "region": task.region, "region_name": region_name,
            "due_at": task.due_at.isoformat() if task.due_at else None, "link": link, **more}


def text(message: str, said: dict, english: bool = False, words: Catalogue | None = None) -> tuple[str, str]:
    """The title and body of a notice's message, in Chinese or in English (names from ``words``)."""
    lang = "en" if english else "zh"
    if message == "incident":
        return _incident(said, english, words)
    task, region, holder = said["task"], said.get("region_name"), said.get("holder")
    if english and words is not None:
        task = words.step(said.get("bpmn_id") or "", task)
        region = words.regions.get(str(said.get("region"))) or region
        holder = words.bodies.get(str(said.get("holder_role"))) or holder
    due = datetime.fromisoformat(said["due_at"]) if said.get("due_at") else None
    if message == "reminder":
        return mail.reminder_mail(task, region, due, said["link"], said["step"], english)
    if message == "escalation":
        return mail.escalation_mail(task, region, due, said["link"], holder, english)
    if message == "urge":
        title, body = URGE[lang]
        return title.format(task=task), body.format(task=task)
    if message == "extended":
        title, body = EXTENDED[lang]
        what = mail.task_words(task, region, english)
        return title.format(what=what), body.format(what=what, deadline=mail.deadline_text(due, english),
                                                    reason=said.get("reason", ""))
    if message == "reassigned":
        title, body = REASSIGNED[lang]
        return title.format(task=task), body.format(task=task, by=said["by"])
    raise ValueError(f"unknown notice message {message!r}; known: {', '.join(MESSAGES)}")


def incident_params(incident, instance, link: str) -> dict:
    """What an incident's notice names (JSON): the element, the instance, its region, the error, the address."""
    return {"element": incident.element, "bpmn_id": incident.bpmn_id, "instance": instance.id,
            "region": instance.region, "error": incident.error, "link": link}


def _incident(said: dict, english: bool, words: Catalogue | None) -> tuple[str, str]:
    """An incident's notice to the administrators; in English the element and region by their English names."""
    element, region = said.get("element") or said.get("bpmn_id"), said.get("region")
    if english:
        if words is not None:
            element = words.step(said.get("bpmn_id") or "", element or "")
            region = words.regions.get(str(region)) or region
        where = f"{element or 'The process'} (instance {said['instance']}" + (f", region {region})" if region
                                                                               else ")")
    else:
        where = f"{element or '流程'}（流程实例 {said['instance']}" + (f"，地区 {region}）" if region else "）")
    title, body = INCIDENT["en" if english else "zh"]
    return title.format(where=where)[:200], body.format(where=where, error=said["error"], link=said["link"])


def read(notice, english: bool = False, words: Catalogue | None = None) -> tuple[str, str]:
    """A notice's title and body as its reader reads it; an older notice (no message) as it was written."""
    if not notice.message or not isinstance(notice.params, dict):
        return notice.title, notice.body
    try:
        return text(notice.message, notice.params, english, words)
    except (KeyError, TypeError, ValueError):  # params of an unexpected shape: what was written still reads
        return notice.title, notice.body


def catalogues(session, campaign_ids) -> dict[int, Catalogue]:
    """The English catalogue of each campaign's version (read once per version's content)."""
    from sqlalchemy import select

    from ..procedure import english
    from ..store.models import Campaign

    version_of = dict(session.execute(select(Campaign.id, Campaign.version_id)
                                      .where(Campaign.id.in_(set(campaign_ids) - {None}))).all())
    words = english.of_versions(session, set(version_of.values())) if version_of else {}
    return {campaign: words[version] for campaign, version in version_of.items() if version in words}


def campaign_labels(session, campaign_ids, english: bool = False) -> dict[int, str]:
    """Each campaign's year as its reader names it: 「2025—2026年度」, or "2025–2026 assessment year" in English."""
    from sqlalchemy import select

    from ..store.models import Campaign

    rows = session.execute(select(Campaign.id, Campaign.label).where(Campaign.id.in_(set(campaign_ids) - {None})))
    return {campaign: english_label(label) if english else label for campaign, label in rows}


def as_read(notice, english: bool, words: Catalogue | None) -> SimpleNamespace:
    """A stand-in for a notice with its title, body and step name as its reader reads them (for the digest)."""
    title, body = read(notice, english, words)
    step = words.step(notice.bpmn_id or "", notice.step_name or "") if english and words else notice.step_name
    return SimpleNamespace(title=title, body=body, step_name=step, kind=notice.kind, link=notice.link,
                           campaign_id=notice.campaign_id)
