"""Every time a page shows names its time zone (the Union's, Asia/Ulaanbaatar): templates show moments only
through the ``zoned`` filter, never Babel's bare ``datetimeformat``, which printed the UTC clock unnamed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from babel.dates import get_timezone_name
from flask.testing import FlaskClient
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent.parent


def test_no_template_shows_a_time_without_its_zone() -> None:
    bare = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "templates").rglob("*.html"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if re.search(r"\|\s*datetimeformat\b", line)]
    assert bare == []


def test_a_passport_names_the_zone_of_its_version_in_every_language(demo_client: FlaskClient) -> None:
    from marketplace.db import BUSINESS_TZ
    from marketplace.extensions import db
    from marketplace.passports.models import Passport

    with demo_client.application.app_context():
        public_id = db.session.scalars(select(Passport.public_id).order_by(Passport.id)).first()
    for locale in ("en", "mn", "fr", "de", "it", "zh"):
        html = demo_client.get(f"/passports/{public_id}?lang={locale}").text
        issued = re.search(r'<p class="muted">[^<]*\d{4}[^<]*</p>', html)
        assert issued is not None, locale
        zone = get_timezone_name(dt.datetime.now(BUSINESS_TZ), locale=locale)  # "Ulaanbaatar Standard Time"
        assert f"({zone})" in issued.group(0), (locale, issued.group(0))
