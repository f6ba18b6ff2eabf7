"""An index on the inbox's assignee: "my tasks" without reading every open task

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_assignee", "inbox_task", ["assignee"])


def downgrade() -> None:
    op.drop_index("ix_inbox_assignee", table_name="inbox_task")
