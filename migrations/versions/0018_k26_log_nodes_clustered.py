"""passport log: on SQLite, the stored subtree hashes are kept in their primary key's order (WITHOUT ROWID)

A proof reads about 2·log₂ n nodes by (level, node_index). In a rowid table each was two B-tree descents (the
primary key's index, then the row), so a proof straight after a cold start read about 40 pages from disk at
1,000,000 entries. Kept in the key's order, each node is one descent and a node's neighbours share its page
(issue 26, point 3). PostgreSQL has no such option: nothing changes there.

Revision ID: 0018_k26
Revises: 0017_k17
Create Date: 2026-11-30 11:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018_k26"
down_revision = "0017_k17"
branch_labels = None
depends_on = None

COLUMNS = ("level INTEGER NOT NULL, node_index INTEGER NOT NULL, hash VARCHAR(64) NOT NULL, "
           "CONSTRAINT pk_passport_log_node PRIMARY KEY (level, node_index)")


def _rebuild(without_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TABLE passport_log_node_new ({COLUMNS}){' WITHOUT ROWID' if without_rowid else ''}")
    op.execute("INSERT INTO passport_log_node_new (level, node_index, hash) "
               "SELECT level, node_index, hash FROM passport_log_node ORDER BY level, node_index")
    op.execute("DROP TABLE passport_log_node")
    op.execute("ALTER TABLE passport_log_node_new RENAME TO passport_log_node")


def upgrade():
    _rebuild(without_rowid=True)


def downgrade():
    _rebuild(without_rowid=False)
