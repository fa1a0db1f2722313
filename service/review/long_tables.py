"""The long tables of the console's pages, narrowed to the asked `action=`, `rule=` and `resource=` (every
format) and cut to the asked `page=` of `page_size=` rows (HTML only): the customer, user, partner, review,
changes and rule pages; the lists without actions or rules (the reviews, the partners of the home page, the
policy versions, the exports given out) are paged only.

The JSON and CSV of a page hold every row that passes the filters: whole when no filter is asked, so an
auditor's export is never one page of it. A filter only narrows what the engine already answered.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from .pages import Page, Table
from service.policy.rulebook import statements

from .paging import BadArgument, Filters, Shown, filters_from, narrow, page_number, page_size

# the actions the partner matrix holds (one column each): its only filterable ones
PARTNER_ACTIONS = ("access_account", "manage_product", "view_statistics")


def check_args(args: Mapping[str, str]) -> None:
    """Refuse a bad filter or page before the page is built (400 naming the parameter)."""
    filters_from(args), page_number(args), page_size(args)


def _filters_data(page: Page, filters: Filters) -> None:
    if filters.active():
        page.data["filters"] = {"action": filters.action or None, "rule": filters.rule or None}


def filter_choices(rows: list[dict[str, Any]], filters: Filters) -> dict[str, list[str]]:
    """The filter form's choices: the actions the table holds (and the one asked), every rule."""
    return {"filter_actions": sorted({row["action"] for row in rows} | {filters.action} - {""}),
            "filter_rules": sorted(statements(), key=lambda rule: int(rule[1:]))}


def _own_copy(page: Page) -> Page:
    """A copy to narrow: the page may be a kept one (past_pages.py), shared by every later request."""
    return dataclasses.replace(page, data=dict(page.data), context=dict(page.context),
                               tables={name: Table(t.columns, t.rows) for name, t in page.tables.items()})


def rows_table(page: Page, table: str, data_key: str, args: Mapping[str, str]) -> Page:
    """A page whose table rows and JSON entries run in the same order (customer `access`, user `may`,
    a review's `rows`)."""
    page = _own_copy(page)
    rows = page.tables[table].rows
    kept, shown = narrow(rows, page.data[data_key], args)
    page.tables[table].rows = [rows[i] for i in kept]
    page.data[data_key] = [page.data[data_key][i] for i in kept]
    _filters_data(page, shown.filters)
    page.context.update(shown=shown, **filter_choices(rows, shown.filters))
    return page


def _reaches(action: str, cells: list[dict[str, Any]]) -> bool:
    return any(cell[action] for cell in cells)


def partner_table(page: Page, args: Mapping[str, str]) -> Page:
    """The partner page by customer: `action=` keeps the customers some member may take it on; the
    matrix carries no reasons, so `rule=` is refused there (the customer page filters by rule)."""
    filters = filters_from(args)
    if filters.rule:
        raise BadArgument("rule cannot filter the partner page (its matrix has no reasons): open a customer "
                          "page with ?rule=", "rule")
    if filters.resource:
        raise BadArgument("resource cannot filter the partner page: open the customer page with ?resource=", "resource")
    if filters.action and filters.action not in PARTNER_ACTIONS:
        raise BadArgument(f"action on the partner page must be one of {', '.join(PARTNER_ACTIONS)}", "action")
    page = _own_copy(page)
    customers, matrix = page.data["customers"], page.data["matrix"]
    cells: dict[str, list[dict[str, Any]]] = {c["customer"]: [] for c in customers}
    for cell in matrix:  # grouped in one pass (a list per customer was 200 x 1,400 comparisons)
        cells.setdefault(cell["customer"], []).append(cell)

    def keeps(wanted: Filters, customer: dict[str, Any]) -> bool:
        return not wanted.action or _reaches(wanted.action, cells[customer["customer"]])
    kept, shown = narrow(customers, None, args, keeps)
    kept_refs = {customers[i]["customer"] for i in kept}
    page.data["customers"] = [customers[i] for i in kept]
    page.data["matrix"] = [m for m in matrix if m["customer"] in kept_refs]
    page.tables["customers"].rows = page.data["customers"]
    page.tables["matrix"].rows = [r for r in page.tables["matrix"].rows if r["customer"] in kept_refs]
    grid = [page.context["grid"][i] for i in kept]
    size = page_size(args)
    page.context["grid"] = grid[(shown.pager.page - 1) * size:][:size]  # the customers this page shows
    _filters_data(page, shown.filters)
    page.context.update(shown=shown, filter_actions=PARTNER_ACTIONS)
    return page



def changes_table(page: Page, args: Mapping[str, str]) -> Page:
    """The changes page: its rows narrowed by action, rule and resource, and the JSON's `gained`, `lost` and
    `causes` alike (a filter asked explicitly); the HTML shows one page of rows and the causes they cite."""
    page = _own_copy(page)
    rows = page.tables["changes"].rows
    kept, shown = narrow(rows, None, args)
    narrowed = page.tables["changes"].rows = [rows[i] for i in kept]
    if shown.filters.active():
        keys = {_key(row) for row in narrowed}
        page.data["gained"] = [d for d in page.data["gained"] if _key(d) in keys]
        page.data["lost"] = [d for d in page.data["lost"] if _key(d) in keys]
        page.data["causes"] = _cited(page.data["causes"], narrowed)
    _filters_data(page, shown.filters)
    page.context.update(shown=shown, causes_shown=_cited(page.data["causes"], shown.rows),
                        **filter_choices(rows, shown.filters))
    return page


def _key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return row["user"], row["action"], row["resource"]


def _cited(causes: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The causes the rows name (a cause without a revision, time that passed, is `None`)."""
    revisions = {row["cause_revision"] for row in rows}
    return [cause for cause in causes if cause["revision"] in revisions]


def granted_table(page: Page, args: Mapping[str, str]) -> Page:
    """A rule page's granted (user, action, resource), narrowed by action and resource, paged in HTML.
    Every row is granted with the page's own rule, its path's: a query's `rule=` is no filter here (checked
    as everywhere, then left aside, as its export links leave it)."""
    return rows_table(page, "granted", "granted", {name: value for name, value in args.items() if name != "rule"})


def paged(rows: Sequence[Any], args: Mapping[str, str], listed: str) -> Shown:
    """One page of a list whose rows have no action, rule or resource (`listed` names it): a filter asked of
    it is refused, naming the parameter, rather than answered with no row."""
    filters = filters_from(args)
    for name in ("action", "rule", "resource"):
        if getattr(filters, name):
            raise BadArgument(f"{name} cannot filter {listed}: its rows have no {name}", name)
    return narrow(list(rows), None, args)[1]
