"""gunicorn settings for `authz serve` (`--config python:service.gunicorn_conf`).

- Threaded workers (`gthread`) keep connections alive, so a caller does not pay a TCP handshake
  per check. Each worker process still builds its one Oso (service/wsgi.py imports the app, and
  with it the engine, before any thread serves); decisions on it are serialized by a lock per
  engine (engine.py), the threads overlap on I/O. AUTHZ_THREADS sets the threads per worker.
- The worker timeout is explicit and above the request deadline (service/api/deadline.py). With
  gthread the master's timeout watches the worker's main loop, not each request: a request is
  bounded by its deadline, the Polar timeout and PostgreSQL's statement_timeout.
- No control socket: gunicorn's default `~/.gunicorn/gunicorn.ctl` would be shared by every
  instance run by the same user (stop one, and you may be talking to another).
- Errors gunicorn answers itself (a malformed request line, oversized headers) use the
  service's JSON error shape instead of gunicorn's HTML page: every caller parses one shape.
"""
from __future__ import annotations

import json
import os

from gunicorn import util

from service.api.deadline import check_settings, request_deadline_seconds, worker_timeout_seconds

worker_class = "gthread"
threads = int(os.environ.get("AUTHZ_THREADS") or 4)  # `authz serve` refuses one that is not a whole number >= 1
keepalive = 5  # seconds an idle kept-alive connection stays open
timeout = worker_timeout_seconds()
graceful_timeout = timeout
control_socket_disable = True
# gunicorn's default access line holds %(u)s, the Basic-auth user name: a key sent that way would be
# logged in plain text. No atom of this line reads the Authorization header in any form.
access_log_format = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
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
