"""The scheduler: APScheduler wakes the engine at the next due time; the work itself is idempotent.

One job, ``wake``, is armed with a date trigger at the earliest of the next timer, the next undelivered
message and the next mail retry, and re-armed after each run and whenever this process changes timers or
leaves messages undelivered. A slow ``sweep`` catches what another process armed (the web app, a second
scheduler), and a daily job at the reminder hour sends reminders. An hourly ``files`` job removes uploads
nothing has named for a day. Starting runs everything that fell due while nothing was running, once
(messages a crash left undelivered among them). A pass the database failed (unreachable, a full disk) is tried
again after a few seconds, doubling up to ``RETRY_MAX``, so that what fell due during an outage runs as soon as
the database answers again rather than at the next sweep.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError

from .. import config
from ..clock import CHINA
from ..records import files, mail
from ..store.models import Mail
from . import messages, reminders, timers

logger = logging.getLogger(__name__)

SWEEP = timedelta(minutes=1)
#: How often uploads that nothing names are looked for (they are removed a day after upload).
FILE_SWEEP = timedelta(hours=1)
#: After a pass the database failed: the first retry, doubled after each failure up to the last.
RETRY_FIRST = timedelta(seconds=2)
RETRY_MAX = timedelta(seconds=30)
#: Errors that say the database is away for now (unreachable, a full disk), not that our work is wrong.
OUTAGE = (OperationalError, InterfaceError)


@dataclass
class Pass:
    """What one run of the due work did."""

    timers: int
    reminders: int
    mails: mail.SendReport
    messages: int = 0


class Scheduler:
    """Runs due timers, reminders and mail for one engine, woken by APScheduler."""

    def __init__(self, engine, mailer: mail.Mailer | None = None, link_base: str = "",
                 scheduler: BackgroundScheduler | None = None, upload_folder: Path | None = None):
        self.engine = engine
        self.upload_folder = upload_folder or config.upload_dir()
        self.mailer = mailer
        self.link_base = link_base
        self.scheduler = scheduler or BackgroundScheduler(timezone=CHINA)
        self._lock = threading.Lock()  # one pass at a time in this process
        self._waking = threading.RLock()  # held by a wake-up from its pass to its re-arming; shutdown waits for it
        self._stopping = threading.Event()
        self._failed_passes = 0  # passes in a row the database failed

    def run_due(self) -> Pass:
        """Fire due timers, send due reminders and mail; safe to run at any time, from any process."""
        with self._lock:
            now = self.engine.clock.now()
            delivered = messages.deliver_pending(self.engine, now)  # before timers: a catch may cancel one
            fired = timers.fire_due_timers(self.engine, now)
            sent = reminders.send_reminders(self.engine, now, self.link_base)
            mails = mail.send_pending(self.engine.store, self.engine.clock, self.mailer)
        if fired or sent or mails.sent or mails.failed or delivered:
            logger.info("fired %d timers, delivered to %d instances, sent %d reminders, %d mails (%d retried, "
                        "%d failed)", fired, delivered, len(sent), mails.sent, mails.retried, mails.failed)
        return Pass(fired, len(sent), mails, delivered)

    def clean_files(self) -> int:
        """Remove uploads no draft or submission has named for a day; returns how many."""
        try:
            return files.remove_unreferenced(self.engine.store, self.upload_folder, self.engine.clock.now())
        except Exception:  # a background job must log and go on; the next sweep tries again
            logger.exception("removing unreferenced uploads failed")
            return 0

    def next_due(self) -> datetime | None:
        """The earliest moment there will be work: a timer, an undelivered message or a mail retry."""
        with self.engine.store.read() as session:
            mail_at = session.scalar(select(func.min(Mail.next_attempt_at)).where(Mail.sent_at.is_(None),
                                                                                  Mail.failed_at.is_(None)))
            timer_at = timers.next_due(session)
            message_at = messages.next_due(session)
        return min((t for t in (timer_at, mail_at, message_at) if t is not None), default=None)

    def arm(self) -> None:
        """Point the ``wake`` job at the next due moment (now, if it is already past)."""
        if self._stopping.is_set():
            return
        due = self.next_due()
        if due is None:
            if self.scheduler.get_job("wake"):
                self.scheduler.remove_job("wake")
            return
        self.scheduler.add_job(self._wake, DateTrigger(run_date=max(due, self.engine.clock.now())), id="wake",
                               replace_existing=True, misfire_grace_time=None, coalesce=True)

    def _wake(self) -> None:
        with self._waking:
            if not self._stopping.is_set():
                self._wake_once()

    def _wake_once(self) -> None:
        try:
            try:
                self.run_due()
            except OUTAGE:
                raise
            except Exception:  # a background job must log and go on, never die silently
                logger.exception("the scheduled run failed; the sweep will try again")
            self.arm()
        except OUTAGE as exc:  # the database is away: try again soon, not at the next sweep
            self._failed_passes += 1
            delay = min(RETRY_FIRST * 2 ** (self._failed_passes - 1), RETRY_MAX)
            logger.warning("the database is unavailable (%s); trying again in %d s",
                           type(getattr(exc, "orig", exc)).__name__, delay.total_seconds())
            self._retry_in(delay)
        else:
            self._failed_passes = 0

    def _retry_in(self, delay: timedelta) -> None:
        """Point the ``wake`` job at ``delay`` from now on the wall clock (the database's outage is real time)."""
        if self._stopping.is_set():
            return
        self.scheduler.add_job(self._wake, DateTrigger(run_date=datetime.now(CHINA) + delay), id="wake",
                               replace_existing=True, misfire_grace_time=None, coalesce=True)

    def start(self) -> None:
        """Catch up on what fell due while nothing ran, then run in the background."""
        hour = reminders.DEFAULT_POLICY["hour"]
        self.scheduler.add_job(self._wake, IntervalTrigger(seconds=SWEEP.total_seconds()), id="sweep",
                               replace_existing=True, coalesce=True, max_instances=1)
        self.scheduler.add_job(self._wake, CronTrigger(hour=hour, minute=0, timezone=CHINA), id="reminders",
                               replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)
        self.scheduler.add_job(self.clean_files, IntervalTrigger(seconds=FILE_SWEEP.total_seconds()), id="files",
                               replace_existing=True, coalesce=True, max_instances=1)
        self.engine.on_timers_changed.append(self.arm)
        self.scheduler.start()
        self.scheduler.add_job(self._wake, id="catch-up")

    def shutdown(self) -> None:
        """Stop, letting a pass in progress finish."""
        self._stopping.set()
        if self.arm in self.engine.on_timers_changed:
            self.engine.on_timers_changed.remove(self.arm)
        if self.scheduler.running:
            # Not wait=True: APScheduler would hold its job store lock while a running job re-arms (deadlock).
            self.scheduler.shutdown(wait=False)
        with self._waking, self._lock:  # a wake-up that was running has finished, re-arming included
            pass
