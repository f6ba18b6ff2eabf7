"""Indexes in the inbox's order (due first, no due date last): the first page of thousands of tasks to claim,
or of every open task, or of one region's, read from an index instead of sorting all of them

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The inbox's ORDER BY, as ``engine.inbox.tasks`` writes it; the expression must match for the index to serve.
ORDER = [sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"]


def upgrade() -> None:
    free = sa.text("assignee IS NULL")
    op.create_index("ix_inbox_free", "inbox_task", ["role", *ORDER], sqlite_where=free, postgresql_where=free)
    op.create_index("ix_inbox_order", "inbox_task", ORDER)
    # A region's list: without the order in it, SQLite took ix_inbox_free to avoid a sort and read every row of
    # the role to find one region's five.
    op.drop_index("ix_inbox_role_region", table_name="inbox_task")
    op.create_index("ix_inbox_role_region", "inbox_task", ["role", "region", *ORDER])


def downgrade() -> None:
    op.drop_index("ix_inbox_role_region", table_name="inbox_task")
    op.create_index("ix_inbox_role_region", "inbox_task", ["role", "region", "due_at"])
    op.drop_index("ix_inbox_order", table_name="inbox_task")
    op.drop_index("ix_inbox_free", table_name="inbox_task")
