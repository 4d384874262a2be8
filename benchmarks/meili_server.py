"""A throwaway Meilisearch server on 127.0.0.1: a temp data folder, a random master key, a free port.

Used by the benchmarks and by the outage test, with the binary that ``MEILISEARCH_BIN`` names
(``./dev test`` and ``.ci/run`` set it; ``../shared/tools/meilisearch/install`` unpacks one).
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MeilisearchServer:
    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder = binary, folder
        self.port, self.key = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start on the same port and data folder (again, after ``kill``); returns once it accepts connections."""
        self.process = subprocess.Popen(
            [self.binary, "--db-path", str(self.folder / "data.ms"), "--http-addr", f"127.0.0.1:{self.port}",
             "--master-key", self.key, "--no-analytics"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the Meilisearch server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def memory_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process, in MB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        kb = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))}
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024

    def disk_mb(self) -> float:
        return sum(f.stat().st_size for f in (self.folder / "data.ms").rglob("*") if f.is_file()) / 1e6
