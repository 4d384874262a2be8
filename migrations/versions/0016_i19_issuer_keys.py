"""per-organisation signing keys (encrypted at rest), immutable issued credentials and signed status list
versions (issue 19)

Revision ID: 0016_i19
Revises: 0014_i16
Create Date: 2026-11-28 13:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_i19"
down_revision = "0016_i20"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "organisation_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name=op.f("fk_organisation_key_organisation_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_key")),
        sa.UniqueConstraint("organisation_id", "number", name="uq_organisation_key_number"),
    )
    with op.batch_alter_table("organisation_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_key_organisation_id"), ["organisation_id"], unique=False)
    op.create_table(
        "issued_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=300), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_hash", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=60), nullable=False),
        sa.Column("jwt", sa.Text(), nullable=False),
        sa.Column("body_061", sa.Text(), nullable=False),
        sa.Column("jwt_061", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["organisation.id"],
                                name=op.f("fk_issued_document_issuer_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_document")),
        sa.UniqueConstraint("kind", "subject", "number", name="uq_issued_document_version"),
    )
    with op.batch_alter_table("issued_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issued_document_issuer_id"), ["issuer_id"], unique=False)
    op.create_table(
        "status_list_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("encoded_list", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("jwt", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_list_version")),
        sa.UniqueConstraint("purpose", "number", name="uq_status_list_version_number"),
    )


def downgrade():
    op.drop_table("status_list_version")
    with op.batch_alter_table("issued_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_document_issuer_id"))
    op.drop_table("issued_document")
    with op.batch_alter_table("organisation_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_key_organisation_id"))
    op.drop_table("organisation_key")
