"""What happens after offer and contract events commit, in the worker.

- Work: an accepted offer becomes a contract (`offer.accepted`), a contract sent back for
  changes gets a new version (`contract.changes_requested`), an approved one opens for signing
  (`contract.approved`), a signed one is finished (`contract.signed`) and an active one
  declines the offers its acceptance put on hold (`contract.active`). Each calls an
  idempotent use case in contracts/agreements.py, so an event handled twice does the work once.
- Notifications: the parties (and, for approval, the administrators) are told in the app and
  by e-mail (templates/emails/contract_*.txt, in each one's language), with a link to the
  contract. The member who acted is never told of their own act; each notification's dedup
  key is (event, user).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract
from contracts.offers.models import Side
from listings.labels import LICENSE
from market.accounts.models import Membership, Organization, OrganizationKind, User
from market.config import get_settings
from market.money import Money
from market.notify import about, tell
from market.outbox import OutboxEvent

BOTH = (Side.SELLER.value, Side.BUYER.value)
ADMINS = "admins"


# --- the work ------------------------------------------------------------------------------


async def draw_up_contract(event: OutboxEvent) -> None:
    await agreements.generate_contract(event.payload["offer_id"])


async def draw_up_new_version(event: OutboxEvent) -> None:
    await agreements.regenerate_contract(event.payload["contract_id"])


async def open_for_signing(event: OutboxEvent) -> None:
    await agreements.open_signing(event.payload["contract_id"])


async def finish_signed_contract(event: OutboxEvent) -> None:
    await agreements.finalize_signed(event.payload["contract_id"])


async def decline_held_offers(event: OutboxEvent) -> None:
    await agreements.decline_held_offers(event.payload["contract_id"])


# --- who is told -----------------------------------------------------------------------------


# Event type -> e-mail template under templates/emails (without .txt).
async def activate_when_nothing_is_owed(event: OutboxEvent) -> None:
    await agreements.activate_if_nothing_owed(event.payload["contract_id"])


TEMPLATES = {
    "contract.submitted": "contract_submitted",
    "contract.changes_requested": "contract_changes_requested",
    "contract.rejected": "contract_rejected",
    "contract.awaiting_signatures": "contract_ready_to_sign",
    "contract.signature_added": "contract_signature_added",
    "contract.awaiting_payment": "contract_signed",
    "contract.cancelled": "contract_cancelled",
    "contract.signing_reminder": "contract_reminder",
}


def _other(side: str) -> str:
    return Side.BUYER.value if side == Side.SELLER.value else Side.SELLER.value


def recipients(event_type: str, payload: dict[str, Any]) -> tuple[str, ...]:
    """Who an event is for: sides of the contract, or the administrators."""
    if event_type == "contract.submitted":
        return (ADMINS,)  # the trade waits for their approval
    if event_type == "contract.signature_added":
        return (_other(payload["by"]),)  # their turn to sign
    if event_type == "contract.signing_reminder":
        return tuple(payload["sides"])  # those yet to sign
    return BOTH


def contract_link(contract_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/contracts/{contract_id}"


async def _members(org_id: Any) -> list[User]:
    memberships = (
        await Membership.filter(organization_id=org_id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [m.user for m in memberships]


async def _admins() -> list[User]:
    memberships = (
        await Membership.filter(organization__kind=OrganizationKind.PLATFORM, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [m.user for m in memberships]


def _when(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d") if value else ""


async def tell_about_contract(event: OutboxEvent) -> None:
    payload = event.payload
    contract = await Contract.get_or_none(id=payload["contract_id"]).select_related(
        "listing", "seller", "buyer"
    )
    if contract is None:
        return
    orgs: dict[str, Organization] = {"seller": contract.seller, "buyer": contract.buyer}
    by = payload.get("by")
    context: dict[str, Any] = {
        "contract": contract,
        "listing": contract.listing,
        "seller": contract.seller,
        "buyer": contract.buyer,
        "license": LICENSE.text(contract.license_type),
        "by_org": orgs[by] if by in orgs else None,
        "reason": payload.get("reason", ""),
        "version": payload.get("document_number", contract.document_number),
        "amount": Money(amount=contract.amount_due, currency=contract.currency).format(),
        "cancel_on": _when(payload.get("cancel_at", "")),
        "listing_licensed": bool(payload.get("listing_licensed")),
    }
    actor_id = payload.get("actor_id")
    link = contract_link(contract.id)
    template = TEMPLATES[event.event_type]
    for who in recipients(event.event_type, payload):
        users = await _admins() if who == ADMINS else await _members(orgs[who].id)
        for user in users:
            if str(user.id) == actor_id:
                continue  # they know what they did
            await tell(
                user,
                template,
                dedup_key=f"{event.id}:{user.id}",
                about=about("contract", contract.id),
                link=link,
                side=who,
                **context,
            )
