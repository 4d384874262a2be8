"""Shared set-up for the product tests: an MSME editor with a line, a lot with sold kg, pictures."""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from decimal import Decimal

from flask.testing import FlaskClient
from PIL import Image

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.organisations.models import OrgKind
from tests import factories
from tests.helpers import sign_in, text

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Workshop:
    msme: m.Organisation
    editor: m.User
    line: m.ProductLine
    lot: m.Lot


def workshop(net: str = "500", available: str = "300") -> Workshop:
    """An MSME with an editor and a product line, and a certified lot of which ``net - available`` kg are sold."""
    msme = factories.MsmeFactory()
    editor = factories.user_with_role(Role.msme_editor, msme)
    line = factories.ProductLineFactory(organisation=msme)
    lot = factories.LotFactory(net_kg=Decimal(net), available_kg=Decimal(available))
    return Workshop(msme, editor, line, lot)


def staff() -> m.User:
    union = factories.OrganisationFactory(kind=OrgKind.union, country="MN")
    return factories.user_with_role(Role.union_staff, union)


def signed_in(client: FlaskClient, user: m.User) -> FlaskClient:
    response = sign_in(client, user.email)
    assert response.status_code == 302, text(response)
    return client


def token(client: FlaskClient, path: str = "/workspace/products") -> str:
    html = text(client.get(path))
    match = _TOKEN.search(html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def product_form(line_id: int, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "line_id": line_id, "sku": "TEST-CREW-1", "gtin": "4006381333931", "name_en": "Test crew neck",
        "description_en": "A test sweater.", "composition": "cashmere: 100", "recycled_pct": "0",
        "recycled_origin": "none", "dyed": "undyed", "care_codes": ["wash-hand", "dry-flat"], "sizes": "S, M",
        "weight_g": "290", "price_eur": "245.00", "production_date": "2026-08-01", "batch_code": "B1",
        "service_repair": "y", "service_repair_conditions_en": "Free repair.",
    }
    data.update(overrides)
    return data


def jpeg_bytes(size: tuple[int, int] = (800, 600), colour: tuple[int, int, int] = (200, 180, 160),
               exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", exif=exif or Image.Exif())
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file that claims ``width`` × ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")
