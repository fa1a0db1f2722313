"""HTTP for the client: keep-alive connections (one per thread), a deadline per attempt,
bounded retries with backoff on connection errors and 5xx, never on 4xx.

Only decision calls go through here; they read and never write, so repeating one is safe.
A read that times out is not retried: a hanging service would otherwise multiply the
caller's wait by the number of attempts.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

from .errors import AuthzProtocolError, AuthzRequestError, AuthzUnavailable

USER_AGENT = "partner-authz-client/0.1.0"
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# a kept-alive connection the server closed while idle fails before any answer: one fresh try, free
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class ServerError(Exception):
    """A 5xx answer (retried, then reported as AuthzUnavailable)."""


class Transport:
    def __init__(self, base_url: str, api_key: str, timeout: float, retries: int, backoff: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], not {base_url!r}")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": USER_AGENT}
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._local = threading.local()  # http.client connections are not thread-safe: one per thread
        # weak: a finished thread's connection goes with its thread-local slot instead of piling up here
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON object answered with 200; raises an AuthzError for anything else."""
        payload = json.dumps(body).encode()
        failure: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))
            try:
                status, raw = self._exchange(path, payload)
            except TimeoutError as exc:
                self._drop()
                raise AuthzUnavailable(f"no answer within {self.timeout}s from {path}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                failure = exc
                continue
            if status >= 500:
                self._drop()
                failure = ServerError(f"{status} {raw[:200]!r}")
                continue
            return _json_object(status, raw)
        raise AuthzUnavailable(f"{path} failed after {self.retries + 1} attempts: {failure!r}") from failure

    def close(self) -> None:
        """Close every connection this transport opened, in any thread."""
        with self._all_lock:
            connections, self._all = list(self._all), weakref.WeakSet()
        for conn in connections:
            conn.close()

    # -- one attempt ----------------------------------------------------------------------------

    def _exchange(self, path: str, payload: bytes) -> tuple[int, bytes]:
        conn, reused = self._connection()
        try:
            return self._send(conn, path, payload)
        except STALE_CONNECTION:
            if not reused:
                raise
            self._drop()
            return self._send(self._connection()[0], path, payload)

    def _send(self, conn: http.client.HTTPConnection, path: str, payload: bytes) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout
        if conn.sock is None:
            try:
                conn.connect()
            except TimeoutError as exc:  # nothing was sent: a connection error like any other, retried
                raise ConnectionError(f"connect timed out: {exc}") from exc
        conn.request("POST", self._prefix + path, body=payload, headers=self._headers)
        _limit(conn, deadline)
        resp = conn.getresponse()
        raw = _read_body(conn, resp, deadline)
        resp.close()  # releases the connection for the next request (read1 leaves it marked busy)
        if resp.will_close:
            self._drop()
        return resp.status, raw

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        self._local.conn = conn
        with self._all_lock:
            self._all.add(conn)
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
            with self._all_lock:
                self._all.discard(conn)


def _limit(conn: http.client.HTTPConnection, deadline: float) -> None:
    """Let the next socket operation wait only until the attempt's deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    if conn.sock is not None:
        conn.sock.settimeout(remaining)


def _read_body(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, deadline: float) -> bytes:
    """The whole body before the deadline (a server trickling bytes cannot hold us past it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        _limit(conn, deadline)
        chunk = resp.read1(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise http.client.HTTPException(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    if resp.length:  # Content-Length promised more than arrived: truncated
        raise http.client.IncompleteRead(b"".join(chunks), resp.length)
    return b"".join(chunks)


def _json_object(status: int, raw: bytes) -> dict[str, Any]:
    """A 200's JSON object; a 4xx as AuthzRequestError; anything else as AuthzProtocolError."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if 400 <= status < 500:
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        field = error.get("field")
        raise AuthzRequestError(status, str(error.get("code", "unknown")), str(error.get("message", raw[:200])),
                                field if isinstance(field, str) else None)
    if status != 200:
        raise AuthzProtocolError(f"unexpected status {status}")
    if not isinstance(answer, dict):
        raise AuthzProtocolError(f"the answer is not a JSON object: {raw[:200]!r}")
    return answer
