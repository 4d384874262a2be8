"""passport Merkle log: leaves, the tree's frontier, signed checkpoints

Revision ID: 0016_i19log
Revises: 0014_i16
Create Date: 2026-11-28 13:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_i19log"
down_revision = "0016_i18b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "passport_log_leaf",
        sa.Column("leaf_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("passport_public_id", sa.String(length=40), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["passport_version.id"],
                                name=op.f("fk_passport_log_leaf_version_id_passport_version")),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_passport_log_leaf")),
        sa.UniqueConstraint("version_id", name=op.f("uq_passport_log_leaf_version_id")),
    )
    op.create_index(op.f("ix_passport_log_leaf_passport_public_id"), "passport_log_leaf",
                    ["passport_public_id"], unique=False)
    op.create_table(
        "passport_log_tree",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_log_tree")),
    )
    op.create_table(
        "passport_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_checkpoint")),
    )
    op.create_index(op.f("ix_passport_checkpoint_tree_size"), "passport_checkpoint", ["tree_size"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_passport_checkpoint_tree_size"), table_name="passport_checkpoint")
    op.drop_table("passport_checkpoint")
    op.drop_table("passport_log_tree")
    op.drop_index(op.f("ix_passport_log_leaf_passport_public_id"), table_name="passport_log_leaf")
    op.drop_table("passport_log_leaf")
