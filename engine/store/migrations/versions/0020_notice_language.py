"""Notices and mails in the reader's language: a notice keeps its message and what it names (rendered when it is
read, in the reader's language), and an account keeps its holder's language (for mails)

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notification", sa.Column("message", sa.String(32)))
    op.add_column("notification", sa.Column("params", sa.JSON()))
    op.add_column("user_account", sa.Column("language", sa.String(8)))


def downgrade() -> None:
    op.drop_column("user_account", "language")
    op.drop_column("notification", "params")
    op.drop_column("notification", "message")
