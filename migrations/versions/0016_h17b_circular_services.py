"""products' circular services structured: each service offered has its conditions per language, a price
(none: free of charge) and a currency, instead of one English text (issues 17 and 23)

Existing texts become the service's English conditions, with no price stated. Published versions keep the
snapshot they were published with (they are immutable); ``products.rules.circular_terms`` reads both forms.

Revision ID: 0016_h17b
Revises: 0016_h17
Create Date: 2026-11-28 16:55:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_h17b"
down_revision = "0016_h17"
branch_labels = None
depends_on = None

KINDS = ("repair", "take_back", "resale")
product = sa.table("product", sa.column("id", sa.Integer), sa.column("circular_services", sa.JSON))


def _load(value):
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def upgrade():
    connection = op.get_bind()
    for row in connection.execute(sa.select(product.c.id, product.c.circular_services)).all():
        services = _load(row.circular_services)
        changed = {}
        for kind in KINDS:
            if kind in services:
                value = services[kind]
                if isinstance(value, dict):
                    changed[kind] = value
                else:
                    text = str(value or "").strip()
                    changed[kind] = {"conditions": {"en": text} if text else {}, "price_minor": None,
                                     "currency": "EUR"}
        if changed != services:
            connection.execute(product.update().where(product.c.id == row.id).values(circular_services=changed))


def downgrade():
    connection = op.get_bind()
    for row in connection.execute(sa.select(product.c.id, product.c.circular_services)).all():
        services = _load(row.circular_services)
        old = {kind: ((value.get("conditions") or {}).get("en", "") if isinstance(value, dict) else str(value))
               for kind, value in services.items()}
        if old != services:
            connection.execute(product.update().where(product.c.id == row.id).values(circular_services=old))
