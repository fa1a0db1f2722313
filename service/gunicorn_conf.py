"""gunicorn settings for `authz serve` (`--config python:service.gunicorn_conf`).

- The worker timeout is explicit and above the request deadline (service/api/deadline.py).
- No control socket: gunicorn's default `~/.gunicorn/gunicorn.ctl` would be shared by every
  instance run by the same user (stop one, and you may be talking to another).
- Errors gunicorn answers itself (a malformed request line, oversized headers) use the
  service's JSON error shape instead of gunicorn's HTML page: every caller parses one shape.
"""
from __future__ import annotations

import json

from gunicorn import util

from service.api.deadline import check_settings, request_deadline_seconds, worker_timeout_seconds

timeout = worker_timeout_seconds()
graceful_timeout = timeout
control_socket_disable = True
check_settings(request_deadline_seconds(), timeout)

_html_error = util.write_error


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers as {"error": {code, message}, "allowed": false}."""
    body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"), "message": mesg or reason},
                       "allowed": False}, sort_keys=True)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n")
    util.write_nonblock(sock, (head + body).encode("latin1", "replace"))


# workers are forked from the master, which reads this file: they inherit the replacement
util.write_error = write_json_error
