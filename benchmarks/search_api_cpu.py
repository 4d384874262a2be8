"""The site's own CPU per API search request, in process (no HTTP server, no load generator).

    MARKETPLACE_ENV=dev MARKETPLACE_INSTANCE=... MEILISEARCH_URL=... MEILISEARCH_API_KEY=... \\
        .venv/bin/python -m benchmarks.search_api_cpu [requests] [rounds]

``GET /api/v1/lots?q=bayanhongr&colour=white`` through the Flask test client, after 100 warm-up
requests: the CPU time of this process (``time.process_time``: the site's work, not the search
server's, whatever else the machine runs) per request, for ``rounds`` (default 5) of ``requests``
(default 200). Run it in two trees one after the other, over the same instance and index, to compare.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time

from marketplace import create_app

URL = "/api/v1/lots?q=bayanhongr&colour=white"


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    logging.disable(logging.INFO)  # the access log line costs the same in every tree; not written here
    client = create_app().test_client()
    for _ in range(100):
        if client.get(URL).status_code != 200:
            raise SystemExit(f"{URL} did not answer 200")
    each = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            client.get(URL)
        each.append((time.process_time() - started) * 1000 / requests)
    print(f"CPU per API request: median {statistics.median(each):.2f} ms (rounds: "
          f"{' '.join(f'{v:.2f}' for v in each)} ms; {requests} requests each)")


if __name__ == "__main__":
    main()
