"""How the Meilisearch adapter talks to the server: kept-alive connections, every call with a timeout.

Searches (the one call on every search page) go through ``SearchLine``: one ``http.client``
connection per thread, kept alive, the JSON body posted and the answer read in one piece. Everything
else (writes, tasks, settings, keys) goes through the official client on ``PooledHttp``, a urllib3 pool.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.parse
import weakref
from typing import Any

import msgspec
import requests
import urllib3
from meilisearch._httprequests import HttpRequests
from requests.structures import CaseInsensitiveDict


class RefusedRequest(Exception):  # noqa: N818 (the server's answer, not our failure)
    """The server answered with an error (a wrong key, a missing index, a bad request)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class SearchLine:
    """POSTs JSON to the server on one kept-alive connection per thread.

    The official client costs about 0.5 ms of CPU more per search than ``http.client``, and
    ``http.client`` itself parses each answer's headers through the ``email`` package and sends the
    headers and the body in two writes (two wake-ups of the server). This sends the request in one
    write, from a head built once, and reads the answer's status line, the few headers it needs and
    its body (``Content-Length`` or chunked) straight from the socket. A connection the server has
    closed meanwhile (it closes idle ones) is replaced and the request sent once more; a timeout is not
    retried. The JSON is written and read by msgspec (a fifth of the site's CPU per API search went to
    the standard library's ``json`` here and in the answer). Network failures and an answer that is not a
    JSON object raise ``OSError`` or ``http.client.HTTPException``; an error answer raises ``RefusedRequest``.
    """

    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.root = parts.path.rstrip("/")
        self.timeout = timeout
        default_port = 443 if self.https else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = host if self.port == default_port else f"{host}:{self.port}"
        self._headers = ("Content-Type: application/json\r\nAccept: application/json\r\n"
                         + (f"Authorization: Bearer {key}\r\n" if key else ""))
        self._heads: dict[str, bytes] = {}  # path -> the request's head up to its Content-Length value
        self._local = threading.local()  # .kept: this thread's connection

    def _head(self, path: str) -> bytes:
        head = self._heads.get(path)
        if head is None:
            head = self._heads[path] = (f"POST {self.root}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
                                        f"{self._headers}Content-Length: ").encode("ascii")
        return head

    def _connect(self) -> _Kept:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.https:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        kept = self._local.kept = _Kept(sock)
        return kept

    def _exchange(self, kept: _Kept, path: str, body: bytes) -> tuple[int, bytes]:
        kept.sock.sendall(b"".join((self._head(path), str(len(body)).encode(), b"\r\n\r\n", body)))
        return _read_answer(kept)

    def post(self, path: str, payload: Any) -> dict[str, Any]:
        body = _ENCODE(payload)
        kept: _Kept | None = getattr(self._local, "kept", None)
        fresh = kept is None or kept.closed
        if kept is None or fresh:
            kept = self._connect()
        try:
            try:
                status, data = self._exchange(kept, path, body)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if fresh:
                    raise
                kept.close()  # closed by the server while idle: once more, on a new connection
                kept = self._connect()
                status, data = self._exchange(kept, path, body)
        except BaseException:
            kept.close()
            self._local.kept = None
            raise
        answer = _json_object(data)
        if status >= 400:
            error = answer or {}
            raise RefusedRequest(status, str(error.get("code", "")), str(error.get("message", data[:200])))
        if answer is None:  # a proxy's error page, a cut answer: the server is not answering right
            raise http.client.HTTPException(f"the answer is not a JSON object: {data[:80]!r}")
        return answer


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode


def _json_object(data: bytes) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is not one (not JSON, not UTF-8, nested too deep, a list)."""
    try:
        answer = _DECODE(data)
    except (ValueError, RecursionError):
        return None
    return answer if isinstance(answer, dict) else None


_MAX_LINE = 65536
_MAX_HEADERS = 100


def _line(reader: Any) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong("header line")
    return line  # type: ignore[no-any-return]


def _read_answer(kept: _Kept) -> tuple[int, bytes]:
    """One HTTP/1.1 answer: its status and body. The connection is closed after it when the server says
    so (or sends a body without a length, which ends at the close)."""
    reader = kept.reader
    status_line = _line(reader)
    if not status_line:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise http.client.BadStatusLine(status_line.decode("latin-1").strip())
    length, chunked, close = _read_headers(reader)
    if code in (b"204", b"304") or code.startswith(b"1"):
        data = b""
    elif chunked:
        data = _read_chunked(reader)
    elif length is not None:
        data = reader.read(length)
        if len(data) < length:
            raise http.client.IncompleteRead(data, length - len(data))
    else:
        data, close = reader.read(), True
    if close or version == b"HTTP/1.0":
        kept.close()
    return int(code), data


def _number(text: bytes, base: int) -> int:
    try:
        number = int(text.strip(), base)
    except ValueError:
        raise http.client.HTTPException(f"not a length: {text[:40]!r}") from None
    if number < 0:
        raise http.client.HTTPException(f"not a length: {text[:40]!r}")
    return number


def _read_headers(reader: Any) -> tuple[int | None, bool, bool]:
    """The answer's Content-Length, whether it is chunked and whether the server closes the connection."""
    length: int | None = None
    chunked = close = False
    for _ in range(_MAX_HEADERS + 1):
        header = _line(reader)
        if header in (b"\r\n", b"\n", b""):
            return length, chunked, close
        name, _, value = header.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = _number(value, 10)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


def _read_chunked(reader: Any) -> bytes:
    parts = []
    while True:
        size = _number(_line(reader).split(b";", 1)[0], 16)
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        part = reader.read(size)
        if len(part) < size:
            raise http.client.IncompleteRead(b"".join(parts) + part, size - len(part))
        parts.append(part)
        reader.read(2)  # the CRLF after the chunk


class _Kept:
    """A thread's connection, closed when the thread ends or the ``SearchLine`` goes (no socket left open).

    The closing is a ``weakref.finalize``, not ``__del__``: when an app and its engine are collected as a
    reference cycle, the finalizer runs before the collector finalizes the socket (which would warn
    about an unclosed socket); ``__del__`` would run in no set order with it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self._close = weakref.finalize(self, _close_both, self.reader, sock)

    @property
    def closed(self) -> bool:
        return not self._close.alive

    def close(self) -> None:
        self._close()


def _close_both(reader: Any, sock: socket.socket) -> None:
    reader.close()
    sock.close()


class PooledHttp(HttpRequests):
    """The official client's HTTP layer on one urllib3 pool: connections are reused, and a response
    is read in one piece.

    The client calls ``requests.get``/``post``/… for each request: a new connection every time, and
    requests' chunked reading of the answer cost about 40 ms per search on loopback (measured: a
    search answered in 1 ms by urllib3 or http.client took 45 ms through requests). The answer is
    handed back as a ``requests.Response``, which is what the client's error handling reads. One
    object per thread (the client keeps per-request headers on it); the pool is shared.
    """

    def __init__(self, config: Any, pool: urllib3.PoolManager) -> None:
        super().__init__(config)
        self.pool = pool

    def _send(self, method: str, url: str, body: bytes | None, headers: Any, timeout: float | None) -> Any:
        """One request; sent again once on a new connection when a kept-alive one turns out to have
        been closed by the server meanwhile (it closes idle connections). Timeouts are not retried."""
        try:
            return self.pool.request(method, url, body=body, headers=headers, timeout=timeout, retries=False)
        except urllib3.exceptions.ProtocolError:
            return self.pool.request(method, url, body=body, headers=headers, timeout=timeout, retries=False)

    def _via_pool(self, method: str) -> Any:
        def call(url: str, timeout: float | None = None, headers: dict[str, str] | None = None,
                 data: str | bytes | None = None) -> requests.Response:
            body = data.encode() if isinstance(data, str) else data
            try:
                answer = self._send(method.upper(), url, body, headers, timeout)
            except urllib3.exceptions.TimeoutError as error:
                raise requests.exceptions.Timeout(str(error)) from error
            except urllib3.exceptions.HTTPError as error:
                raise requests.exceptions.ConnectionError(str(error)) from error
            response = requests.Response()
            response.status_code, response.reason, response.url = answer.status, answer.reason or "", url
            response.headers = CaseInsensitiveDict(answer.headers)
            response._content = answer.data
            response.encoding = "utf-8"
            return response

        call.__name__ = method  # the client tells a GET (no body) by the function's name
        return call

    def get(self, path: str) -> Any:
        return self.send_request(self._via_pool("get"), path)

    def post(self, path: str, body: Any = None, content_type: str | None = "application/json", *,
             serializer: Any = None) -> Any:
        return self.send_request(self._via_pool("post"), path, body, content_type, serializer=serializer)

    def patch(self, path: str, body: Any = None, content_type: str | None = "application/json") -> Any:
        return self.send_request(self._via_pool("patch"), path, body, content_type)

    def put(self, path: str, body: Any = None, content_type: str | None = "application/json", *,
            serializer: Any = None) -> Any:
        return self.send_request(self._via_pool("put"), path, body, content_type, serializer=serializer)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.send_request(self._via_pool("delete"), path, body)
