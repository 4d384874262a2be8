"""Charts drawn on the server as accessible SVG (pygal), each with the same numbers as a table.

The chart is inline SVG with ``role="img"`` and its own ``<title>`` and ``<desc>``; pygal's
embedded ``<style>`` and its hover tooltip are dropped (the site's CSP allows no inline style;
the rules live in ``static/css/site.css`` under ``.chart``), and no script is attached. Colours
are a fixed palette with at least 4.5:1 contrast against white. The numbers behind the chart go
into :attr:`Chart.rows` (already formatted for the current locale) for the table next to it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pygal
from lxml import etree
from markupsafe import Markup
from pygal.style import Style

from marketplace.db import utcnow

# pygal adds a legacy ``sys.meta_path`` finder for its map plugins (pygal.maps.*, unused here) that has only
# ``find_module``: Python 3.11 then warns (ImportWarning) on every failed import. Take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

# Each at least 4.5:1 against white (WCAG 1.4.11 asks 3:1 of graphics); told apart by order and by the legend.
PALETTE = ("#1b5e20", "#b3400a", "#1f4e8c", "#6a1b9a", "#6d5200", "#00695c", "#ad1457", "#37474f")
SVG = "http://www.w3.org/2000/svg"
_ids = itertools.count(1)

_STYLE = Style(
    background="transparent", plot_background="transparent", foreground="#1a1a1a", foreground_strong="#1a1a1a",
    foreground_subtle="#595959", colors=PALETTE, font_family="inherit", label_font_size=13,
    major_label_font_size=13, legend_font_size=13, title_font_size=15, value_font_size=12, opacity="1",
    opacity_hover="1", transition="none",
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass
class Chart:
    """A drawn chart and its text alternative (``header`` over ``rows``, one row per x label)."""

    title: str
    description: str
    svg: Markup
    header: list[str]
    rows: list[list[str]]
    as_of: dt.datetime = field(default_factory=utcnow)
    drawn: bool = True  # False when every value is empty or zero: nothing to look at

    @property
    def empty(self) -> bool:
        return not self.rows or not self.drawn


def bar(title: str, description: str, labels: Sequence[str], series: Sequence[Series], *,
        fmt: Callable[[float], str], axis_fmt: Callable[[float], str] | None = None, stacked: bool = False,
        horizontal: bool = False, label_heading: str = "") -> Chart:
    """A bar chart of ``series`` over ``labels`` (grouped, or stacked); ``fmt`` formats a value for the table,
    ``axis_fmt`` (by default ``fmt``) for the value axis."""
    kind = {(False, False): pygal.Bar, (True, False): pygal.StackedBar,
            (False, True): pygal.HorizontalBar, (True, True): pygal.HorizontalStackedBar}[stacked, horizontal]
    height = max(300, 60 + 34 * len(labels) * (1 if stacked else max(1, len(series)))) if horizontal else 320
    slanted = not horizontal and (len(labels) >= 5 or max(map(len, labels), default=0) >= 12)
    chart = kind(
        style=_STYLE, width=480, height=height, js=[], no_prefix=True, disable_xml_declaration=True,
        legend_at_bottom=True, legend_at_bottom_columns=1 if len(series) > 2 else 2, truncate_legend=40,
        truncate_label=20, print_values=False, show_minor_x_labels=True, x_label_rotation=25 if slanted else 0,
        value_formatter=axis_fmt or fmt, min_scale=3, max_scale=6, margin=8, margin_bottom=24, spacing=8,
    )
    chart.x_labels = list(labels)
    for one in series:
        chart.add(one.name, [v if v is not None else None for v in one.values])
    rows = [[label, *(fmt(s.values[i]) if s.values[i] is not None else "" for s in series)]
            for i, label in enumerate(labels)]
    return Chart(title, description, _accessible(chart.render(is_unicode=True), title, description),
                 [label_heading, *(s.name for s in series)], rows,
                 drawn=any(value for one in series for value in one.values))


def _accessible(svg: str, title: str, description: str) -> Markup:
    """pygal's SVG with no inline style, script or comment, labelled by its own title and description."""
    root = etree.fromstring(svg.encode())
    for comment in root.xpath("//comment()"):
        comment.getparent().remove(comment)
    for node in root.xpath("//svg:style | //svg:script | //svg:g[contains(@class, 'tooltip')]",
                           namespaces={"svg": SVG}):
        node.getparent().remove(node)
    for node in root.xpath("//*[@style]"):
        del node.attrib["style"]
    for node in root.xpath("//svg:desc | //svg:title", namespaces={"svg": SVG}):  # pygal's notes: the table says it
        node.getparent().remove(node)
    number = next(_ids)
    root.set("id", f"chart-{number}")
    root.set("class", "pygal-chart")
    root.set("role", "img")
    root.set("aria-labelledby", f"chart-{number}-title chart-{number}-desc")
    root.set("preserveAspectRatio", "xMidYMid meet")
    heading = etree.Element(f"{{{SVG}}}title", id=f"chart-{number}-title")
    heading.text = title
    note = etree.Element(f"{{{SVG}}}desc", id=f"chart-{number}-desc")
    note.text = description
    root.insert(0, note)
    root.insert(0, heading)
    return Markup(etree.tostring(root, encoding="unicode"))  # noqa: S704 - built by pygal from our numbers, escaped by lxml
