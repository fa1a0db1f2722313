"""Loading a world (demo data, policy fixtures, benchmark worlds) into the store.

A world is a mapping of entity lists, each entity named by a symbolic `key`
that other entities refer to (see data/demo.yaml). Loading assigns database
ids and returns the key -> "type:id" map, so decision tables can name
`organization:acme` and run against whatever ids the store handed out.
Everything is written in one transaction with bulk inserts (one prepared statement per table,
executed for batches of WRITE_BATCH rows). World files are parsed with libyaml when PyYAML has it
(yaml.CSafeLoader, else the pure-Python SafeLoader) and turned into Python objects by a
plain-data builder (_plain_data); anything it does not handle is left to PyYAML's own constructor.
"""
from __future__ import annotations

import codecs
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from . import models as m
from .db import database, is_postgres
from .ids import next_free_id
from .schema import bump_revision

DEFAULT_INVITATION_DAYS = 14
BATCH = 500
WRITE_BATCH = 5_000  # rows per executemany (and per call of load_world's on_rows)


class WorldError(ValueError):
    """A world file that names an unknown key or breaks a rule of its shape."""


@dataclass
class _Table:
    model: type[m.BaseModel]
    next_id: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **row: Any) -> int:
        row["id"] = self.next_id
        self.next_id += 1
        self.rows.append(row)
        return row["id"]


class _Loader:
    def __init__(self) -> None:
        self.tables: dict[str, _Table] = {}
        self.refs: dict[str, str] = {}          # key -> "type:id"
        self.ids: dict[tuple[str, str], int] = {}  # (type, key) -> id

    def table(self, model: type[m.BaseModel]) -> _Table:
        name = model._meta.table_name
        if name not in self.tables:
            self.tables[name] = _Table(model, next_free_id(model))  # never an id used before
        return self.tables[name]

    def name(self, kind: str, key: Any, new_id: int) -> None:
        if key is None:
            return
        key = str(key)
        if key in self.refs:
            raise WorldError(f"key {key!r} is used twice")
        self.refs[key] = f"{kind}:{new_id}"
        self.ids[(kind, key)] = new_id

    def ref(self, kind: str, key: Any, where: str) -> int:
        try:
            return self.ids[(kind, str(key))]
        except KeyError:
            raise WorldError(f"{where}: unknown {kind} {key!r}") from None

    def flush(self, on_rows: Callable[[int, int], None] | None = None) -> None:
        total = sum(len(table.rows) for table in self.tables.values())
        written = 0
        for table in self.tables.values():
            for start in range(0, len(table.rows), WRITE_BATCH):
                batch = table.rows[start:start + WRITE_BATCH]
                _bulk_insert(table.model, batch)
                written += len(batch)
                if on_rows is not None:
                    on_rows(written, total)
        if is_postgres():
            for table in (t for t in self.tables.values() if t.rows):  # a sequence never goes back
                name = table.model._meta.table_name
                database.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"
                )


def _bulk_insert(model: type[m.BaseModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows with one prepared statement (building peewee INSERT queries row by row
    cost 90% of loading a large world); values pass through each field's db_value."""
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    table = f'"{model._meta.table_name}"'
    values = [tuple(field.db_value(row[name]) for name, field in zip(names, fields)) for row in rows]
    cursor = database.cursor()
    if is_postgres():
        from psycopg2.extras import execute_values
        execute_values(cursor, f"INSERT INTO {table} ({columns}) VALUES %s", values, page_size=BATCH)
    else:
        placeholders = ", ".join("?" for _ in names)
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)


def _access_rows(loader: _Loader, spec: dict[str, Any], where: str) -> tuple[str, str | None, list[dict]]:
    access = spec.get("access")
    if access not in m.ACCESS_LEVELS:
        raise WorldError(f"{where}: access must be one of {m.ACCESS_LEVELS}")
    payment_mode = spec.get("payment_mode", "customer")
    products = spec.get("products") or []
    if access == "limited":
        if spec.get("payment_mode", "customer") != "customer":
            raise WorldError(f"{where}: limited access is always paid by the customer")
        rows = [
            {"product": loader.ref("product", p["product"], where),
             "technical": bool(p.get("technical", False)),
             "statistical": bool(p.get("statistical", False))}
            for p in products
        ]
        return access, "customer", rows
    if products:
        raise WorldError(f"{where}: full access takes no product list")
    if payment_mode not in m.PAYMENT_MODES:
        raise WorldError(f"{where}: payment_mode must be one of {m.PAYMENT_MODES}")
    return access, payment_mode, []


def _load_organizations(loader: _Loader, world: dict) -> None:
    orgs = loader.table(m.Organization)
    for org in world.get("organizations", []):
        new_id = orgs.add(name=org.get("name", org["key"]), is_partner=bool(org.get("partner", False)),
                          created_at=m.utcnow())
        loader.name("organization", org["key"], new_id)


def _load_users(loader: _Loader, world: dict) -> None:
    users = loader.table(m.User)
    for user in world.get("users", []):
        email = user.get("email") or f"{user['key']}@example.test"
        new_id = users.add(email=email, name=user.get("name", user["key"]), created_at=m.utcnow())
        loader.name("user", user["key"], new_id)


def _load_memberships(loader: _Loader, world: dict) -> None:
    table = loader.table(m.Membership)
    for i, ms in enumerate(world.get("memberships", [])):
        where = f"memberships[{i}]"
        role = ms.get("role")
        if role not in m.ROLES:
            raise WorldError(f"{where}: role must be one of {m.ROLES}")
        table.add(user=loader.ref("user", ms["user"], where),
                  organization=loader.ref("organization", ms["organization"], where),
                  role=role, billing=bool(ms.get("billing", False)))


def _load_products(loader: _Loader, world: dict) -> None:
    table = loader.table(m.Product)
    for i, product in enumerate(world.get("products", [])):
        org_id = loader.ref("organization", product["organization"], f"products[{i}]")
        new_id = table.add(organization=org_id, category=product.get("category", "hosting"),
                           name=product.get("name", product["key"]))
        loader.name("product", product["key"], new_id)


def _load_links(loader: _Loader, world: dict) -> None:
    auths = loader.table(m.ProductAuthorization)
    for i, pa in enumerate(world.get("product_authorizations", [])):
        where = f"product_authorizations[{i}]"
        auths.add(user=loader.ref("user", pa["user"], where), product=loader.ref("product", pa["product"], where))
    assignments = loader.table(m.Assignment)
    for i, a in enumerate(world.get("assignments", [])):
        where = f"assignments[{i}]"
        assignments.add(partner=loader.ref("organization", a["partner"], where),
                        user=loader.ref("user", a["user"], where),
                        customer=loader.ref("organization", a["customer"], where))
    invoices = loader.table(m.Invoice)
    for i, inv in enumerate(world.get("invoices", [])):
        new_id = invoices.add(organization=loader.ref("organization", inv["organization"], f"invoices[{i}]"),
                              created_at=m.utcnow())
        loader.name("invoice", inv.get("key"), new_id)


def _add_invitation(loader: _Loader, spec: dict, where: str, *, status: str,
                    partnership_id: int | None) -> int:
    requested = spec.get("requested") or {}
    access, payment_mode, products = _access_rows(loader, requested, f"{where}.requested")
    now = m.utcnow()
    days = int(spec.get("expires_in_days", DEFAULT_INVITATION_DAYS))
    invited_by = spec.get("invited_by")
    answered_by = spec.get("answered_by")
    new_id = loader.table(m.Invitation).add(
        partner=loader.ref("organization", spec["partner"], where),
        customer=loader.ref("organization", spec["customer"], where),
        inviting_side=spec.get("inviting_side", "partner"),
        invited_by=loader.ref("user", invited_by, where) if invited_by else None,
        requested_access=access,
        requested_payment_mode=payment_mode if access == "full" else None,
        status=status, created_at=now, sent_at=now,
        expires_at=now + dt.timedelta(days=days),
        answered_by=loader.ref("user", answered_by, where) if answered_by else None,
        answered_at=now if status != "pending" else None,
        partnership=partnership_id,
    )
    rows = loader.table(m.InvitationProduct)
    for p in products:
        rows.add(invitation=new_id, **p)
    return new_id


def _load_partnerships(loader: _Loader, world: dict) -> None:
    table = loader.table(m.Partnership)
    grants = loader.table(m.PartnershipProduct)
    for i, ps in enumerate(world.get("partnerships", [])):
        where = f"partnerships[{i}]"
        access, payment_mode, products = _access_rows(loader, ps, where)
        status = ps.get("status", "active")
        if status not in m.PARTNERSHIP_STATUSES:
            raise WorldError(f"{where}: status must be one of {m.PARTNERSHIP_STATUSES}")
        now = m.utcnow()
        new_id = table.add(
            partner=loader.ref("organization", ps["partner"], where),
            customer=loader.ref("organization", ps["customer"], where),
            status=status, access=access, payment_mode=payment_mode,
            created_at=now, updated_at=now, ended_at=now if status == "ended" else None, ended_by=None,
        )
        loader.name("partnership", ps.get("key"), new_id)
        for p in products:
            grants.add(partnership=new_id, **p)
        if ps.get("requested"):
            _add_invitation(loader, {**ps, "inviting_side": ps.get("inviting_side", "partner")},
                            where, status="accepted", partnership_id=new_id)


def _load_invitations(loader: _Loader, world: dict) -> None:
    for i, inv in enumerate(world.get("invitations", [])):
        where = f"invitations[{i}]"
        status = inv.get("status", "pending")
        if status not in m.INVITATION_STATUSES:
            raise WorldError(f"{where}: status must be one of {m.INVITATION_STATUSES}")
        new_id = _add_invitation(loader, inv, where, status=status, partnership_id=None)
        loader.name("invitation", inv.get("key"), new_id)


# a world with at least this many entries reports its progress (when a progress callback is given)
PROGRESS_MIN_ENTRIES = 5_000
SECTIONS = ("organizations", "users", "memberships", "products", "product_authorizations", "assignments",
            "invoices", "partnerships", "invitations")


def load_world(world: dict[str, Any], progress: Callable[[str], None] | None = None, *,
               on_rows: Callable[[int, int], None] | None = None) -> dict[str, str]:
    """Write a world in one transaction; return its key -> "type:id" map.
    progress, if given, receives one line per step of a large world; on_rows, if given, is called
    with (rows written, rows in all) after each batch of rows (a progress bar's steps)."""
    loader = _Loader()
    entries = sum(len(world.get(section) or []) for section in SECTIONS)
    report = progress if progress is not None and entries >= PROGRESS_MIN_ENTRIES else (lambda _line: None)
    started = time.monotonic()
    with database.atomic():
        steps = (_load_organizations, _load_users, _load_memberships, _load_products,
                 _load_links, _load_partnerships, _load_invitations)
        for number, step in enumerate(steps, 1):
            step(loader, world)
            report(f"load: {number}/{len(steps) + 1} {step.__name__[len('_load_'):]} read "
                   f"({time.monotonic() - started:.1f} s)")
        rows = sum(len(table.rows) for table in loader.tables.values())
        report(f"load: {len(steps) + 1}/{len(steps) + 1} writing {rows:,} rows")
        loader.flush(on_rows)
        bump_revision()
    report(f"load: done, {entries:,} entries in {time.monotonic() - started:.1f} s")
    return loader.refs


# libyaml's parser when PyYAML was built with it (a large world parses several times faster)
WorldLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SPECIAL_KEYS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")  # `<<` and `=`: PyYAML's rules


class _NotPlain(Exception):
    """A node the plain-data builder leaves to PyYAML's constructor (merge keys, other tags, cycles)."""


def _plain_data(loader: Any, root: Any) -> Any:
    """The Python value of a composed document, as loader.construct_document(root) would build it, for
    documents of plain mappings, sequences and scalars (a world file): several times faster than
    PyYAML's generator-based constructor. Scalars other than strings go through loader.construct_object
    (ints, booleans, null, dates); an anchor used twice yields the same object, as with PyYAML."""
    built: dict[int, Any] = {}
    scalar = loader.construct_object

    def build(node: Any) -> Any:
        kind = node.__class__
        if kind is ScalarNode:
            return node.value if node.tag == _STR else scalar(node)
        key = id(node)
        if key in built:
            if built[key] is _NotPlain:  # an alias of a collection still being built: a cycle
                raise _NotPlain
            return built[key]
        built[key] = _NotPlain
        if kind is MappingNode and node.tag == _MAP:
            value: Any = {}
            for key_node, value_node in node.value:
                if key_node.tag in _SPECIAL_KEYS:
                    raise _NotPlain
                name = build(key_node)
                try:
                    value[name] = build(value_node)
                except TypeError:  # an unhashable key: PyYAML's constructor says so
                    raise _NotPlain from None
        elif kind is SequenceNode and node.tag == _SEQ:
            value = [build(item) for item in node.value]
        else:
            raise _NotPlain
        built[key] = value
        return value

    try:
        return build(root)
    except _NotPlain:
        return loader.construct_document(root)


class _CountingReader:
    """A world file read in chunks for the parser, decoded as strict UTF-8 (as open(..., encoding="utf-8")
    does), telling on_bytes how many bytes have been read so far."""

    def __init__(self, raw: Any, name: str, on_bytes: Callable[[int], None] | None) -> None:
        self.raw, self.name, self.on_bytes = raw, name, on_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.done = 0

    def read(self, size: int = -1) -> str:
        while True:  # "" tells the parser the file ended: never return it for a split character
            chunk = self.raw.read(size if size and size > 0 else -1)
            self.done += len(chunk)
            if self.on_bytes is not None and chunk:
                self.on_bytes(self.done)
            text = self.decoder.decode(chunk, final=not chunk)
            if text or not chunk:
                return text


def parse_world_text(stream: Any) -> Any:
    """The single YAML document of stream (a string or a file-like object), as yaml.safe_load reads it."""
    loader = WorldLoader(stream)
    try:
        node = loader.get_single_node()
        return None if node is None else _plain_data(loader, node)
    finally:
        loader.dispose()


def read_world_file(path: str | Path, *, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Parse a world file (a mapping of entity lists); on_bytes, if given, hears how many bytes of the
    file the parser has read so far."""
    with open(path, "rb") as fh:
        data = parse_world_text(_CountingReader(fh, str(path), on_bytes)) or {}
    if not isinstance(data, dict):
        raise WorldError(f"{path}: a world is a mapping of entity lists")
    for section, entries in data.items():
        if section in SECTIONS and entries is not None and (
                not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries)):
            raise WorldError(f"{path}: `{section}` must be a list of mappings (e.g. - {{key: ..., ...}})")
    return data


def store_is_empty() -> bool:
    return not m.Organization.select().exists()
