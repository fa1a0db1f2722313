"""What a fact's delete removes with it, each removal with its event (docs/api.md, Events).

The store's foreign keys cascade: deleting a user removes their memberships, product authorizations
and assignments; an organization its memberships, products (and their authorizations), assignments
(as partner or customer), invoices and invitations; a product its authorizations and the grants and
requests naming it. Left to the database, those rows vanish without events, and a system mirroring
`/v1/events` keeps facts the store no longer has. So the delete removes them itself, first, in the
same transaction, deepest first (an authorization before its product, a product before its
organization), each with the event a delete of its own would write; the database's cascade then
finds nothing left. Why events rather than refusing (409) while dependents exist: a delete that
answers 200 today keeps answering 200 (the API is extended, not broken), and what it removed is
said in the feed.
"""
from __future__ import annotations

from typing import Any, Callable

from service.store import is_postgres
from service.store import models as m
from service.workflows.records import emit_event, history_entry, invitation_state, partnership_state

# (model of a fact, its rows) -> emits "<kind>.deleted" with the row's last state
EmitDeleted = Callable[[type[m.BaseModel], Any], None]


def delete_dependents(model: type[m.BaseModel], row_id: int, emit_deleted: EmitDeleted) -> None:
    """Delete what the row's delete would cascade to, each with its event (inside the write's transaction)."""
    if model is m.User:
        _delete_facts(m.ProductAuthorization, m.ProductAuthorization.user == row_id, emit_deleted)
        _delete_facts(m.Assignment, m.Assignment.user == row_id, emit_deleted)
        _delete_facts(m.Membership, m.Membership.user == row_id, emit_deleted)
    elif model is m.Product:
        _delete_product_dependents([row_id], emit_deleted)
    elif model is m.Organization:
        products = [p.id for p in m.Product.select(m.Product.id).where(m.Product.organization == row_id)]
        _delete_invitations((m.Invitation.partner == row_id) | (m.Invitation.customer == row_id))
        _delete_product_dependents(products, emit_deleted)
        _delete_facts(m.Assignment, (m.Assignment.partner == row_id) | (m.Assignment.customer == row_id),
                      emit_deleted)
        _delete_facts(m.Membership, m.Membership.organization == row_id, emit_deleted)
        _delete_facts(m.Invoice, m.Invoice.organization == row_id, emit_deleted)
        _delete_facts(m.Product, m.Product.organization == row_id, emit_deleted)


def _rows(model: type[m.BaseModel], where: Any) -> list[Any]:
    query = model.select().where(where).order_by(model.id)
    return list(query.for_update() if is_postgres() else query)


def _delete_facts(model: type[m.BaseModel], where: Any, emit_deleted: EmitDeleted) -> None:
    for row in _rows(model, where):
        model.delete().where(model.id == row.id).execute()
        emit_deleted(model, row)


def _delete_product_dependents(products: list[int], emit_deleted: EmitDeleted) -> None:
    if not products:
        return
    _delete_facts(m.ProductAuthorization, m.ProductAuthorization.product.in_(products), emit_deleted)
    _ungrant(products)
    # what pending or answered invitations requested: their requested access no longer names the product
    m.InvitationProduct.delete().where(m.InvitationProduct.product.in_(products)).execute()


def _ungrant(products: list[int]) -> None:
    """Partnerships granted a deleted product lose it: one `partnership.access_changed` each (no actor)."""
    granted = sorted({g.partnership_id for g in m.PartnershipProduct.select(m.PartnershipProduct.partnership)
                      .where(m.PartnershipProduct.product.in_(products))})
    for partnership_id in granted:
        p = m.Partnership.get_by_id(partnership_id)
        before = partnership_state(p)
        m.PartnershipProduct.delete().where((m.PartnershipProduct.partnership == partnership_id)
                                            & m.PartnershipProduct.product.in_(products)).execute()
        after = partnership_state(p)
        ref = after["id"]
        emit_event("partnership.access_changed", ref, None,
                   {"partnership": ref, "partner": after["partner"], "customer": after["customer"],
                    "before": before["granted"], "granted": after["granted"], "notify": [after["partner"]],
                    "cause": f"product deleted ({', '.join(f'product:{p}' for p in products)})"})
        history_entry(ref, "partnership.access_changed", None, before=before, after=after)


def _delete_invitations(where: Any) -> None:
    """Invitations of a deleted organization (never one that made a partnership: that organization's
    delete is refused): one `invitation.deleted` each, its last state as payload."""
    for inv in _rows(m.Invitation, where):
        state = invitation_state(inv)
        m.InvitationProduct.delete().where(m.InvitationProduct.invitation == inv.id).execute()
        m.Invitation.delete().where(m.Invitation.id == inv.id).execute()
        emit_event("invitation.deleted", state["id"], None, state)
        history_entry(state["id"], "invitation.deleted", None, before=state, after=None)
