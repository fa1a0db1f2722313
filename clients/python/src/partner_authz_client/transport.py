"""HTTP for the sync client (http.client): keep-alive connections (one per thread), a time
limit per attempt covering the whole answer, and the retry schedule of attempts.py.

Only read calls go through here (decisions, lists, a decision record, the policy): repeating
one is safe.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import weakref
from typing import Any, Optional
from urllib.parse import urlsplit

from .attempts import Attempts, Policy, parse

USER_AGENT = "partner-authz-client/0.2.0"
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# a kept-alive connection the server closed while idle fails before any answer: one fresh try, free
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def split_base_url(base_url: str) -> tuple[str, str, Optional[int], str]:
    """(scheme, host, port, path prefix) of http(s)://host[:port][/prefix]."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be http(s)://host[:port][/prefix], not {base_url!r}")
    return parts.scheme, parts.hostname, parts.port, parts.path.rstrip("/")


def headers(api_key: str, user_agent: str = USER_AGENT) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
            "Accept": "application/json", "User-Agent": user_agent}


class Transport:
    def __init__(self, base_url: str, api_key: str, policy: Policy) -> None:
        scheme, self._host, self._port, self._prefix = split_base_url(base_url)
        self._https = scheme == "https"
        self._headers = headers(api_key)
        self.policy = policy
        self._local = threading.local()  # http.client connections are not thread-safe: one per thread
        # weak: a finished thread's connection goes with its thread-local slot instead of piling up here
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    def request(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The JSON object answered with 200; raises an AuthzError for anything else."""
        payload = None if body is None else json.dumps(body).encode()
        attempts = Attempts(self.policy, path)
        while True:
            limit = attempts.limit()
            try:
                status, raw = self._exchange(method, path, payload, limit)
            except TimeoutError as exc:
                self._drop()
                raise attempts.timed_out() from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                wait = attempts.failed(exc)
            else:
                if status >= 500:
                    self._drop()
                answered = attempts.answered(status, raw)
                if answered is None:
                    return parse(status, raw)
                wait = answered
            time.sleep(wait)

    def close(self) -> None:
        """Close every connection this transport opened, in any thread."""
        with self._all_lock:
            connections, self._all = list(self._all), weakref.WeakSet()
        for conn in connections:
            conn.close()

    # -- one attempt ----------------------------------------------------------------------------

    def _exchange(self, method: str, path: str, payload: Optional[bytes], limit: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + limit
        conn, reused = self._connection()
        try:
            return self._send(conn, method, path, payload, deadline)
        except STALE_CONNECTION:
            if not reused:
                raise
            self._drop()
            return self._send(self._connection()[0], method, path, payload, deadline)

    def _send(self, conn: http.client.HTTPConnection, method: str, path: str, payload: Optional[bytes],
              deadline: float) -> tuple[int, bytes]:
        if conn.sock is None:
            conn.timeout = max(deadline - time.monotonic(), 0.001)
            try:
                conn.connect()
            except TimeoutError as exc:  # nothing was sent: a connection error like any other, retried
                raise ConnectionError(f"connect timed out: {exc}") from exc
        _limit(conn, deadline)
        conn.request(method, self._prefix + path, body=payload, headers=self._headers)
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
        conn = cls(self._host, self._port, timeout=self.policy.timeout)
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
