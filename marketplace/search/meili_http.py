"""How the Meilisearch adapter talks to the server: kept-alive connections, every call with a timeout.

Searches (the one call on every search page) go through ``SearchLine``: one ``http.client``
connection per thread, kept alive, the JSON body posted and the answer read in one piece. Everything
else (writes, tasks, settings, keys) goes through the official client on ``PooledHttp``, a urllib3 pool.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

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
    """POSTs JSON to the server on one kept-alive ``http.client`` connection per thread.

    The official client costs about 0.5 ms of CPU more per search than this (its request objects and
    urllib3's), which is a sixth of the site's own work for an API search. A connection the server has
    closed meanwhile (it closes idle ones) is replaced and the request sent once more; a timeout is not
    retried. Network failures raise ``OSError`` or ``http.client.HTTPException``; an error answer
    raises ``RefusedRequest``.
    """

    def __init__(self, url: str, key: str | None, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.root = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self._local = threading.local()  # .kept: this thread's connection

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout)
        self._local.kept = _Kept(connection)
        return connection

    def _exchange(self, connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
        connection.request("POST", self.root + path, body=body, headers=self.headers)
        answer = connection.getresponse()
        return answer.status, answer.read()

    def post(self, path: str, payload: Any) -> Any:
        body = json.dumps(payload, ensure_ascii=False).encode()
        kept = getattr(self._local, "kept", None)
        connection = kept.connection if kept is not None else self._connect()
        try:
            try:
                status, data = self._exchange(connection, path, body)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not kept:
                    raise
                connection.close()  # closed by the server while idle: once more, on a new connection
                connection = self._connect()
                status, data = self._exchange(connection, path, body)
        except BaseException:
            self._local.kept = None  # closes it
            raise
        if status >= 400:
            try:
                error = json.loads(data)
            except ValueError:
                error = {}
            raise RefusedRequest(status, str(error.get("code", "")), str(error.get("message", data[:200])))
        return json.loads(data)


class _Kept:
    """A thread's connection, closed when the thread ends or the ``SearchLine`` goes (no socket left open)."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection

    def __del__(self) -> None:
        self.connection.close()


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
