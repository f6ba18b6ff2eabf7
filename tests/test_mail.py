"""The mail outbox against a real SMTP server on loopback (aiosmtpd), on every storage backend."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from engine.clock import CHINA
from engine.errors import ValidationError
from engine.records import mail
from engine.records.mail import Mailer, SendReport, SmtpSettings, send_pending
from engine.store.models import Mail

SENDER = "考核系统 <kaohe@example.gov.cn>"
TO = "zhangsan@ziyang.gov.cn"
SUBJECT, BODY = mail.reminder_mail("自评材料提交", "紫阳县", datetime(2025, 7, 16, tzinfo=CHINA),
                                   "https://kaohe.example.gov.cn/tasks/1", "before-1d")


class Recorder:
    """Accepts every message and keeps it."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 2.0.0 OK"


class Busy(Recorder):
    """Refuses DATA with a temporary error the first ``refusals`` times."""

    def __init__(self, refusals: int):
        super().__init__()
        self.refusals = refusals
        self.data_attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_attempts += 1
        if self.data_attempts <= self.refusals:
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


class NoSuchUser(Recorder):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 no such user"


class LoopbackController(Controller):
    """Listens on a port the system picks (port=0) and reads it back before the start-up probe."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp():
    """Start an SMTP server on 127.0.0.1: ``smtp(handler, **options) -> (handler, settings)``."""
    started = []

    def start(handler=None, username=None, password=None, **options):
        controller = LoopbackController(handler or Recorder(), hostname="127.0.0.1", port=0, **options)
        controller.start()
        started.append(controller)
        return controller.handler, SmtpSettings(host="127.0.0.1", port=controller.port, security="none",
                                                sender=SENDER, username=username, password=password, timeout=5)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def refused_port():
    """A port that refuses connections: bound, never listening, so nobody else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def queue(store, clock, to=TO, subject=SUBJECT, body=BODY) -> int:
    with store.write() as session:
        return mail.queue(session, to, subject, body, clock.now()).id


def row(store, mail_id: int) -> Mail:
    with store.read() as session:
        return session.get(Mail, mail_id)


def test_a_queued_mail_is_sent_once_with_its_chinese_text(store, clock, smtp):
    server, settings = smtp()
    mail_id = queue(store, clock)

    assert send_pending(store, clock, Mailer(settings)) == SendReport(sent=1)
    assert send_pending(store, clock, Mailer(settings)) == SendReport()

    [message] = server.messages
    assert message["Subject"] == SUBJECT == "【质量工作考核】明天到期：紫阳县的“自评材料提交”"
    assert message.get_content() == BODY
    assert "截止时间：2025年7月15日 24:00（北京时间）" in message.get_content()
    assert message["From"].addresses[0].display_name == "考核系统"
    assert message["To"] == TO
    assert message["Message-ID"] == mail.message_id(row(store, mail_id), SENDER)
    sent = row(store, mail_id)
    assert (sent.sent_at, sent.attempts, sent.failed_at) == (clock.now(), 1, None)


def test_headers_are_rfc2047_encoded(sqlite_store, clock, smtp):
    server, settings = smtp()
    message = Mailer(settings).compose(TO, SUBJECT, BODY, "<1@example.gov.cn>", datetime(2025, 7, 1, tzinfo=UTC))
    raw = message.as_bytes()
    assert raw.isascii()
    assert b"From: =?utf-8?b?" in raw and b"Subject: =?utf-8?" in raw


def test_a_temporary_refusal_is_retried_with_back_off(store, clock, smtp):
    server, settings = smtp(Busy(refusals=2))
    mailer = Mailer(settings)
    mail_id = queue(store, clock)

    assert send_pending(store, clock, mailer) == SendReport(retried=1)
    first = row(store, mail_id)
    assert first.last_error == "451 4.3.0 try again later"
    assert (first.attempts, first.next_attempt_at) == (1, clock.now() + timedelta(minutes=1))

    clock.advance(seconds=59)
    assert send_pending(store, clock, mailer) == SendReport()  # not due yet
    assert server.data_attempts == 1

    clock.set(first.next_attempt_at)
    assert send_pending(store, clock, mailer) == SendReport(retried=1)
    second = row(store, mail_id)
    assert (second.attempts, second.next_attempt_at) == (2, clock.now() + timedelta(minutes=2))

    clock.advance(minutes=1)
    assert send_pending(store, clock, mailer) == SendReport()
    clock.advance(minutes=1)
    assert send_pending(store, clock, mailer) == SendReport(sent=1)
    assert send_pending(store, clock, mailer) == SendReport()
    assert server.data_attempts == 3 and len(server.messages) == 1
    assert row(store, mail_id).sent_at == clock.now()


def test_an_unknown_recipient_fails_at_once(store, clock, smtp):
    server, settings = smtp(NoSuchUser())
    mail_id = queue(store, clock)

    assert send_pending(store, clock, Mailer(settings)) == SendReport(failed=1)
    clock.advance(days=1)
    assert send_pending(store, clock, Mailer(settings)) == SendReport()

    failed = row(store, mail_id)
    assert failed.last_error == "550 5.1.1 no such user"
    assert (failed.attempts, failed.sent_at, failed.failed_at) == (1, None, clock.now() - timedelta(days=1))
    with store.read() as session:
        assert [m.id for m in mail.failed_mails(session)] == [mail_id]
    assert server.messages == []


def test_no_server_is_a_temporary_failure_until_given_up(store, clock, refused_port):
    settings = SmtpSettings(host="127.0.0.1", port=refused_port, security="none", sender=SENDER, timeout=5)
    mail_id = queue(store, clock)
    waits = []
    for _ in range(mail.MAX_ATTEMPTS - 1):
        assert send_pending(store, clock, Mailer(settings)) == SendReport(retried=1)
        waiting = row(store, mail_id)
        assert waiting.last_error.startswith("ConnectionRefusedError") and waiting.failed_at is None
        waits.append(int((waiting.next_attempt_at - clock.now()).total_seconds() // 60))
        clock.set(waiting.next_attempt_at)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 360][: mail.MAX_ATTEMPTS - 1]

    assert send_pending(store, clock, Mailer(settings)) == SendReport(failed=1)
    with store.write() as session:
        [failed] = mail.failed_mails(session)
        assert (failed.id, failed.attempts, failed.failed_at) == (mail_id, mail.MAX_ATTEMPTS, clock.now())
        mail.retry(session, mail_id, clock.now())  # an administrator sends it again
    again = row(store, mail_id)
    assert (again.failed_at, again.attempts, again.next_attempt_at) == (None, 0, clock.now())


def test_without_smtp_settings_mail_stays_queued(store, clock, caplog):
    assert SmtpSettings.from_env({"KAOHE_SMTP_FROM": SENDER}) is None
    mail_id = queue(store, clock)
    with caplog.at_level(logging.WARNING, logger="engine.records.mail"):
        assert send_pending(store, clock, None) == SendReport()
    assert "SMTP is not configured" in caplog.text
    queued = row(store, mail_id)
    assert (queued.attempts, queued.sent_at, queued.failed_at) == (0, None, None)


def test_two_senders_at_once_deliver_each_mail_once(store, clock, smtp):
    server, settings = smtp()
    ids = [queue(store, clock, subject=f"{SUBJECT} #{n}") for n in range(20)]
    start = threading.Barrier(2)

    def sender():
        start.wait()
        return send_pending(store, clock, Mailer(settings))

    with ThreadPoolExecutor(2) as pool:
        reports = [f.result() for f in [pool.submit(sender), pool.submit(sender)]]

    assert sum(r.sent for r in reports) == 20 and sum(r.retried + r.failed for r in reports) == 0
    assert sorted(m["Subject"] for m in server.messages) == sorted(f"{SUBJECT} #{n}" for n in range(20))
    assert len({m["Message-ID"] for m in server.messages}) == 20
    assert all(row(store, i).attempts == 1 for i in ids)


class Crash(Exception):
    pass


class CrashAfterSend(Mailer):
    """The process dies after the server accepted the mail, before the outcome is recorded."""

    def send(self, message):
        super().send(message)
        raise Crash


def test_a_crash_after_sending_resends_with_the_same_message_id(sqlite_store, clock, smtp):
    server, settings = smtp()
    queue(sqlite_store, clock)
    with pytest.raises(Crash):
        send_pending(sqlite_store, clock, CrashAfterSend(settings))
    assert send_pending(sqlite_store, clock, Mailer(settings)) == SendReport()  # still on its lease

    clock.advance(seconds=mail.LEASE.total_seconds())
    assert send_pending(sqlite_store, clock, Mailer(settings)) == SendReport(sent=1)
    first, second = server.messages
    assert first["Message-ID"] == second["Message-ID"]  # at-least-once: receivers can drop the copy


def test_a_crash_on_the_last_attempt_gives_the_mail_up(sqlite_store, clock, smtp):
    server, settings = smtp()
    mail_id = queue(sqlite_store, clock)
    with sqlite_store.write() as session:
        session.get(Mail, mail_id).attempts = mail.MAX_ATTEMPTS - 1
    with pytest.raises(Crash):
        send_pending(sqlite_store, clock, CrashAfterSend(settings))

    clock.advance(seconds=mail.LEASE.total_seconds())
    assert send_pending(sqlite_store, clock, Mailer(settings)) == SendReport(failed=1)
    given_up = row(sqlite_store, mail_id)
    assert given_up.failed_at == clock.now() and "may have arrived" in given_up.last_error
    assert len(server.messages) == 1


@pytest.mark.parametrize(("password", "report"), [("secret", SendReport(sent=1)), ("wrong", SendReport(retried=1))])
def test_login(sqlite_store, clock, smtp, password, report):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"kaohe", b"secret")
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd replies 535 itself

    server, settings = smtp(authenticator=authenticator, auth_require_tls=False, username="kaohe",
                            password=password)
    mail_id = queue(sqlite_store, clock)
    assert send_pending(sqlite_store, clock, Mailer(settings)) == report
    if report.retried:
        assert row(sqlite_store, mail_id).last_error.startswith("535 ")


class TlsRecorder(Recorder):
    """Keeps each message with the TLS version of the conversation it came in (None: in the clear)."""

    def __init__(self):
        super().__init__()
        self.tls: list[str | None] = []

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object")
        self.tls.append(tls.version() if tls else None)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def intranet_ca():
    """A CA of our own, as an intranet has, and a certificate it signed for the mail server at 127.0.0.1."""
    ca = trustme.CA(organization_name="某省政务内网 CA")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    return ca, server


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_goes_encrypted_to_a_server_with_an_intranet_certificate(sqlite_store, clock, smtp, intranet_ca,
                                                                      tmp_path, security):
    ca, server_context = intranet_ca
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = {"tls_context": server_context, "require_starttls": True} if security == "starttls" else \
        {"ssl_context": server_context}
    server, settings = smtp(TlsRecorder(), **tls)
    settings = replace(settings, security=security, ca_file=str(tmp_path / "ca.pem"))
    mail_id = queue(sqlite_store, clock)
    assert send_pending(sqlite_store, clock, Mailer(settings)) == SendReport(sent=1)
    assert row(sqlite_store, mail_id).sent_at is not None
    assert server.tls[0] in ("TLSv1.2", "TLSv1.3") and server.messages[0]["Subject"] == SUBJECT


def test_a_certificate_nobody_trusts_here_is_refused_and_retried(sqlite_store, clock, smtp, intranet_ca):
    """Without the intranet CA (the system's CAs only) the mail is not handed over in the clear: it waits,
    with the reason on its row, until an administrator sets KAOHE_SMTP_CA_FILE."""
    server, settings = smtp(TlsRecorder(), tls_context=intranet_ca[1], require_starttls=True)
    mail_id = queue(sqlite_store, clock)
    assert send_pending(sqlite_store, clock, Mailer(replace(settings, security="starttls"))) == SendReport(retried=1)
    assert "CERTIFICATE_VERIFY_FAILED" in row(sqlite_store, mail_id).last_error and server.messages == []


def test_a_ca_file_that_is_not_one_names_the_variable(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="KAOHE_SMTP_CA_FILE"):
        SmtpSettings.from_env({"KAOHE_SMTP_HOST": "h", "KAOHE_SMTP_FROM": SENDER,
                               "KAOHE_SMTP_CA_FILE": str(tmp_path / "ca.pem")})
    with pytest.raises(ValueError, match="KAOHE_SMTP_CA_FILE"):
        SmtpSettings.from_env({"KAOHE_SMTP_HOST": "h", "KAOHE_SMTP_FROM": SENDER,
                               "KAOHE_SMTP_CA_FILE": str(tmp_path / "missing.pem")})


@pytest.mark.parametrize("address", ["", "zhangsan", "a@b.cn\nBcc: c@d.cn", "a@b.cn, c@d.cn"])
def test_queue_rejects_a_bad_address(sqlite_store, clock, address):
    with pytest.raises(ValidationError) as caught:
        queue(sqlite_store, clock, to=address)
    assert caught.value.errors[0]["field"] == "to_addr"
    with sqlite_store.read() as session:
        assert session.query(Mail).count() == 0


def test_settings_from_env():
    settings = SmtpSettings.from_env({"KAOHE_SMTP_HOST": "mail.gov.cn", "KAOHE_SMTP_SECURITY": "SSL",
                                      "KAOHE_SMTP_USER": "kaohe", "KAOHE_SMTP_PASSWORD": "s3cret",
                                      "KAOHE_SMTP_FROM": SENDER})
    assert (settings.host, settings.port, settings.security, settings.username) == ("mail.gov.cn", 465, "ssl", "kaohe")
    assert "s3cret" not in repr(settings)
    assert SmtpSettings.from_env({"KAOHE_SMTP_HOST": "mail.gov.cn", "KAOHE_SMTP_FROM": SENDER}).port == 587
    assert SmtpSettings.from_env({"KAOHE_SMTP_HOST": "h", "KAOHE_SMTP_PORT": "2525",
                                  "KAOHE_SMTP_SECURITY": "none", "KAOHE_SMTP_FROM": SENDER}).port == 2525


@pytest.mark.parametrize(("env", "variable"), [
    ({"KAOHE_SMTP_SECURITY": "tls"}, "KAOHE_SMTP_SECURITY"),
    ({"KAOHE_SMTP_PORT": "smtp"}, "KAOHE_SMTP_PORT"),
    ({"KAOHE_SMTP_FROM": ""}, "KAOHE_SMTP_FROM"),
])
def test_bad_settings_name_the_variable(env, variable):
    with pytest.raises(ValueError, match=variable):
        SmtpSettings.from_env({"KAOHE_SMTP_HOST": "h", "KAOHE_SMTP_FROM": SENDER, **env})


@pytest.mark.parametrize(("due_at", "shown"), [
    (datetime(2025, 7, 16, tzinfo=CHINA), "2025年7月15日 24:00"),
    (datetime(2025, 7, 15, 16, tzinfo=UTC), "2025年7月15日 24:00"),
    (datetime(2025, 1, 1, tzinfo=CHINA), "2024年12月31日 24:00"),
    (datetime(2025, 7, 15, 17, 30, tzinfo=CHINA), "2025年7月15日 17:30"),
])
def test_deadline_shows_24_00_of_the_last_day(due_at, shown):
    assert mail.deadline_text(due_at) == shown


@pytest.mark.parametrize(("step", "label", "sentence"), [
    ("before-7d", "7天后到期", "将于7天后到期"),
    ("before-1d", "明天到期", "明天到期"),
    ("due", "今天到期", "今天到期"),
    ("overdue", "已逾期", "已逾期"),
    ("escalate", "督办", "已逾期，现予督办"),
])
def test_reminder_templates(step, label, sentence):
    subject, body = mail.reminder_mail("自评材料提交", "紫阳县", datetime(2025, 7, 16, tzinfo=CHINA),
                                       "https://kaohe.example.gov.cn/tasks/1", step)
    assert subject == f"【质量工作考核】{label}：紫阳县的“自评材料提交”"
    assert f"紫阳县的“自评材料提交”{sentence}" in body
    assert "截止时间：2025年7月15日 24:00（北京时间）" in body and "https://kaohe.example.gov.cn/tasks/1" in body


def test_escalation_template_and_unknown_step():
    subject, body = mail.escalation_mail("自评材料提交", None, datetime(2025, 7, 16, tzinfo=CHINA),
                                         "https://kaohe.example.gov.cn/tasks/1", "紫阳县市场监管局")
    assert subject == "【质量工作考核】督办：“自评材料提交”已逾期"
    assert "2025年7月15日 24:00" in body and "当前由紫阳县市场监管局办理" in body
    with pytest.raises(ValueError, match="before-7d"):
        mail.reminder_mail("t", "r", datetime(2025, 7, 16, tzinfo=CHINA), "/", "later")
