"""The database schema: typed SQLAlchemy 2 models. Changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, String, Text, TypeDecorator, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .state import StateColumn


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC on every dialect, returned as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class ProcessVersion(Base):
    """One deployed bundle: its files, its manifest and its parsed process definitions, stored once."""

    __tablename__ = "process_version"
    __table_args__ = (
        UniqueConstraint("variant", "version"),
        # At most one current version per variant (migration 0010): new campaigns start on it.
        Index("ux_version_current", "variant", unique=True, sqlite_where=text("is_current"),
              postgresql_where=text("is_current")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    manifest: Mapped[dict[str, Any]]
    scheme: Mapped[dict[str, Any]]
    files: Mapped[dict[str, Any]]  # name -> text of every BPMN, DMN, form and scheme file
    specs: Mapped[str] = mapped_column(Text)  # serialized SpiffWorkflow process specs (JSON)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    comment: Mapped[str | None] = mapped_column(Text)  # why it was published (migration 0015)
    parent_variant: Mapped[str | None] = mapped_column(String(64))  # the variant it was derived from


class ProcedureDraft(Base):
    """A bundle being edited in the library: every file as text, saved with a revision so that a stale copy
    is refused (migration 0015). Published, it becomes a ProcessVersion and stays as the record of it."""

    __tablename__ = "procedure_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    parent_variant: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[dict[str, Any]]  # name -> text
    revision: Mapped[int] = mapped_column(default=1)
    saved_by: Mapped[str | None] = mapped_column(String(64))
    saved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    published_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))


class Region(Base):
    """An assessed region (GB/T 2260 code); an administrator edits this table."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    region_set: Mapped[str] = mapped_column(String(64), index=True)


class Role(Base):
    """A role a user can hold; the codes are what the bundles' lanes map to."""

    __tablename__ = "role"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(String(8))  # migration 0020: its last choice (zh, en); mails follow


class RoleAssignment(Base):
    """A user holds a role for one procedure variant and one region (none: all) and, for member units, one unit."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "role", "variant", "region", "unit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(ForeignKey("role.code"))
    variant: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(12))
    unit: Mapped[str | None] = mapped_column(String(64))


class Campaign(Base):
    """One procedure variant run for one assessment year over a set of regions."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    variant: Mapped[str] = mapped_column(String(64))
    year: Mapped[int]
    label: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, suspended, cancelled
    regions: Mapped[list[Any]]
    # How many regions it assesses (migration 0021): what every region's report is compared with, read without
    # parsing the list. NULL on a row written before; ``results.expected`` counts the list then.
    region_count: Mapped[int | None]
    started_at: Mapped[datetime]
    started_by: Mapped[str | None] = mapped_column(String(64))
    # The last suspend, resume or cancel (migration 0017): why, when and by whom; the audit log has them all.
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
    status_changed_by: Mapped[str | None] = mapped_column(String(64))


class Instance(Base):
    """A running process: SpiffWorkflow's serialized state plus the columns we query by."""

    __tablename__ = "instance"
    __table_args__ = (Index("ix_instance_campaign_region", "campaign_id", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default="running")
    state: Mapped[str] = mapped_column(StateColumn)
    serializer_version: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InboxTask(Base):
    """One row per READY user task, kept in step with the instance state in the same transaction."""

    __tablename__ = "inbox_task"
    __table_args__ = (
        Index("ix_inbox_role_region", "role", "region", text("(due_at IS NULL)"), "due_at", "created_at", "id"),
        Index("ix_inbox_campaign", "campaign_id", "bpmn_id"),
        Index("ix_inbox_assignee", "assignee"),
        # In the inbox's order (migration 0006): a region's tasks, the tasks to claim of a role, every task.
        Index("ix_inbox_free", "role", text("(due_at IS NULL)"), "due_at", "created_at", "id",
              sqlite_where=text("assignee IS NULL"), postgresql_where=text("assignee IS NULL")),
        Index("ix_inbox_order", text("(due_at IS NULL)"), "due_at", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    variant: Mapped[str] = mapped_column(String(64))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(12))
    unit: Mapped[str | None] = mapped_column(String(64))
    form: Mapped[str | None] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only: who did what, when, to which instance and task, with the data submitted.

    Chained (``engine/store/chain.py``): ``hash`` covers the entry's content and ``prev_hash``, the hash of the
    entry before it; ids are given in commit order under the chain lock, not by the database.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    instance_id: Mapped[int | None]
    task_id: Mapped[str | None] = mapped_column(String(36))
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any] | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Message(Base):
    """The outbox: a message one instance threw for another, delivered in its own transaction."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_pending", "target_id", "delivered_at"),
                      # a campaign's catch of what every region sends counts the senders (migration 0008)
                      Index("ix_message_gather", "target_id", "name", "delivered_at", "source_id"),
                      # the scheduler's sweep of what is left undelivered (migration 0011)
                      Index("ix_message_due", "delivered_at", "failed_at", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    # Delivery by the scheduler's sweep (engine/messages.py): tries so far, when to try next, why the last failed;
    # ``failed_at`` once it was given up and became an incident.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None]


class MessageTally(Base):
    """How many messages of one name a gathering campaign instance was sent and has not caught (migration 0021):
    a region's report compares it with the campaign's regions instead of counting the senders' rows, so that
    reporting stays as cheap at the 2,850th region as at the first. Only a hint: the senders are counted
    exactly once it says all may have sent (``engine/running/results.py``)."""

    __tablename__ = "message_tally"

    target_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    sent: Mapped[int]


class Incident(Base):
    """Running an instance failed: the instance stays at its last good state until an administrator acts.

    One open incident per instance; a repeated failure counts another attempt on the same row."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_open", "resolved_at", "instance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    kind: Mapped[str] = mapped_column(String(16))  # expression | limit | message | timer | error
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    element: Mapped[str | None] = mapped_column(String(200))  # the element's name, for people
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    last_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(String(16))  # retried | cancelled
    reason: Mapped[str | None] = mapped_column(Text)


class Result(Base):
    """A region's reported result in a campaign; ranked, with its consequences, once every region has reported."""

    __tablename__ = "result"
    __table_args__ = (Index("ix_result_rank", "campaign_id", "rank", "region"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    region: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))  # the region's name when it reported (migration 0014)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    score: Mapped[str] = mapped_column(String(32))  # the exact decimal as reported ("89.5")
    grade: Mapped[str | None] = mapped_column(String(32))
    vetoed: Mapped[bool] = mapped_column(default=False)
    veto_items: Mapped[list[Any] | None]
    rank: Mapped[int | None]
    consequences: Mapped[dict[str, Any] | None]  # {commended: true, must_rectify: false, ...} once ranked
    reported_at: Mapped[datetime]


class DryRun(Base):
    """One dry run of a procedure draft (migration 0016): what was asked, and the report or why it failed.
    Only the last few of each draft are kept (``engine.running.dryrun_runs.KEEP``)."""

    __tablename__ = "dry_run"
    __table_args__ = (Index("ix_dry_run_draft", "draft_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("procedure_draft.id", ondelete="CASCADE"))  # discarded: gone
    draft_revision: Mapped[int | None]  # the draft's revision that was run
    year: Mapped[int]
    request: Mapped[dict[str, Any]]  # {year, regions, seed, fixed}
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed
    report: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class CalendarDay(Base):
    """An administrator's correction to the holiday data: a day off, or a working weekend day (调休)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "holiday" | "workday"
    name: Mapped[str | None] = mapped_column(String(100))


class Timer(Base):
    """A BPMN timer: due time in UTC; firing it is claimed row by row. Waiting while neither ``fired_at`` nor
    ``cancelled_at`` is set; cancelled when it never fired because its task ended first (a boundary timer whose
    task was completed or cancelled, an event-based gateway's timer when a message came first)."""

    __tablename__ = "timer"
    __table_args__ = (UniqueConstraint("instance_id", "task_id"),
                      Index("ix_timer_due", "fired_at", "cancelled_at", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # timeDate | timeDuration | timeCycle
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Reminder(Base):
    """A reminder or escalation step sent for a task: the unique key makes it happen once."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("task_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(32))  # e.g. before-7d, before-1d, due, overdue, escalate
    sent_at: Mapped[datetime]


class Notification(Base):
    """An in-app notice for one user."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    task_id: Mapped[str | None] = mapped_column(String(36))
    instance_id: Mapped[int | None]
    read_at: Mapped[datetime | None]
    # Migration 0018: what a notice is about, so that the notification centre groups the notices of one campaign
    # and step, and when a reminder or escalation went out in the day's digest mail (NULL: not yet).
    campaign_id: Mapped[int | None]
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    step_name: Mapped[str | None] = mapped_column(String(200))
    mailed_at: Mapped[datetime | None]
    # Migration 0020: the message (engine/records/notices.py) and what it names, rendered when read, in the
    # reader's language; NULL on older notices, which show their title and body as written.
    message: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict[str, Any] | None]


class InboxFilter(Base):
    """A filter of the inbox a user saved under a name (migration 0019): its query string, checked when saved."""

    __tablename__ = "inbox_filter"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]


class Mail(Base):
    """The mail outbox: a message to send over SMTP, retried with back-off until sent or given up."""

    __tablename__ = "mail"
    __table_args__ = (Index("ix_mail_pending", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_addr: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # given up: shown to administrators
    last_error: Mapped[str | None] = mapped_column(Text)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))


class LoginState(Base):
    """When one account last signed in and changed its password (failures are counted in SignInThrottle)."""

    __tablename__ = "login_state"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class SignInThrottle(Base):
    """Failed sign-ins over a short window for one account name ("user:<name>", known or not) or one client
    address ("addr:<address>"), and how long it is locked; a row is dropped once ``expires_at`` has passed."""

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    refused: Mapped[int] = mapped_column(default=0)  # attempts refused while the address was locked, unaudited
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebSession(Base):
    """A signed-in browser: its cookie holds a random id, of which only the SHA-256 is kept here."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class TaskDraft(Base):
    """Form data a user saved for a ready task without submitting it."""

    __tablename__ = "task_draft"
    __table_args__ = (UniqueConstraint("task_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    saved_at: Mapped[datetime]


class EvidenceFile(Base):
    """An uploaded supporting document (佐证材料): its content lives in the data folder under its SHA-256."""

    __tablename__ = "evidence_file"
    __table_args__ = (Index("ix_evidence_instance", "instance_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    uploader: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
