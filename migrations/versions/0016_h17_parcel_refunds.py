"""shop refunds parcel by parcel: a refund names the parcel it pays back (at most one per parcel), and a
parcel can be cancelled before it ships (issue 17)

Revision ID: 0016_h17
Revises: 0016_i19
Create Date: 2026-11-28 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_h17"
down_revision = "0016_h20"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consumer_shipment_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_payment_consumer_shipment_id"), ["consumer_shipment_id"])
        batch_op.create_foreign_key(batch_op.f("fk_payment_consumer_shipment_id_consumer_shipment"),
                                    "consumer_shipment", ["consumer_shipment_id"], ["id"])
    with op.batch_alter_table("consumer_shipment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    # ``status`` is a plain string (enums are checked by the application): "cancelled" needs no DDL.


def downgrade():
    with op.batch_alter_table("consumer_shipment", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payment_consumer_shipment_id_consumer_shipment"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_payment_consumer_shipment_id"), type_="unique")
        batch_op.drop_column("consumer_shipment_id")
