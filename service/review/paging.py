"""Long tables of a page: filtered by action and rule (every format), paged in HTML.

Filtering only narrows rows the engine already answered; it decides nothing. The CSV and JSON
of a page carry every row that passes the filters (they are exports: whole unless a filter is
asked), never one page of them; the HTML shows one page of `page_size` rows (PAGE_SIZE unless
asked) with the totals and links to the others.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from service.decide.vocabulary import ACTIONS
from service.policy.rulebook import statements

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
KNOWN_ACTIONS = sorted({action for actions in ACTIONS.values() for action in actions})
_NUMBER = re.compile(r"(\d+)")


class BadArgument(ValueError):
    """A malformed paging or filter argument; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Filters:
    action: str = ""
    rule: str = ""
    resource: str = ""

    def keeps(self, row: Mapping[str, Any]) -> bool:
        if self.action and row.get("action") != self.action:
            return False
        if self.rule and self.rule not in str(row.get("rules", "")).split():
            return False
        return not self.resource or row.get("resource") == self.resource

    def active(self) -> bool:
        return bool(self.action or self.rule or self.resource)


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int
    first: int  # 1-based index of the first row shown (0 when none)
    last: int


_RULE = re.compile(r"^R\d{1,2}$")
_WORD = re.compile(r"^[a-z_]{1,40}$")
_REF = re.compile(r"^[a-z_]{1,20}:\d{1,18}$")


def filters_from(args: Mapping[str, str]) -> Filters:
    action, rule, resource = (args.get(name, "").strip() for name in ("action", "rule", "resource"))
    if action and (not _WORD.match(action) or action not in KNOWN_ACTIONS):
        raise BadArgument("action must be an action name such as access_account (no such action)", "action")
    if rule and (not _RULE.match(rule) or rule not in statements()):
        raise BadArgument("rule must be a rule number such as R13 (no such rule)", "rule")
    if resource and not _REF.match(resource):
        raise BadArgument("resource must be a reference such as product:7", "resource")
    return Filters(action, rule, resource)


def page_number(args: Mapping[str, str]) -> int:
    text = args.get("page", "").strip() or "1"
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 10**6:
        raise BadArgument("page must be a page number from 1", "page")
    return int(text)


def page_size(args: Mapping[str, str]) -> int:
    text = args.get("page_size", "").strip() or str(PAGE_SIZE)
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise BadArgument(f"page_size must be a number of rows from 1 to {MAX_PAGE_SIZE}", "page_size")
    return int(text)


def filtered(rows: Iterable[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    return [row for row in rows if filters.keeps(row)]


def one_page(rows: list[Any], page: int, size: int = PAGE_SIZE) -> tuple[list[Any], Pager]:
    """The rows of page `page` (a page past the last shows the last one)."""
    pages = max(1, -(-len(rows) // size))
    page = min(page, pages)
    start = (page - 1) * size
    shown = rows[start:start + size]
    return shown, Pager(page, pages, len(rows), start + 1 if shown else 0, start + len(shown))


def natural_key(text: str) -> tuple:
    """Natural order: "Customer 9" before "Customer 10" (digit runs compare as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in _NUMBER.split(text) if part)


@dataclass(frozen=True)
class Shown:
    """One long table as a page shows it: the rows of this page, where they fall, and the filters asked."""
    rows: list[Any]
    pager: Pager
    filters: Filters


def narrow(rows: list[dict[str, Any]], data: list[Any] | None, args: Mapping[str, str],
           keeps: Callable[[Filters, dict[str, Any]], bool] | None = None) -> tuple[list[int], Shown]:
    """Filter a table's rows (and the JSON entries `data` in the same order) by the asked action and rule,
    and cut the page to show. Returns the indexes kept (for the caller to narrow its JSON and CSV) and
    what the HTML shows. Bad arguments raise BadArgument before anything is built."""
    filters, page, size = filters_from(args), page_number(args), page_size(args)
    keep = keeps or (lambda f, row: f.keeps(row))
    kept = [index for index, row in enumerate(rows) if keep(filters, row)]
    shown, pager = one_page([rows[index] for index in kept], page, size)
    assert data is None or len(data) == len(rows)
    return kept, Shown(shown, pager, filters)
