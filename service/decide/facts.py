"""Facts handed to the policy: plain objects, loaded for a question in one statement.

Polar reads attributes and calls methods on these objects; each hop is an FFI
round trip, so everything a decision needs is loaded up front (no lazy ORM
attributes) and actor-side lists are narrowed to the one resource at hand.
Nothing here decides anything: it only reports what the store holds.

One statement (load_question) reads the store's revision stamp, the resource's facts and the
actor's: a single statement sees one state of the store on SQLite and on PostgreSQL, so the
facts can never be torn by a concurrent write and the stamp names exactly the state they come
from, without a transaction around them (BEGIN and COMMIT cost as much as the reads).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable

from service.store import fast_sql
from service.store.db import is_postgres
from service.store.history import decision_moment
from service.store.models import Invitation as InvitationRow

from service.decide.refs import Ref

# What every id in these facts identifies. The pattern memo renames ids kind by kind
# (service/decide/patterns.py), so each int field declares its kind: `ids(kind)` on a
# field whose ints are all of one kind, and PARTNERSHIP_TERM_IDS for the dictionaries
# below. An int whose kind is not declared makes a decision fail (closed).
USER, ORGANIZATION, PRODUCT, INVOICE, INVITATION, PARTNERSHIP = (
    "user", "organization", "product", "invoice", "invitation", "partnership")
PARTNERSHIP_TERM_IDS = {"id": PARTNERSHIP, "partner_id": ORGANIZATION, "customer_id": ORGANIZATION}


def ids(kind: str | dict[str, str], **options: Any) -> Any:
    """A dataclass field whose ints are ids of `kind` (or, for dictionaries, of kind[key])."""
    return field(metadata={"ids": kind}, **options)


@dataclass(slots=True)
class Partnership:
    id: int = ids(PARTNERSHIP)
    partner_id: int = ids(ORGANIZATION)
    customer_id: int = ids(ORGANIZATION)
    status: str
    access: str
    payment_mode: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def as_term(self, technical: bool = False, statistical: bool = False) -> dict[str, Any]:
        """This partnership as a plain Polar dictionary: its fields are read without FFI round trips.

        `granted` holds the rights the customer granted on the product a decision is about
        (limited access only); an invitation's requested rights never reach here (R8).
        """
        return {"id": self.id, "partner_id": self.partner_id, "customer_id": self.customer_id,
                "active": self.active, "access": self.access,
                "granted": {"technical": technical, "statistical": statistical}}


@dataclass(slots=True)
class Organization:
    id: int = ids(ORGANIZATION)
    is_partner: bool
    # the active partnerships in which this organization is the customer, as Polar dictionaries
    partnerships: list[dict[str, Any]] = ids(PARTNERSHIP_TERM_IDS, default_factory=list)


@dataclass(slots=True)
class Product:
    id: int = ids(PRODUCT)
    organization: Organization

    @property
    def organization_id(self) -> int:
        return self.organization.id

    @property
    def partnerships(self) -> list[dict[str, Any]]:
        """The active partnerships of the owning customer, with the rights granted on this product."""
        return self.organization.partnerships


@dataclass(slots=True)
class Invoice:
    id: int = ids(INVOICE)
    organization: Organization


@dataclass(slots=True)
class Invitation:
    id: int = ids(INVITATION)
    partner_id: int = ids(ORGANIZATION)
    customer_id: int = ids(ORGANIZATION)
    inviting_side: str
    status: str
    expired: bool

    @property
    def is_open(self) -> bool:
        return self.status == "pending" and not self.expired

    @property
    def invited_side(self) -> str:
        return "customer" if self.inviting_side == "partner" else "partner"

    @property
    def inviting_org_id(self) -> int:
        return self.partner_id if self.inviting_side == "partner" else self.customer_id

    @property
    def invited_org_id(self) -> int:
        return self.customer_id if self.inviting_side == "partner" else self.partner_id


@dataclass(slots=True)
class User:
    id: int = ids(USER)
    roles: dict[int, str] = ids(ORGANIZATION, default_factory=dict)  # organization id -> role
    billing: frozenset[int] = ids(ORGANIZATION, default=frozenset())  # organizations with the billing right
    authorized_products: frozenset[int] = ids(PRODUCT, default=frozenset())  # narrowed to the resource's product
    assignments: frozenset[tuple[int, int]] = ids(ORGANIZATION, default=frozenset())  # (partner, customer), narrowed

    def role_in(self, org: "int | Organization") -> str | None:
        """The user's role in an organization, given as an id or as the Organization itself
        (passing the object saves Polar a round trip to read its id)."""
        return self.roles.get(org.id if isinstance(org, Organization) else org)

    def has_billing_right(self, org: "int | Organization") -> bool:
        return (org.id if isinstance(org, Organization) else org) in self.billing

    def is_authorized_for(self, product_id: int) -> bool:
        return product_id in self.authorized_products

    def is_assigned(self, partner_id: int, customer_id: int) -> bool:
        return (partner_id, customer_id) in self.assignments


POLICY_CLASSES = (User, Organization, Product, Invoice, Invitation, Partnership)

# No user has id 0 (ids start at 1): the stranger, a user related to nothing, whose decisions every
# user unrelated to a resource shares (service/queries/related.py says why).
STRANGER_ID = 0


def _as_datetime(value: Any) -> dt.datetime:
    return InvitationRow.expires_at.python_value(value)


# -- a batch's statement -------------------------------------------------------------------------
#
# A UNION ALL of one SELECT per kind of fact, each row tagged by its kind, in one column layout:
#   tag, i1, i2, i3, i4 (ids), t1, t2, t3 (text), b1, b2, b3 (flags), ts (a time)
# The first branch types every column: PostgreSQL resolves a UNION's column types pair by pair,
# and two untyped NULLs would make a column text before a later branch fills it with flags.
# Each SELECT names its list of ids with {match}. (One question has a statement of its own, below.)

# the store's stamp and the policy version active in that state (t2; the latest activation)
_LATEST_VERSION = "(SELECT p.version FROM policy_version p ORDER BY p.id DESC LIMIT 1)"
_ACTIVE_VERSION = f"CAST({_LATEST_VERSION} AS VARCHAR)"
_STAMP = ("SELECT 'r', value, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), epoch, "
          f"{_ACTIVE_VERSION}, "
          "CAST(NULL AS VARCHAR), CAST(NULL AS BOOLEAN), CAST(NULL AS BOOLEAN), "
          "CAST(NULL AS BOOLEAN), CAST(NULL AS TIMESTAMP) FROM store_revision WHERE id = 1")
# the organization a resource belongs to, with its active partnerships (for a product, with the rights
# they grant on it); tagged with the resource's type, i4 = the resource's id
_ORGANIZATION = (
    "SELECT '{kind}', o.id, ps.id, ps.partner_id, {resource}, ps.status, ps.access, ps.payment_mode, o.is_partner, "
    "{rights}, NULL FROM {source} LEFT JOIN partnership ps ON ps.customer_id = o.id AND ps.status = 'active' "
    "{rights_join}WHERE {resource} {{match}}")
_PRODUCT_RIGHTS = ("pp.technical, pp.statistical",
                   "LEFT JOIN partnership_product pp ON pp.partnership_id = ps.id AND pp.product_id = x.id ")
_NO_RIGHTS = ("NULL, NULL", "")
_OWNED = "{table} x JOIN organization o ON o.id = x.organization_id"
_RESOURCES = {
    "organization": _ORGANIZATION.format(kind="organization", resource="o.id", source="organization o",
                                         rights=_NO_RIGHTS[0], rights_join=_NO_RIGHTS[1]),
    "product": _ORGANIZATION.format(kind="product", resource="x.id", source=_OWNED.format(table="product"),
                                    rights=_PRODUCT_RIGHTS[0], rights_join=_PRODUCT_RIGHTS[1]),
    # the paying organization with its active partnerships: the policy says billing never flows through
    # a partnership (R16), but a candidate policy may (docs/policy-changes.md), so the facts hold them
    "invoice": _ORGANIZATION.format(kind="invoice", resource="x.id", source=_OWNED.format(table="invoice"),
                                    rights=_NO_RIGHTS[0], rights_join=_NO_RIGHTS[1]),
    "invitation": ("SELECT 'invitation', id, partner_id, customer_id, id, inviting_side, status, NULL, NULL, NULL, "
                   "NULL, expires_at FROM invitation WHERE id {match}"),
    "partnership": ("SELECT 'partnership', id, partner_id, customer_id, id, status, access, payment_mode, NULL, "
                    "NULL, NULL, NULL FROM partnership WHERE id {match}"),
}
QUESTION_TYPES = tuple(_RESOURCES)
# the actors with their memberships; an actor without any gives one row with no organization
_MEMBERSHIPS = ("SELECT 'm', m.organization_id, u.id, NULL, NULL, m.role, NULL, NULL, m.billing, NULL, NULL, NULL "
                "FROM users u LEFT JOIN membership m ON m.user_id = u.id WHERE u.id {match}")
# Each actor's assignments to the customer of each resource it asks about, and its authorizations for
# each product it asks about: nothing else of theirs can matter. Read pair by pair, from the batch's
# (actor, resource) pairs (the CTE q_<type>), not for every actor with every resource of the batch.
_CUSTOMER_OF = {"organization": "", "product": "JOIN product x ON x.id = q.r ",
                "invoice": "JOIN invoice x ON x.id = q.r "}
_ASSIGNMENTS = ("SELECT 'a', a.partner_id, a.user_id, a.customer_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
                "FROM q_{kind} q {customer_of}JOIN assignment a ON a.user_id = q.u AND a.customer_id = {customer}")
_AUTHORIZATIONS = ("SELECT 'p', pa.product_id, pa.user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
                   "FROM q_product q JOIN product_authorization pa ON pa.user_id = q.u AND pa.product_id = q.r")


class _Statement:
    """A batch's question statement: its text and parameters, built branch by branch. A list of ids is
    `IN (?, ...)` on SQLite and `= ANY(?)` with an array on PostgreSQL, and a list of (actor, resource)
    pairs a VALUES list or two arrays unnested (on PostgreSQL one text whatever the count: it is
    prepared once per connection)."""

    def __init__(self) -> None:
        self.postgres = is_postgres()
        self.pairs: list[str] = []  # the CTEs, before every branch
        self.pair_params: list[Any] = []
        self.parts: list[str] = [_STAMP]
        self.params: list[Any] = []

    def match(self, ids: list[int]) -> str:
        if self.postgres:
            self.params.append(ids)
            return "= ANY(?)"
        self.params.extend(ids)
        return f"IN ({', '.join('?' * len(ids))})"

    def add(self, template: str, ids: list[int] | None = None) -> None:
        """One branch; its {match}, if any, names `ids`."""
        self.parts.append(template.replace("{match}", self.match(ids)) if ids is not None else template)

    def add_pairs(self, kind: str, pairs: list[tuple[int, int]]) -> None:
        """The CTE q_<kind>(u, r) of these (actor id, resource id) pairs."""
        if self.postgres:
            self.pairs.append(f"q_{kind}(u, r) AS (SELECT * FROM unnest(CAST(? AS BIGINT[]), CAST(? AS BIGINT[])))")
            self.pair_params += [[u for u, _ in pairs], [r for _, r in pairs]]
        else:
            self.pairs.append(f"q_{kind}(u, r) AS (VALUES {', '.join(['(?, ?)'] * len(pairs))})")
            self.pair_params += [value for pair in pairs for value in pair]

    def text(self) -> str:
        head = f"WITH {', '.join(self.pairs)} " if self.pairs else ""
        return head + " UNION ALL ".join(self.parts)

    def all_params(self) -> tuple[Any, ...]:
        return (*self.pair_params, *self.params)


def _question_statement(questions: list[tuple[int, Ref]]) -> _Statement:
    """The statement reading the stamp, these questions' resources and their actors' facts, narrowed
    to the customer and product of each actor's own resources."""
    pairs: dict[str, set[tuple[int, int]]] = {}
    for user, ref in questions:
        if ref.type in _RESOURCES:
            pairs.setdefault(ref.type, set()).add((user, ref.id))
    statement = _Statement()
    for kind, asked in pairs.items():
        statement.add(_RESOURCES[kind], sorted({resource for _, resource in asked}))
    statement.add(_MEMBERSHIPS, sorted({user for user, _ in questions}))
    for kind, asked in pairs.items():
        if kind in _CUSTOMER_OF:
            statement.add_pairs(kind, sorted(asked))
            statement.add(_ASSIGNMENTS.format(kind=kind, customer_of=_CUSTOMER_OF[kind],
                                              customer="q.r" if kind == "organization" else "x.organization_id"))
    if "product" in pairs:
        statement.add(_AUTHORIZATIONS)
    return statement


class Question:
    """What one statement read for a question: the store's stamp, the policy version active in that
    same state (None: none, or not read), and its facts: the rows of a single question's statement
    (`rows`), or the indexed rows of a batch's (`read`).

    The fact objects (`user`, `resource`; None: not in the store) are built on first use: a decision
    the pattern memo answers needs only their memo key, which patterns.rows_key writes from the rows.
    """

    __slots__ = ("stamp", "active_version", "rows", "user_id", "ref", "now", "_read", "_user")

    def __init__(self, stamp: tuple[str, int], read: "QuestionFacts | None" = None, user_id: int = 0,
                 ref: Ref | None = None, active_version: str | None = None, rows: list[tuple] | None = None,
                 now: dt.datetime | None = None) -> None:
        self.stamp, self.active_version, self.rows, self.now = stamp, active_version, rows, now
        self._read, self.user_id, self.ref, self._user = read, user_id, ref, _UNBUILT

    @property
    def read(self) -> "QuestionFacts | None":
        if self._read is None and self.rows is not None:
            self._read = QuestionFacts(self.rows, self.now, actor=self.user_id)
        return self._read

    @property
    def resource(self) -> Any | None:
        read = self.read
        return read.resource(self.ref) if read is not None else None  # type: ignore[arg-type]

    @property
    def user(self) -> User | None:
        if self._user is _UNBUILT:
            read = self.read
            self._user = read.user(self.user_id, self.resource) if read is not None else None
        return self._user

    @property
    def has_resource(self) -> bool:
        rows = self.rows
        if rows is not None:  # a single question's: its resource rows come first, with the resource's id
            return bool(rows) and rows[0][0] != "m" and rows[0][4] is not None
        return self._read is not None and self._read.has_resource(self.ref)  # type: ignore[arg-type]

    @property
    def has_user(self) -> bool:
        rows = self.rows
        if rows is not None:  # a single question's: the actor's rows come last
            return bool(rows) and rows[-1][0] == "m"
        return self._read is not None and self.user_id in self._read.users


_UNBUILT = object()


# -- one question's statement -------------------------------------------------------------------
#
# Two branches. The first starts from the store's stamp row and LEFT JOINs the resource's facts to it
# (so the stamp is read even when the resource is not in the store: its row then has no resource id),
# and carries the actor's own facts about that resource as columns (as branches of their own they
# cost about 1.6 µs more a question on SQLite): columns 0-11 are the batch layout's, then
#   12 stamp value, 13 epoch, 14 active version, 15 the partners that assigned the actor to the
#   customer (text "3,7" on SQLite, an array on PostgreSQL), 16 whether the actor is authorized for
#   the product.
# The second branch is the actor with its memberships (_MEMBERSHIPS, widened to the same columns).

_ACTOR, _RESOURCE = "{actor}", "{resource}"
_SINGLE_HEAD = ("SELECT '{kind}', {columns}, r.value, r.epoch, " + _ACTIVE_VERSION
                + ", {partners}, {authorized} FROM store_revision r ")
_SINGLE_ORGANIZATION = (
    "o.id, ps.id, ps.partner_id, {resource_id}, ps.status, ps.access, ps.payment_mode, o.is_partner, {rights}, "
    "CAST(NULL AS TIMESTAMP)")
_NULL_FLAGS = "CAST(NULL AS BOOLEAN), CAST(NULL AS BOOLEAN)"
_SINGLE_SOURCES = {
    "organization": (_SINGLE_ORGANIZATION.format(resource_id="o.id", rights=_NULL_FLAGS),
                     "LEFT JOIN organization o ON o.id = {resource} "),
    "product": (_SINGLE_ORGANIZATION.format(resource_id="x.id", rights=_PRODUCT_RIGHTS[0]),
                "LEFT JOIN product x ON x.id = {resource} LEFT JOIN organization o ON o.id = x.organization_id "),
    "invoice": (_SINGLE_ORGANIZATION.format(resource_id="x.id", rights=_NULL_FLAGS),
                "LEFT JOIN invoice x ON x.id = {resource} LEFT JOIN organization o ON o.id = x.organization_id "),
    "invitation": ("x.id, x.partner_id, x.customer_id, x.id, x.inviting_side, x.status, CAST(NULL AS VARCHAR), "
                   "CAST(NULL AS BOOLEAN), " + _NULL_FLAGS + ", x.expires_at",
                   "LEFT JOIN invitation x ON x.id = {resource} "),
    "partnership": ("x.id, x.partner_id, x.customer_id, x.id, x.status, x.access, x.payment_mode, CAST(NULL AS BOOLEAN), "
                    + _NULL_FLAGS + ", CAST(NULL AS TIMESTAMP)", "LEFT JOIN partnership x ON x.id = {resource} "),
}
_PARTNERSHIPS_JOIN = "LEFT JOIN partnership ps ON ps.customer_id = o.id AND ps.status = 'active' "
_ASSIGNED_PARTNERS = {  # the actor's assignments to the customer, as one value
    False: "(SELECT group_concat(a.partner_id) FROM assignment a WHERE a.user_id = {actor} AND a.customer_id = o.id)",
    True: "ARRAY(SELECT a.partner_id FROM assignment a WHERE a.user_id = {actor} AND a.customer_id = o.id)"}
_NO_PARTNERS = {False: "NULL", True: "CAST(NULL AS BIGINT[])"}
_AUTHORIZED = ("EXISTS (SELECT 1 FROM product_authorization pa WHERE pa.user_id = {actor} "
               "AND pa.product_id = x.id)")
_SINGLE_MEMBERSHIPS = _MEMBERSHIPS.replace(" FROM users", ", NULL, NULL, NULL, NULL, NULL FROM users").replace(
    "{match}", "= {actor}")


def _single(kind: str, postgres: bool) -> tuple[str, Callable[[tuple[int, int]], tuple[int, ...]]]:
    """One question's statement on a resource of `kind`, and its parameters from (actor id, resource id)."""
    columns, source = _SINGLE_SOURCES[kind]
    customer = kind in _CUSTOMER_OF
    text = (_SINGLE_HEAD.format(kind=kind, columns=columns,
                                partners=_ASSIGNED_PARTNERS[postgres] if customer else _NO_PARTNERS[postgres],
                                authorized=_AUTHORIZED if kind == "product" else "CAST(NULL AS BOOLEAN)")
            + source + (_PARTNERSHIPS_JOIN if customer else "")
            + (_PRODUCT_RIGHTS[1] if kind == "product" else "") + "WHERE r.id = 1 UNION ALL " + _SINGLE_MEMBERSHIPS)
    if not postgres:  # SQLite's casts change nothing here, and cost a little each
        text = re.sub(r"CAST\(NULL AS \w+\)", "NULL", text).replace(_ACTIVE_VERSION, _LATEST_VERSION)
    order = []  # each placeholder's parameter, in the order of the text
    pieces = text.replace(_RESOURCE, "\0R").replace(_ACTOR, "\0A").split("\0")
    for piece in pieces[1:]:
        order.append(1 if piece[0] == "R" else 0)
    sql = pieces[0] + "".join("?" + piece[1:] for piece in pieces[1:])
    return sql, itemgetter(*order)  # every statement names both ids: itemgetter gives a tuple


_SINGLE = {(kind, postgres): _single(kind, postgres) for kind in QUESTION_TYPES for postgres in (False, True)}


def load_question(user_id: int, resource: Ref, now: dt.datetime | None = None) -> Question:
    """The actor's and the resource's facts and the store's stamp, read together in one statement
    (resource types outside QUESTION_TYPES have no facts: their resource is None)."""
    single = _SINGLE.get((resource.type, is_postgres()))
    if single is None:
        return Question(_stamp_only())
    sql, params = single
    rows = fast_sql.fetch_all(sql, params((user_id, resource.id)))
    first = rows[0] if rows else None
    if first is None or first[0] == "m":  # no stamp row: a store without its revision
        return Question(("", 0), user_id=user_id, ref=resource, rows=rows, now=now)
    return Question((first[13], int(first[12])), None, user_id, resource, first[14], rows, now)


QUESTIONS_PER_STATEMENT = 2000  # load_questions' most: about 3 parameters each, SQLite allows 32,766


def load_questions(questions: list[tuple[int, Ref]], now: dt.datetime | None = None) -> "QuestionFacts":
    """Many questions' facts in one statement (a batch's); `.question(user, ref)` builds each, as
    load_question would have read it."""
    statement = _question_statement(questions)
    return QuestionFacts(fast_sql.fetch_all(statement.text(), statement.all_params()), now)


# One user's list: the candidates come from a query (service/queries/related.py) named as the CTE
# cand(id), and every branch reads from it, so that the candidates, their facts and the user's are
# read in one statement (no round trip to carry the candidate ids back). Same layout as a batch's.
_CANDIDATE_ASSIGNMENTS = {
    "organization": "FROM assignment a WHERE a.user_id = ? AND a.customer_id IN (SELECT id FROM cand)",
    "product": ("FROM cand c JOIN product x ON x.id = c.id JOIN assignment a ON a.user_id = ? "
                "AND a.customer_id = x.organization_id"),
    "invoice": ("FROM cand c JOIN invoice x ON x.id = c.id JOIN assignment a ON a.user_id = ? "
                "AND a.customer_id = x.organization_id"),
}
_ASSIGNMENT_COLUMNS = "SELECT 'a', a.partner_id, a.user_id, a.customer_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
_CANDIDATE_AUTHORIZATIONS = ("SELECT 'p', pa.product_id, pa.user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                             "NULL FROM product_authorization pa WHERE pa.user_id = ? "
                             "AND pa.product_id IN (SELECT id FROM cand)")


def load_candidates(user_id: int, kind: str, candidates: str, params: tuple[Any, ...],
                    now: dt.datetime | None = None) -> "QuestionFacts":
    """The store's stamp, the facts of the resources of `kind` that the query `candidates` (one id
    column, with its `params`) selects, and the user's facts narrowed to them, in one statement;
    `.question(user_id, ref)` builds each question as load_question would have read it."""
    parts = [_STAMP, _RESOURCES[kind].replace("{match}", "IN (SELECT id FROM cand)"),
             _MEMBERSHIPS.replace("{match}", "= ?")]
    values: list[Any] = [*params, user_id]
    if kind in _CANDIDATE_ASSIGNMENTS:
        parts.append(_ASSIGNMENT_COLUMNS + _CANDIDATE_ASSIGNMENTS[kind])
        values.append(user_id)
    if kind == "product":
        parts.append(_CANDIDATE_AUTHORIZATIONS)
        values.append(user_id)
    sql = f"WITH cand(id) AS MATERIALIZED ({candidates}) " + " UNION ALL ".join(parts)
    return QuestionFacts(fast_sql.fetch_all(sql, tuple(values)), now)


def load_every(kind: str, now: dt.datetime | None = None) -> "QuestionFacts":
    """The facts of every resource of `kind` (one of QUESTION_TYPES) and the store's stamp, in one
    statement, with the stranger (STRANGER_ID: a user with no facts) as the one actor: what the
    stranger probe of service/queries asks the policy about."""
    statement = _Statement()
    statement.add(_RESOURCES[kind].replace("{match}", "IS NOT NULL"))
    read = QuestionFacts(fast_sql.fetch_all(statement.text(), statement.all_params()), now)
    read.users.add(STRANGER_ID)
    return read


def _stamp_only() -> tuple[str, int]:
    row = fast_sql.fetch_one("SELECT epoch, value FROM store_revision WHERE id = 1")
    return (row[0], int(row[1])) if row else ("", 0)


class QuestionFacts:
    """The rows of a question statement, indexed for building each question's fact objects."""

    def __init__(self, rows: list[tuple], now: dt.datetime | None, actor: int | None = None) -> None:
        """`actor`: the one actor of a single question's statement (whose own facts ride on its resource
        rows); such rows are indexed only to build the fact objects (Question.read)."""
        self.now, self.stamp, self.active_version = now, ("", 0), None
        self.resource_rows: dict[tuple[str, int], list[tuple]] = {}
        self.users: set[int] = set()
        self.memberships: dict[int, list[tuple]] = {}
        self.assigned: dict[tuple[int, int], list[int]] = {}  # (user, customer) -> partners
        self.authorized: set[tuple[int, int]] = set()  # (user, product)
        self.built: dict[tuple[str, int], Any] = {}
        for row in rows:
            tag = row[0]
            if tag == "m":
                self.users.add(row[2])
                if row[1] is not None:
                    self.memberships.setdefault(row[2], []).append(row)
            elif tag == "a":
                self.assigned.setdefault((row[2], row[3]), []).append(row[1])
            elif tag == "p":
                self.authorized.add((row[2], row[1]))
            elif tag == "r":
                self.stamp, self.active_version = (row[5], int(row[1])), row[6]
            else:
                if len(row) > 12:  # a single question's: the actor's own facts ride on it
                    self._actor_columns(row, actor)
                    if row[4] is None:
                        continue  # the resource is not in the store
                self.resource_rows.setdefault((tag, row[4]), []).append(row)

    def _actor_columns(self, row: tuple, actor: int | None) -> None:
        """The actor's assignments and authorization a single question's resource row carries (its stamp
        is read by load_question, which keeps it on the Question)."""
        partners = assigned_partners(row)
        if partners:
            self.assigned[(actor, row[1])] = partners
        if row[16]:
            self.authorized.add((actor, row[4]))

    def question(self, user_id: int, ref: Ref) -> Question:
        return Question(self.stamp, self, user_id, ref, self.active_version, now=self.now)

    def user(self, user_id: int, resource: Any) -> User | None:
        """The actor's facts, narrowed to the customer and product of `resource` (None: no such user)."""
        if user_id not in self.users:
            return None
        memberships = self.memberships.get(user_id, ())
        customer_id, product_id = customer_and_product_of(resource)
        return User(user_id, {row[1]: row[5] for row in memberships},
                    frozenset(row[1] for row in memberships if row[8]),
                    frozenset((product_id,)) if (user_id, product_id) in self.authorized else frozenset(),
                    frozenset((partner, customer_id) for partner in self.assigned.get((user_id, customer_id), ())))

    def has_resource(self, ref: Ref) -> bool:
        return (ref.type, ref.id) in self.resource_rows

    def resource(self, ref: Ref) -> Any | None:
        key = (ref.type, ref.id)
        if key not in self.built:
            rows = self.resource_rows.get(key)
            self.built[key] = _resource_from(rows, ref, self.now) if rows else None
        return self.built[key]


def assigned_partners(row: tuple) -> list[int]:
    """The partners that assigned the actor to the customer, from a single question's resource row
    (text "3,7" on SQLite, an array on PostgreSQL, None for none)."""
    partners = row[15]
    if not partners:
        return []
    return [int(p) for p in partners.split(",")] if type(partners) is str else list(partners)


def _resource_from(rows: list[tuple], ref: Ref, now: dt.datetime | None) -> Any:
    first = rows[0]
    if ref.type == "invitation":
        expired = _as_datetime(first[11]) <= (now or decision_moment())  # a past question's moment
        return Invitation(first[1], first[2], first[3], first[5], first[6], expired)
    if ref.type == "partnership":
        return Partnership(first[1], first[2], first[3], first[5], first[6], first[7])
    organization = _organization_from(rows)
    if ref.type == "product":
        return Product(ref.id, organization)
    if ref.type == "invoice":
        return Invoice(ref.id, organization)
    return organization


def _organization_from(rows: list[tuple]) -> Organization:
    """The customer with its active partnerships as Polar dictionaries, by partnership id (with the
    rights granted on the product the statement joined, if any)."""
    partnerships = [
        Partnership(row[2], row[3], row[1], row[5], row[6], row[7]).as_term(bool(row[9]), bool(row[10]))
        for row in sorted(rows, key=lambda row: row[2] or 0)
        if row[2] is not None  # None: no active partnership, the LEFT JOIN's empty row
    ]
    return Organization(rows[0][1], bool(rows[0][8]), partnerships)


def customer_and_product_of(resource: Any) -> tuple[int | None, int | None]:
    """Which customer (and product) a decision on this resource may reach through a partnership."""
    if isinstance(resource, Organization):
        return resource.id, None
    if isinstance(resource, Product):
        return resource.organization.id, resource.id
    if isinstance(resource, Invoice):
        return resource.organization.id, None
    return None, None
