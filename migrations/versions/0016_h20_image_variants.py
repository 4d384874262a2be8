"""image variants made by a job: product_image.variants_ready (issue 20)

Existing pictures had their variants made in the upload request, so they are ready (server default true);
new uploads are written False and the ``products.image_variants`` job sets it.

Revision ID: 0016_h20
Revises: 0016_i19
Create Date: 2026-11-28 16:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_h20"
down_revision = "0016_i19"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variants_ready", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index(batch_op.f("ix_product_image_variants_ready"), ["variants_ready"], unique=False)


def downgrade():
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_image_variants_ready"))
        batch_op.drop_column("variants_ready")
