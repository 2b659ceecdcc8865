"""What happens after offer events commit: who is told, and what.

Every offer event tells the active members of the organisation(s) it concerns, in the app and
by e-mail (templates/emails/offer_*.txt, in each member's language), with a link back to the
offer. The member who acted is never told of their own act. The handler may run twice (arq
says so): each notification's dedup key is (event, user), so the second run finds them all
made and sends nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.offers import states
from contracts.offers.models import Offer, OfferMessage, OfferTerms, Side
from listings.labels import LICENSE
from market.accounts.models import Membership, Organization, User
from market.config import get_settings
from market.money import Money
from market.notify import about, tell
from market.outbox import OutboxEvent

# Event type -> e-mail template under templates/emails (without .txt).
TEMPLATES = {
    "offer.made": "offer_made",
    "offer.countered": "offer_countered",
    "offer.message": "offer_message",
    "offer.accepted": "offer_accepted",
    "offer.rejected": "offer_rejected",
    "offer.withdrawn": "offer_withdrawn",
    "offer.declined": "offer_declined",
    "offer.expired": "offer_expired",
    "offer.expiring": "offer_expiring",
    "offer.held": "offer_held",
    "offer.resumed": "offer_resumed",
}

BOTH = (Side.SELLER.value, Side.BUYER.value)


def _other(side: str) -> str:
    return Side.BUYER.value if side == Side.SELLER.value else Side.SELLER.value


def recipient_sides(event_type: str, payload: dict[str, Any]) -> tuple[str, ...]:
    """The sides of the offer an event is for."""
    if event_type == "offer.made":
        return (Side.SELLER.value,)  # the buyer made it
    if event_type in {"offer.accepted", "offer.expired", "offer.resumed"}:
        # Both now have something to do (a contract, an offer back) or nothing to wait for.
        return BOTH
    if event_type in {"offer.declined", "offer.held"}:
        return (Side.BUYER.value,)  # the system closed, or stopped, the buyer's offer
    if event_type == "offer.expiring":
        return (payload["side"],)  # whose turn it is
    # countered, message, rejected, withdrawn: the side that did not act.
    return (_other(payload["by"]),)


def offer_link(offer_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/offers/{offer_id}"


async def active_members(org_id: Any) -> list[User]:
    memberships = (
        await Membership.filter(organization_id=org_id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [m.user for m in memberships]


def _formatted(terms: OfferTerms | None) -> dict[str, Any]:
    """The terms' money and percentage as people read them, and their licence type's words
    (which the e-mail translates)."""
    if terms is None:
        return {"license": "", "fee": "", "royalty": "", "milestones": []}

    def money(amount: int) -> str:
        return Money(amount=amount, currency=terms.currency).format()

    royalty = terms.royalty_percent
    return {
        "license": LICENSE.text(terms.license_type),
        "fee": money(terms.upfront_amount),
        # 3.500 -> 3.5 and 10.000 -> 10 (normalize alone would write 1E+1).
        "royalty": f"{royalty.normalize():f}" if royalty is not None else "",
        "milestones": [f"{m['description']}: {money(m['amount'])}" for m in terms.milestones],
    }


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def tell_the_parties(event: OutboxEvent) -> None:
    payload = event.payload
    offer = await Offer.get_or_none(id=payload["offer_id"]).select_related(
        "listing", "buyer", "seller"
    )
    if offer is None:
        return
    terms = await OfferTerms.get_or_none(offer_id=offer.id, number=payload["terms_number"])
    actor_id = payload.get("actor_id")
    actor = await User.get_or_none(id=actor_id) if actor_id else None
    message = None
    if payload.get("message_id"):
        message = await OfferMessage.get_or_none(id=payload["message_id"])
    elif event.event_type == "offer.made":  # the buyer's first words come with the offer
        message = await OfferMessage.filter(offer_id=offer.id).order_by("created_at").first()
    expires_at = (
        datetime.fromisoformat(payload["expires_at"])
        if payload.get("expires_at")
        else (terms.expires_at if terms else offer.expires_at)
    )
    by = payload.get("by")
    orgs: dict[str, Organization] = {"seller": offer.seller, "buyer": offer.buyer}
    context: dict[str, Any] = {
        "offer": offer,
        "listing": offer.listing,
        "terms": terms,
        **_formatted(terms),
        "by_org": orgs[by] if by in orgs else None,
        "author": actor.name if actor else "",
        "message": message.body if message else "",
        "reason": payload.get("reason", ""),
        "expires": _when(expires_at),
        # A held offer resumes in this state; whose turn it is then.
        "turn": states.TURN.get(payload.get("state", "")),
    }
    link = offer_link(offer.id)
    template = TEMPLATES[event.event_type]
    for side in recipient_sides(event.event_type, payload):
        for user in await active_members(orgs[side].id):
            if str(user.id) == actor_id:
                continue  # they know what they did
            await tell(
                user,
                template,
                dedup_key=f"{event.id}:{user.id}",
                about=about("offer", offer.id),
                link=link,
                side=side,
                **context,
            )
