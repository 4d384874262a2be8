"""Product search over published MSME products (the consumer catalogue uses the same port)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SearchField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, OptionalSelectField
from marketplace.lots.forms import CheckboxList, FacetList, ordered, short_values
from marketplace.products.models import RecycledOrigin
from marketplace.search import services
from marketplace.search.port import MAX_QUERY_LENGTH, SearchQuery, SearchResult
from marketplace.search.schema import PRODUCTS

PAGE_SIZE = 24
FACETS = ("msme", "recycled", "dyed", "fibre", "aimag")
SORTS = {"price": "price", "-price": "-price", "newest": "-published_at"}


class ProductSearchForm(FlaskForm):
    """``GET /products`` and ``GET /api/v1/products`` parameters."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search products"), validators=[Optional(), Length(max=MAX_QUERY_LENGTH)])
    msme = FacetList(_l("Maker"))
    recycled = CheckboxList(_l("Recycled content"), choices=[SelectChoice(r.value) for r in RecycledOrigin],
                            validators=[short_values])
    dyed = CheckboxList(_l("Dyed"), choices=[SelectChoice("yes"), SelectChoice("no")], validators=[short_values])
    fibre = FacetList(_l("Fibre"))
    aimag = FacetList(_l("Origin of the fibre"))
    price_min = FiniteDecimalField(_l("Price from"), places=2, validators=[Optional(), NumberRange(0, 1_000_000)])
    price_max = FiniteDecimalField(_l("Price to"), places=2, validators=[
        Optional(), NumberRange(0, 1_000_000),
        ordered("price_min", _l("The upper price limit is below the lower one."))])
    sort = OptionalSelectField(_l("Sort by"), default="", validators=[Optional()], choices=[
        SelectChoice("", _l("Best match")), SelectChoice("newest", _l("Newest first")),
        SelectChoice("price", _l("Price, low to high")), SelectChoice("-price", _l("Price, high to low")),
    ])
    page = BoundedIntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=10_000)])


def to_query(data: Mapping[str, Any], per_page: int = PAGE_SIZE) -> SearchQuery:
    q = (data.get("q") or "").strip()
    low, high = data.get("price_min"), data.get("price_max")
    ranges = {"price": (None if low is None else float(low), None if high is None else float(high))}
    return SearchQuery(
        text=q,
        filters={name: tuple(data.get(name) or ()) for name in FACETS if data.get(name)},
        ranges={k: v for k, v in ranges.items() if v != (None, None)},
        sort=SORTS.get(data.get("sort") or "") or (None if q else SORTS["newest"]),
        page=data.get("page") or 1,
        per_page=per_page,
    )


def find_products(data: Mapping[str, Any]) -> SearchResult:
    """Published products matching the validated form data of ``ProductSearchForm``."""
    return services.search(PRODUCTS, to_query(data))


def find_matching_ids(text: str, limit: int = 500) -> list[dict[str, Any]]:
    """Hits (best first) for a free-text query, for pages that filter further in the database."""
    return services.search(PRODUCTS, to_query({"q": text}, per_page=limit)).hits
