"""processing steps: a step removed from a working copy is only marked when a published version shows it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("processing_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("processing_step", schema=None) as batch_op:
        batch_op.drop_column("removed")
