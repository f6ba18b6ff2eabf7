"""The procedure library: drafts of bundles kept in the database, and each version's comment and parent variant

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("process_version", sa.Column("comment", sa.Text))
    op.add_column("process_version", sa.Column("parent_variant", sa.String(64)))
    op.create_table(
        "procedure_draft",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("base_version_id", sa.Integer, sa.ForeignKey("process_version.id")),
        sa.Column("parent_variant", sa.String(64)),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("saved_by", sa.String(64)),
        sa.Column("saved_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_version_id", sa.Integer, sa.ForeignKey("process_version.id")),
    )
    op.create_index("ix_procedure_draft_variant", "procedure_draft", ["variant"])


def downgrade() -> None:
    op.drop_index("ix_procedure_draft_variant", table_name="procedure_draft")
    op.drop_table("procedure_draft")
    # Not batch mode: recreating process_version on SQLite would break the instances' foreign keys to it.
    op.drop_column("process_version", "parent_variant")
    op.drop_column("process_version", "comment")
