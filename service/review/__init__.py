"""The access review console: read-only, server-rendered pages under /review for security reviewers.

Sign-in with a `review`-scoped key (session.py); pages are built from the engine's
decisions (pages.py) and rendered as HTML, CSV or JSON (render.py). No rule is
checked here: every "who may" comes from decide(), who_can() or list_ids().
"""
from __future__ import annotations

from flask import Flask

from .session import configure_sessions
from .views import add_headers, bp
from . import links  # noqa: F401,E402  (page_link, kept_args, table_view: the templates' link helpers)
from . import export  # noqa: F401,E402  (/review/export: its routes join bp)
from . import changes, policy_page  # noqa: F401,E402  (what changed, policy versions: their routes join bp)
from . import reviews  # noqa: F401,E402  (/review/reviews: its routes join bp)


def register(app: Flask) -> None:
    """Mount /review on the app, with its session cookie settings."""
    configure_sessions(app)
    app.register_blueprint(bp)
    app.after_request(add_headers)
