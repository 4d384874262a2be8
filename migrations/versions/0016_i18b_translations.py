"""translations of user-entered texts shown on passports: a processing step's method note (its source
of the figures) and the reason for a certificate's suspension or revocation, per locale

Revision ID: 0016_i18b
Revises: 0014_i16
Create Date: 2026-11-28 13:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_i18b"
down_revision = "0016_i17"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("processing_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_note_translations", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason_translations", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_column("status_reason_translations")
    with op.batch_alter_table("processing_step", schema=None) as batch_op:
        batch_op.drop_column("source_note_translations")
