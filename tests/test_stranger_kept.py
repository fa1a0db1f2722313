"""The stranger probe (service/queries/stranger.py) is kept across a write to a table it does not read,
and read again after a write to one it does (store/history.unchanged_between). With a version that
opens invoices to anyone, /v1/list then answers what /v1/check answers after each kind of write; both
backends, about 3 s."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from policy_edits import copy_policies
from service.analysis.candidates import activate, read_candidate
from service.audit.pruning import prune_history_before
from service.decide import facts
from service.queries.stranger import READS
from service.store import current_revision
from service.store import models as m
from service.store.db import read_snapshot
from service.store.history import HISTORY_TABLES, unchanged_between

from test_api_support import Api, api  # noqa: F401  (fixture)

OPEN_INVOICES = ('\n# R16 (deliberately open, a test): every user sees every invoice.\n'
                 'grant(_user: User, "view_invoice", invoice: Invoice, why) if why = {rule: "R16", invoice: invoice.id};\n')


def test_reads_names_every_table_the_probe_statement_reads() -> None:
    for kind, statement in facts._RESOURCES.items():
        named = set(re.findall(r"(?:FROM|JOIN) ([a-z_]+)", statement))
        assert named and named <= set(READS[kind]) <= set(HISTORY_TABLES), kind


def _invoices() -> list[str]:
    return [f"invoice:{row.id}" for row in m.Invoice.select(m.Invoice.id).order_by(m.Invoice.id)]


def _listed(api: Api, actor: str) -> list[str]:
    answer = api.post("/v1/list", {"actor": actor, "action": "view_invoice", "resource_type": "invoice",
                                   "page_size": 1000})
    assert answer.status_code == 200, answer.json
    return answer.json["ids"]


def _unchanged(tables: tuple[str, ...], first: int, second: int) -> bool:
    with read_snapshot():
        return unchanged_between(tables, first, second)


def test_the_probe_follows_writes_to_what_it_reads_and_only_those(api: Api, demo, tmp_path: Path) -> None:
    folder = copy_policies(tmp_path / "open")
    with open(folder / "billing.polar", "a", encoding="utf-8") as fh:
        fh.write(OPEN_INVOICES)
    activate(read_candidate(folder), "tests")
    shutil.rmtree(folder)
    users = [f"user:{row.id}" for row in m.User.select(m.User.id).order_by(m.User.id)]
    outsider = users[-1]
    assert _listed(api, outsider) == _invoices()  # the probe is kept for this revision
    start = current_revision()

    # a membership (a table the probe does not read): the kept probe stands for the new revision
    joined = api.write("POST", "/v1/memberships", {"user": outsider, "organization": demo["baeckerei"],
                                                   "role": "collaborator"})
    assert joined.status_code == 201, joined.json
    assert _unchanged(READS["invoice"], start, joined.json["revision"])
    assert not _unchanged(("membership",), start, joined.json["revision"])
    assert _listed(api, outsider) == _invoices() and _listed(api, users[0]) == _invoices()

    # an invoice (a table it reads): read again, the new invoice is listed to everyone, also to a user
    # related to it only as the stranger is
    created = api.write("POST", "/v1/invoices", {"organization": demo["anwalt"]})
    assert created.status_code == 201, created.json
    assert not _unchanged(READS["invoice"], start, created.json["revision"])
    assert not _unchanged(READS["invoice"], created.json["revision"], start)  # either order
    assert created.json["id"] in _listed(api, outsider) and _listed(api, outsider) == _invoices()
    deleted = api.write("DELETE", f"/v1/invoices/{created.json['id'].split(':')[1]}")
    assert deleted.status_code == 200, deleted.json
    assert created.json["id"] not in _listed(api, outsider) and _listed(api, users[0]) == _invoices()
    for user in users:
        assert all(api.post("/v1/check", {"actor": user, "action": "view_invoice", "resource": ref}).json["allowed"]
                   for ref in _listed(api, user)), user

    # after a prune, a revision before the history's new floor is never vouched for
    later = api.write("POST", "/v1/invoices", {"organization": demo["anwalt"]}).json["revision"]
    assert _unchanged(("assignment",), start, later)
    floor, _removed = prune_history_before(m.utcnow())
    assert floor is not None and floor > start
    assert not _unchanged(("assignment",), start, later)
