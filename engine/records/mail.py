"""E-mail for reminders and escalations: an outbox table, sent over SMTP with retries.

``queue`` adds a row in the caller's transaction, so a reminder and its mail commit together.
``send_pending`` sends due rows one at a time: a short transaction claims a row (a lease: its
``next_attempt_at`` moves ``LEASE`` ahead and ``attempts`` goes up), the SMTP conversation runs with no
transaction open, and a second short transaction records the outcome. Two processes never send the same
row at once (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time) and a recorded
success is never sent again. Delivery is at-least-once: a crash after the server accepted DATA and before
``sent_at`` is committed sends the mail again when the lease runs out. Holding a transaction across SMTP
would not close that window (its commit can fail after the server's 250), so every copy carries the same
``Message-ID``, derived from the row, for receivers to de-duplicate. A 5xx reply to RCPT or DATA fails the
mail at once; anything else is retried with back-off and after ``MAX_ATTEMPTS`` the row gets ``failed_at``,
where administrators see it (``failed_mails``) and can send it again (``retry``).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..clock import local
from ..errors import NotFound, ValidationError
from ..store.models import Mail

logger = logging.getLogger(__name__)

#: Attempts before a mail is given up: the back-off (1, 2, 4 … 256 min, then 6 h) spans about 14 hours,
#: an intranet mail server's night-long outage.
MAX_ATTEMPTS = 11
MAX_DELAY = timedelta(hours=6)
#: How long a claimed row is left to its sender; far longer than one SMTP conversation can take.
LEASE = timedelta(minutes=15)
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Where and how to hand mail to the mail server."""

    host: str
    port: int
    sender: str  # the From header, e.g. "考核系统 <kaohe@example.gov.cn>"
    security: str = "starttls"  # "none" | "starttls" | "ssl"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None  # PEM certificates to trust instead of the system's: an intranet's own CA

    def __post_init__(self):
        if self.security not in DEFAULT_PORTS:
            raise ValueError(f"KAOHE_SMTP_SECURITY must be none, starttls or ssl, not {self.security!r}")
        if self.ca_file is not None:
            try:
                ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"KAOHE_SMTP_CA_FILE must be a readable PEM file of CA certificates, "
                                 f"not {self.ca_file!r}: {exc}") from exc
        if not _ADDRESS.fullmatch(parseaddr(self.sender)[1]):
            raise ValueError(f"KAOHE_SMTP_FROM must be an address like '考核系统 <kaohe@example.gov.cn>', "
                             f"not {self.sender!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """Settings from the ``KAOHE_SMTP_*`` variables; None when no host is configured."""
        env = os.environ if env is None else env
        host = env.get("KAOHE_SMTP_HOST", "").strip()
        if not host:
            return None
        security = env.get("KAOHE_SMTP_SECURITY", "starttls").strip().lower()
        port = env.get("KAOHE_SMTP_PORT", "").strip()
        if port and not port.isdigit():
            raise ValueError(f"KAOHE_SMTP_PORT must be a number, not {port!r}")
        return cls(host=host, port=int(port) if port else DEFAULT_PORTS.get(security, 0), security=security,
                   username=env.get("KAOHE_SMTP_USER") or None, password=env.get("KAOHE_SMTP_PASSWORD") or None,
                   sender=env.get("KAOHE_SMTP_FROM", ""), ca_file=env.get("KAOHE_SMTP_CA_FILE") or None)


class Mailer:
    """Composes messages and hands each one to the SMTP server in its own conversation."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def compose(self, to_addr: str, subject: str, body: str, message_id: str, date: datetime) -> EmailMessage:
        """A UTF-8 message; the default policy RFC 2047-encodes Chinese headers and display names."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to_addr
        message["Subject"] = subject
        message["Date"] = format_datetime(local(date))
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to reminders
        message.set_content(body, cte="base64")  # 7-bit clean, for relays without 8BITMIME
        return message

    def send(self, message: EmailMessage) -> None:
        """Deliver one message; raises ``smtplib.SMTPException`` or ``OSError`` when it is not accepted."""
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)  # verifies the certificate and the host name
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                client.starttls(context=context)
            if s.username:
                client.login(s.username, s.password or "")
            client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):  # a failed QUIT must not turn an accepted mail into a retry
                client.close()


@dataclass
class SendReport:
    """What one ``send_pending`` pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


def queue(session: Session, to_addr: str, subject: str, body: str, now: datetime,
          notification_id: int | None = None) -> Mail:
    """Add a mail to the outbox in the caller's transaction; ``send_pending`` sends it."""
    to_addr = to_addr.strip()
    if len(to_addr) > 200 or not _ADDRESS.fullmatch(to_addr):
        raise ValidationError(f"收件地址无效 (not an e-mail address): {to_addr!r}",
                              [{"field": "to_addr", "message": "not an e-mail address"}])
    if len(subject) > 300 or "\n" in subject or "\r" in subject:
        raise ValidationError("邮件主题应为一行，最多300字 (the subject must be one line of at most 300 characters)",
                              [{"field": "subject", "message": "one line of at most 300 characters"}])
    mail = Mail(to_addr=to_addr, subject=subject, body=body, created_at=now, next_attempt_at=now, attempts=0,
                notification_id=notification_id)
    session.add(mail)
    session.flush()
    return mail


def send_pending(store, clock, mailer: Mailer | None, limit: int = 100) -> SendReport:
    """Send up to ``limit`` due mails, each by one process only; safe to run twice and from two processes."""
    report = SendReport()
    if mailer is None:
        with store.read() as session:
            waiting = session.scalar(select(func.count()).select_from(Mail)
                                     .where(Mail.sent_at.is_(None), Mail.failed_at.is_(None)))
        if waiting:
            logger.warning("SMTP is not configured (set KAOHE_SMTP_HOST): %d mails stay queued", waiting)
        return report
    tried: list[int] = []
    while len(tried) < limit and (mail := _claim(store, clock.now(), tried)) is not None:
        tried.append(mail.id)
        if mail.failed_at:  # given up as it was claimed: see _claim
            report.failed += 1
            continue
        outcome = _send(mailer, mail)
        now = clock.now()
        if outcome is None:
            _finish(store, mail, sent_at=now)
            logger.info("mail %d sent to %s", mail.id, mail.to_addr)
            report.sent += 1
            continue
        permanent, error = outcome
        if permanent or mail.attempts >= MAX_ATTEMPTS:
            _finish(store, mail, failed_at=now, last_error=error[:2000])
            logger.error("mail %d to %s failed after %d attempts: %s", mail.id, mail.to_addr, mail.attempts, error)
            report.failed += 1
        else:
            retry_at = now + backoff(mail.attempts)
            _finish(store, mail, next_attempt_at=retry_at, last_error=error[:2000])
            logger.warning("mail %d to %s failed (attempt %d), retrying at %s: %s",
                           mail.id, mail.to_addr, mail.attempts, retry_at, error)
            report.retried += 1
    return report


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 1, 2, 4, 8 … minutes, at most ``MAX_DELAY``."""
    return min(timedelta(minutes=2 ** min(attempts - 1, 20)), MAX_DELAY)


def message_id(mail: Mail, sender: str) -> str:
    """The same Message-ID for every copy of a row, so receivers can drop a duplicate."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<kaohe.mail.{mail.id}.{mail.created_at:%Y%m%d%H%M%S}@{domain}>"


def failed_mails(session: Session) -> list[Mail]:
    """Mails given up, newest first, for the administrators' view."""
    return list(session.scalars(select(Mail).where(Mail.failed_at.is_not(None))
                                .order_by(Mail.failed_at.desc(), Mail.id.desc())))


def retry(session: Session, mail_id: int, now: datetime) -> Mail:
    """An administrator sends a failed mail again, with a fresh count of attempts."""
    mail = session.get(Mail, mail_id)
    if mail is None or mail.sent_at is not None:
        raise NotFound(f"没有待重发的邮件 {mail_id} (no unsent mail {mail_id})")
    mail.failed_at, mail.attempts, mail.next_attempt_at = None, 0, now
    return mail


def _due(store, now: datetime, skip: list[int]):
    """The next due row, locked for the claiming transaction: the outbox's one dialect-specific query."""
    query = (select(Mail).where(Mail.sent_at.is_(None), Mail.failed_at.is_(None), Mail.next_attempt_at <= now)
             .order_by(Mail.next_attempt_at, Mail.id).limit(1))
    if skip:  # a row retried within this pass waits for the next one
        query = query.where(Mail.id.not_in(skip))
    if store.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    # SQLite: store.write() begins with BEGIN IMMEDIATE, so claims never interleave.
    return query


def _claim(store, now: datetime, skip: list[int]) -> Mail | None:
    """Take the next due row on a lease, in a short transaction; the returned row is detached."""
    with store.write() as session:
        mail = session.scalars(_due(store, now, skip)).first()
        if mail is None:
            return None
        if mail.attempts >= MAX_ATTEMPTS:  # its last sender stopped mid-conversation: don't loop on it
            mail.failed_at = now
            mail.last_error = f"发送中断 (the sender stopped during attempt {mail.attempts}; it may have arrived)"
            logger.error("mail %d to %s: %s", mail.id, mail.to_addr, mail.last_error)
        else:
            mail.attempts += 1
            mail.next_attempt_at = now + LEASE
        return mail


def _finish(store, mail: Mail, **values) -> None:
    """Record an outcome, unless the lease ran out and another sender has claimed the row since."""
    with store.write() as session:
        done = session.execute(update(Mail).where(Mail.id == mail.id, Mail.attempts == mail.attempts,
                                                  Mail.sent_at.is_(None), Mail.failed_at.is_(None))
                               .values(**values))
    if done.rowcount == 0:
        logger.warning("mail %d: lease ran out before its outcome was recorded", mail.id)


def _send(mailer: Mailer, mail: Mail) -> tuple[bool, str] | None:
    """None when the server accepted the mail; else whether the failure is permanent, and what it was."""
    try:
        message = mailer.compose(mail.to_addr, mail.subject, mail.body, message_id(mail, mailer.settings.sender),
                                 mail.created_at)
    except ValueError as exc:  # a header the message cannot carry: it will never send
        return True, f"{type(exc).__name__}: {exc}"
    try:
        mailer.send(message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        return _describe(exc)
    return None


def _describe(exc: Exception) -> tuple[bool, str]:
    """Whether a send failure is permanent, and the server's reply (or the local error) as text."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return code >= 500, f"{code} {reply.decode('utf-8', 'replace')}"
    if isinstance(exc, smtplib.SMTPResponseException):
        # Only RCPT and DATA speak about this one mail; a 5xx elsewhere is the server's or our settings' problem.
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500, f"{exc.smtp_code} {reply}"
    return False, f"{type(exc).__name__}: {exc}"


STEPS = {  # step -> (label for the subject, sentence for the body)
    "before-7d": ("7天后到期", "将于7天后到期，请合理安排时间办理。"),
    "before-1d": ("明天到期", "明天到期，请抓紧办理。"),
    "due": ("今天到期", "今天到期，请于今日24:00前办理完毕。"),
    "overdue": ("已逾期", "已逾期，请尽快办理。"),
    "escalate": ("督办", "已逾期，现予督办，请立即办理。"),
}
FOOTER = "此邮件由质量工作考核系统自动发送，请勿直接回复。"
REMINDER_SUBJECT = "【质量工作考核】{label}：{what}"
REMINDER_BODY = "您好：\n\n{what}{sentence}\n\n截止时间：{deadline}（北京时间）\n办理地址：{link}\n\n{footer}\n"
ESCALATION_SUBJECT = "【质量工作考核】督办：{what}已逾期"
ESCALATION_BODY = ("您好：\n\n{what}已超过截止时间（{deadline}，北京时间）仍未办理完毕，当前由{holder}办理，"
                   "请督促尽快完成。\n\n查看详情：{link}\n\n{footer}\n")


DIGEST_SUBJECT = "【质量工作考核】待办汇总：{count} 项任务需要办理{extra}"
DIGEST_INTRO = "您好：\n\n以下任务需要您办理或督促办理（按考核和环节归类）：\n"

# The same in English, for those who chose English (engine/records/notices.py).
STEPS_EN = {
    "before-7d": ("Due in 7 days", "is due in 7 days; please plan to finish it in time."),
    "before-1d": ("Due tomorrow", "is due tomorrow; please finish it soon."),
    "due": ("Due today", "is due today; please finish it by 24:00 today."),
    "overdue": ("Overdue", "is overdue; please finish it as soon as possible."),
    "escalate": ("Urged", "is overdue and is hereby urged; please finish it at once."),
}
FOOTER_EN = "This mail was sent by the quality work assessment system; please do not reply to it."
REMINDER_SUBJECT_EN = "[Quality work assessment] {label}: {what}"
REMINDER_BODY_EN = "Hello,\n\n{what} {sentence}\n\nDeadline: {deadline} (Beijing time)\nWhere: {link}\n\n{footer}\n"
ESCALATION_SUBJECT_EN = "[Quality work assessment] Urged: {what} is overdue"
ESCALATION_BODY_EN = ("Hello,\n\n{what} has passed its deadline ({deadline}, Beijing time) unfinished; {holder} "
                      "holds it. Please see that it is finished soon.\n\nDetails: {link}\n\n{footer}\n")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # not %B: the process's locale may be Chinese
DIGEST_SUBJECT_EN = "[Quality work assessment] To do: {count} tasks{extra}"
DIGEST_INTRO_EN = "Hello,\n\nThese tasks are yours to do or to see done (by campaign and step):\n"


def digest_mail(notices: list, campaign_labels: dict, link_base: str = "", english: bool = False) -> tuple[str, str]:
    """One day's reminders and escalations to one person as one mail, grouped by campaign and step; a single
    notice is mailed as it reads. ``notices`` read as their reader reads them (title, body, step_name: in English
    for an English reader, with ``english`` set)."""
    if len(notices) == 1:
        return notices[0].title, notices[0].body
    groups: dict[tuple, list] = {}
    for notice in notices:
        key = (campaign_labels.get(notice.campaign_id, ""), notice.step_name or "", notice.kind)
        groups.setdefault(key, []).append(notice)
    steps, colon = (STEPS_EN, ": ") if english else (STEPS, "：")
    lines = [DIGEST_INTRO_EN if english else DIGEST_INTRO]
    for (label, step, kind), members in groups.items():
        count = f"{len(members)}" if english else f"{len(members)} 项"
        lines.append(f"{label} · {step}{colon}{steps.get(kind, (kind,))[0]} {count}".lstrip(" ·"))
        for notice in members:
            what = notice.title.split(colon, 1)[-1]
            lines.append(f"  - {what}  {link_base}{notice.link or ''}")
        lines.append("")
    overdue = sum(1 for n in notices if n.kind == "overdue")
    escalated = sum(1 for n in notices if n.kind == "escalate")
    if english:
        extra = ", ".join(p for p in (f"{overdue} overdue" if overdue else "", f"{escalated} urged" if escalated
                                      else "") if p)
        return (DIGEST_SUBJECT_EN.format(count=len(notices), extra=f" ({extra})" if extra else ""),
                "\n".join(lines) + f"\n{FOOTER_EN}\n")
    extra = "，".join(part for part in (f"逾期 {overdue} 项" if overdue else "", f"督办 {escalated} 项" if escalated
                                        else "") if part)
    return (DIGEST_SUBJECT.format(count=len(notices), extra=f"（{extra}）" if extra else ""),
            "\n".join(lines) + f"\n{FOOTER}\n")


def deadline_text(due_at: datetime, english: bool = False) -> str:
    """A deadline as read in China: the exclusive end at 00:00 shows as 24:00 of the day before."""
    moment = local(due_at)
    if moment.time() == time(0):
        day, hour = (moment - timedelta(days=1)).date(), "24:00"
    else:
        day, hour = moment.date(), f"{moment:%H:%M}"
    if english:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}, {hour}"
    return f"{day.year}年{day.month}月{day.day}日 {hour}"


def reminder_mail(task_name: str, region_name: str | None, due_at: datetime, link: str, step: str,
                  english: bool = False) -> tuple[str, str]:
    """Subject and body of a reminder to the task's holders for one step of ``STEPS`` (in English: ``english``)."""
    if step not in STEPS:
        raise ValueError(f"unknown reminder step {step!r}; known: {', '.join(STEPS)}")
    label, sentence = (STEPS_EN if english else STEPS)[step]
    what = task_words(task_name, region_name, english)
    subject, body = (REMINDER_SUBJECT_EN, REMINDER_BODY_EN) if english else (REMINDER_SUBJECT, REMINDER_BODY)
    return (subject.format(label=label, what=what),
            body.format(what=what, sentence=sentence, deadline=deadline_text(due_at, english), link=link,
                        footer=FOOTER_EN if english else FOOTER))


def escalation_mail(task_name: str, region_name: str | None, due_at: datetime, link: str,
                    holder: str, english: bool = False) -> tuple[str, str]:
    """Subject and body of an escalation (督办) to the supervisor of whoever holds an overdue task."""
    what = task_words(task_name, region_name, english)
    subject, body = (ESCALATION_SUBJECT_EN, ESCALATION_BODY_EN) if english else (ESCALATION_SUBJECT, ESCALATION_BODY)
    return (subject.format(what=what),
            body.format(what=what, deadline=deadline_text(due_at, english), holder=holder, link=link,
                        footer=FOOTER_EN if english else FOOTER))


def task_words(task_name: str, region_name: str | None, english: bool = False) -> str:
    """「北京市的“自我评价”」: a task and its region, as a notice names them."""
    if english:
        return f"“{task_name}” of {region_name}" if region_name else f"“{task_name}”"
    return f"{region_name}的“{task_name}”" if region_name else f"“{task_name}”"
