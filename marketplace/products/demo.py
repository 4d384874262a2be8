"""Demo product lines and products (content/demo/products.toml), loaded through the real services.

A product is created only when its SKU is new, so loading twice changes nothing and live
edits made on the demo site are kept. Pictures are drawn here with Pillow; nothing is downloaded.
"""

from __future__ import annotations

import io
import random
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.db import utcnow
from marketplace.demo.rows import LoadReport, upsert
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.money import to_minor
from marketplace.organisations.models import Organisation
from marketplace.products import services
from marketplace.products.models import DataBasis, Product, ProductLine, RecycledOrigin, StepKind
from marketplace.products.rules import gtin_is_valid, parse_composition

COLOURS = {
    "white": (236, 231, 219), "light_grey": (188, 186, 180), "grey": (122, 121, 118),
    "brown": (121, 88, 62), "navy": (38, 50, 84),
}
BACKGROUNDS = [(214, 226, 222), (232, 222, 206), (206, 214, 228), (226, 214, 214)]


# The method note of a demo step without one of its own, with the translations an MSME would enter.
DEMO_NOTE = "Demo figures derived from typical intensities per kg."
DEMO_NOTE_TRANSLATIONS = {
    "mn": "Кг тутмын ердийн эрчмээс тооцсон жишээ тоон мэдээлэл.",
    "fr": "Chiffres de démonstration tirés des intensités types par kg.",
    "de": "Demo-Zahlen, abgeleitet aus typischen Intensitäten pro kg.",
    "it": "Dati dimostrativi ricavati dalle intensità tipiche per kg.",
    "zh": "根据每公斤典型强度推算的演示数据。",
}

def load_products(content: Path, report: LoadReport) -> None:
    path = content / "demo" / "products.toml"
    if not path.exists():
        return
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    orgs = {o.slug: o for o in db.session.scalars(select(Organisation))}
    lines = {}
    for item in data["lines"]:
        lines[item["slug"]] = upsert(ProductLine, report, {"slug": item["slug"]}, {
            "organisation_id": orgs[item["organisation"]].id, "name": item["name"],
            "description": item.get("description", {}),
        })
    approver = db.session.scalar(select(User).filter_by(email=data["approver"]))
    for item in data["products"]:
        existing = db.session.scalar(select(Product).filter_by(sku=item["sku"]))
        report.count(Product, existing is None)
        if existing is None:
            _create(item, data, lines[item["line"]], orgs, approver)


def _create(item: dict[str, Any], data: dict[str, Any], line: ProductLine, orgs: dict[str, Organisation],
            approver: User | None) -> None:
    gtin = item.get("gtin")
    if gtin and not gtin_is_valid(gtin):
        raise ValueError(f"demo product {item['sku']}: GTIN {gtin} has a wrong check digit")
    product = services.save_product(None, line.organisation_id, services.ProductData(
        line_id=line.id, sku=item["sku"], gtin=gtin, name=item["name"], description=item.get("description", {}),
        fibre_composition=parse_composition("\n".join(f"{k}: {v}" for k, v in item["composition"].items())),
        recycled_pct=Decimal(item.get("recycled_pct", "0")),
        recycled_origin=RecycledOrigin(item.get("recycled_origin", "none")), dyed=item["dyed"],
        care_codes=item["care"], sizes=item["sizes"], weight_g=Decimal(item["weight_g"]),
        price_minor=to_minor(Decimal(str(item["price_eur"])), "EUR"), circular_services=item.get("services", {}),
        production_date=item["production_date"], batch_code=item.get("batch", ""),
    ))
    for component in item.get("components", []):
        batch = db.session.scalar(select(Product).filter_by(sku=component["product"]))
        if batch is None:
            raise ValueError(f"demo product {item['sku']}: no batch {component['product']} (list it earlier)")
        services.link_component(product, batch.id, Decimal(component["kg"]))
    for source in item.get("sources", []):
        lot = db.session.scalar(select(Lot).filter_by(code=source["lot"]))
        if lot is None:
            raise ValueError(f"demo product {item['sku']}: no lot {source['lot']}")
        services.link_source(product, lot.id, Decimal(source["kg"]))
    grid = Decimal(data["grid_kg_co2e_per_kwh"])
    for step in item["steps"]:
        kind = StepKind(step["kind"])
        facility = data["facilities"][kind.value] if "facility" not in step else step["facility"]
        facility_org = product.organisation if facility == "maker" else orgs[facility]
        intensity = data["intensities"][kind.value]
        kg_in, kg_out = Decimal(step["kg_in"]), Decimal(step["kg_out"])
        kwh = (kg_in * Decimal(intensity["kwh"])).quantize(Decimal("0.1"))
        water = (kg_in * Decimal(intensity["water"])).quantize(Decimal("1"))
        services.add_step(product, services.StepData(
            kind=kind, facility_id=facility_org.id, performed_on=step["date"], kg_in=kg_in, kg_out=kg_out,
            energy_kwh=kwh, energy_basis=DataBasis(intensity["kwh_basis"]),
            water_l=water if water else None, water_basis=DataBasis(intensity["water_basis"]) if water else None,
            co2e_kg=(kwh * grid).quantize(Decimal("0.1")), co2e_basis=DataBasis.estimated,
            source_note=step.get("note", DEMO_NOTE),
            source_note_translations=step.get("note_translations", {}) if "note" in step else DEMO_NOTE_TRANSLATIONS,
        ))
    picture = item["picture"]
    name = item["name"]["en"]
    photo = services.add_image(product, draw_product(picture["shape"], picture["colour"], item["sku"]), {
        "en": f"{name}, photographed flat on a plain background (demo drawing)",
    })
    texture = services.add_image(product, draw_texture(picture["colour"], item["sku"]), {
        "en": f"Close-up of the knit or weave of the {name.split(',')[0].lower()} (demo drawing)",
    })
    for image in (photo, texture):  # the demo shows its pictures without a job worker (the queued job: a no-op)
        services.build_image_variants(image.id)
    now = utcnow()
    services.submit(product, now)
    if item.get("status", "published") == "published":
        services.approve(product, approver.id if approver else None, now)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _shade(colour: tuple[int, int, int], delta: int) -> tuple[int, int, int]:
    r, g, b = colour
    return (max(0, min(255, r + delta)), max(0, min(255, g + delta)), max(0, min(255, b + delta)))


def draw_product(shape: str, colour: str, seed: str) -> bytes:
    """A flat-lay drawing of the product in its fibre colour, 1280 × 960 px (drawn at 1600 × 1200)."""
    rnd = random.Random(seed)  # noqa: S311 (a repeatable drawing, not a secret)
    fill = COLOURS[colour]
    image = Image.new("RGB", (1600, 1200), BACKGROUNDS[rnd.randrange(len(BACKGROUNDS))])
    draw = ImageDraw.Draw(image)
    outline = _shade(fill, -40)
    if shape == "sweater":
        body = [(560, 260), (700, 220), (900, 220), (1040, 260), (1320, 420), (1240, 560), (1080, 470),
                (1080, 1000), (520, 1000), (520, 470), (360, 560), (280, 420)]
        draw.polygon(body, fill=fill, outline=outline, width=6)
        draw.arc((700, 170, 900, 320), 0, 180, fill=outline, width=10)
        for x in range(540, 1070, 18):
            draw.line([(x, 480), (x, 990)], fill=_shade(fill, -14), width=3)
        draw.rectangle((520, 950, 1080, 1000), fill=_shade(fill, -20))
    elif shape in ("scarf", "throw"):
        w, h = (420, 900) if shape == "scarf" else (900, 760)
        x0, y0 = 800 - w // 2, 600 - h // 2
        draw.rectangle((x0, y0, x0 + w, y0 + h), fill=fill, outline=outline, width=6)
        step = 16 if shape == "scarf" else 24
        for x in range(x0 + 10, x0 + w, step):
            draw.line([(x, y0 + 6), (x, y0 + h - 6)], fill=_shade(fill, -16), width=4)
        for x in range(x0 + 8, x0 + w, 22):
            draw.line([(x, y0 + h), (x + rnd.randint(-6, 6), y0 + h + 60)], fill=outline, width=5)
            draw.line([(x, y0), (x + rnd.randint(-6, 6), y0 - 60)], fill=outline, width=5)
    elif shape == "hat":
        draw.chord((500, 300, 1100, 1000), 180, 360, fill=fill, outline=outline, width=6)
        draw.rectangle((500, 650, 1100, 860), fill=_shade(fill, -18), outline=outline, width=6)
        for x in range(510, 1100, 20):
            draw.line([(x, 660), (x, 850)], fill=_shade(fill, -34), width=4)
        draw.ellipse((740, 230, 860, 350), fill=_shade(fill, 10), outline=outline, width=4)
    elif shape == "mitten":
        for dx in (-260, 260):
            cx = 800 + dx
            draw.rounded_rectangle((cx - 150, 300, cx + 150, 880), radius=140, fill=fill, outline=outline, width=6)
            thumb_x = cx + (150 if dx < 0 else -150)
            draw.ellipse((thumb_x - 70, 520, thumb_x + 70, 720), fill=fill, outline=outline, width=6)
            draw.rectangle((cx - 150, 820, cx + 150, 960), fill=_shade(fill, -18), outline=outline, width=6)
    else:  # skein
        for i, cx in enumerate((560, 1040)):
            draw.ellipse((cx - 230, 360, cx + 230, 860), fill=fill, outline=outline, width=6)
            draw.ellipse((cx - 90, 520, cx + 90, 700), fill=BACKGROUNDS[i], outline=outline, width=4)
            for r in range(110, 230, 14):
                draw.arc((cx - r, 610 - r * 250 // 230, cx + r, 610 + r * 250 // 230), 0, 360,
                         fill=_shade(fill, -12), width=2)
    return _png(image.resize((1280, 960), Image.Resampling.BILINEAR))


def draw_texture(colour: str, seed: str) -> bytes:
    """A close-up of knit stitches in the fibre colour, 720 × 720 px."""
    rnd = random.Random(seed + "texture")  # noqa: S311 (a repeatable drawing, not a secret)
    fill = COLOURS[colour]
    image = Image.new("RGB", (720, 720), _shade(fill, -30))
    draw = ImageDraw.Draw(image)
    for row in range(0, 720, 40):
        for col in range(0, 720, 36):
            tone = _shade(fill, rnd.randint(-10, 10))
            draw.polygon([(col, row), (col + 18, row + 36), (col + 12, row + 40), (col - 4, row + 6)], fill=tone)
            draw.polygon([(col + 36, row), (col + 18, row + 36), (col + 24, row + 40), (col + 40, row + 6)], fill=tone)
    return _png(image)

