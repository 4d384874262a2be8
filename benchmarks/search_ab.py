"""Two trees of the site, one database and one search index: HTTP latency of the same queries, alternating.

    .venv/bin/python benchmarks/search_ab.py --db DB --index INDEX --trees BEFORE AFTER [--queries 500] \
        [--prefixes BEFORE_ AFTER_]

For a before/after comparison on a shared machine, where the load changes from minute to minute: the
web process of each tree (``search_bench.py --serve`` of that tree: werkzeug, one process, one thread,
its own code) serves ``GET /api/v1/lots`` over the same database and index, and each of the queries
(mixed as in ``search_bench``: the same five kinds, seeded) goes to both, in turn (the order turning every
query), so that both trees meet the same load. The engine is the one ``search_bench`` takes: ``BENCH_MEILISEARCH_URL``,
``BENCH_MEILISEARCH_KEY`` and ``BENCH_MEILISEARCH_PREFIX`` (an index built beforehand, e.g. by
``search reindex`` on that database; ``--prefixes`` gives each tree its own index, built by that tree, when
the trees store different documents), or the embedded index at INDEX. Prints p50/p95/max per tree, the
per-query-kind p95 and the web processes' CPU per request.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.search_bench import KINDS, _cpu_seconds, mixed_queries, percentile


def _start(tree: Path, db: str, index: str, prefix: str | None) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(tree / "benchmarks" / "search_bench.py"), "--serve", db, index,
                               str(port)], cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, **({"BENCH_MEILISEARCH_PREFIX": prefix} if prefix else {})})
    base = f"http://127.0.0.1:{port}/api/v1/lots"
    for _ in range(300):
        try:
            urllib.request.urlopen(base, timeout=5).read()
            return server, base
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the web process of {tree} did not start")


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
        response.read()
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--trees", nargs=2, required=True, type=Path)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--prefixes", nargs=2, help="each tree's Meilisearch index prefix")
    options = parser.parse_args()
    servers = [_start(tree.resolve(), options.db, options.index, prefix)
               for tree, prefix in zip(options.trees, options.prefixes or (None, None), strict=True)]
    try:
        for args in mixed_queries(20, random.Random(1)):  # warm up with other queries
            for _server, base in servers:
                _get(f"{base}?{urllib.parse.urlencode(args, doseq=True)}")
        times: list[list[float]] = [[], []]
        kinds: list[list[int]] = [[], []]
        cpu = [_cpu_seconds(server.pid) for server, _base in servers]
        for n, args in enumerate(mixed_queries(options.queries, random.Random(20261122))):
            for which in ((0, 1) if n % 2 == 0 else (1, 0)):
                times[which].append(_get(f"{servers[which][1]}?{urllib.parse.urlencode(args, doseq=True)}"))
                kinds[which].append(n % len(KINDS))
        cpu = [(_cpu_seconds(server.pid) - before) * 1000 / options.queries
               for (server, _base), before in zip(servers, cpu, strict=True)]
    finally:
        for server, _base in servers:
            server.terminate()
            server.wait(timeout=10)
    for tree, values, own_cpu in zip(options.trees, times, cpu, strict=True):
        print(f"{tree!s:40s} HTTP p50 {statistics.median(values):7.2f} ms   p95 {percentile(values, 95):7.2f} ms   "
              f"max {max(values):7.2f} ms   web CPU {own_cpu:.2f} ms/request   (n={len(values)})")
    for kind, name in enumerate(KINDS):
        each = [percentile([t for t, k in zip(values, ks, strict=True) if k == kind], 95)
                for values, ks in zip(times, kinds, strict=True)]
        print(f"    {name:34s} p95 {each[0]:7.2f} / {each[1]:7.2f} ms")


if __name__ == "__main__":
    main()
