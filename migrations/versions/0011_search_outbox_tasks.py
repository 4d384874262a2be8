"""Search outbox: the Meilisearch task that carries a sent change, confirmed later by the worker.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 07:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("search_outbox") as batch:
        batch.add_column(sa.Column("task_uid", sa.BigInteger(), nullable=True))
        batch.create_index("ix_search_outbox_task_uid", ["task_uid"])


def downgrade():
    with op.batch_alter_table("search_outbox") as batch:
        batch.drop_index("ix_search_outbox_task_uid")
        batch.drop_column("task_uid")
