"""The audit log's hash chain: each entry holds the hash of its content and of the entry before it.

``audit.record`` queues an entry on its session; the entries are written when the transaction commits,
after everything else it writes, under the chain lock (the one writer of SQLite, or a transaction-scoped
advisory lock on PostgreSQL). Each takes the next id after the last committed entry and links to its hash,
so ids follow commit order with no gaps, and the lock is held only from there to the commit: never while
the transaction waits for a row another transaction holds, which could otherwise deadlock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from . import direct
from .models import AuditEntry

#: The ``prev_hash`` of the first entry.
GENESIS = "0" * 64
#: Session.info keys: the entries waiting for the commit, and the mark of a session that seals them.
QUEUE = "kaohe_audit_queue"
SEALS = "kaohe_audit_chain"


def install(writes: sessionmaker) -> None:
    """Seal the queued audit entries of every session ``writes`` makes, when it commits."""
    event.listen(writes, "before_commit", _seal)
    event.listen(writes, "after_soft_rollback", _forget)


def queue(session: Session, entry: AuditEntry) -> None:
    """Write ``entry`` when the session's transaction commits; nothing if it (or its savepoint) rolls back."""
    if not session.info.get(SEALS):
        raise TypeError("audit entries are written in a Store.write() transaction")
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(QUEUE, []).append((transaction, entry))


def digest(entry, prev_hash: str) -> str:
    """SHA-256 of the previous hash and the content of ``entry`` (an AuditEntry or a row of its columns).
    Every stored hash depends on this format: changing it takes a migration that chains the log again."""
    at = entry.at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    content = [entry.id, at, entry.actor, entry.action, entry.instance_id, entry.task_id, entry.bpmn_id,
               entry.data]
    body = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass
class Break:
    """The first entry whose link does not hold, and why."""

    id: int
    reason: str


@dataclass
class Report:
    """What ``verify`` found: how many entries, the last one's id and hash, the first broken link."""

    entries: int
    head_id: int | None
    head_hash: str | None
    broken: Break | None


def verify(session: Session, anchor: tuple[int, str] | None = None) -> Report:
    """Walk the chain in id order; ``anchor`` (id, hash), a head recorded earlier, must still be there."""
    previous: AuditEntry | None = None
    count = 0
    # Streamed (a server-side cursor on PostgreSQL): one snapshot of the whole log, never all of it in memory.
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=2000))
    try:
        for entry in entries:
            broken = _check(entry, previous)
            if broken is not None:
                return Report(count, previous and previous.id, previous and previous.hash, broken)
            previous, count = entry, count + 1
    finally:
        entries.close()
    head_id, head_hash = (previous.id, previous.hash) if previous else (None, None)
    if anchor is not None:
        found = session.scalar(select(AuditEntry.hash).where(AuditEntry.id == anchor[0]))
        if found != anchor[1]:
            what = "不存在 (is missing)" if found is None else f"的哈希为 {found} (has another hash)"
            return Report(count, head_id, head_hash,
                          Break(anchor[0], f"记录的锚点 {anchor[0]} {what}: the log was cut or rewritten"))
    return Report(count, head_id, head_hash, None)


def _check(entry: AuditEntry, previous: AuditEntry | None) -> Break | None:
    if entry.hash != digest(entry, entry.prev_hash or ""):
        return Break(entry.id, "内容与其哈希不符，记录被改动 (its content does not match its hash: the entry "
                               "was changed)")
    expected = previous.hash if previous else GENESIS
    if entry.prev_hash == expected:
        return None
    if previous is None:
        return Break(entry.id, "它之前的记录已被删除 (the entries before it were removed)")
    if entry.id != previous.id + 1:
        return Break(entry.id, f"记录 {previous.id + 1}–{entry.id - 1} 已被删除 (entries {previous.id + 1}"
                               f" to {entry.id - 1} were removed)")
    return Break(entry.id, f"前一条记录 {previous.id} 在其后被改动或替换 (the entry before it, {previous.id}, "
                           f"was changed or replaced after this one was written)")


def _seal(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get(QUEUE):
        return  # a savepoint's entries are sealed with its outermost transaction
    pending = [entry for _, entry in session.info.pop(QUEUE)]
    session.flush()  # everything else first: the chain lock is the last thing this transaction waits for
    last_id, prev = _lock_head(session)
    rows = []
    for entry in pending:
        if entry.data is not None:  # hashed as it will be read back: JSON's types and key order
            entry.data = json.loads(json.dumps(entry.data))
        last_id += 1
        entry.id, entry.prev_hash = last_id, prev
        entry.hash = prev = digest(entry, prev)
        rows.append({column: getattr(entry, column) for column in COLUMNS})
    _INSERT.rows(session, rows)  # on the driver: the ORM's unit of work, or even Core's, costs more than this


#: The columns of an entry, all given by the chain.
COLUMNS = [column.key for column in AuditEntry.__table__.columns]
_INSERT = direct.Insert(AuditEntry.__table__, COLUMNS)
# Keyed by schema: each Kaohe database (and each test schema) has its own chain.
_LOCK = direct.Statement(text("SELECT pg_advisory_xact_lock(hashtext('kaohe.audit_log.' || current_schema()))"))
_HEAD = direct.Statement(text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"))


def _lock_head(session: Session) -> tuple[int, str]:
    """Take the chain lock until the transaction ends; the last committed entry's id and hash."""
    if session.get_bind().dialect.name == "postgresql":
        _LOCK.one(session, {})
    # SQLite: a write transaction began with BEGIN IMMEDIATE and is already the only writer. PostgreSQL: this
    # statement's snapshot is taken after the lock, so it sees the entries of the lock's previous holder.
    head = _HEAD.one(session, {})
    return (head[0], head[1]) if head is not None else (0, GENESIS)


def _forget(session: Session, rolled_back) -> None:
    """Drop the entries queued in a transaction (or a savepoint, or one nested in it) that rolled back."""
    pending = session.info.get(QUEUE)
    if pending:
        session.info[QUEUE] = [(t, e) for t, e in pending if not _within(t, rolled_back)]


def _within(transaction, ancestor) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
