"""shop refunds: each refund line records the units it put back in stock (``restocked``), so a refund whose
unit was back already (a failed refund's, refunded again) no longer stands in for a later unit of the line

Upgrade: a line of a refund ticked "back in stock" is taken to have put back all its units, as the rule
before this revision counted it.

Revision ID: 0017_k17
Revises: 0016_j17
Create Date: 2026-11-29 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017_k17"
down_revision = "0016_j17"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("consumer_refund_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restocked", sa.Integer(), server_default="0", nullable=False))
    op.execute(sa.text(
        "UPDATE consumer_refund_line SET restocked = quantity"
        " WHERE refund_id IN (SELECT id FROM consumer_refund WHERE restock)"))
    with op.batch_alter_table("consumer_refund_line", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_consumer_refund_line_restocked_within_quantity"),
                                         "restocked >= 0 AND restocked <= quantity")


def downgrade():
    with op.batch_alter_table("consumer_refund_line", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_consumer_refund_line_restocked_within_quantity"), type_="check")
        batch_op.drop_column("restocked")
