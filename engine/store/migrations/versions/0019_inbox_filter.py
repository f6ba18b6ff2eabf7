"""Inbox filters a user saves under a name

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_filter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "name"),
    )
    op.create_index("ix_inbox_filter_user_id", "inbox_filter", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_filter_user_id", "inbox_filter")
    op.drop_table("inbox_filter")
