"""What a command says when DATABASE_URL is a read-only PostgreSQL standby and it would write there.

Writing commands (keys, policy activate, load, prune, ...) fail at their first write on a standby;
errors.explain() turns that refusal (SQLSTATE 25006) into one line naming the standby and where the
command belongs: its primary, as AUTHZ_PRIMARY_URL names it for the instances serving from the
standby. Each write is one transaction, so nothing was changed. Reading commands work on a standby
(init_schema leaves a current replayed schema as it is).
"""
from __future__ import annotations

from service.store.db import database_url
from service.store.standby import StandbyReadOnly, is_read_only_error, primary_host, public_name


def is_standby_refusal(exc: BaseException) -> bool:
    """Whether exc is a write refused because the store is a standby (by the server, or before trying)."""
    return isinstance(exc, StandbyReadOnly) or is_read_only_error(exc)


def refusal_line(exc: BaseException) -> str:
    """The one error line for a command that would write to a standby."""
    primary = primary_host()
    where = (f"the primary AUTHZ_PRIMARY_URL names ({primary})" if primary
             else "its primary (the URL the standby's instances have as AUTHZ_PRIMARY_URL)")
    what = str(exc) if isinstance(exc, StandbyReadOnly) else "this command writes to the store"
    return (f"DATABASE_URL ({public_name(database_url())}) is a read-only PostgreSQL standby and {what}: "
            f"run it with DATABASE_URL set to {where}; nothing was changed")
