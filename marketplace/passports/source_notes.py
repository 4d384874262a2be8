"""The notes the site itself writes into a passport's figures (``source``), in the reader's language.

A credential is signed once, in English: its notes stay as signed. The passport page shows a note the site wrote
in the page's language, read back from the signed text by the pattern that wrote it (names, numbers and
addresses kept). A note a person wrote (a lab's name, a maker's method note) is shown as written; a method
note's own translations are shown beside the steps."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _

from marketplace.i18n import number, with_unit

Render = Callable[[dict[str, str]], str]

# Each pattern is the English the passport builders write (``untp/dpp.py``, ``untp/dpp_product.py``) for a
# figure the public page shows with its source (the others are in the restricted tiers, shown as signed): a
# test renders every demo passport in each language and finds none of their English left.
_NOTES: tuple[tuple[re.Pattern[str], Render], ...] = (
    (re.compile(r"(?P<maker>.+): sum of (?P<steps>\d+) processing steps divided by (?P<items>\d+) items; "
                r"scope: cradle to gate, from scouring to finishing"),
     lambda m: _("%(maker)s: sum of %(steps)s processing steps divided by %(items)s items; scope: cradle to "
                 "gate, from scouring to finishing", maker=m["maker"], steps=number(int(m["steps"])),
                 items=number(int(m["items"])))),
    (re.compile(r"Source lots; dehaired lots converted at an assumed (?P<pct>\d+)% dehairing yield"),
     lambda m: _("Source lots; dehaired lots converted at an assumed %(pct)s dehairing yield",
                 pct=with_unit(int(m["pct"]), "%"))),
    (re.compile(r"Herder price per kg × greasy fibre per item \(from the source lots and the batch yield\) "
                r"÷ retail price"),
     lambda m: _("Herder price per kg × greasy fibre per item (from the source lots and the batch yield) ÷ "
                 "retail price")),
    (re.compile(r"Union premium ledger \((?P<url>\S+)\)"),
     lambda m: _("Union premium ledger (%(url)s)", url=m["url"])),
    (re.compile(r"(?P<org>.+), reviewed by the Union"),
     lambda m: _("%(org)s, reviewed by the Union", org=m["org"])),
    (re.compile(r"(?P<org>.+), annual livestock census"),
     lambda m: _("%(org)s, annual livestock census", org=m["org"])),
)


def source_note(text: object) -> str:
    """``text`` in the page's language when the site wrote it, else as it is."""
    note = str(text or "")
    for pattern, render in _NOTES:
        found = pattern.fullmatch(note)
        if found is not None:
            return render(found.groupdict())
    return note
