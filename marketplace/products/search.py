"""The products index: its spec, a published product's search document, which changes make documents
stale, and the product search (``GET /products`` and ``GET /api/v1/products``).

Registered with the search package by ``create_app`` (``SOURCE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, selectinload
from wtforms import SearchField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, OptionalSelectField
from marketplace.lots.forms import CheckboxList, FacetList, ordered, short_values
from marketplace.lots.models import Lot
from marketplace.money import from_minor
from marketplace.organisations.models import Organisation
from marketplace.products.models import Product, ProductSource, RecycledOrigin
from marketplace.search import engine
from marketplace.search.port import MAX_QUERY_LENGTH, Document, IndexSpec, SearchQuery, SearchResult
from marketplace.search.sources import IndexSource, batched

PRODUCTS = IndexSpec(
    name="products",
    searchable=("names", "sku", "msme_name", "fibres", "aimag_names", "soum_names", "descriptions"),
    facets=("msme", "recycled", "dyed", "fibre", "aimag"),
    numbers=("price", "recycled_pct", "published_at"),
    sortable=("price", "published_at"),
    place_fields=("aimag_names", "soum_names"),
    recency="published_at",
)


def _published_snapshot(product: Product) -> dict[str, Any] | None:
    """What consumers see: the published version's frozen snapshot (an edit in progress is not public)."""
    for version in product.versions:
        if version.number == product.published_number:
            return version.snapshot
    return None


def product_document(product: Product) -> Document | None:
    snap = _published_snapshot(product)
    if snap is None:
        return None
    lot_ids = {source["lot_id"] for source in snap["sources"]}
    aimags: dict[str, list[str]] = {}
    soums: dict[int, list[str]] = {}
    for source in product.sources:
        if source.lot_id in lot_ids:
            aimags.setdefault(source.lot.aimag.code, [source.lot.aimag.name_en, source.lot.aimag.name_mn])
            soums.setdefault(source.lot.soum_id, [source.lot.soum.name_en, source.lot.soum.name_mn])
    fibres = sorted(snap["fibre_composition"] or {})
    version = next(v for v in product.versions if v.number == product.published_number)
    return {
        "id": str(product.id),
        "sku": snap["sku"],
        "name": dict(snap["name"] or {}),
        "names": [v for v in (snap["name"] or {}).values() if v],
        "descriptions": [v for v in (snap["description"] or {}).values() if v],
        "msme": product.organisation.slug,
        "msme_name": snap["organisation"]["name"],
        "recycled": snap["recycled_origin"],
        "recycled_pct": float(snap["recycled_pct"] or 0),
        "dyed": "yes" if snap["dyed"] else "no",
        "fibre": fibres,
        "fibres": fibres,
        "aimag": list(aimags),
        "aimag_names": [name for names in aimags.values() for name in names],
        "soum_names": [name for names in soums.values() for name in names],
        "price": float(from_minor(snap["price_minor"], snap["currency"])),
        "price_minor": snap["price_minor"],
        "currency": snap["currency"],
        "published_at": version.published_at.timestamp(),
    }


def _product_options() -> list[Any]:
    return [
        selectinload(Product.organisation),
        selectinload(Product.versions),
        selectinload(Product.sources).selectinload(ProductSource.lot).selectinload(Lot.aimag),
        selectinload(Product.sources).selectinload(ProductSource.lot).selectinload(Lot.soum),
    ]


def documents_for(session: Session, keys: Sequence[str]) -> dict[str, Document | None]:
    ids = sorted({int(k) for k in keys if k.isdigit()})
    found: dict[str, Document | None] = dict.fromkeys(keys)
    for product in session.scalars(select(Product).where(Product.id.in_(ids)).options(*_product_options())):
        found[str(product.id)] = product_document(product)
    return found


def count_all(session: Session) -> int:
    return session.scalar(select(func.count()).where(Product.published_number.is_not(None))) or 0


def all_documents(session: Session) -> Iterator[Document]:
    yield from batched(session, select(Product).where(Product.published_number.is_not(None)),
                       Product, _product_options(), product_document)


def changed_keys(obj: Any, conn: Connection, dirty: bool) -> Iterable[str]:
    """A product document shows the product, its source lots' places and its MSME's name."""
    if isinstance(obj, Product):
        return [str(obj.id)]
    if isinstance(obj, ProductSource):
        return [str(obj.product_id)]
    if isinstance(obj, Organisation) and dirty:
        return [str(i) for i in conn.scalars(select(Product.id).where(Product.organisation_id == obj.id))]
    return []


SOURCE = IndexSource(spec=PRODUCTS, documents_for=documents_for, all_documents=all_documents, count_all=count_all,
                     changed_keys=changed_keys)


# Product search ---------------------------------------------------------------------------

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
    return engine.search(PRODUCTS, to_query(data))


def find_matching_ids(text: str, limit: int = 500) -> list[dict[str, Any]]:
    """Hits (best first) for a free-text query, for pages that filter further in the database."""
    return engine.search(PRODUCTS, to_query({"q": text}, per_page=limit)).hits
