"""quote requests on a specification name the fibre state, season, certification tier and price basis

All four are optional (None: any); existing requests keep matching as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 07:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fibre_state', sa.Enum('greasy', 'scoured', 'dehaired', name='fibrestate',
                                                             native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('season', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tier', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('price_basis', sa.Enum('greasy', 'clean', name='pricebasis',
                                                             native_enum=False, length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('quote_request', schema=None) as batch_op:
        batch_op.drop_column('price_basis')
        batch_op.drop_column('tier')
        batch_op.drop_column('season')
        batch_op.drop_column('fibre_state')
