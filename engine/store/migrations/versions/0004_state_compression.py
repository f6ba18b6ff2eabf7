"""Workflow state compressed with lz4 on PostgreSQL

Every action rewrites an instance's state (tens of KB of JSON); PostgreSQL's default pglz compression
of that value costs more CPU than lz4 for about the same size. Other databases are left alone.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.exec_driver_sql(
            "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)").scalar():
        op.execute("ALTER TABLE instance ALTER COLUMN state SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE instance ALTER COLUMN state SET COMPRESSION pglz")
