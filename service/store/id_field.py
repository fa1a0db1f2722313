"""The primary-key field of every model, which never hands an id out twice (why: ids.py).

In a module of its own, below models.py: ids.py, which rebuilds the tables of older stores,
reads the models, and the models declare this field, so neither imports the other both ways.
"""
from __future__ import annotations

import peewee as pw


class NeverReusedAutoField(pw.AutoField):
    """The primary key of every table: AUTOINCREMENT on SQLite, a sequence (SERIAL) on PostgreSQL."""

    def ddl(self, ctx):  # type: ignore[override]
        node = super().ddl(ctx)
        db = self.model._meta.database
        if isinstance(getattr(db, "obj", db), pw.SqliteDatabase):
            return pw.NodeList((node, pw.SQL("AUTOINCREMENT")))
        return node
