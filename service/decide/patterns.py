"""Memoizing policy evaluations on the shape of the facts, not on their ids.

Why: a Polar query costs ~0.3 ms, and most questions an authorization service
hears have the same shape ("an administrator of the partner, a customer with one
active limited partnership granting this product's technical right"), only with
other ids. The policy cannot tell two such questions apart, because it only
ever compares ids for equality: it has no numeric literals and no arithmetic or
ordering. So each decision's facts (always read fresh from the store) are
renamed to a canonical form — every distinct id of each kind becomes the next
of 1, 2, 3, ... in order of appearance — and Polar evaluates the canonical
facts; its answer is stored under those canonical facts, and the ids in the
reasons are renamed back. Two decisions share an entry only when their facts
are identical up to renaming ids, so an entry can never carry an answer about
other facts: nothing here depends on the store revision, and a write changes
the facts, hence the key.

Ids are typed, as in SpiceDB or OpenFGA ("organization:2" is not
"partnership:2"): each fact field declares the kind of its ids (facts.ids), and
ids of different kinds never share a canonical number. So the memo is exact
for a policy that compares ids for equality only, and only with ids of the same
kind — comparing an organization's id with a partnership's would be a
meaningless coincidence in the store anyway; the policy never does.

The first precondition is checked when the policy loads (`policy_is_id_blind`):
a policy that mentions a number or an ordering or arithmetic operator gets no
memo. tests/test_patterns.py compares memoized and direct evaluation on random
worlds, whose small ids make cross-kind coincidences common.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Iterable, Iterator

from service.decide.facts import (INVOICE, ORGANIZATION, PARTNERSHIP, PARTNERSHIP_TERM_IDS, PRODUCT, USER, Invoice, Organization,
                    Product, User, assigned_partners)

_COMMENT = re.compile(r"#[^\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# a digit outside identifiers, or an operator that could order or compute ids
_ID_AWARE = re.compile(r"(?<![A-Za-z_0-9])[0-9]|[<>+*/]|(?<![A-Za-z_0-9])-|\b(?:mod|rem)\b")


def policy_is_id_blind(sources: list[str]) -> bool:
    """True when the policy can only compare ids for equality (no numbers, arithmetic or ordering)."""
    for text in sources:
        code = _STRING.sub('""', _COMMENT.sub("", text))
        if _ID_AWARE.search(code):
            return False
    return True


class Renaming:
    """A consistent renaming of one decision's ids, kind by kind (see facts.ids).

    Every distinct (kind, id) gets the next number, so equal ids of one kind stay equal and
    ids of different kinds never coincide: an organization and a partnership that happen to
    share the number 2 in the store are two unrelated things, and their canonical forms say so.
    """

    __slots__ = ("forward", "backward")

    def __init__(self) -> None:
        self.forward: dict[tuple[str, int], int] = {}
        self.backward: list[int] = [0]

    def rename(self, kind: str, value: int) -> int:
        canonical = self.forward.get((kind, value))
        if canonical is None:
            canonical = len(self.backward)
            self.forward[(kind, value)] = canonical
            self.backward.append(value)
        return canonical

    def restore(self, value: Any) -> Any:
        """A reason of the canonical evaluation, with the real ids back."""
        vtype = type(value)
        if vtype is int:  # not a bool: type() tells them apart
            return self.backward[value]
        if vtype is dict:  # a reason: its ids restored here, its strings kept, anything else walked
            backward = self.backward
            return {key: backward[item] if type(item) is int else item if type(item) is str else self.restore(item)
                    for key, item in value.items()}
        if vtype is list:
            return [self.restore(item) for item in value]
        return value


Kind = Any  # None (no ids here), a kind name, or {dictionary key: kind name}

_FIELD_KINDS: dict[type, tuple[tuple[str, Kind], ...]] = {}


def field_kinds(cls: type) -> tuple[tuple[str, Kind], ...]:
    kinds = _FIELD_KINDS.get(cls)
    if kinds is None:
        kinds = _FIELD_KINDS[cls] = tuple((f.name, f.metadata.get("ids")) for f in dataclasses.fields(cls))
    return kinds


def canonical(value: Any, names: Renaming, kind: Kind = None) -> Any:
    """The value with every id (int, never bool) renamed by its kind; strings, booleans and None unchanged.

    Generic on purpose: every field of every fact object is renamed and, through its
    repr, takes part in the memo's key, so a field added to a fact can never be left out;
    an int whose kind was not declared is an error (the decision then fails closed).
    """
    vtype = type(value)
    if vtype is int:
        if not isinstance(kind, str):
            raise TypeError(f"an id ({value}) of undeclared kind: declare it with facts.ids()")
        return names.rename(kind, value)
    if vtype is bool or vtype is str or value is None:
        return value
    if vtype is dict:
        if isinstance(kind, dict):
            return {key: canonical(item, names, kind.get(key)) for key, item in value.items()}
        return {canonical(key, names, kind): canonical(item, names, kind) for key, item in value.items()}
    if vtype is list:
        return [canonical(item, names, kind) for item in value]
    if vtype is tuple:
        return tuple(canonical(item, names, kind) for item in value)
    if vtype is frozenset:
        return frozenset(canonical(item, names, kind) for item in sorted(value))
    if dataclasses.is_dataclass(value):
        return vtype(**{name: canonical(getattr(value, name), names, field_kind)
                        for name, field_kind in field_kinds(vtype)})
    raise TypeError(f"no canonical form for {vtype.__name__}")


def canonical_key(value: Any, names: Renaming, kind: Kind = None) -> Any:
    """The memo key of canonical(value, names, kind), built without building the canonical value:
    the same walk in the same order (so `names` ends up the same), giving nested tuples tagged by
    type and class name, which determine the canonical value as its repr does (bools tagged apart
    from ints, since True == 1 in a tuple)."""
    vtype = type(value)
    if vtype is int:
        if not isinstance(kind, str):
            raise TypeError(f"an id ({value}) of undeclared kind: declare it with facts.ids()")
        return names.rename(kind, value)
    if vtype is str or value is None:
        return value
    if vtype is bool:
        return ("bool", value)
    if vtype is dict:
        if isinstance(kind, dict):
            return ("dict", *[(key, canonical_key(item, names, kind.get(key))) for key, item in value.items()])
        return ("dict", *[(canonical_key(key, names, kind), canonical_key(item, names, kind))
                          for key, item in value.items()])
    if vtype is list:
        return ("list", *[canonical_key(item, names, kind) for item in value])
    if vtype is tuple:
        return ("tuple", *[canonical_key(item, names, kind) for item in value])
    if vtype is frozenset:
        return ("frozenset", *[canonical_key(item, names, kind) for item in sorted(value)])
    if dataclasses.is_dataclass(value):
        return (vtype.__name__, *[canonical_key(getattr(value, name), names, field_kind)
                                  for name, field_kind in field_kinds(vtype)])
    raise TypeError(f"no canonical form for {vtype.__name__}")


def key_of(value: Any) -> str:
    """An exact key for canonical facts: the repr of ints, strings, booleans, None, containers
    and dataclasses (with their class names) determines the value it was made from."""
    return repr(value)


class PatternMemo:
    """Policy answers (the list of reasons) by canonical facts.

    `entries` are learnt from live decisions, bounded, and cleared when full; `table`
    holds the answers computed at start-up for the common shapes (see shapes.py) and
    is never cleared. Both hold only what Polar answered on those very facts.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[Any, list[dict[str, Any]]] = {}
        self.table: dict[Any, list[dict[str, Any]]] = {}

    @staticmethod
    def _key(user: Any, action: str, subject: Any, explain: bool) -> tuple[Renaming, tuple]:
        """The renaming of this decision's ids and its memo key (no canonical objects are built)."""
        names = Renaming()
        return names, (action, explain, fact_key(user, names), fact_key(subject, names))

    @staticmethod
    def _canonical(user: Any, subject: Any) -> tuple[Any, Any]:
        """The canonical facts themselves, for Polar; a fresh walk in the same order renames alike."""
        names = Renaming()
        return canonical(user, names), canonical(subject, names)

    def evaluate(self, user: Any, action: str, subject: Any, explain: bool,
                 evaluate: Callable[[Any, str, Any, bool], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        names, key = self._key(user, action, subject, explain)
        reasons = self.answer(key, names)
        if reasons is None:
            canonical_user, canonical_subject = self._canonical(user, subject)
            reasons = evaluate(canonical_user, action, canonical_subject, explain)
            if len(self.entries) >= self.size:
                self.entries = {}
            self.entries[key] = reasons
            reasons = [names.restore(reason) for reason in reasons]
        return reasons

    def answer(self, key: tuple, names: Renaming) -> list[dict[str, Any]] | None:
        """The answer held under `key` (PatternMemo._key's layout) with the real ids back; None: not held."""
        reasons = self.table.get(key)
        if reasons is None:
            reasons = self.entries.get(key)
            if reasons is None:
                return None
        return [names.restore(reason) for reason in reasons]

    def verdict(self, key: tuple) -> bool | None:
        """Whether the answer held under `key` allows (None: not held); no reasons are restored."""
        reasons = self.table.get(key)
        if reasons is None:
            reasons = self.entries.get(key)
            if reasons is None:
                return None
        return bool(reasons)

    def learn(self, shapes: Iterable[tuple[Any, str, Any]],
              evaluate: Callable[[Any, str, Any, bool], list[dict[str, Any]] | None]) -> tuple[int, int]:
        """Evaluate the policy on each (user, action, resource) shape into the table; returns its size and
        how many shapes were left out (`evaluate` answered None: no answer in time)."""
        left = 0
        for user, action, subject in shapes:
            _, key = self._key(user, action, subject, False)
            if key not in self.table:
                canonical_user, canonical_subject = self._canonical(user, subject)
                reasons = evaluate(canonical_user, action, canonical_subject, False)
                if reasons is None:
                    left += 1
                else:
                    self.table[key] = reasons
        return len(self.table), left


# -- the memo key of the served fact classes, written out ------------------------------------------
#
# canonical_key() above is the definition; the functions below produce exactly its value for the
# fact classes every decision on an organization, product or invoice carries, in the same walk
# order (so the renaming is the same), without its generic dispatch, which cost more than the
# decision's statement. tests/test_patterns.py compares the two on random facts.

def _user_key(user: Any, names: Renaming) -> tuple:
    rename = names.rename
    return ("User", rename(USER, user.id),
            ("dict", *[(rename(ORGANIZATION, org), role) for org, role in user.roles.items()]),
            ("frozenset", *[rename(ORGANIZATION, org) for org in sorted(user.billing)]),
            ("frozenset", *[rename(PRODUCT, product) for product in sorted(user.authorized_products)]),
            ("frozenset", *[("tuple", rename(ORGANIZATION, partner), rename(ORGANIZATION, customer))
                            for partner, customer in sorted(user.assignments)]))


def _term_key(term: dict[str, Any], names: Renaming) -> tuple:
    if tuple(term) != _TERM_FIELDS or tuple(term["granted"]) != _GRANTED_FIELDS:
        return canonical_key(term, names, PARTNERSHIP_TERM_IDS)  # not the usual term: the definition
    rename, granted = names.rename, term["granted"]
    return ("dict", ("id", rename(PARTNERSHIP, term["id"])), ("partner_id", rename(ORGANIZATION, term["partner_id"])),
            ("customer_id", rename(ORGANIZATION, term["customer_id"])), ("active", ("bool", term["active"])),
            ("access", term["access"]),
            ("granted", ("dict", ("technical", ("bool", granted["technical"])),
                         ("statistical", ("bool", granted["statistical"])))))


def _organization_key(org: Any, names: Renaming) -> tuple:
    return ("Organization", names.rename(ORGANIZATION, org.id), ("bool", org.is_partner),
            ("list", *[_term_key(term, names) for term in org.partnerships]))


def _product_key(product: Any, names: Renaming) -> tuple:
    return ("Product", names.rename(PRODUCT, product.id), _organization_key(product.organization, names))


def _invoice_key(invoice: Any, names: Renaming) -> tuple:
    return ("Invoice", names.rename(INVOICE, invoice.id), _organization_key(invoice.organization, names))


# the keys of Partnership.as_term(), in its order (the key walks a dictionary in its order)
_TERM_FIELDS = ("id", "partner_id", "customer_id", "active", "access", "granted")
_GRANTED_FIELDS = ("technical", "statistical")
_FAST_KEYS: dict[type, Callable[[Any, Renaming], tuple]] = {
    User: _user_key, Organization: _organization_key, Product: _product_key, Invoice: _invoice_key}


def fact_key(value: Any, names: Renaming) -> Any:
    """canonical_key(value, names), written out for the served fact classes."""
    fast = _FAST_KEYS.get(type(value))
    return fast(value, names) if fast is not None else canonical_key(value, names)


# -- the same keys, written from a question statement's rows ---------------------------------------
#
# A decision the memo answers needs only the key of its facts, not the facts: building the User and
# the resource's objects cost more than the key itself. rows_key() gives, from the rows a question
# was read from (a single question's statement, or a batch's indexed by facts.QuestionFacts),
# exactly fact_key(question.user) and fact_key(question.resource), renaming in the same walk order;
# the objects are built only when the memo has no answer. tests/test_patterns.py compares them on
# random worlds, for both kinds of statement.

_ROW_KINDS = {"organization": "Organization", "product": "Product", "invoice": "Invoice"}
# parts of the keys that hold no id, made once (a key is compared by value)
_TRUE, _FALSE, _NO_IDS = ("bool", True), ("bool", False), ("frozenset",)
_GRANTED = {(technical, statistical): ("granted", ("dict", ("technical", ("bool", technical)),
                                                  ("statistical", ("bool", statistical))))
            for technical in (False, True) for statistical in (False, True)}


def rows_key(question: Any, names: Renaming) -> tuple[tuple, tuple] | None:
    """(fact_key(question.user), fact_key(question.resource)) from the question's rows, renamed by
    `names`; None when the rows are not those of a known user and an organization, product or invoice."""
    ref = question.ref
    kind = _ROW_KINDS.get(ref.type) if ref is not None else None
    if kind is None:
        return None
    rows = question.rows
    if rows is not None:  # a single question's statement: resource rows, then the actor's
        if not question.has_resource or not question.has_user:
            return None
        resource_rows = [row for row in rows if row[0] != "m"]
        first = resource_rows[0]
        return _question_key(question.user_id, [row for row in rows if row[0] == "m" and row[1] is not None],
                             bool(first[16]), assigned_partners(first), resource_rows, kind, ref.id, names)
    read = question.read
    resource_rows = read.resource_rows.get((ref.type, ref.id)) if read is not None else None
    if not resource_rows or question.user_id not in read.users:
        return None
    user_id, customer_id = question.user_id, resource_rows[0][1]
    return _question_key(user_id, read.memberships.get(user_id, ()), (user_id, ref.id) in read.authorized
                         if kind == "Product" else False, read.assigned.get((user_id, customer_id)),
                         resource_rows, kind, ref.id, names)


def rows_keys(read: Any, user_id: int, ref_type: str, resource_ids: list[int]) -> Iterator[tuple[int, tuple | None]]:
    """(resource id, rows_key of the question (user_id, ref_type:id)) for each id, from one batch's
    indexed rows: a list's candidates share their actor, whose id and memberships are renamed first
    in every key, so that part is renamed once and each key continues from a copy of it. A key is
    None where rows_key's would be (an unknown type, resource or user)."""
    kind = _ROW_KINDS.get(ref_type)
    if kind is None or user_id not in read.users:
        yield from ((resource_id, None) for resource_id in resource_ids)
        return
    base = Renaming()
    base.rename(USER, user_id)
    memberships = read.memberships.get(user_id, ())
    roles, billing = _memberships_key(memberships, base.rename)
    user_head = ("User", 1, roles, billing)
    product = kind == "Product"
    all_rows, authorized, assigned = read.resource_rows, read.authorized, read.assigned
    known = base.forward.get  # the actor's organizations, by their renamed number
    by_shape: dict[tuple, tuple] = {}
    for resource_id in resource_ids:
        rows = all_rows.get((ref_type, resource_id))
        if not rows:
            yield resource_id, None
            continue
        first = rows[0]
        shape = None
        if len(rows) == 1 and (user_id, first[1]) not in assigned:
            # The usual candidate: at most one active partnership, no assignment. Its key renames, after
            # the actor's part, only the resource's organization, its own id, the partnership and its
            # partner; each renames to a number the actor's part fixes (one of its organizations) or to
            # the next one in walk order. So these values determine the key exactly: equal shapes, equal
            # keys (tests/test_patterns.py compares them with rows_key on random worlds).
            org, partner = first[1], first[3]
            shape = (known((ORGANIZATION, org)), first[8], first[2] is None, known((ORGANIZATION, partner)),
                     partner == org, first[5], first[6], first[9], first[10],
                     product and (user_id, resource_id) in authorized)
            held = by_shape.get(shape)
            if held is not None:
                yield resource_id, held
                continue
        names = Renaming()
        names.forward, names.backward = dict(base.forward), list(base.backward)
        rename = names.rename
        customer_id = rows[0][1]
        partners = assigned.get((user_id, customer_id))
        user_key = (*user_head,
                    ("frozenset", rename(PRODUCT, resource_id)) if product and (user_id, resource_id) in authorized
                    else _NO_IDS,
                    ("frozenset", *[("tuple", rename(ORGANIZATION, partner), rename(ORGANIZATION, customer_id))
                                    for partner in sorted(set(partners))]) if partners else _NO_IDS)
        if kind == "Organization":
            key = (user_key, _organization_rows_key(rows, names))
        else:
            own_id = rename(PRODUCT if product else INVOICE, resource_id)
            key = (user_key, (kind, own_id, _organization_rows_key(rows, names)))
        if shape is not None:
            by_shape[shape] = key
        yield resource_id, key


def _question_key(user_id: int, memberships: list[tuple] | tuple, authorized: bool, partners: list[int] | None,
                  resource_rows: list[tuple], kind: str, resource_id: int, names: Renaming) -> tuple[tuple, tuple]:
    """The key of facts.QuestionFacts.user() and .resource() built from these parts of the rows."""
    rename = names.rename
    customer_id = resource_rows[0][1]
    user_key = ("User", rename(USER, user_id), *_memberships_key(memberships, rename),
                ("frozenset", rename(PRODUCT, resource_id)) if authorized else _NO_IDS,
                ("frozenset", *[("tuple", rename(ORGANIZATION, partner), rename(ORGANIZATION, customer_id))
                                for partner in sorted(set(partners))]) if partners else _NO_IDS)
    if kind == "Organization":
        return user_key, _organization_rows_key(resource_rows, names)
    own_id = rename(PRODUCT if kind == "Product" else INVOICE, resource_id)  # renamed before its organization
    return user_key, (kind, own_id, _organization_rows_key(resource_rows, names))


def _memberships_key(memberships: list[tuple] | tuple, rename: Callable[[str, int], int]) -> tuple[tuple, tuple]:
    """The keys of User.roles and User.billing from the actor's membership rows (one membership, the
    usual case, without the general walk: its organization renames to the same number in both)."""
    if len(memberships) == 1:
        row = memberships[0]
        org = rename(ORGANIZATION, row[1])
        return ("dict", (org, row[5])), ("frozenset", org) if row[8] else _NO_IDS
    return (("dict", *[(rename(ORGANIZATION, row[1]), row[5]) for row in memberships]),
            ("frozenset", *[rename(ORGANIZATION, org) for org in sorted(row[1] for row in memberships if row[8])]))


def _organization_rows_key(rows: list[tuple], names: Renaming) -> tuple:
    """_organization_key of facts._organization_from(rows)."""
    rename = names.rename
    first = rows[0]
    head = ("Organization", rename(ORGANIZATION, first[1]), _TRUE if first[8] else _FALSE)
    if first[2] is None:  # no active partnership: the LEFT JOIN's one empty row
        return (*head, _EMPTY_LIST)
    if len(rows) == 1:
        return (*head, ("list", _term_row_key(first, rename)))
    return (*head, ("list", *[_term_row_key(row, rename) for row in sorted(rows, key=lambda row: row[2])]))


def _term_row_key(row: tuple, rename: Callable[[str, int], int]) -> tuple:
    """_term_key of the Partnership.as_term() built from one resource row (facts._organization_from)."""
    return ("dict", ("id", rename(PARTNERSHIP, row[2])), ("partner_id", rename(ORGANIZATION, row[3])),
            ("customer_id", rename(ORGANIZATION, row[1])), _ACTIVE if row[5] == "active" else _INACTIVE,
            ("access", row[6]), _GRANTED[bool(row[9]), bool(row[10])])


_EMPTY_LIST, _ACTIVE, _INACTIVE = ("list",), ("active", _TRUE), ("active", _FALSE)
