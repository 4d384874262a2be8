"""factory_boy factories of marketplace/search/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

from marketplace import models as m
from tests.factory_base import Base


class SearchOutboxFactory(Base):
    class Meta:
        model = m.SearchOutbox

    index_name = "lots"
    key = "1"
