"""E-mails are unique regardless of letter case: `AT@x.y` is the same address as `at@x.y`.

The store enforces it with a unique index on the e-mail with its ASCII letters lowered, the
same fold on both backends (SQLite's lower() folds ASCII only; PostgreSQL's lower() under the
"C" collation likewise, whatever the database's locale), so both refuse the same pairs.
A store that already holds such a pair is not migrated: init_schema stops naming the users,
changing nothing, until one of each pair is given another e-mail (the running release still
serves the store meanwhile); nothing is merged or renamed behind an operator's back.
"""
from __future__ import annotations

from .db import database, is_postgres

INDEX = "users_email_folded"


def folded_sql() -> str:
    """The SQL expression of a user's e-mail as compared (and indexed)."""
    return 'lower(email COLLATE "C")' if is_postgres() else "lower(email)"


def fold(email: str) -> str:
    """An e-mail as the store compares it: ASCII letters lowered, everything else as it is."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in email)


class DuplicateEmails(RuntimeError):
    """Users whose e-mails differ only in letter case: the unique index cannot be made."""


def ensure_unique_folded() -> None:
    """Create the index if it is missing; DuplicateEmails (nothing changed) if the data forbids it."""
    expression = folded_sql()
    pairs = database.execute_sql(
        f"SELECT a.id, a.email, b.id, b.email FROM users a JOIN users b ON {expression.replace('email', 'a.email')} "
        f"= {expression.replace('email', 'b.email')} AND a.id < b.id ORDER BY a.id, b.id LIMIT 20").fetchall()
    if pairs:
        listed = "; ".join(f"user:{a} {ea!r} and user:{b} {eb!r}" for a, ea, b, eb in pairs)
        raise DuplicateEmails(f"e-mails must be unique regardless of letter case, and these are not: {listed}. "
                              "Give one of each pair another e-mail, then run init-db again (nothing was changed)")
    database.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {INDEX} ON users ({expression})")
