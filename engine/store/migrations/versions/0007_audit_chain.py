"""The audit log as a hash chain (each entry holds its hash and the one before it), the entries found chained
in id order; REPLACE refused on SQLite and TRUNCATE on PostgreSQL, as UPDATE and DELETE already were

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from engine.store import chain
from engine.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REFUSE = "SELECT RAISE(ABORT, 'audit_log is append-only')"

#: The columns the chain covers, as they are at this revision (not the model, which may grow later).
AUDIT_LOG = sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", UTCDateTime),
                     sa.column("actor", sa.String), sa.column("action", sa.String),
                     sa.column("instance_id", sa.Integer), sa.column("task_id", sa.String),
                     sa.column("bpmn_id", sa.String), sa.column("data", sa.JSON),
                     sa.column("prev_hash", sa.String), sa.column("hash", sa.String))


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        _drop_sqlite_triggers("no_update", "no_delete")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    _chain_existing_entries()
    with op.batch_alter_table("audit_log") as batch:  # SQLite: a new table, without the old triggers
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    if postgresql:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        op.execute("""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""")
    else:
        _create_sqlite_triggers()
        # REPLACE and INSERT OR REPLACE delete the row they replace without firing DELETE triggers (unless
        # recursive_triggers is on): refuse an insert whose id is taken before the conflict is resolved.
        op.execute(f"""CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
                       WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) BEGIN {REFUSE}; END""")


def _chain_existing_entries() -> None:
    """Chain what is there in id order, as ``chain.digest`` does for new entries."""
    connection = op.get_bind()
    prev = chain.GENESIS
    rows = connection.execute(sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id)).all()
    for row in rows:
        digest = chain.digest(row, prev)
        connection.execute(AUDIT_LOG.update().where(AUDIT_LOG.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    else:
        _drop_sqlite_triggers("no_update", "no_delete", "no_replace")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    if postgresql:
        # Ids were given by the chain, not the sequence: move it past them for the inserts that use it again.
        op.execute("""SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST(MAX(id), 1),
                                    MAX(id) IS NOT NULL) FROM audit_log""")
    else:
        _create_sqlite_triggers()


def _drop_sqlite_triggers(*names: str) -> None:
    for name in names:
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_{name}")


def _create_sqlite_triggers() -> None:
    """0001's triggers: UPDATE and DELETE refused."""
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log BEGIN {REFUSE}; END")
