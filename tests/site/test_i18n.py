"""Every user-facing string has a real translation in every locale; pages follow the chosen locale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from tests.helpers import text

ROOT = Path(__file__).resolve().parent.parent.parent
LOCALES = ("mn", "fr", "de", "it", "zh")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(  # noqa: S603 (our own interpreter and fixed arguments)
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
         "-k", "lazy_gettext", "-k", "lazy_pgettext:1c,2", "--no-location", "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_is_complete(template, locale: str) -> None:  # type: ignore[no-untyped-def]
    path = ROOT / "marketplace" / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=locale)
    missing, empty, fuzzy, broken = [], [], [], []
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id, message.context)
        if translated is None:
            missing.append(message.id)
            continue
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        if not all(strings):
            empty.append(message.id)
        if translated.fuzzy:
            fuzzy.append(message.id)
        source = message.id if isinstance(message.id, str) else message.id[0]
        for string in strings:
            if string and sorted(set(PLACEHOLDER.findall(string))) != sorted(set(PLACEHOLDER.findall(source))):
                broken.append(message.id)
    assert (missing, empty, fuzzy, broken) == ([], [], [], []), locale


def test_pages_follow_the_chosen_locale(demo_client: FlaskClient) -> None:
    french = text(demo_client.get("/lots/USCC-2025-BKH-001?lang=fr"))
    assert '<html lang="fr">' in french
    assert "16,7\u00a0µm" in french  # decimals follow the locale; the unit does not
    mongolian = text(demo_client.get("/?lang=mn"))
    assert "Нэвтрэх" in mongolian or "нэвтрэх" in mongolian.lower()
    fresh = demo_client.application.test_client()  # no language cookie yet: Accept-Language decides
    chinese = text(fresh.get("/", headers={"Accept-Language": "zh-CN"}))
    assert '<html lang="zh">' in chinese
    assert "English" in chinese  # the language switcher names each language in itself


@pytest.mark.parametrize("slug", ["about", "certification", "how-to-read-a-passport"])
def test_content_pages_exist_in_every_language(demo_client: FlaskClient, slug: str) -> None:
    english = (ROOT / "content" / "pages" / f"{slug}.en.md").read_text(encoding="utf-8")
    for locale in LOCALES:
        path = ROOT / "content" / "pages" / f"{slug}.{locale}.md"
        assert path.is_file(), path
        translated = path.read_text(encoding="utf-8")
        title = translated.splitlines()[0]
        assert title.startswith("# ")
        assert translated != english, (slug, locale)
        html = text(demo_client.get(f"/{slug}?lang={locale}"))
        assert title[2:].strip() in html
        assert "not yet translated" not in html


def test_untranslated_product_text_falls_back_to_english_visibly(demo_client: FlaskClient) -> None:
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.products.models import ProductVersion

    with demo_client.application.app_context():
        version = db.session.scalars(select(ProductVersion)).all()
        untranslated = next(v for v in version if "it" not in v.snapshot["name"])
        english = untranslated.snapshot["name"]["en"]
    html = text(demo_client.get(f"/products/{untranslated.product_id}?lang=it"))
    assert f'<span lang="en">{english}</span> <span class="fallback">' in html
    in_english = text(demo_client.get(f"/products/{untranslated.product_id}?lang=en"))
    assert f'<span lang="en">{english}</span>' not in in_english


def test_templates_follow_a_forced_locale_and_then_the_request_s_again(app) -> None:  # type: ignore[no-untyped-def]
    """Templates look their translations up once per locale in a request (marketplace.i18n.request_translations):
    an e-mail rendered with ``force_locale`` inside a request is in its reader's language, and the page after it
    in the request's."""
    from flask import render_template_string
    from flask_babel import force_locale, refresh

    def shown() -> str:
        return render_template_string('{{ _("Sign in") }} {{ ngettext("%(num)d lot", "%(num)d lots", 2) }}')

    with app.test_request_context("/", headers={"Accept-Language": "mn"}):
        before = shown()
        with force_locale("fr"):
            french = shown()
            with force_locale("de"):
                german = shown()
            assert shown() == french
        assert shown() == before
        refresh()
        assert shown() == before
    assert before.startswith("Нэвтрэх ")
    assert french.startswith("Se connecter ")
    assert german.startswith("Anmelden ")
    assert (before, french, german) == ("Нэвтрэх 2 багц", "Se connecter 2 lots", "Anmelden 2 Partien")  # ngettext too
    with app.test_request_context("/"):
        assert shown().startswith("Sign in ")
        assert shown() == "Sign in 2 lots"


def test_each_page_links_to_itself_in_every_language(app) -> None:  # type: ignore[no-untyped-def]
    """The language menu and the hreflang alternates keep the page and its query (``lang`` replaced); the
    path and query are found once per request, never carried to the next request of the same app context."""
    client = app.test_client()
    with app.app_context():  # two requests sharing one application context (and so one ``g``)
        lots = client.get("/lots?q=white&state=dehaired&lang=fr").get_data(as_text=True)
        about = client.get("/about?lang=de").get_data(as_text=True)
    assert 'href="/lots?q=white&amp;state=dehaired&amp;lang=mn" hreflang="mn"' in lots
    assert re.search(r'hreflang="zh" href="https?://[^/"]+/lots\?q=white&amp;state=dehaired&amp;lang=zh"', lots)
    assert 'href="/about?lang=mn" hreflang="mn"' in about
    assert "/lots?" not in about
    missing = client.get("/no/such/page?x=1").get_data(as_text=True)
    assert 'href="/?lang=mn" hreflang="mn"' in missing  # no rule matched: the home page in each language


def test_a_lazy_message_with_a_persons_value_is_escaped_in_a_page(app) -> None:  # type: ignore[no-untyped-def]
    """Flask-Babel's lazy strings call themselves safe HTML. Planted: without marketplace.i18n's escaping, the
    name below reached the page as a live <script> element."""
    from flask import render_template_string
    from flask_babel import lazy_gettext

    message = lazy_gettext("There is no organisation called %(name)s.", name="<script>alert(1)</script>")
    with app.test_request_context("/"):
        page = render_template_string("<p>{{ message }}</p>", message=message)
        assert "<script>" not in page
        assert page == "<p>There is no organisation called &lt;script&gt;alert(1)&lt;/script&gt;.</p>"
        assert render_template_string("{{ message|e }}", message=message) == page[3:-4]
