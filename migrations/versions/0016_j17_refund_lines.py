"""shop refunds by line: a refund names the parcel's lines and quantities it paid back (a return of one of two
sweaters), a parcel may have several refunds (lines, then the rest; a failed refund retried), and each refund
records the request that made it, so a double submit is one refund (issue 17)

Upgrade gives every refund already made (one whole parcel each) its refund row and lines.

Revision ID: 0016_j17
Revises: 0016_h26
Create Date: 2026-11-28 20:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_j17"
down_revision = "0016_h26"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "consumer_refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=60), nullable=False),
        sa.Column("shipping_minor", sa.Integer(), nullable=False),
        sa.Column("restock", sa.Boolean(), nullable=False),
        sa.Column("retry_of_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("shipping_minor >= 0", name=op.f("ck_consumer_refund_shipping_not_negative")),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"], name=op.f("fk_consumer_refund_payment_id_payment")),
        sa.ForeignKeyConstraint(["retry_of_id"], ["consumer_refund.id"],
                                name=op.f("fk_consumer_refund_retry_of_id_consumer_refund")),
        sa.ForeignKeyConstraint(["shipment_id"], ["consumer_shipment.id"],
                                name=op.f("fk_consumer_refund_shipment_id_consumer_shipment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_refund")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_consumer_refund_payment_id")),
        sa.UniqueConstraint("request_key", name=op.f("uq_consumer_refund_request_key")),
        sa.UniqueConstraint("retry_of_id", name=op.f("uq_consumer_refund_retry_of_id")),
    )
    with op.batch_alter_table("consumer_refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consumer_refund_shipment_id"), ["shipment_id"], unique=False)
    op.create_table(
        "consumer_refund_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_consumer_refund_line_amount_not_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_consumer_refund_line_quantity_positive")),
        sa.ForeignKeyConstraint(["line_id"], ["consumer_order_line.id"],
                                name=op.f("fk_consumer_refund_line_line_id_consumer_order_line")),
        sa.ForeignKeyConstraint(["refund_id"], ["consumer_refund.id"],
                                name=op.f("fk_consumer_refund_line_refund_id_consumer_refund")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_refund_line")),
        sa.UniqueConstraint("refund_id", "line_id", name="uq_consumer_refund_line_refund_line"),
    )
    with op.batch_alter_table("consumer_refund_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consumer_refund_line_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consumer_refund_line_refund_id"), ["refund_id"], unique=False)
    # The refunds made so far each paid back one whole parcel: its lines, and its shipping.
    op.execute(
        "INSERT INTO consumer_refund (payment_id, shipment_id, request_key, shipping_minor, restock, created_at) "
        "SELECT p.id, p.consumer_shipment_id, 'parcel-' || p.id, s.shipping_minor, "
        "CASE WHEN s.status = 'cancelled' THEN TRUE ELSE FALSE END, p.created_at "
        "FROM payment p JOIN consumer_shipment s ON s.id = p.consumer_shipment_id WHERE p.kind = 'refund'"
    )
    op.execute(
        "INSERT INTO consumer_refund_line (refund_id, line_id, quantity, amount_minor) "
        "SELECT r.id, l.id, l.quantity, l.quantity * l.unit_price_minor "
        "FROM consumer_refund r JOIN consumer_order_line l ON l.shipment_id = r.shipment_id"
    )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_payment_consumer_shipment_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_payment_consumer_shipment_id"), ["consumer_shipment_id"], unique=False)


def downgrade():
    # Before 0016_j17 a parcel had at most one refund, of the whole parcel. A parcel refunded twice (lines, then
    # the rest; or a failed refund retried) or refunded in part cannot be expressed there: refuse before
    # changing anything, rather than fail half-way on the unique constraint or turn a part into the whole.
    bind = op.get_bind()
    twice = bind.execute(sa.text(
        "SELECT count(*) FROM (SELECT consumer_shipment_id FROM payment WHERE consumer_shipment_id IS NOT NULL "
        "GROUP BY consumer_shipment_id HAVING count(*) > 1) AS twice"
    )).scalar()
    partial = bind.execute(sa.text(
        "SELECT count(*) FROM consumer_refund r WHERE "
        "(SELECT coalesce(sum(quantity), 0) FROM consumer_refund_line WHERE refund_id = r.id) < "
        "(SELECT coalesce(sum(quantity), 0) FROM consumer_order_line WHERE shipment_id = r.shipment_id)"
    )).scalar()
    if twice or partial:
        raise RuntimeError(
            f"Cannot downgrade below 0016_j17: {twice} parcel(s) have more than one refund payment and {partial} "
            "refund(s) pay back part of a parcel; the earlier schema holds one whole-parcel refund per parcel. "
            "Nothing was changed; restore the backup taken before upgrading instead."
        )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_consumer_shipment_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_payment_consumer_shipment_id"), ["consumer_shipment_id"])
    with op.batch_alter_table("consumer_refund_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumer_refund_line_refund_id"))
        batch_op.drop_index(batch_op.f("ix_consumer_refund_line_line_id"))
    op.drop_table("consumer_refund_line")
    with op.batch_alter_table("consumer_refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumer_refund_shipment_id"))
    op.drop_table("consumer_refund")
