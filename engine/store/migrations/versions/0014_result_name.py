"""A result keeps the region's name as it was when the region reported: renaming a region afterwards does not
rewrite results already ranked and announced

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("name", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.drop_column("name")
