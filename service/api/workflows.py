"""Workflow endpoints (R4-R19): invitations, answers, partnership changes, review, export, events, history.

Each handler validates the body's shape (pydantic), calls one function of
service/workflows/ and maps its errors to the shared error shape. Every route,
reads included, needs a `write` key: the workflows are their own privilege,
and the outbox and history expose every partnership's data.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

from flask import Blueprint, Response, current_app, request
from pydantic import Field, model_serializer

from service.store import current_revision
from service import workflows as wf
from service.decide.refs import RefError, parse_ref
from service.workflows.records import DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE

from .auth import WRITE
from .errors import ApiError
from .registry import QueryParam, route
from .schemas import CANONICAL_ID, Answer, OrgRef, ProductRef, Request, UserRef
from .strict_input import query_integer

bp = Blueprint("workflows", __name__, url_prefix="/v1")

MAX_ACCESS_PRODUCTS = 500
MAX_CURSOR = 2**63 - 1


# -- shapes ---------------------------------------------------------------------------------------

class ProductRights(Request):
    product: ProductRef
    technical: bool = False
    statistical: bool = False


class AccessDescription(Request):
    """Requested or granted access (R6): full with a payment mode, or limited to products with rights."""

    access: Literal["full", "limited"]
    payment_mode: Literal["customer", "partner"] | None = Field(
        default=None, description="full access only (limited access is paid by the customer)")
    products: list[ProductRights] | None = Field(default=None, max_length=MAX_ACCESS_PRODUCTS,
                                                 description="limited access only")


class InvitationRequest(Request):
    acting_user: UserRef
    partner: OrgRef
    customer: OrgRef
    requested: AccessDescription


class AcceptRequest(Request):
    acting_user: UserRef
    granted: AccessDescription | None = Field(default=None, description="omitted: as requested")


class ActingUserRequest(Request):
    acting_user: UserRef


class ChangeAccessRequest(Request):
    acting_user: UserRef
    granted: AccessDescription


class PaymentModeRequest(Request):
    acting_user: UserRef
    payment_mode: Literal["customer", "partner"]


class AccessAnswer(Answer):
    access: Literal["full", "limited"]
    payment_mode: Literal["customer", "partner"]
    products: list[dict[str, Any]] | None = Field(default=None, description="limited access only")

    @model_serializer(mode="wrap")
    def _without_empty_products(self, handler: Any) -> dict[str, Any]:
        # full access has no product list; leave the key out rather than answer null
        data = handler(self)
        if data.get("products") is None:
            data.pop("products", None)
        return data


# a workflow step answers the revision it left the store at, as fact writes do (read-your-writes)
STEP_REVISION = Field(description="the store revision after this step: pass it as min_revision to read your write")


class InvitationAnswer(Answer):
    id: str
    status: str
    partner: str
    customer: str
    inviting_side: str
    invited_by: str | None
    requested: AccessAnswer
    sent_at: str | None
    expires_at: str | None
    answered_by: str | None
    answered_at: str | None
    partnership: str | None
    revision: int = STEP_REVISION


class AcceptAnswer(Answer):
    partnership: str
    invitation: str
    status: str
    requested: AccessAnswer
    granted: AccessAnswer
    revision: int = STEP_REVISION


class PartnershipAnswer(Answer):
    id: str
    status: str
    partner: str
    customer: str
    granted: AccessAnswer
    updated_at: str | None
    ended_at: str | None
    ended_by: str | None


class PartnershipChangeAnswer(PartnershipAnswer):
    revision: int = STEP_REVISION


class ReviewAnswer(PartnershipAnswer):
    payment_mode: str
    requested: AccessAnswer | None = Field(description="what the invitation asked for (R8: gives no access)")
    not_granted: dict[str, Any] = Field(description="the difference: requested but not granted")
    invitation: str | None
    created_at: str | None


class EventAnswer(Answer):
    cursor: str
    kind: str
    subject: str
    actor: str | None
    payload: dict[str, Any]
    created_at: str | None


class EventsAnswer(Answer):
    events: list[EventAnswer]
    next: str = Field(description="pass as `after` to read on")


class HistoryItem(Answer):
    subject: str
    change: str
    actor: str | None
    at: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class HistoryAnswer(Answer):
    partnership: str
    history: list[HistoryItem]


# -- plumbing ---------------------------------------------------------------------------------------

def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a workflow step with the app's engine; its errors become ApiErrors."""
    try:
        return fn(*args, engine=current_app.extensions["authz_engine"], **kwargs)
    except wf.WorkflowError as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=exc.field, extra=exc.extra) from None


def _step(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """A workflow step that writes: its answer plus the store revision it committed (or later)."""
    return {**_run(fn, *args), "revision": current_revision()}


def _dump(model: AccessDescription | None) -> dict[str, Any] | None:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None


ACTING_USER_QUERY = QueryParam("acting_user", "the user making the request (user:N)",
                               (("type", "string"), ("pattern", f"^user:{CANONICAL_ID}$")), required=True)
AFTER_QUERY = QueryParam("after", "a `next` cursor from an earlier answer (default: from the start)",
                         (("type", "string"), ("pattern", f"^{CANONICAL_ID}$")))
LIMIT_QUERY = QueryParam("limit", f"how many events at most (default {DEFAULT_EVENTS_PAGE})",
                         (("type", "integer"), ("minimum", 1), ("maximum", MAX_EVENTS_PAGE)))


def _acting_user_arg() -> str:
    value = request.args.get("acting_user")
    try:
        return str(parse_ref(value, expected="user"))
    except RefError as exc:
        raise ApiError(400, "malformed_field", f"acting_user is required as ?acting_user=user:N ({exc})",
                       field="acting_user") from None


# -- invitations ----------------------------------------------------------------------------------

@route(bp, "/invitations", "POST", scope=WRITE, body=InvitationRequest, response=InvitationAnswer, status=201,
       summary="Send an invitation: a partner adds a customer (R4) or a customer invites a partner (R5)",
       errors=(404, 409))
def create_invitation(body: InvitationRequest):
    return _step(wf.create_invitation, body.acting_user, body.partner, body.customer, _dump(body.requested))


@route(bp, "/invitations/<int:invitation_id>/accept", "POST", scope=WRITE, body=AcceptRequest,
       response=AcceptAnswer, summary="Accept an invitation, optionally granting different access (R7, R8)",
       errors=(404, 409))
def accept_invitation(body: AcceptRequest, invitation_id: int):
    return _step(wf.accept_invitation, body.acting_user, f"invitation:{invitation_id}", _dump(body.granted))


@route(bp, "/invitations/<int:invitation_id>/refuse", "POST", scope=WRITE, body=ActingUserRequest,
       response=InvitationAnswer, summary="Refuse an invitation (R7)", errors=(404, 409))
def refuse_invitation(body: ActingUserRequest, invitation_id: int):
    return _step(wf.refuse_invitation, body.acting_user, f"invitation:{invitation_id}")


@route(bp, "/invitations/<int:invitation_id>/resend", "POST", scope=WRITE, body=ActingUserRequest,
       response=InvitationAnswer, summary="Resend a pending invitation; renews its lifetime (R9)",
       errors=(404, 409))
def resend_invitation(body: ActingUserRequest, invitation_id: int):
    return _step(wf.resend_invitation, body.acting_user, f"invitation:{invitation_id}")


@route(bp, "/invitations/<int:invitation_id>/cancel", "POST", scope=WRITE, body=ActingUserRequest,
       response=InvitationAnswer, summary="Cancel a pending invitation (R9)", errors=(404, 409))
def cancel_invitation(body: ActingUserRequest, invitation_id: int):
    return _step(wf.cancel_invitation, body.acting_user, f"invitation:{invitation_id}")


# -- partnerships ---------------------------------------------------------------------------------

@route(bp, "/partnerships/<int:partnership_id>", "GET", scope=WRITE, response=ReviewAnswer,
       summary="Review a partnership: granted access and payment mode beside the request (R10)",
       description="Query parameter `acting_user=user:N` (required).", errors=(404,), query=(ACTING_USER_QUERY,))
def review_partnership(partnership_id: int):
    return _run(wf.review_partnership, _acting_user_arg(), f"partnership:{partnership_id}")


@route(bp, "/partnerships/<int:partnership_id>/access", "PUT", scope=WRITE, body=ChangeAccessRequest,
       response=PartnershipChangeAnswer, summary="Change the granted access (R18); effective on the next decision",
       errors=(404, 409))
def change_access(body: ChangeAccessRequest, partnership_id: int):
    return _step(wf.change_access, body.acting_user, f"partnership:{partnership_id}", _dump(body.granted))


@route(bp, "/partnerships/<int:partnership_id>/payment-mode", "PUT", scope=WRITE, body=PaymentModeRequest,
       response=PartnershipChangeAnswer, summary="Change who pays under full access (R16, R18)", errors=(404, 409))
def change_payment_mode(body: PaymentModeRequest, partnership_id: int):
    return _step(wf.change_payment_mode, body.acting_user, f"partnership:{partnership_id}", body.payment_mode)


@route(bp, "/partnerships/<int:partnership_id>/end", "POST", scope=WRITE, body=ActingUserRequest,
       response=PartnershipChangeAnswer, summary="End a partnership (R19); its history stays", errors=(404, 409))
def end_partnership(body: ActingUserRequest, partnership_id: int):
    return _step(wf.end_partnership, body.acting_user, f"partnership:{partnership_id}")


@route(bp, "/partnerships/<int:partnership_id>/history", "GET", scope=WRITE, response=HistoryAnswer,
       summary="Who changed the partnership (and its invitation), when, state before and after",
       description="Query parameter `acting_user=user:N` (required; needs `review` on the partnership).",
       errors=(404,), query=(ACTING_USER_QUERY,))
def partnership_history(partnership_id: int):
    return _run(wf.partnership_history, _acting_user_arg(), f"partnership:{partnership_id}")


@route(bp, "/organizations/<int:organization_id>/customers.csv", "GET", scope=WRITE, content_type="text/csv",
       summary="Export the partner's managed customers as CSV (R17)",
       description="Query parameter `acting_user=user:N` (required).", errors=(404,), query=(ACTING_USER_QUERY,))
def export_customers(organization_id: int):
    text = _run(wf.export_customers, _acting_user_arg(), f"organization:{organization_id}")
    return Response(text, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="customers-{organization_id}.csv"'})


# -- outbox ---------------------------------------------------------------------------------------

@route(bp, "/events", "GET", scope=WRITE, response=EventsAnswer,
       summary="Workflow events after a cursor, oldest first (the outbox a mailer delivers)",
       description=f"Query parameters `after` (a `next` cursor; default: from the start) and `limit` "
                   f"(1-{MAX_EVENTS_PAGE}). Fact writes and workflow steps both emit events. An `after` "
                   "past the last event is refused (400): such a cursor would skip the events written next.",
       query=(AFTER_QUERY, LIMIT_QUERY))
def list_events():
    limit = query_integer(request.args, "limit", DEFAULT_EVENTS_PAGE, low=1, high=MAX_EVENTS_PAGE)
    after = query_integer(request.args, "after", 0, low=0, high=MAX_CURSOR) if request.args.get("after") else 0
    try:
        return wf.events_after(after, limit)
    except wf.WorkflowError as exc:
        raise ApiError(exc.status, exc.code, exc.message, field=exc.field) from None
