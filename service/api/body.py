"""The one reader of request bodies: every route, every method, Content-Length or chunked.

Before any handler runs (and before the key is checked: a body too large is refused unread),
the whole body is read, at most MAX_BODY_BYTES + 1 bytes of it. Past the limit the answer is
413 `body_too_large` and nothing of the request is acted on -- werkzeug alone would hand a
chunked body's first 64 KiB to the handler as if it were all of it (its limit stops reading
at the limit without asking whether more follows). What was read is put back as the request's
input, so `request.get_data()` and `request.form` see exactly the bytes that were checked.
"""
from __future__ import annotations

import io
from typing import Any

from flask import Flask, request

from .errors import ApiError

READ_SIZE = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes")


def _declared_length(environ: dict[str, Any]) -> int | None:
    """Content-Length as a number; None when absent (chunked). 400 when it is not a number."""
    raw = environ.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, "malformed_request", "Content-Length must be a whole number of bytes")
    return int(raw)


def _read_at_most(stream: Any, count: int) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = stream.read(min(READ_SIZE, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole body, or 413 if it is longer than `limit` bytes, whatever framing it came in."""
    declared = _declared_length(environ)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    if declared is None and "wsgi.input_terminated" not in environ:
        return b""  # no length and a server that does not end the stream: nothing can be read safely
    wanted = declared if declared is not None else limit + 1  # one byte past the limit tells "more follows"
    data = _read_at_most(environ["wsgi.input"], wanted)
    if len(data) > limit:
        raise _too_large(limit)
    return data


def _replace_input(environ: dict[str, Any], data: bytes) -> None:
    """The checked bytes become the request's input, framed by a Content-Length."""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def read_whole_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request's whole body (413 past `limit`), put back as its input: the app's before_request
    hook and the thin path (fast_path.py) both read bodies with this."""
    data = read_body(environ, limit)
    _replace_input(environ, data)
    return data


def init_app(app: Flask) -> None:
    @app.before_request
    def _read_whole_body() -> None:
        read_whole_body(request.environ, app.config["MAX_CONTENT_LENGTH"])
