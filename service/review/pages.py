"""What each console page shows, as plain data: the same rows feed HTML, CSV and JSON.

Facts (names, partnerships, products) are read from the store; every "who may do what" comes
from the engine of the policy version in force, through the answers the API gives: who_can()
(/v1/subjects) on the customer page, list_allowed() (/v1/list) on the partner, user and rule
pages. A page is built in one snapshot whose active version is the engine's
(queries.in_force.build_in_force), and names that version and revision; with no version in force
it is refused (PolicyUnavailable), never drawn without the policy.
"""
from __future__ import annotations

import contextlib
import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from service.decide.engine import Engine
from service.decide.refs import Ref
from service.policy.rulebook import Clause, statements, version_clauses
from service.analysis.tables import DEFAULT_TABLE_DIR, load_tables
from service.decide.vocabulary import ACTIONS, actions_for
from service.audit.past import Moment, facts_at
from service.queries.lists import list_actions, list_ids
from service.queries.subjects import who_can
from service.store.fast_sql import fetch_all as _rows
from service.store.schema import revision_stamp

from .moment import build_at, moment_data
from .paging import Filters, Shown, natural_key, one_page
from .precompute import page_wait
from .rule_pairs import RulePairs, granted as granted_triples, rule_pairs

EVERYTHING = 10**9  # list limit: the whole answer


class NotFound(LookupError):
    """The page's subject does not exist."""


class BadQuery(ValueError):
    """A query parameter the page cannot take (answered 400, naming it)."""


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Page:
    title: str
    template: str
    data: dict[str, Any]                      # the JSON answer
    tables: dict[str, Table]                  # the CSV answers by name (the first is the default)
    context: dict[str, Any] = field(default_factory=dict)  # HTML-only extras (names for links)


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


def names(kind: str, ids: set[int] | list[int]) -> dict[int, str]:
    """id -> display name of users ("name <email>") or organizations/products."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    if kind == "user":
        return {r[0]: f"{r[1]} <{r[2]}>" for r in _rows(f"SELECT id, name, email FROM users WHERE id IN ({_marks(ids)})",
                                                         tuple(ids))}
    return {r[0]: r[1] for r in _rows(f"SELECT id, name FROM {kind} WHERE id IN ({_marks(ids)})", tuple(ids))}


def rules_of(reasons: list[dict[str, Any]]) -> list[str]:
    return sorted({r["rule"] for r in reasons if "rule" in r}, key=lambda r: int(r[1:]))


_WORDS = {"organization": "organization:{}", "partnership": "partnership:{}", "partner": "partner organization:{}",
          "product": "product:{}", "invoice": "invoice:{}", "invitation": "invitation:{}", "role": "role {}",
          "access": "{} access", "right": "{} right", "side": "{} side"}


def describe(reasons: list[dict[str, Any]]) -> str:
    """Reasons in words: their facts flattened (role, partnership, partner, assignment, right...)."""
    parts: list[str] = []

    def walk(value: dict[str, Any]) -> None:
        for key, item in value.items():
            if isinstance(item, dict):
                walk(item)
                continue
            if key == "rule" or item is False:
                continue
            text = key.replace("_", " ") if item is True else _WORDS.get(key, key + " {}").format(item)
            if text not in parts:
                parts.append(text)
    for reason in reasons:
        walk(reason)
    return "; ".join(parts)


def _organization(org_id: int) -> tuple[int, str, bool]:
    found = _rows("SELECT id, name, is_partner FROM organization WHERE id = ?", (org_id,))
    if not found:
        raise NotFound(f"organization:{org_id}")
    return found[0][0], found[0][1], bool(found[0][2])


# -- a customer: who can act on it, for every action, and why ------------------------------


def _decided_by(engine: Engine, moment: Moment | None = None) -> dict[str, Any]:
    """What every page's answers were decided with: the moment (`at`: null for the present), the version
    in force then and the store's revision (a past one inside history.as_of)."""
    return {**moment_data(moment), "policy_version": engine.policy_version, "revision": revision_stamp()[1]}


def customer_page(engine: Any, org_id: int, moment: Moment | None = None) -> Page:
    return build_at(engine, moment, lambda concrete: _customer_page(concrete, org_id, moment), kept=("customer", org_id))


def customer_resources(org_id: int) -> list[Ref]:
    """The customer's organization, then its products and invoices (facts: what exists, not who may)."""
    products = _rows("SELECT id FROM product WHERE organization_id = ? ORDER BY id", (org_id,))
    invoices = _rows("SELECT id FROM invoice WHERE organization_id = ? ORDER BY id", (org_id,))
    return [Ref("organization", org_id), *(Ref("product", r[0]) for r in products),
            *(Ref("invoice", r[0]) for r in invoices)]


def access_on(engine: Engine, refs: list[Ref]) -> list[dict[str, Any]]:
    """Who may take each action of each resource, with every reason: /v1/subjects for each (resource, action)."""
    return [{"user": s.user, "action": action, "resource": str(ref), "reasons": s.reasons}
            for ref in refs for action in actions_for(ref.type) for s in who_can(engine, action, ref).subjects]


def _sides(org_id: int, partner_ids: list[int], user_ids: list[int]) -> dict[int, str]:
    """Which side each user acts from: `customer` (a member of it), `partner` (a member of one of its
    partners), else `other`. A label from memberships; whether they may act is the engine's answer."""
    if not user_ids:
        return {}
    sides: dict[int, str] = {}
    for user_id, organization in _rows(f"SELECT user_id, organization_id FROM membership WHERE user_id IN "
                                       f"({_marks(user_ids)})", tuple(user_ids)):
        side = "customer" if organization == org_id else "partner" if organization in partner_ids else ""
        if side and sides.get(user_id) != "customer":
            sides[user_id] = side
    return sides


def _customer_page(engine: Engine, org_id: int, moment: Moment | None) -> Page:
    _, name, is_partner = _organization(org_id)
    resources = customer_resources(org_id)
    access = access_on(engine, resources)
    partners = _rows("SELECT p.id, o.id, o.name, p.access, p.payment_mode FROM partnership p JOIN organization o "
                     "ON o.id = p.partner_id WHERE p.customer_id = ? AND p.status = 'active' ORDER BY o.name",
                     (org_id,))
    user_ids = sorted({_id_of(a["user"]) for a in access})
    users = names("user", user_ids)
    sides = _sides(org_id, [p[1] for p in partners], user_ids)
    labels = {"product": names("product", [r.id for r in resources if r.type == "product"])}
    rows = [{"user": a["user"], "name": users.get(_id_of(a["user"]), ""), "side": sides.get(_id_of(a["user"]), "other"),
             "resource": a["resource"], "resource_name": _label(labels, a["resource"]), "action": a["action"],
             "rules": " ".join(rules_of(a["reasons"])), "why": describe(a["reasons"]),
             "reasons": json.dumps(a["reasons"], sort_keys=True)} for a in access]
    return Page(f"Customer {name}", "customer.html",
                {"customer": f"organization:{org_id}", "resources": [str(r) for r in resources], "access": access,
                 **_decided_by(engine, moment)},
                {"access": Table(["user", "name", "side", "resource", "resource_name", "action", "rules", "why",
                                  "reasons"], rows)},
                {"org": {"ref": f"organization:{org_id}", "id": org_id, "name": name, "is_partner": is_partner},
                 "partners": [dict(zip(("partnership", "id", "name", "access", "payment_mode"), p)) for p in partners],
                 "resources": [{"ref": str(r), "name": _label(labels, str(r))} for r in resources]})


def _id_of(ref: str) -> int:
    return int(ref.split(":", 1)[1])


def _label(labels: dict[str, dict[int, str]], ref: str) -> str:
    kind, _, rid = ref.partition(":")
    return labels.get(kind, {}).get(int(rid), "")


# -- a partner: its customers and which of its users reach which customer and product ------------


def _day(value: Any) -> str:
    return str(value)[:10] if value is not None else ""


def partner_page(engine: Any, org_id: int, moment: Moment | None = None) -> Page:
    return build_at(engine, moment, lambda concrete: _partner_page(concrete, org_id, moment), kept=("partner", org_id))


def _partner_page(engine: Engine, org_id: int, moment: Moment | None) -> Page:
    _, name, is_partner = _organization(org_id)
    if not is_partner:
        raise NotFound(f"organization:{org_id} is not a partner")
    managed = _rows(
        "SELECT o.id, o.name, p.id, p.access, p.payment_mode, p.created_at FROM partnership p "
        "JOIN organization o ON o.id = p.customer_id WHERE p.partner_id = ? AND p.status = 'active' "
        "ORDER BY o.name, o.id", (org_id,))
    customers = [{"customer": f"organization:{c[0]}", "name": c[1], "partnership": f"partnership:{c[2]}",
                  "access": c[3], "payment_mode": c[4] or "", "since": _day(c[5])} for c in managed]
    customer_ids = [c[0] for c in managed]
    products: dict[int, list[int]] = {cid: [] for cid in customer_ids}
    for product_id, owner in _rows(f"SELECT id, organization_id FROM product WHERE organization_id IN "
                                   f"({_marks(customer_ids)}) ORDER BY id", tuple(customer_ids)):
        products[owner].append(product_id)
    members = _rows("SELECT u.id, u.name, m.role FROM membership m JOIN users u ON u.id = m.user_id "
                    "WHERE m.organization_id = ? ORDER BY u.name, u.id", (org_id,))
    matrix = []
    for user_id, _user_name, _role in members:
        reached = set(list_ids(engine, user_id, "access_account", "organization", limit=EVERYTHING))
        by_action = list_actions(engine, user_id, ("manage_product", "view_statistics"), "product", limit=EVERYTHING)
        technical, statistical = set(by_action["manage_product"].ids), set(by_action["view_statistics"].ids)
        for cid in customer_ids:
            owned = products[cid]
            matrix.append({
                "user": f"user:{user_id}", "customer": f"organization:{cid}", "access_account": cid in reached,
                "manage_product": [f"product:{p}" for p in owned if p in technical],
                "view_statistics": [f"product:{p}" for p in owned if p in statistical],
                "products": len(owned)})
    users = [{"user": f"user:{u}", "name": n, "role": r} for u, n, r in members]
    matrix_rows = [{**cell, "manage_product": " ".join(cell["manage_product"]),
                    "view_statistics": " ".join(cell["view_statistics"])} for cell in matrix]
    grid = _grid(customers, len(users), matrix)
    return Page(f"Partner {name}", "partner.html",
                {"partner": f"organization:{org_id}", "customers": customers, "users": users, "matrix": matrix,
                 **_decided_by(engine, moment)},
                {"customers": Table(["customer", "name", "partnership", "access", "payment_mode", "since"], customers),
                 "matrix": Table(["user", "customer", "access_account", "manage_product", "view_statistics",
                                  "products"], matrix_rows),
                 "users": Table(["user", "name", "role"], users)},
                {"org": {"ref": f"organization:{org_id}", "id": org_id, "name": name}, "grid": grid})


def _grid(customers: list[dict[str, Any]], width: int, matrix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matrix as the HTML shows it: one row per customer, one short cell per user (same order)."""
    rows = []
    for index, customer in enumerate(customers):
        cells = matrix[index::len(customers)] if customers else []
        rows.append({**customer, "cells": [
            (cell["access_account"], f"T {len(cell['manage_product'])}/{cell['products']} · "
                                     f"S {len(cell['view_statistics'])}/{cell['products']}") for cell in cells]})
        assert len(cells) == width
    return rows


# -- a user: everything they may do, across organizations -----------------------------------


def user_page(engine: Any, user_id: int, moment: Moment | None = None) -> Page:
    return build_at(engine, moment, lambda concrete: _user_page(concrete, user_id, moment), kept=("user", user_id))


def user_access(engine: Engine, user_id: int) -> list[dict[str, Any]]:
    """Everything the user may do, each with its first reason: /v1/list for every (type, action)."""
    may = []
    for resource_type, actions in ACTIONS.items():  # one read of a type's candidates for all its actions
        by_action = list_actions(engine, user_id, actions, resource_type, limit=EVERYTHING, reasons="first")
        for action in actions:
            found_list = by_action[action]
            may.extend({"action": action, "resource": f"{resource_type}:{resource_id}", "reasons": reasons}
                       for resource_id, reasons in zip(found_list.ids, found_list.reasons))
    return may


def _user_page(engine: Engine, user_id: int, moment: Moment | None) -> Page:
    found = _rows("SELECT id, name, email FROM users WHERE id = ?", (user_id,))
    if not found:
        raise NotFound(f"user:{user_id}")
    _, name, email = found[0]
    memberships = [{"organization": f"organization:{o}", "name": n, "role": r, "billing": bool(b)}
                   for o, n, r, b in _rows("SELECT o.id, o.name, m.role, m.billing FROM membership m JOIN organization o "
                                           "ON o.id = m.organization_id WHERE m.user_id = ? ORDER BY o.name", (user_id,))]
    actor = f"user:{user_id}"
    may = user_access(engine, user_id)
    labels = {kind: names(kind, [int(m["resource"].split(":")[1]) for m in may
                                 if m["resource"].startswith(kind + ":")]) for kind in ("organization", "product")}
    rows = [{"action": m["action"], "resource": m["resource"],
             "name": labels.get(m["resource"].split(":")[0], {}).get(int(m["resource"].split(":")[1]), ""),
             "rules": " ".join(rules_of(m["reasons"])), "why": describe(m["reasons"]),
             "reasons": json.dumps(m["reasons"], sort_keys=True)} for m in may]
    return Page(f"User {name}", "user.html",
                {"user": actor, "name": name, "email": email, "memberships": memberships, "may": may,
                 **_decided_by(engine, moment)},
                {"may": Table(["action", "resource", "name", "rules", "why", "reasons"], rows),
                 "memberships": Table(["organization", "name", "role", "billing"], memberships)},
                {"person": {"ref": actor, "name": name, "email": email}})


# -- a rule: its text, clauses, table rows, and the pairs of this store it grants --------------

_GRANT_ACTION = re.compile(r'^grant\([^,]+, "([a-z_]+)", (?:[a-z_]+): ([A-Za-z]+)')


def _grant_actions(clauses: list[Clause]) -> set[tuple[str, str]]:
    """The (resource type, action) the rule's grant clauses name."""
    actions = set()
    for clause in clauses:
        match = _GRANT_ACTION.match(clause.head)
        if match:
            actions.add((match.group(2).lower(), match.group(1)))
    return actions


@functools.lru_cache(maxsize=16)
def _clauses_of(version: str, texts: tuple[tuple[str, str], ...]) -> list[Clause]:
    # a version's clauses never change: parsed once per version, not per page
    return version_clauses(dict(texts))


@functools.lru_cache(maxsize=1)
def _table_rows() -> list[Any]:
    # the checkout's decision tables (read once per process; they change only with the checkout)
    return [r for table in load_tables(DEFAULT_TABLE_DIR) for r in table.rows]


def rule_page(engine: Any, rule: str, moment: Moment | None = None) -> Page:
    texts = statements()
    if rule not in texts:
        raise NotFound(rule)
    wait = page_wait()
    return build_at(engine, moment, lambda concrete: _rule_page(concrete, rule, *texts[rule], moment,
                                                                lambda: rule_pairs(engine, concrete, moment, wait)),
                    kept=("rule", rule))


def _rule_page(engine: Engine, rule: str, title: str, statement: str, moment: Moment | None,
               every_rule: Callable[[], RulePairs]) -> Page:
    """The rule's statement, the clauses citing it in the version in force, the decision tables' rows
    naming it, and the (user, action, resource) of this store it grants."""
    clauses = [clause for clause in _clauses_of(engine.policy_version, tuple(sorted(engine.texts.items())))
               if rule in clause.rules]
    rows = [{"table": r.file, "actor": r.actor, "action": r.action, "resource": r.resource, "expect": r.expect,
             "missing": " ".join(r.missing), "note": r.note} for r in _table_rows() if r.rule == rule]
    clause_rows = [{"where": c.where, "head": c.head, "rules": " ".join(c.rules), "comment": c.comment,
                    "source": c.source} for c in clauses]
    granted = granted_triples(every_rule(), rule, _grant_actions(clauses))
    return Page(f"{rule} — {title}", "rule.html",
                {"rule": rule, "title": title, "statement": statement, "clauses": clause_rows, "rows": rows,
                 "granted_pairs": len({(g["user"], g["resource"]) for g in granted}), "granted": granted, **_decided_by(engine, moment)},
                {"granted": Table(["user", "action", "resource"], granted),
                 "clauses": Table(["where", "head", "rules", "comment", "source"], clause_rows),
                 "rows": Table(["table", "actor", "action", "resource", "expect", "missing", "note"], rows)},
                {"rule": rule})


# -- search by name, e-mail or id ---------------------------------------------------------------

_REF = re.compile(r"^(user|organization):([0-9]+)$")  # ids are ASCII digits only (never ４２ or ٤٢)
SEARCH_PAGE = 100
MAX_ID = 2**31 - 1
# kind -> (table, columns shown, columns searched by text)
_SEARCHED = {"user": ("users", "id, name, email", ("name", "email")),
             "organization": ("organization", "id, name, is_partner", ("name",))}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(kind: str, wanted_id: int | None, pattern: str | None) -> list[dict[str, Any]]:
    """Every match (a page of a large store's search is cut in Python, after the natural sort)."""
    table, columns, texts = _SEARCHED[kind]
    conditions, params = [], []
    if wanted_id is not None:
        conditions.append("id = ?")
        params.append(wanted_id)
    if pattern is not None:
        conditions += [f"LOWER({column}) LIKE ? ESCAPE '\\'" for column in texts]
        params += [pattern] * len(texts)
    if not conditions:
        return []
    found = _rows(f"SELECT {columns} FROM {table} WHERE {' OR '.join(conditions)}", tuple(params))
    if kind == "user":
        return [{"kind": kind, "ref": f"user:{i}", "name": n, "email": e, "partner": False} for i, n, e in found]
    return [{"kind": kind, "ref": f"organization:{i}", "name": n, "email": "", "partner": bool(p)} for i, n, p in found]


def _hit_order(hit: dict[str, Any]) -> tuple:
    return natural_key(hit["name"]), hit["kind"], _id_of(hit["ref"])


def search_page(query: str, page: int = 1, moment: Moment | None = None, size: int = SEARCH_PAGE) -> Page:
    """Users and organizations by id (`user:3`, `organization:1`, `3`), name or e-mail (substring), in
    natural order (Customer 9 before Customer 10), `size` (SEARCH_PAGE) per page with the total; the CSV holds all."""
    query = query.strip()[:200]  # a pasted value's surrounding spaces, tabs and line breaks are dropped
    if any(unicodedata.category(ch) == "Cc" for ch in query):
        # NUL broke PostgreSQL's LIKE and ended SQLite's pattern early (matching everything): refused, not searched
        raise BadQuery("q must not hold control characters (NUL, CR, LF, tab, ...)")
    ref = _REF.match(query)
    digits = ref.group(2) if ref else (query if query.isascii() and query.isdigit() else None)
    wanted_id = int(digits) if digits is not None and int(digits) <= MAX_ID else None
    pattern = _like(query) if query and not ref else None
    kinds = [ref.group(1)] if ref else list(_SEARCHED)
    with facts_at(moment) if moment is not None else contextlib.nullcontext():
        hits = sorted((hit for kind in kinds for hit in _search(kind, wanted_id, pattern)), key=_hit_order)
    shown, pager = one_page(hits, page, size)
    return Page("Search", "search.html",
                {"query": query, "total": pager.total, "page": pager.page, "pages": pager.pages,
                 "page_size": size, "results": shown, **moment_data(moment)},
                {"results": Table(["kind", "ref", "name", "email", "partner"], hits)},
                {"query": query, "shown": Shown(shown, pager, Filters())})  # paged by the console's pager (links.py)


def partners_index() -> list[dict[str, Any]]:
    return [{"ref": f"organization:{i}", "id": i, "name": n}
            for i, n in _rows("SELECT id, name FROM organization WHERE is_partner ORDER BY name, id", ())]
