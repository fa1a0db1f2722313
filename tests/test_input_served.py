"""Issue 20 items 1 and 6 through the real `authz serve` (gunicorn): a chunked body over 64 KiB is
413 and acts on nothing; the access log shows no Authorization value (a key as Basic-auth user)."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from live_servers import free_port
from service.api.auth import create_key
from service.store import current_revision


@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[tuple[int, str, subprocess.Popen]]:
    _, key = create_key("served-write", "write")
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path), "DATABASE_URL": store_url, "AUTHZ_SHAPE_TABLE": "0",
           "AUTHZ_DECISION_LOG": "off"}
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        yield port, key, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _exchange(port: int, head: str, body: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(head.encode() + body)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _chunks(payload: bytes, size: int = 16 * 1024) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(payload[i:i + size]), payload[i:i + size]) for i in range(0, len(payload), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_a_chunked_megabyte_is_413_through_the_server(served: tuple[int, str, subprocess.Popen]) -> None:
    port, key, _ = served
    before = current_revision()
    padded = json.dumps({"name": "Prefix GmbH", "partner": False}).encode() + b" " * (1024 * 1024)
    head = (f"POST /v1/organizations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    status, body = _exchange(port, head, _chunks(padded))
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    assert current_revision() == before
    small = json.dumps({"name": "Chunked GmbH", "partner": False}).encode()
    status, body = _exchange(port, head, _chunks(small))
    assert status == 201 and json.loads(body)["name"] == "Chunked GmbH"


def test_the_access_log_shows_no_key(served: tuple[int, str, subprocess.Popen]) -> None:
    port, key, process = served
    basic = base64.b64encode(f"{key}:".encode()).decode()
    for authorization in (f"Basic {basic}", f"Bearer {key}"):
        _exchange(port, f"GET /v1/organizations/1 HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n"
                        "Connection: close\r\n\r\n", b"")
    time.sleep(0.5)
    process.terminate()
    out, err = process.communicate(timeout=30)
    assert "/v1/organizations/1" in out + err  # the requests were logged...
    for leaked in (key, basic, key[4:]):
        assert leaked not in out + err  # ...without the key in any form
