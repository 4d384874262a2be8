"""Deep browsing pages on Meilisearch alone: two indexes of the same lots, the same pages, alternately.

    BENCH_MEILISEARCH_URL=... BENCH_MEILISEARCH_KEY=... .venv/bin/python benchmarks/search_deep_pages.py \\
        BEFORE_ AFTER_ [pages]

For comparing the sort levels of two trees (issue 25: ``tie_s`` then ``tie_id`` against one ``tie`` number):
the indexes ``<prefix>lots`` built by each tree's ``search reindex`` over one database. Each of ``pages``
(default 90) browsing pages (no words, the certificate filter, every facet counted, sorted by price, micron or
newest, page 1 to 50, 20 per page, as ids, as the API sends a deep page) goes to both indexes in turn, with
the sort each tree sends (the tree is told by its index's fields). Prints the wall time per sort and whether
both indexes gave the same ids.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import urllib.request

FACETS = ["colour", "state", "aimag", "cooperative", "scheme", "tier", "season"]
ORDERS = {"price": "price_eur_clean:asc", "micron": "micron:asc", "newest": "listed_at:desc"}


def _post(path: str, body: object | None = None) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(  # noqa: S310 (a server given by the operator)
        os.environ["BENCH_MEILISEARCH_URL"] + path, json.dumps(body).encode() if body is not None else None,
        {"Content-Type": "application/json", "Authorization": f"Bearer {os.environ.get('BENCH_MEILISEARCH_KEY', '')}"})
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return json.loads(answer.read())


def _sort(fields: set[str], name: str) -> list[str]:
    if "tie" in fields:  # one tie-break number; newest first is its own order
        return ["tie:desc"] if name == "newest" else [ORDERS[name], "tie:desc"]
    return [ORDERS[name], "tie_s:desc", "tie_id:desc"]


def main() -> None:
    prefixes = sys.argv[1:3]
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 90
    fields = {p: set(_post(f"/indexes/{p}lots/stats")["fieldDistribution"]) for p in prefixes}
    day = float(dt.datetime.now(dt.UTC).date().toordinal())
    valid = ["certificate_active >= 1.0", "certificate_active <= 1.0", f"certificate_from_day <= {day}",
             f"certificate_to_day >= {day}"]
    rng = random.Random(7)  # reproducible pages
    times: dict[tuple[str, str], list[float]] = {(p, s): [] for p in prefixes for s in ORDERS}
    same = 0
    for n in range(pages):
        name, page = rng.choice(list(ORDERS)), rng.randint(1, 50)
        ids = {}
        for prefix in (prefixes if n % 2 == 0 else prefixes[::-1]):
            query = {"indexUid": f"{prefix}lots", "q": "", "filter": valid, "page": page, "hitsPerPage": 20,
                     "matchingStrategy": "all", "facets": FACETS, "sort": _sort(fields[prefix], name),
                     "attributesToRetrieve": ["id"]}
            started = time.perf_counter()
            found = _post("/multi-search", {"queries": [query]})["results"][0]
            times[(prefix, name)].append((time.perf_counter() - started) * 1000)
            ids[prefix] = [hit["id"] for hit in found["hits"]]
        same += ids[prefixes[0]] == ids[prefixes[1]]
    print(f"load average {os.getloadavg()[0]:.1f}; pages with the same ids on both indexes: {same}/{pages}")
    for name in ORDERS:
        cells = []
        for prefix in prefixes:
            values = sorted(times[(prefix, name)])
            cells.append(f"{prefix}: {len(_sort(fields[prefix], name))} levels, median "
                         f"{statistics.median(values):6.1f} ms, p95 {values[int(0.95 * (len(values) - 1))]:6.1f} ms")
        print(f"{name:7s} " + "   ".join(cells) + f"   (n={len(times[(prefixes[0], name)])})")


if __name__ == "__main__":
    main()
