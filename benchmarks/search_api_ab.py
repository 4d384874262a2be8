"""Two trees of the site, the API search through Meilisearch at demo size: throughput and the web processes' CPU.

    MEILISEARCH_BIN=$(../shared/tools/meilisearch/install) .venv/bin/python -m benchmarks.search_api_ab \\
        BEFORE AFTER [seconds] [rounds]

For a before/after comparison on a shared machine: one demo instance (built by this tree), one throwaway
Meilisearch server (indexed by this tree), and a gunicorn per tree (2 workers, 4 threads, as in
``search_engines``), all up at once. Each round runs one wrk slice (16 connections, ``seconds``, default 5)
of ``GET /api/v1/lots?q=bayanhongr&colour=white`` against each tree and of the same multi-search straight
to Meilisearch, the order turning every round (``rounds``, default 6), so that every ratio compares slices
taken under the same load. Prints each tree's throughput against Meilisearch alone (issue 25's goal: at
least 0.50), after against before, and the CPU time of each tree's gunicorn (master and workers, from
/proc) per request answered.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import demo_instance, gunicorn, machine
from benchmarks.meili_server import MeilisearchServer
from benchmarks.search_engines import API, flask, meili_body, wrk

PGREP = shutil.which("pgrep") or "/usr/bin/pgrep"


def _pids(*args: str) -> set[str]:
    return set(subprocess.run([PGREP, *args], check=False, capture_output=True, text=True).stdout.split())


def _cpu_seconds(host: str) -> float:
    """User + system CPU of the gunicorn listening on ``host`` and its workers."""
    port = host.rsplit(":", 1)[1]
    pids = _pids("-f", "--", f"--bind 127.0.0.1:{port} ")
    for pid in list(pids):
        pids |= _pids("-P", pid)
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if len(sys.argv) < 3 or not os.environ.get("MEILISEARCH_BIN") or not shutil.which("wrk"):
        raise SystemExit(__doc__)
    trees = {"before": Path(sys.argv[1]).resolve(), "after": Path(sys.argv[2]).resolve()}
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    with demo_instance() as env, tempfile.TemporaryDirectory(prefix="bench-meili-") as tmp, \
            contextlib.ExitStack() as servers:
        server = MeilisearchServer(os.environ["MEILISEARCH_BIN"], Path(tmp))
        server.start()
        servers.callback(server.kill)
        meili_env = {**env, "MEILISEARCH_URL": server.url, "MEILISEARCH_API_KEY": server.key,
                     "MEILISEARCH_INDEX_PREFIX": "bench_"}
        flask(meili_env, "search", "reindex")
        script = Path(tmp) / "multi-search.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.headers["Authorization"] = "Bearer {server.key}"\n'
                          f'wrk.body = {json.dumps(meili_body("bench_"))}\n')
        hosts = {name: servers.enter_context(gunicorn({**meili_env, "PYTHONPATH": str(tree)}, threads=4, root=tree))
                 for name, tree in trees.items()}
        cases: list[tuple[str, str, Path | None]] = [("alone", f"{server.url}/multi-search", script)]
        cases += [(name, f"http://{host}{API}", None) for name, host in hosts.items()]
        for _name, url, lua in cases:
            wrk(url, 1, lua, warm=True)
        load = [os.getloadavg()[0]]
        cpu = dict.fromkeys(trees, 0.0)
        rates: list[dict[str, float]] = []
        for turn in range(rounds):
            rate: dict[str, float] = {}
            for name, url, lua in cases[turn % len(cases):] + cases[:turn % len(cases)]:
                used = _cpu_seconds(hosts[name]) if name in hosts else 0.0
                rate[name] = wrk(url, seconds, lua)
                if name in hosts:
                    cpu[name] += _cpu_seconds(hosts[name]) - used
            rates.append(rate)
        load.append(os.getloadavg()[0])
    print(f"API search, two trees, demo size, {machine()}; load average {load[0]:.1f} -> {load[1]:.1f}; "
          f"{rounds} rounds of {seconds:.0f} s wrk slices (16 connections)")
    for name, tree in trees.items():
        each = sorted(r[name] / r["alone"] for r in rates)
        total = sum(r[name] for r in rates)
        print(f"{name} ({tree}): {total / rounds:.0f} req/s; / Meilisearch alone "
              f"{total / sum(r['alone'] for r in rates):.2f} (rounds: median {statistics.median(each):.2f}, "
              f"{each[0]:.2f}-{each[-1]:.2f}); gunicorn CPU {cpu[name] * 1000 / (total * seconds):.2f} ms per request")
    each = sorted(r["after"] / r["before"] for r in rates)
    alone = " ".join(f"{r['alone']:.0f}" for r in rates)
    print(f"after / before: {sum(r['after'] for r in rates) / sum(r['before'] for r in rates):.2f} (rounds: median "
          f"{statistics.median(each):.2f}, {each[0]:.2f}-{each[-1]:.2f}); Meilisearch alone "
          f"{sum(r['alone'] for r in rates) / rounds:.0f} req/s (rounds: {alone})")


if __name__ == "__main__":
    main()
