"""The one deferred database object every module of the store works through.

Bound by db.open_database(); models and the decision path's statements (fast_sql.py) refer to it
through this DatabaseProxy, so nothing touches a database at import time. It lives in a module of
its own so that fast_sql.py, which db.py builds on, need not import db.py.
"""
from __future__ import annotations

import peewee

database = peewee.DatabaseProxy()
