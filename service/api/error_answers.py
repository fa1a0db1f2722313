"""The app's error handlers, registered once and kept where the thin path can ask them (fast_path.py).

Every module that answers an exception (errors.py, standby.py, recording.py) registers its handler
through `handles`: on the Flask app (`app.register_error_handler`, public) and in the app's own
table. The thin path, which serves the decision routes in front of Flask, answers an exception with
`handler_for`: the handler of the closest class in the exception's MRO, as Flask picks an
app-level handler, so both paths give the same JSON without reaching into Flask's private lookup.
tests/test_fast_check.py checks that this table holds every handler the app registered, and that the
decision routes' blueprint registers none of its own.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask

Handler = Callable[[Any], Any]
EXTENSION = "authz_error_answers"


def handles(app: Flask, *kinds: type[BaseException]) -> Callable[[Handler], Handler]:
    """Decorator: `handler` answers each of `kinds` (and their subclasses) on the app and on the thin path."""
    def register(handler: Handler) -> Handler:
        table: dict[type[BaseException], Handler] = app.extensions.setdefault(EXTENSION, {})
        for kind in kinds:
            app.register_error_handler(kind, handler)
            table[kind] = handler
        return handler
    return register


def registered(app: Flask) -> dict[type[BaseException], Handler]:
    """Exception class -> its handler, as the app's modules registered them."""
    return dict(app.extensions.get(EXTENSION, {}))


def handler_for(app: Flask, exc: BaseException) -> Handler | None:
    """The handler of the most specific registered class of `exc` (None: the app has none for it)."""
    table = app.extensions.get(EXTENSION, {})
    for kind in type(exc).__mro__:
        if kind in table:
            return table[kind]
    return None
