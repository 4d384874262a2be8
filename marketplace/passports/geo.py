"""A small SVG map of Mongolia drawn from shipped data (no tiles, no downloads)."""

from __future__ import annotations

from dataclasses import dataclass

# A simplified outline of Mongolia's border (longitude, latitude), about 40 km accurate.
OUTLINE = (
    (87.75, 49.17), (88.6, 49.5), (90.0, 50.4), (92.0, 50.8), (94.3, 50.5), (96.0, 50.0), (97.8, 50.5),
    (98.3, 51.5), (100.0, 51.7), (102.0, 51.4), (104.0, 50.3), (106.0, 50.3), (108.0, 49.4), (110.0, 49.2),
    (112.0, 49.5), (114.5, 50.2), (116.7, 49.8), (117.8, 49.5), (119.9, 46.7), (118.0, 46.5), (116.0, 45.6),
    (114.0, 44.8), (112.0, 45.1), (111.0, 44.3), (110.0, 42.7), (107.0, 42.4), (105.0, 41.6), (101.0, 42.5),
    (97.0, 42.8), (95.5, 44.3), (93.5, 45.0), (90.7, 45.5), (90.9, 46.9), (90.0, 47.9), (88.0, 48.6),
)
WEST, NORTH = 87.0, 52.5
SCALE = 26.0
LON_FACTOR = 0.68  # cos(47°): keeps the country's proportions at its mean latitude
WIDTH = round((120.5 - WEST) * LON_FACTOR * SCALE)
HEIGHT = round((NORTH - 41.0) * SCALE)


@dataclass(frozen=True)
class Point:
    x: float
    y: float


def project(lon: float, lat: float) -> Point:
    return Point(round((lon - WEST) * LON_FACTOR * SCALE, 1), round((NORTH - lat) * SCALE, 1))


def outline_points() -> str:
    return " ".join(f"{p.x},{p.y}" for p in (project(lon, lat) for lon, lat in OUTLINE))
