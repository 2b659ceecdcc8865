"""Enquiries: a question on a published listing before any offer (issue 18, point 5).

A verified enterprise's negotiators ask the listing's institute; the institute's negotiators
answer; either side may close the thread. Nothing in it binds anyone and it names no terms, so
it lives with the listing it concerns. An offer made from it (contracts/offers/service.py
`make_offer(..., enquiry_id=...)`) names it as its origin, after `origin_for_offer` here has
said the buyer may; a need's proposal may link an enquiry the same way later.

Each use case takes the actor first and writes the message, the audit entry and the outbox
event in one unit of work; `enquiry_events.py` tells both organisations of every message.
A stranger to the thread gets the same 404 as for an id that names nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from listings import states
from listings.models import (
    Enquiry,
    EnquiryMessage,
    EnquirySide,
    EnquiryState,
    Listing,
    ListingState,
)
from listings.schemas import EnquiryIn
from listings.service import get_listing
from market import audit, outbox, rows, throttle
from market.accounts import roles
from market.accounts.models import Organization, OrganizationKind
from market.accounts.roles import Permission, may
from market.accounts.service import require_verified
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    validation_error,
)
from market.locks import lock_existing
from market.throttle import Bucket
from market.transitions import Lifecycle, apply, events_of
from market.validation import visible_or_404

ASKED = "enquiry.asked"
MESSAGE = "enquiry.message"
EVENTS = outbox.declare(ASKED, MESSAGE, *events_of(states.ENQUIRY))
SIDES = tuple(s.value for s in EnquirySide)
DAY = 24 * 3600


# --- who is who ------------------------------------------------------------------------------


def side_of(actor: Actor, enquiry: Enquiry) -> EnquirySide | None:
    """The side the actor's organisation is on, whatever their role."""
    org = actor.organization_id
    if org and org == str(enquiry.buyer_id):  # type: ignore[attr-defined]
        return EnquirySide.BUYER
    if org and org == str(enquiry.seller_id):  # type: ignore[attr-defined]
        return EnquirySide.SELLER
    return None


def roles_on(actor: Actor, enquiry: Enquiry) -> set[str]:
    """The actor's standing, and their side when their role lets them negotiate."""
    held = actor.standing()
    side = side_of(actor, enquiry)
    if side is not None and may(actor, Permission.NEGOTIATE):
        held.add(side.value)
    return held


def can_see(actor: Actor, enquiry: Enquiry) -> bool:
    """The two organisations' members only: a question asked before any offer is nobody
    else's business, the administrators' included."""
    return side_of(actor, enquiry) is not None


def _event(enquiry: Enquiry, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {"enquiry_id": str(enquiry.id), "actor_id": actor.user_id, **extra}


def _trail(enquiry: Enquiry, actor: Actor) -> Any:
    return actor.organization_id or enquiry.seller_id  # type: ignore[attr-defined]


ENQUIRING = Lifecycle(
    "enquiry", Enquiry, states.ENQUIRY, roles=roles_on, payload=_event, organization=_trail
)


def actions_for(actor: Actor, enquiry: Enquiry) -> list[str]:
    """The buttons the enquiry page shows: from the table, and writing while it is open."""
    actions = ENQUIRING.actions(actor, enquiry)
    side = roles_on(actor, enquiry) & set(SIDES)
    if side and str(enquiry.state) in states.ENQUIRY_OPEN:
        actions.append("message")
        if EnquirySide.BUYER.value in side:
            actions.append("offer")
    return actions


async def _load_visible(actor: Actor, enquiry_id: str) -> Enquiry:
    return await visible_or_404(actor, Enquiry, enquiry_id, "enquiry", can_see)


def _require_party(actor: Actor, enquiry: Enquiry, doing: str) -> EnquirySide:
    side = side_of(actor, enquiry)
    if side is None:  # visible_or_404 let no stranger this far
        raise Forbidden("Only the two sides of an enquiry may do that.")
    roles.require(actor, Permission.NEGOTIATE)
    require_verified(actor, doing)
    return side


def _refuse_if_closed(enquiry: Enquiry) -> None:
    if str(enquiry.state) not in states.ENQUIRY_OPEN:
        # Closed is the only state past open; the answer's `state` names it all the same.
        raise Conflict(
            "The enquiry is closed; nothing more can be written in it.", state=str(enquiry.state)
        )


# --- asking ------------------------------------------------------------------------------------


def _daily(limit: int) -> Bucket:
    return Bucket(
        "enquiries.organization",
        limit,
        DAY,
        f"Your organisation has asked {limit} new questions today, the most we allow. "
        "Try again in {wait}, or write in a thread already open.",
    )


def enquiry_refusal(actor: Actor, listing: Listing) -> DomainError | None:
    """Why this actor may not ask about the listing, or None if they may: `ask` raises it, and
    the listing page asks it (no query) whether to show the form."""
    if actor.user is None:
        return NotAuthenticated("Log in first.")
    if str(listing.institute_id) == actor.organization_id:  # type: ignore[attr-defined]
        return Forbidden("You cannot ask about your own organisation's listing.")
    org = actor.organization
    if org is None or org.kind != OrganizationKind.ENTERPRISE:
        return Forbidden("Only enterprises ask institutes about their listings.")
    try:
        roles.require(actor, Permission.NEGOTIATE, "ask about listings")
        require_verified(actor, "ask about listings")
    except Forbidden as exc:
        return exc
    if listing.state != ListingState.PUBLISHED:
        return Conflict(
            "The listing is not on offer, so it takes no questions.", state=str(listing.state)
        )
    return None


async def ask(actor: Actor, listing_id: str, data: EnquiryIn) -> Enquiry:
    """Open an enquiry with its first message. Counted against the organisation's daily limit
    first in the transaction (a refusal later gives the count back with the rollback); the
    listing is locked so that one withdrawn meanwhile takes no question."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    listing = await get_listing(actor, listing_id)
    refusal = enquiry_refusal(actor, listing)
    if refusal is not None:
        raise refusal
    async with unit_of_work():
        await throttle.claim(
            (_daily(get_settings().enquiry_limit_per_day), str(actor.organization_id))
        )
        locked = await lock_existing(Listing, listing.id)
        if locked.state != ListingState.PUBLISHED:
            raise Conflict(
                "The listing is no longer on offer, so it takes no questions.",
                state=str(locked.state),
            )
        enquiry = await Enquiry.create(
            listing_id=listing.id,
            seller_id=locked.institute_id,  # type: ignore[attr-defined]
            buyer_id=actor.organization_id,
            created_by_id=actor.user_id,
        )
        message = await EnquiryMessage.create(
            enquiry_id=enquiry.id, side=EnquirySide.BUYER, author_id=actor.user_id, body=data.body
        )
        await audit.record(
            actor,
            "enquiry.asked",
            "enquiry",
            enquiry.id,
            after={"state": EnquiryState.OPEN.value, "listing_id": str(listing.id)},
        )
        await outbox.emit(ASKED, _event(enquiry, actor, message_id=str(message.id)))
    return enquiry


async def post_message(actor: Actor, enquiry_id: str, data: EnquiryIn) -> EnquiryMessage:
    """Write in an open thread (either side). The enquiry's row is locked, so a message and a
    close racing each other end one way: the message before the close, or a 409."""
    enquiry = await _load_visible(actor, enquiry_id)
    side = _require_party(actor, enquiry, "write in enquiries")
    _refuse_if_closed(enquiry)
    async with unit_of_work():
        locked = await lock_existing(Enquiry, enquiry.id)
        _refuse_if_closed(locked)
        message = await EnquiryMessage.create(
            enquiry_id=enquiry.id, side=side, author_id=actor.user_id, body=data.body
        )
        await Enquiry.filter(id=enquiry.id).update(updated_at=utcnow())
        await outbox.emit(
            MESSAGE, _event(enquiry, actor, by=side.value, message_id=str(message.id))
        )
    return message


async def close_enquiry(actor: Actor, enquiry_id: str) -> Enquiry:
    enquiry = await _load_visible(actor, enquiry_id)
    side = _require_party(actor, enquiry, "close enquiries")
    async with unit_of_work():
        moved = await apply(
            ENQUIRING,
            enquiry.id,
            "close",
            actor,
            changes={"closed_by": side.value, "updated_at": utcnow()},
            announced={"by": side.value},
        )
    return moved.row


async def origin_for_offer(actor: Actor, enquiry_id: str, listing_id: str | None = None) -> Enquiry:
    """The enquiry an offer is about to be made from, if this actor may: the asking side's
    (anyone else gets the 404 of a stranger, or a 403 when they answer it), still open, and of
    the listing the offer is for. The offer's own checks are the offer room's."""
    enquiry = await _load_visible(actor, enquiry_id)
    if side_of(actor, enquiry) != EnquirySide.BUYER:
        raise Forbidden("Only the side that asked makes an offer from an enquiry.")
    if listing_id is not None and str(enquiry.listing_id) != str(listing_id):  # type: ignore[attr-defined]
        raise validation_error("enquiry_id", "That enquiry is about another listing.")
    _refuse_if_closed(enquiry)
    return enquiry


async def origin_for_proposal(
    actor: Actor, enquiry_id: str, seeker_id: str, listing_ids: list[str]
) -> Enquiry:
    """The enquiry a need's proposal follows up, if this actor may name it: the institute's
    side of an enquiry the need's seeker asked, about one of the listings the proposal
    attaches (anyone else gets the 404 of a stranger). Open or closed: a closed thread can
    still be what led to the proposal."""
    enquiry = await _load_visible(actor, enquiry_id)
    if side_of(actor, enquiry) != EnquirySide.SELLER:
        raise Forbidden("Only the institute that was asked follows an enquiry up with a proposal.")
    if str(enquiry.buyer_id) != str(seeker_id):  # type: ignore[attr-defined]
        raise validation_error("enquiry_id", "That enquiry was asked by another organisation.")
    if str(enquiry.listing_id) not in {str(x) for x in listing_ids}:  # type: ignore[attr-defined]
        raise validation_error("enquiry_id", "Attach the listing the enquiry is about.")
    return enquiry


# --- reading -----------------------------------------------------------------------------------


@dataclass
class EnquiryView:
    enquiry: Enquiry
    listing: Listing
    messages: list[EnquiryMessage]
    side: EnquirySide | None
    actions: list[str]


async def get_enquiry(actor: Actor, enquiry_id: str) -> EnquiryView:
    enquiry = await _load_visible(actor, enquiry_id)
    await enquiry.fetch_related("listing", "buyer", "seller")
    messages = (
        await EnquiryMessage.filter(enquiry_id=enquiry.id)
        .order_by("created_at")
        .prefetch_related("author")
    )
    return EnquiryView(
        enquiry=enquiry,
        listing=enquiry.listing,
        messages=list(messages),
        side=side_of(actor, enquiry),
        actions=actions_for(actor, enquiry),
    )


# The inbox is one written-out statement (market/rows.py) per side, and one count.
_SCOPES = {"buyer": "e.buyer_id = $1", "seller": "e.seller_id = $1"}
_PAGE = {
    side: rows.Statement(
        """
SELECT {e}, {l}, {b}, {s}
FROM enquiry e
JOIN listing l ON l.id = e.listing_id
JOIN organization b ON b.id = e.buyer_id
JOIN organization s ON s.id = e.seller_id
WHERE {scope}
ORDER BY e.updated_at DESC, e.id LIMIT $2 OFFSET $3
""",
        parts={"scope": scope},
        e=Enquiry,
        l=Listing,
        b=Organization,
        s=Organization,
    )
    for side, scope in _SCOPES.items()
}
_COUNT = {
    side: rows.Statement(
        "SELECT count(*) AS n FROM enquiry e WHERE {scope}", parts={"scope": scope}
    )
    for side, scope in _SCOPES.items()
}


def _side(actor: Actor, side: str) -> str:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None:
        raise Forbidden("Only members of an organisation have enquiries.")
    side = side or default_side(actor)
    if side not in SIDES:
        raise validation_error("side", "Say buyer or seller.")
    return side


def default_side(actor: Actor) -> str:
    org = actor.organization
    return "seller" if org is not None and org.kind == OrganizationKind.INSTITUTE else "buyer"


async def list_enquiries(
    actor: Actor, *, side: str = "", page: int = 1, per_page: int = 20
) -> tuple[list[Enquiry], int]:
    """The enquiries the actor's organisation asked (buyer) or was asked (seller; an
    institute's default), liveliest first, each with its listing, buyer and seller read in the
    same statement."""
    side = _side(actor, side)
    org = actor.organization.id  # type: ignore[union-attr]
    counted = await _COUNT[side].fetch([org])
    total = int(counted[0]["n"]) if counted else 0
    found = []
    for row in await _PAGE[side].fetch([org, per_page, (page - 1) * per_page]):
        enquiry = rows.build(Enquiry, row, "e")
        assert enquiry is not None
        enquiry.listing = rows.build(Listing, row, "l")
        enquiry.buyer = rows.build(Organization, row, "b")
        enquiry.seller = rows.build(Organization, row, "s")
        found.append(enquiry)
    return found, total
