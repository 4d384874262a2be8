"""passport log: full tiles stored whole (256 subtree hashes in one row), so an inclusion proof reads about
one row per tile level instead of about 20 scattered subtree hashes (issue 26, point 3)

Upgrade creates ``passport_log_tile`` and fills it with every full tile of the stored subtree hashes (levels
0, 8, 16, …, 256 consecutive hashes each, and the 254 hashes inside each). Downgrade drops it: the nodes hold the same hashes.

Revision ID: 0018_k26
Revises: 0017_k17
Create Date: 2026-11-30 14:40:00

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018_k26"
down_revision = "0017_k17"
branch_labels = None
depends_on = None

HEIGHT, WIDTH = 8, 256


def _interior(hashes):
    """The 254 subtree hashes inside a full tile above its 256 (as tiles.interior_levels)."""
    level = [hashes[at:at + 32] for at in range(0, len(hashes), 32)]
    out = []
    while len(level) > 2:
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
        out += level
    return b"".join(out)


def upgrade():
    tile = op.create_table(
        "passport_log_tile",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("interior", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index", name=op.f("pk_passport_log_tile")),
    )
    connection = op.get_bind()
    chunk = 1000  # tiles read and written at a time
    level = 0
    while True:
        last = connection.execute(sa.text("SELECT max(node_index) FROM passport_log_node WHERE level = :level"),
                                  {"level": level * HEIGHT}).scalar()
        if last is None or last < WIDTH - 1:
            break  # no full tile at this level, nor above it
        for number in range(0, last // WIDTH + 1, chunk):
            found = dict(connection.execute(sa.text(
                "SELECT node_index, hash FROM passport_log_node WHERE level = :level AND node_index >= :first"
                " AND node_index < :end"),
                {"level": level * HEIGHT, "first": number * WIDTH, "end": (number + chunk) * WIDTH}).all())
            rows = []
            for tile_index in range(number, number + chunk):
                wanted = range(tile_index * WIDTH, (tile_index + 1) * WIDTH)
                if not all(index in found for index in wanted):
                    continue  # not full, or a stored hash missing: ``passports verify`` names it
                hashes = b"".join(bytes.fromhex(found[index]) for index in wanted)
                rows.append({"level": level, "tile_index": tile_index, "hashes": hashes,
                             "interior": _interior(hashes)})
            if rows:
                op.bulk_insert(tile, rows)
        level += 1


def downgrade():
    op.drop_table("passport_log_tile")
