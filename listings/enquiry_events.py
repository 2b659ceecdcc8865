"""What happens after enquiry events commit: both organisations are told.

Every new message of an enquiry (the question that opens it, each answer) and its closing are
told to the active members of both sides whose role lets them negotiate, in the app and by
e-mail (templates/emails/enquiry_*.txt, in each member's language), with a link back to the
thread; the member who wrote is not told of their own message. The dedup key is (event, user):
a second run of the handler finds every notification made and sends nothing.
"""

from __future__ import annotations

from typing import Any

from listings import enquiries
from listings.models import Enquiry, EnquiryMessage
from market.accounts.models import MemberRole, Membership, Organization, User
from market.accounts.roles import TABLE, Permission
from market.config import get_settings
from market.notify import tell
from market.outbox import OutboxEvent

# Event type -> e-mail template under templates/emails (without .txt).
TEMPLATES = {
    enquiries.ASKED: "enquiry_asked",
    enquiries.MESSAGE: "enquiry_message",
    "enquiry.closed": "enquiry_closed",
}


def enquiry_link(enquiry_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/enquiries/{enquiry_id}"


async def negotiators(*org_ids: Any) -> list[User]:
    """The active members of these organisations whose role lets them negotiate."""
    memberships = (
        await Membership.filter(organization_id__in=list(org_ids), user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [m.user for m in memberships if Permission.NEGOTIATE in TABLE[MemberRole(str(m.role))]]


async def tell_both_sides(event: OutboxEvent) -> None:
    payload = event.payload
    enquiry = await Enquiry.get_or_none(id=payload["enquiry_id"]).select_related(
        "listing", "buyer", "seller"
    )
    if enquiry is None:
        return
    message = None
    if payload.get("message_id"):
        message = await EnquiryMessage.get_or_none(id=payload["message_id"])
    actor_id = payload.get("actor_id")
    author = await User.get_or_none(id=actor_id) if actor_id else None
    orgs: dict[str, Organization] = {"buyer": enquiry.buyer, "seller": enquiry.seller}
    by = payload.get("by") or (message.side if message else "buyer")
    for user in await negotiators(enquiry.buyer_id, enquiry.seller_id):  # type: ignore[attr-defined]
        if str(user.id) == actor_id:
            continue  # they know what they wrote
        await tell(
            user,
            TEMPLATES[event.event_type],
            dedup_key=f"{event.id}:{user.id}",
            link=enquiry_link(enquiry.id),
            listing=enquiry.listing,
            by_org=orgs[str(by)],
            author=author.name if author else "",
            message=message.body if message else "",
        )
