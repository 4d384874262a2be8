"""passport versions: the UNTP 0.7.0 form, its hash and signature

Revision ID: 0015_i18
Revises: 0014_i18
Create Date: 2026-11-28 10:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015_i18"
down_revision = "0014_i18"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("passport_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_070", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("content_hash_070", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("signature_070", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("passport_version", schema=None) as batch_op:
        batch_op.drop_column("signature_070")
        batch_op.drop_column("content_hash_070")
        batch_op.drop_column("credential_070")
