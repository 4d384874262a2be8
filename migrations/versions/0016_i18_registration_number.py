"""organisations: state registration number (shown in the passports as registeredId)

Revision ID: 0016_i18
Revises: 0015_i18
Create Date: 2026-11-28 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_i18"
down_revision = "0015_i18"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_number", sa.String(length=20), nullable=False,
                                      server_default=""))


def downgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("registration_number")
