"""Links from a page to another view of the same page (its next page, the present instead of a past
moment, every row instead of a filtered few): they keep the page's other query parameters, so paging
a filtered table at a past moment stays filtered and at that moment.

Only the console's own page parameters (render.PAGE_PARAMS) are carried over: anything else in the
query string is dropped, never reflected into a link. Registered as template globals on the console's
blueprint (`page_link`, `kept_args`, `table_view`).
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from .render import PAGE_PARAMS
from .views import bp

TABLE_VIEW = ("action", "rule", "page", "page_size")


def kept_args(*dropped: str) -> dict[str, str]:
    """The page's own query arguments as asked, minus `dropped` (for hidden fields of a form that
    changes only those)."""
    return {name: request.args[name] for name in PAGE_PARAMS if name in request.args and name not in dropped}


def table_view() -> dict[str, str]:
    """The asked view of a page's long table (filters, page, page size): what a form posted from that
    table's rows carries back to it."""
    return {name: request.args[name] for name in TABLE_VIEW if name in request.args}


def page_link(**changed: object) -> str:
    """This page with `changed` arguments (None drops one) and every other asked argument kept."""
    args = {**kept_args(*changed), **{name: str(value) for name, value in changed.items() if value is not None}}
    return request.path + ("?" + urlencode(args) if args else "")


bp.add_app_template_global(kept_args)
bp.add_app_template_global(page_link)
bp.add_app_template_global(table_view)
