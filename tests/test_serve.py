"""Issue 12 items 3 and 4 through a real `authz serve` (gunicorn): serving creates and revokes
no API keys and prints none; instances share no gunicorn control socket; errors gunicorn
answers itself come in the service's JSON error shape."""
from __future__ import annotations

import http.client
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
from service.store.models import ApiKey

@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen]]:
    port, home = free_port(), tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "DATABASE_URL": store_url, "AUTHZ_SHAPE_TABLE": "0",
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
        yield port, home, process
    finally:
        process.terminate()  # the gunicorn master (serve exec'd it): its workers stop with it
        process.wait(timeout=30)


def test_serve_creates_no_keys_and_shares_no_control_socket(served: tuple[int, Path, subprocess.Popen]) -> None:
    port, home, process = served
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200
    assert ApiKey.select().count() == 0
    assert not (home / ".gunicorn").exists()
    process.terminate()
    _out, err = process.communicate(timeout=30)
    assert "azk_" not in err and "development keys" not in err


def test_errors_gunicorn_answers_itself_are_json(served: tuple[int, Path, subprocess.Popen]) -> None:
    port = served[0]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"NOT A REQUEST LINE\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Content-Type: application/json" in head
    error = json.loads(body)
    assert error["allowed"] is False and error["error"]["code"] == "bad_request" and error["error"]["message"]
