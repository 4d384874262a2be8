"""products: GTINs stored as GTIN-14

A GTIN typed as 8, 12 or 13 digits is padded with leading zeros to the 14 digits a GS1 Digital Link
carries (the check digit stays right), so that the resolver finds it. A value that is not a GTIN of
those lengths, or whose 14-digit form another product already holds, is left as it is.

Revision ID: 0014_i18
Revises: 0013
Create Date: 2026-11-28 10:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014_i18"
down_revision = "0014"
branch_labels = None
depends_on = None

product = sa.table("product", sa.column("id", sa.Integer), sa.column("gtin", sa.String(14)))


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.select(product.c.id, product.c.gtin).where(product.c.gtin.is_not(None))).all()
    taken = {gtin for _, gtin in rows}
    for product_id, gtin in rows:
        if gtin.isdigit() and len(gtin) in (8, 12, 13) and gtin.zfill(14) not in taken:
            bind.execute(product.update().where(product.c.id == product_id).values(gtin=gtin.zfill(14)))
            taken.add(gtin.zfill(14))


def downgrade():
    pass  # GTIN-14 is a valid form of every GTIN: nothing to undo
