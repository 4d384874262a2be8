"""passport log: stored subtree hashes (proofs without reading every leaf); the old hash chain removed

The Merkle log (0016_i19log) replaced the hash-chained log; its two tables were still written beside it.
Upgrade drops them and computes every perfect subtree hash of the Merkle log from its leaves.
Downgrade recreates the two chain tables empty (the chain is not rebuilt) and drops the nodes.

Revision ID: 0016_h26
Revises: 0016_i19
Create Date: 2026-11-28 17:10:00

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_h26"
down_revision = "0016_h17b"
branch_labels = None
depends_on = None


def _nodes(leaf_hashes):
    """(level, index, hash) of every perfect subtree, as merkle.Frontier.append makes them."""
    frontier = []
    for position, leaf in enumerate(leaf_hashes):
        frontier.append((0, leaf))
        yield 0, position, leaf
        while len(frontier) > 1 and frontier[-1][0] == frontier[-2][0]:
            (height, left), (_, right) = frontier[-2], frontier[-1]
            value = hashlib.sha256(b"\x01" + left + right).digest()
            frontier[-2:] = [(height + 1, value)]
            yield height + 1, position >> (height + 1), value


def upgrade():
    node = op.create_table(
        "passport_log_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_passport_log_node")),
    )
    connection = op.get_bind()
    hashes = [bytes.fromhex(value) for value in connection.execute(
        sa.text("SELECT leaf_hash FROM passport_log_leaf ORDER BY leaf_index")).scalars()]
    rows = [{"level": level, "node_index": index, "hash": value.hex()} for level, index, value in _nodes(hashes)]
    for start in range(0, len(rows), 5000):
        op.bulk_insert(node, rows[start:start + 5000])
    op.drop_table("passport_log_entry")
    op.drop_table("passport_log_head")


def downgrade():
    op.create_table(
        "passport_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_log_head")),
    )
    op.create_table(
        "passport_log_entry",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("passport_public_id", sa.String(length=40), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("appended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["passport_version.id"],
                                name=op.f("fk_passport_log_entry_version_id_passport_version")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_passport_log_entry")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_passport_log_entry_entry_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_passport_log_entry_prev_hash")),
        sa.UniqueConstraint("version_id", name=op.f("uq_passport_log_entry_version_id")),
    )
    op.drop_table("passport_log_node")
