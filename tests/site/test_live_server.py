"""The browser tests' live server closes a file it was sending when the browser drops the connection."""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

from flask import Flask, send_file

from tests.conftest import LiveServer


def _open_fds_on(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


def _receive_whole_response(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += client.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    header = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    length = int(header.split(b":")[1])
    while len(body) < length:
        body += client.recv(65536)
    return body


def test_a_dropped_download_does_not_leave_its_file_open(tmp_path: Path) -> None:
    """What Chromium does to the dev server: a reset after the response, while werkzeug drains the socket.

    The stray byte after the request makes werkzeug's drain read block until the reset, which
    then raises inside its ``finally``, before it closes the body.
    """
    small = tmp_path / "small.webp"
    small.write_bytes(os.urandom(20_000))
    app = Flask(__name__)
    app.add_url_rule("/small", "small", lambda: send_file(small, mimetype="image/webp"))
    server = LiveServer(app)
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", server.server.server_port))
            client.sendall(b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nx")
            assert len(_receive_whole_response(client)) == 20_000
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        deadline = time.monotonic() + 5
        while _open_fds_on(small) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_fds_on(small) == 0
    finally:
        server.stop()
