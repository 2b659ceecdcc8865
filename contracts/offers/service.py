"""Offer use cases: make, counter, accept, reject, withdraw, talk, read; the holds an acceptance
puts on conflicting offers and what the contract it becomes does with them; the expiry and
reminder sweeps the worker runs; and the rights a listing still has to give. Each takes the
acting party first and does its writes, audit entries and outbox events in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.offers import rights, states
from contracts.offers.models import (
    LIVE_STATES,
    Grant,
    Offer,
    OfferMessage,
    OfferState,
    OfferTerms,
    Side,
)
from contracts.offers.schemas import FromProposalIn, MessageIn, OfferIn, OfferTermsIn
from docking import proposals
from docking.models import Need, Proposal
from listings import enquiries
from listings.models import Listing, ListingState
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
    ValidationFailed,
    validation_error,
)
from market.i18n import Msg
from market.locks import lock_existing
from market.money import Money
from market.throttle import Bucket
from market.transitions import Lifecycle, apply, events_of
from market.validation import parse, visible_or_404

EVENTS = outbox.declare("offer.made", "offer.message", "offer.expiring", *events_of(states.OFFER))
SIDE_NAMES = {"seller": "the institute", "buyer": "the buyer"}


# --- who is who ------------------------------------------------------------------------------


def roles_on(actor: Actor, offer: Offer) -> set[str]:
    """The actor's standing, and their side when their role lets them negotiate."""
    held = actor.standing()
    side = side_of(actor, offer)
    if side is not None and may(actor, Permission.NEGOTIATE):
        held.add(side.value)
    return held


def side_of(actor: Actor, offer: Offer) -> Side | None:
    """The side the actor's organisation is on, whatever their role."""
    org = actor.organization_id
    if org and org == str(offer.seller_id):  # type: ignore[attr-defined]
        return Side.SELLER
    if org and org == str(offer.buyer_id):  # type: ignore[attr-defined]
        return Side.BUYER
    return None


def actions_for(actor: Actor, offer: Offer) -> list[str]:
    """The buttons a page shows come from the same table the services apply."""
    if actor.user is None or actor.organization is None:
        return []
    actions = OFFERING.actions(actor, offer)
    if is_lapsed(offer):
        actions = [a for a in actions if a not in {"accept", "counter"}]
    if side_of(actor, offer) and str(offer.state) in states.MESSAGING:
        actions.append("message")
    return actions


def can_see(actor: Actor, offer: Offer) -> bool:
    return actor.is_admin or actor.is_system or bool(roles_on(actor, offer))


def _trail(offer: Offer, actor: Actor) -> Any:
    """Whose audit trail a move joins: the acting side's; for the system's moves, the side
    they concern (an expired offer is the institute's news; a hold, its release or a decline
    the buyer's)."""
    if actor.organization_id:
        return actor.organization_id
    return offer.seller_id if offer.state == OfferState.EXPIRED else offer.buyer_id  # type: ignore[attr-defined]


def _event(offer: Offer, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {
        "offer_id": str(offer.id),
        "terms_number": offer.terms_number,
        "actor_id": actor.user_id,
        **extra,
    }


OFFERING = Lifecycle(
    "offer", Offer, states.OFFER, roles=roles_on, payload=_event, organization=_trail
)


async def _load_visible(actor: Actor, offer_id: str) -> Offer:
    return await visible_or_404(actor, Offer, offer_id, "offer", can_see)


def _require_party(actor: Actor, offer: Offer, doing: str) -> Side:
    side = side_of(actor, offer)
    if side is None:
        raise Forbidden(f"Only the two sides of an offer may {doing}.")
    roles.require(actor, Permission.NEGOTIATE)
    require_verified(actor, doing)
    return side


# --- limits ------------------------------------------------------------------------------------


def _per_hour(name: str, limit: int, what: str) -> Bucket:
    return Bucket(
        name,
        limit,
        3600,
        f"You have sent {limit} {what} in the last hour, the most we allow. Try again in {{wait}}.",
    )


async def _claim_offer(actor: Actor) -> None:
    """Count an offer or counter-offer (each is a new version of terms the other side must
    read) against the author's hourly limit. Claimed first inside the use case's transaction:
    its row lock is the first the transaction takes, and an offer refused later gives its count
    back with the rollback."""
    limit = get_settings().offer_limit_per_hour
    bucket = _per_hour("offers.user", limit, "offers and counter-offers")
    await throttle.claim((bucket, str(actor.user_id)))


async def _claim_message(actor: Actor) -> None:
    limit = get_settings().message_limit_per_hour
    await throttle.claim((_per_hour("messages.user", limit, "messages"), str(actor.user_id)))


# --- terms ---------------------------------------------------------------------------------


def _fits_listing(terms: OfferTermsIn, listing: Listing) -> None:
    """Terms may only ask for what the listing offers."""
    problems: dict[str, str] = {}
    offered = list(listing.license_types or [])
    if offered and terms.license_type not in offered:
        problems["license_type"] = (
            f"This listing offers {', '.join(t.replace('_', '-') for t in offered)} licences only."
        )
    places = set(listing.territories or ["WORLD"])
    if "WORLD" not in places:
        outside = [t for t in terms.territories if t not in places]
        if outside:
            problems["territories"] = (
                f"The listing's rights cover {', '.join(sorted(places))} only, not "
                f"{', '.join(outside)}."
            )
    listing_fields = rights.Scope.of("", [], listing.fields_of_use or ["all"]).fields_of_use
    if rights.ALL_FIELDS not in listing_fields:
        wanted = rights.Scope.of("", [], terms.fields_of_use).fields_of_use
        outside = [f for f in wanted if f not in listing_fields]
        if outside:
            problems["fields_of_use"] = (
                f"The listing's rights cover {', '.join(listing_fields)} only, not "
                f"{', '.join(outside)}."
            )
    if problems:
        raise ValidationFailed("The terms ask for more than the listing offers.", fields=problems)


def _terms_columns(terms: OfferTermsIn) -> dict[str, Any]:
    return {
        "license_type": terms.license_type,
        "territories": list(terms.territories),
        "fields_of_use": list(terms.fields_of_use),
        "term_months": terms.term_months,
        "upfront_amount": terms.upfront_fee.amount,
        "currency": terms.upfront_fee.currency,
        "royalty_percent": terms.royalty_percent,
        "milestones": [
            {"description": m.description, "amount": m.amount.amount} for m in terms.milestones
        ],
        "conditions": terms.conditions,
        "expires_at": terms.expires_at,
    }


def scope_of(terms: OfferTerms | Grant) -> rights.Scope:
    return rights.Scope.of(terms.license_type, terms.territories, terms.fields_of_use)


async def current_terms(offer: Offer) -> OfferTerms:
    return await OfferTerms.get(offer_id=offer.id, number=offer.terms_number)


async def _published_listing(listing_id: Any) -> Listing:
    listing = await Listing.get(id=listing_id)
    if listing.state != ListingState.PUBLISHED:
        raise Conflict(
            f"The listing is {listing.state} now, so it takes no offers.", state=str(listing.state)
        )
    return listing


# --- making and answering offers ---------------------------------------------------------------


def offer_refusal(actor: Actor, listing: Listing) -> DomainError | None:
    """Why this actor may not make an offer on the listing, or None if they may: make_offer
    raises it, and the listing page asks it whether to show the form."""
    if actor.user is None:
        return NotAuthenticated("Log in first.")
    org = actor.organization
    if org is None or org.kind == OrganizationKind.PLATFORM:
        return Forbidden("Only institutes and enterprises make offers; administrators do not.")
    if str(listing.institute_id) == actor.organization_id:  # type: ignore[attr-defined]
        return Forbidden("You cannot make an offer on your own organisation's listing.")
    try:
        roles.require(actor, Permission.NEGOTIATE)
        require_verified(actor, "make offers")
    except Forbidden as exc:
        return exc
    if listing.state != ListingState.PUBLISHED:
        return Conflict(
            f"The listing is {listing.state}, so it takes no offers.", state=str(listing.state)
        )
    return None


async def make_offer(
    actor: Actor,
    listing_id: str,
    data: OfferIn,
    *,
    enquiry_id: str | None = None,
    proposal_id: Any = None,
) -> Offer:
    """Make an offer; `enquiry_id` names the enquiry it comes from (the buyer's own, open, on
    this listing), `proposal_id` the need's proposal (offer_from_proposal): the offer's origin."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    listing = await get_listing(actor, listing_id)
    refusal = offer_refusal(actor, listing)
    if refusal is not None:
        raise refusal
    origin = None
    if enquiry_id:
        origin = await enquiries.origin_for_offer(actor, enquiry_id, str(listing.id))
    _fits_listing(data, listing)
    async with unit_of_work():
        await _claim_offer(actor)
        await _published_listing(listing.id)
        # Asking for rights already given away could only ever end in a refusal.
        await _refuse_if_granted(
            listing,
            rights.Scope.of(data.license_type, data.territories, data.fields_of_use),
            state=str(listing.state),
        )
        offer = await Offer.create(
            listing_id=listing.id,
            seller_id=listing.institute_id,  # type: ignore[attr-defined]
            buyer_id=actor.organization_id,
            created_by_id=actor.user_id,
            license_type=data.license_type,
            expires_at=data.expires_at,
            enquiry_id=origin.id if origin else None,
            proposal_id=proposal_id,
        )
        await OfferTerms.create(
            offer_id=offer.id,
            number=1,
            side=Side.BUYER,
            author_id=actor.user_id,
            **_terms_columns(data),
        )
        if data.message:
            await OfferMessage.create(
                offer_id=offer.id, side=Side.BUYER, author_id=actor.user_id, body=data.message
            )
        await audit.record(
            actor,
            "offer.made",
            "offer",
            offer.id,
            after={
                "state": OfferState.OPEN.value,
                "listing_id": str(listing.id),
                "terms": 1,
                **({"enquiry_id": str(origin.id)} if origin else {}),
            },
        )
        await outbox.emit("offer.made", _event(offer, actor))
    return offer


async def make_offer_from_enquiry(actor: Actor, enquiry_id: str, data: OfferIn) -> Offer:
    """The "make an offer" of an enquiry: an offer on the enquiry's listing, made by
    `make_offer` with its checks, naming the enquiry as its origin."""
    origin = await enquiries.origin_for_offer(actor, enquiry_id)
    return await make_offer(
        actor,
        str(origin.listing_id),  # type: ignore[attr-defined]
        data,
        enquiry_id=str(origin.id),
    )


# --- an offer made from a need's proposal ----------------------------------------------------
#
# The seeker's enterprise turns a finalist proposal into an offer on one of its listings: the
# buyer is the seeker, the seller the institute that owns the listing. make_offer's own checks
# and writes are reused, in the same unit of work as the proposal's "convert" move.

# How long an offer made from a proposal stays open, and its term, unless the seeker says.
FROM_PROPOSAL_EXPIRY = timedelta(days=14)
FROM_PROPOSAL_TERM_MONTHS = 60


def _license_from(cooperation: list[str], offered: list[str]) -> str:
    """The licence the need's forms of cooperation ask for, among those the listing offers."""
    wanted = ["assignment"] if "assignment" in cooperation else []
    if "license" in cooperation or not wanted:
        wanted += ["non_exclusive", "exclusive", "sole"]
    for kind in wanted:
        if not offered or kind in offered:
            return kind
    return offered[0]


def prefill_from_need(need: Need, listing: Listing) -> dict[str, Any]:
    """The terms of an offer on `listing` as the need asks for them, in OfferIn's shape: the
    licence from its forms of cooperation, its territories (within the listing's), and its
    budget's maximum (else minimum) as the upfront fee."""
    places = list(listing.territories or ["WORLD"])
    territories = list(need.territories or ["WORLD"])
    if "WORLD" not in places:
        inside = [t for t in territories if t in places]
        territories = inside or places
    amount = need.budget_max if need.budget_max is not None else need.budget_min
    currency = need.budget_currency
    if amount is None or currency is None:
        amount, currency = listing.asking_amount or 0, listing.asking_currency or "USD"
    return {
        "license_type": _license_from(list(need.cooperation), list(listing.license_types or [])),
        "territories": territories,
        "fields_of_use": list(listing.fields_of_use or ["all"]),
        "term_months": FROM_PROPOSAL_TERM_MONTHS,
        "upfront_fee": {"amount": amount, "currency": currency},
        "royalty_percent": None,
        "milestones": [],
        "conditions": "",
        "expires_at": (utcnow() + FROM_PROPOSAL_EXPIRY).isoformat(),
        "message": "",
    }


def _within_budget(need: Need, data: OfferIn) -> None:
    """The need's maximum budget caps what an offer made from it pays (fee and milestones)."""
    if need.budget_max is None or need.budget_currency is None:
        return
    if data.upfront_fee.currency != need.budget_currency:
        raise validation_error(
            "upfront_fee", f"The need's budget is in {need.budget_currency}: offer in it."
        )
    total = data.upfront_fee.amount + sum(m.amount.amount for m in data.milestones)
    if total > need.budget_max:
        cap = Money(amount=need.budget_max, currency=need.budget_currency).format()
        raise validation_error(
            "upfront_fee", f"The fee and milestones exceed the need's budget of {cap}."
        )


async def offer_prefill(actor: Actor, proposal_id: str, listing_id: str = "") -> dict[str, Any]:
    """What the "make an offer" form of a finalist starts with (its first listing unless one
    is named), after the same checks as the offer itself."""
    proposal, need = await proposals.get_proposal(actor, proposal_id)
    proposals.check_convert(actor, proposal, need)
    listing = await _attached(proposal, listing_id or proposal.listing_ids[0])
    return {"listing_id": str(listing.id), **prefill_from_need(need, listing)}


async def _attached(proposal: Proposal, listing_id: str) -> Listing:
    if listing_id not in proposal.listing_ids:
        raise validation_error("listing_id", "Choose one of the listings the proposal attached.")
    return await Listing.get(id=listing_id)


async def offer_from_proposal(actor: Actor, proposal_id: str, data: FromProposalIn) -> Offer:
    """Turn a finalist into an offer on one of its listings in one step: the terms left out
    come from the need, the budget caps the price, the offer records the proposal as its
    origin, and the proposal becomes "converted" in the same unit of work."""
    proposal, need = await proposals.get_proposal(actor, proposal_id)
    proposals.check_convert(actor, proposal, need)
    listing = await _attached(proposal, data.listing_id)
    sent = data.model_dump(exclude={"listing_id"}, exclude_none=True, mode="json")
    terms = parse(OfferIn, {**prefill_from_need(need, listing), **sent})
    _within_budget(need, terms)
    async with unit_of_work():
        await proposals.hold_for_convert(actor, proposal.id)
        offer = await make_offer(actor, str(listing.id), terms, proposal_id=proposal.id)
        await proposals.convert(actor, proposal.id, offer.id)
    return offer


def is_lapsed(offer: Offer, now: datetime | None = None) -> bool:
    """Past its expiry time but not yet swept by the expiry job: no longer open to answers."""
    return offer.state in LIVE_STATES and offer.expires_at <= (now or utcnow())


def _refuse_if_lapsed(offer: Offer, doing: str) -> None:
    if is_lapsed(offer):
        raise Conflict(
            f"The offer expired at {offer.expires_at:%Y-%m-%d %H:%M} UTC; it cannot be {doing}.",
            state=str(offer.state),
        )


async def _refuse_if_granted(listing: Listing, scope: rights.Scope, *, state: str) -> None:
    granted = await Grant.filter(listing_id=listing.id)
    clash = rights.first_conflict(scope, [(str(g.id), scope_of(g)) for g in granted])
    if clash is not None:
        raise Conflict(
            f"This {scope.describe()} conflicts with a right already granted: "
            f"{clash[1].describe()}.",
            state=state,
        )


def _refuse_if_held(offer: Offer, doing: str) -> None:
    if offer.state == OfferState.ON_HOLD:
        raise Conflict(
            "The offer is on hold: another offer for conflicting rights was accepted and its "
            f"contract is pending. It cannot be {doing} until that contract is cancelled, "
            "rejected or lapses (the offer then comes back as it was).",
            state=str(offer.state),
        )


def _unchanged(read: Offer, locked: Offer) -> None:
    """Whoever changed the offer between our read and our lock won; this call loses clearly."""
    if (locked.state, locked.terms_number) != (read.state, read.terms_number):
        raise Conflict(
            Msg("It changed meanwhile: it is %(state)s now.", state=locked.state),
            state=str(locked.state),
        )


def _require_turn(actor: Actor, offer: Offer, action: str) -> None:
    turn = states.TURN.get(str(offer.state))
    if turn and turn not in roles_on(actor, offer) and (str(offer.state), action) in states.OFFER:
        raise Forbidden(f"It is {SIDE_NAMES[turn]}'s turn: wait for their answer.")


async def counter_offer(actor: Actor, offer_id: str, data: OfferTermsIn) -> Offer:
    offer = await _load_visible(actor, offer_id)
    side = _require_party(actor, offer, "counter offers")
    _require_turn(actor, offer, "counter")
    listing = await Listing.get(id=offer.listing_id)  # type: ignore[attr-defined]
    _fits_listing(data, listing)
    async with unit_of_work():
        await _claim_offer(actor)
        await _published_listing(listing.id)
        locked = await lock_existing(Offer, offer.id)
        _unchanged(offer, locked)
        _refuse_if_held(locked, "countered")
        _refuse_if_lapsed(locked, "countered")
        await _refuse_if_granted(
            listing,
            rights.Scope.of(data.license_type, data.territories, data.fields_of_use),
            state=str(locked.state),
        )
        number = locked.terms_number + 1
        await OfferTerms.create(
            offer_id=offer.id,
            number=number,
            side=side,
            author_id=actor.user_id,
            **_terms_columns(data),
        )
        moved = await apply(
            OFFERING,
            offer.id,
            "counter",
            actor,
            changes={
                "terms_number": number,
                "license_type": data.license_type,
                "expires_at": data.expires_at,
                "updated_at": utcnow(),
            },
            was={"terms": number - 1},
            noted={"terms": number},
            announced={"by": side.value},
        )
    return moved.row


async def accept_offer(actor: Actor, offer_id: str) -> Offer:
    """Accept the current terms: the grant they make is checked against the listing's grants
    and recorded, and every live offer it now conflicts with is put on hold until the
    contract this acceptance becomes is concluded or falls through, all in one transaction.
    Acceptances (and the holds' releases) on one listing queue behind its row lock."""
    offer = await _load_visible(actor, offer_id)
    side = _require_party(actor, offer, "accept offers")
    _require_turn(actor, offer, "accept")
    async with unit_of_work():
        listing = await lock_existing(Listing, offer.listing_id)  # type: ignore[attr-defined]
        locked = await lock_existing(Offer, offer.id)
        if listing.state != ListingState.PUBLISHED:
            raise Conflict(
                f"The listing is {listing.state} now; the offer cannot be accepted.",
                state=str(locked.state),
            )
        _unchanged(offer, locked)
        # The state first: an offer accepted already must say so, not clash with its own grant.
        _refuse_if_held(locked, "accepted")
        OFFERING.check(actor, locked, "accept")
        _refuse_if_lapsed(locked, "accepted")
        terms = await current_terms(locked)
        scope = scope_of(terms)
        await _refuse_if_granted(listing, scope, state=str(locked.state))
        await apply(
            OFFERING,
            offer.id,
            "accept",
            actor,
            changes={"updated_at": utcnow()},
            noted={"terms": locked.terms_number, "grant": scope.describe()},
            announced={"by": side.value},
        )
        await Grant.create(
            listing_id=listing.id,
            grantee_id=locked.buyer_id,  # type: ignore[attr-defined]
            offer_id=locked.id,
            license_type=terms.license_type,
            territories=terms.territories,
            fields_of_use=terms.fields_of_use,
        )
        await _hold_conflicting(listing, locked, scope)
    return await Offer.get(id=offer.id)


async def _hold_conflicting(listing: Listing, accepted: Offer, scope: rights.Scope) -> None:
    system = Actor.system()
    candidates = (
        await Offer.filter(listing_id=listing.id, state__in=LIVE_STATES)
        .exclude(id=accepted.id)
        .order_by("created_at")
        .values_list("id", flat=True)
    )
    for other_id in candidates:
        # Locked before its state is read: a counter racing us (it takes no listing lock)
        # must not make us remember the state it had before.
        other = await lock_existing(Offer, other_id)
        if other.state not in LIVE_STATES:
            continue
        if not rights.conflicts(scope_of(await current_terms(other)), scope):
            continue
        await _hold(system, other, accepted.id, scope)


async def _hold(system: Actor, offer: Offer, holder_id: Any, scope: rights.Scope) -> None:
    """Put `offer` on hold behind the accepted offer `holder_id` (whose contract decides)."""
    held_from = str(offer.state) if offer.state in LIVE_STATES else offer.held_from
    await apply(
        OFFERING,
        offer.id,
        "hold",
        system,
        changes={"held_from": held_from, "held_by_id": holder_id, "updated_at": utcnow()},
        was={"held_by": str(offer.held_by_id) if offer.held_by_id else None},  # type: ignore[attr-defined]
        noted={"held_from": held_from, "held_by": str(holder_id)},
        announced={"held_by": str(holder_id), "held_from": held_from, "grant": scope.describe()},
    )


# --- holds: what the accepted offer's contract decides -------------------------------------
#
# The contracts room calls these when a contract falls through (cancelled, rejected, lapsed:
# `lock_holds` then `release_holds`, inside its unit of work) or goes active (`decline_holds`).
# Every one runs under the listing's row lock, like `accept_offer`, so an acceptance, a release
# and a decline on one listing never interleave: a release that re-holds an offer behind another
# pending contract cannot slip past that contract's own decline.


async def lock_holds(holder_id: Any) -> list[Offer]:
    """Lock the listing of the accepted offer `holder_id`, then the offers it holds: for a
    use case that will then lock its contract (market.locks.ORDER: offers before contracts).
    The set cannot grow meanwhile: holds behind an offer are only made under the same lock."""
    holder = await Offer.get(id=holder_id)
    await lock_existing(Listing, holder.listing_id)  # type: ignore[attr-defined]
    held = []
    for held_id in (
        await Offer.filter(held_by_id=holder_id, state=OfferState.ON_HOLD)
        .order_by("created_at")
        .values_list("id", flat=True)
    ):
        found = await lock_existing(Offer, held_id)
        if found.state == OfferState.ON_HOLD and found.held_by_id == holder.id:  # type: ignore[attr-defined]
            held.append(found)
    return held


async def release_holds(
    held: list[Offer], reason: str, settled: set[str], now: datetime | None = None
) -> None:
    """The contract of the offer that held these fell through (its grant already given back):
    each returns to the state it was held from, expires if its time ran out meanwhile, is held
    again behind another accepted offer still pending whose grant it conflicts with, or is
    declined when the rights went for good to another contract (`settled`: the ids of the
    listing's accepted offers whose contracts are active). Rows locked by `lock_holds`; `now`
    is the sweep's clock when a timer released them."""
    system = Actor.system()
    now = now or utcnow()
    for offer in held:
        terms = await current_terms(offer)
        if offer.expires_at <= now:
            await apply(
                OFFERING,
                offer.id,
                "expire",
                system,
                changes={"updated_at": now},
                noted={"released": reason},
                announced={"released": True, "reason": reason},
            )
            continue
        scope = scope_of(terms)
        granted = await Grant.filter(listing_id=offer.listing_id).order_by("created_at")  # type: ignore[attr-defined]
        clash = next((g for g in granted if rights.conflicts(scope, scope_of(g))), None)
        if clash is None:
            await apply(
                OFFERING,
                offer.id,
                states.RESUME[offer.held_from],
                system,
                changes={"updated_at": now},
                was={"held_by": str(offer.held_by_id)},  # type: ignore[attr-defined]
                noted={"reason": reason},
                announced={"reason": reason, "state": offer.held_from},
            )
        elif clash.offer_id is not None and str(clash.offer_id) not in settled:  # type: ignore[attr-defined]
            await _hold(system, offer, clash.offer_id, scope_of(clash))  # type: ignore[attr-defined]
        else:
            await _decline(system, offer, scope_of(clash))


async def decline_holds(holder_id: Any, held: list[Offer]) -> int:
    """The contract of the offer that held these is active: the rights are gone for good.
    Rows locked by `lock_holds`."""
    holder = await Offer.get(id=holder_id)
    scope = scope_of(await current_terms(holder))
    system = Actor.system()
    for offer in held:
        await _decline(system, offer, scope)
    return len(held)


async def _decline(system: Actor, offer: Offer, scope: rights.Scope) -> None:
    reason = f"Another offer's contract for a conflicting right ({scope.describe()}) is concluded."
    await apply(
        OFFERING,
        offer.id,
        "decline",
        system,
        changes={"closed_reason": reason, "updated_at": utcnow()},
        noted={"because_of": str(offer.held_by_id)},  # type: ignore[attr-defined]
        announced={"because_of": str(offer.held_by_id), "reason": reason},  # type: ignore[attr-defined]
    )


async def _close(actor: Actor, offer_id: str, action: str, reason: str = "") -> Offer:
    offer = await _load_visible(actor, offer_id)
    side = _require_party(actor, offer, f"{action} offers")
    async with unit_of_work():
        moved = await apply(
            OFFERING,
            offer.id,
            action,
            actor,
            changes={"closed_reason": reason, "updated_at": utcnow()},
            noted={"reason": reason},
            announced={"by": side.value, "reason": reason},
        )
    return moved.row


async def reject_offer(actor: Actor, offer_id: str, reason: str = "") -> Offer:
    return await _close(actor, offer_id, "reject", reason.strip()[:2000])


async def withdraw_offer(actor: Actor, offer_id: str) -> Offer:
    return await _close(actor, offer_id, "withdraw")


async def post_message(actor: Actor, offer_id: str, data: MessageIn) -> OfferMessage:
    offer = await _load_visible(actor, offer_id)
    side = _require_party(actor, offer, "write messages")
    if str(offer.state) not in states.MESSAGING:
        raise Conflict(
            Msg("The offer is %(state)s; its thread is closed.", state=offer.state),
            state=str(offer.state),
        )
    async with unit_of_work():
        await _claim_message(actor)
        message = await OfferMessage.create(
            offer_id=offer.id, side=side, author_id=actor.user_id, body=data.body
        )
        await outbox.emit(
            "offer.message", _event(offer, actor, by=side.value, message_id=str(message.id))
        )
    return message


# --- reading -----------------------------------------------------------------------------------


@dataclass
class OfferView:
    offer: Offer
    versions: list[OfferTerms]
    messages: list[OfferMessage]
    side: Side | None
    actions: list[str]
    turn: str | None
    listing: Listing
    contract_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> OfferTerms:
        return self.versions[-1]


async def get_offer(actor: Actor, offer_id: str) -> OfferView:
    offer = await _load_visible(actor, offer_id)
    await offer.fetch_related("buyer", "seller", "listing")
    versions = (
        await OfferTerms.filter(offer_id=offer.id).order_by("number").prefetch_related("author")
    )
    messages = (
        await OfferMessage.filter(offer_id=offer.id)
        .order_by("created_at")
        .prefetch_related("author")
    )
    return OfferView(
        offer=offer,
        versions=versions,
        messages=messages,
        side=side_of(actor, offer),
        actions=actions_for(actor, offer),
        turn=states.TURN.get(str(offer.state)),
        listing=offer.listing,
    )


SIDES = ("buyer", "seller")
OFFER_STATES = tuple(s.value for s in OfferState)


async def list_offers(
    actor: Actor,
    *,
    side: str = "",
    state: str = "",
    page: int = 1,
    per_page: int = 20,
    counts: Mapping[str, int] | None = None,
    table: bool = False,
) -> tuple[list[Offer], int]:
    """The offers the actor's organisation made (buyer) or received (seller); administrators
    see every offer. Each comes with its listing, buyer, seller and `current_terms`, read in the
    same statement. `counts`: `offer_counts` for the same side, when the caller has them.
    `table`: of the terms only what the inbox shows (`TABLE_TERMS`); the API wants them all."""
    scope, values = _scope(actor, side)
    if state and state not in OFFER_STATES:
        raise validation_error("state", "Unknown state.")
    if counts is None:
        counts = await offer_counts(actor, side=side)
    total = counts.get(state, 0) if state else sum(counts.values())
    statement = _page_statement(scope, bool(state), table)
    wanted = [*values, *([state] if state else []), per_page, (page - 1) * per_page]
    offers = []
    for row in await statement.fetch(wanted):
        offer = rows.build(Offer, row, "f")
        assert offer is not None
        offer.listing = rows.build(Listing, row, "l", _NAMED_LISTING)
        offer.buyer = rows.build(Organization, row, "b", _NAMED_ORG)
        offer.seller = rows.build(Organization, row, "s", _NAMED_ORG)
        offer.current_terms = rows.build(  # type: ignore[attr-defined]
            OfferTerms, row, "t", TABLE_TERMS if table else None
        )
        offers.append(offer)
    return offers, total


# The inbox is read with one written-out statement (market/rows.py) for each of these scopes:
# the WHERE clause, and how many of the organisation's id it takes.
_SCOPES = {
    "buyer": "f.buyer_id = $1",
    "seller": "f.seller_id = $1",
    "either": "(f.buyer_id = $1 OR f.seller_id = $2)",
    "all": "1 = 1",
}
_page_statements: dict[tuple[str, bool, bool], rows.Statement] = {}
# What the inbox shows of an offer's current terms (its upfront fee).
TABLE_TERMS = ("id", "upfront_amount", "currency")
# An inbox names each offer's listing, buyer and seller, and shows nothing else of them.
_NAMED_LISTING = ("id", "title")
_NAMED_ORG = ("id", "name")
_count_statements: dict[str, rows.Statement] = {}


def _scope(actor: Actor, side: str) -> tuple[str, list[Any]]:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if side and side not in SIDES:
        raise validation_error("side", "Say buyer or seller.")
    if actor.is_admin:
        # Administrators oversee every offer; they are neither side of any.
        return "all", []
    if actor.organization is None:
        raise Forbidden("Only members of an organisation have offers.")
    org = actor.organization.id
    if side in SIDES:
        return side, [org]
    return "either", [org, org]


def _page_statement(scope: str, by_state: bool, table: bool) -> rows.Statement:
    key = (scope, by_state, table)
    if key not in _page_statements:
        n = 1 + _SCOPES[scope].count("$")
        state = f"AND f.state = ${n}" if by_state else ""
        n += by_state
        _page_statements[key] = rows.Statement(
            """
SELECT {f}, {l}, {b}, {s}, {t}
FROM offer f
JOIN listing l ON l.id = f.listing_id
JOIN organization b ON b.id = f.buyer_id
JOIN organization s ON s.id = f.seller_id
LEFT JOIN offer_terms t ON t.offer_id = f.id AND t.number = f.terms_number
WHERE {scope} {state}
ORDER BY f.updated_at DESC, f.id LIMIT {limit} OFFSET {offset}
""",
            parts={
                "scope": _SCOPES[scope],
                "state": state,
                "limit": f"${n}",
                "offset": f"${n + 1}",
            },
            f=Offer,
            l=(Listing, _NAMED_LISTING),
            b=(Organization, _NAMED_ORG),
            s=(Organization, _NAMED_ORG),
            t=(OfferTerms, TABLE_TERMS) if table else OfferTerms,
        )
    return _page_statements[key]


async def offer_counts(actor: Actor, *, side: str = "") -> dict[str, int]:
    """Offers by state, for the inbox tabs; every state is named."""
    scope, values = _scope(actor, side)
    if scope not in _count_statements:
        _count_statements[scope] = rows.Statement(
            "SELECT f.state AS state, count(*) AS n FROM offer f WHERE {scope} GROUP BY f.state",
            parts={"scope": _SCOPES[scope]},
        )
    counts = dict.fromkeys(OFFER_STATES, 0)
    for row in await _count_statements[scope].fetch(values):
        counts[str(row["state"])] = int(row["n"])
    return counts


# --- rights ------------------------------------------------------------------------------------


ListingRights = tuple[list[Grant], list[rights.Availability]]


async def listing_rights(listing: Listing) -> ListingRights:
    """The grants a listing has made and what each licence type it offers still has free."""
    # On every listing page: one statement with the grantees, written out (market/rows.py).
    grants = []
    for row in await _GRANTS.fetch([listing.id]):
        grant = rows.build(Grant, row, "g")
        grant.grantee = rows.build(Organization, row, "o")  # type: ignore[union-attr]
        grants.append(grant)
    return grants, _availability(listing, grants)  # type: ignore[arg-type]


_GRANTS = rows.Statement(
    """
SELECT {g}, {o} FROM listing_grant g JOIN organization o ON o.id = g.grantee_id
WHERE g.listing_id = $1 ORDER BY g.created_at
""",
    g=Grant,
    o=Organization,
)


def _availability(listing: Listing, grants: list[Grant]) -> list[rights.Availability]:
    return rights.availability(
        listing.license_types or [],
        listing.territories or ["WORLD"],
        listing.fields_of_use or ["all"],
        [scope_of(g) for g in grants],
    )


async def listing_rights_for(listings: Iterable[Listing]) -> dict[str, ListingRights]:
    """`listing_rights` of many listings, by listing id (as a string), in one query for their
    grants (and one for the grantees) however many there are: a page of them costs no more."""
    by_id = {str(listing.id): listing for listing in listings}
    grants: dict[str, list[Grant]] = {listing_id: [] for listing_id in by_id}
    if by_id:
        for grant in (
            await Grant.filter(listing_id__in=[listing.id for listing in by_id.values()])
            .order_by("created_at")
            .prefetch_related("grantee")
        ):
            grants[str(grant.listing_id)].append(grant)  # type: ignore[attr-defined]
    return {
        listing_id: (grants[listing_id], _availability(listing, grants[listing_id]))
        for listing_id, listing in by_id.items()
    }


# --- the worker's sweeps -----------------------------------------------------------------------


async def expire_due(now: datetime | None = None) -> int:
    """Expire every live offer past its expiry time; the worker's cron runs this."""
    now = now or utcnow()
    system = Actor.system()
    due = await Offer.filter(state__in=LIVE_STATES, expires_at__lte=now).values_list(
        "id", flat=True
    )
    expired = 0
    for offer_id in due:
        try:
            async with unit_of_work():
                locked = await lock_existing(Offer, offer_id)
                if locked.expires_at > now:  # countered meanwhile, with a new expiry
                    continue
                await apply(OFFERING, offer_id, "expire", system, changes={"updated_at": utcnow()})
            expired += 1
        except Conflict:
            continue  # answered meanwhile
    return expired


async def remind_due(now: datetime | None = None) -> int:
    """Tell the side whose turn it is that an offer expires within `offer_reminder_hours`;
    once per version of the terms (a counter-offer sets a new expiry and earns a new one)."""
    now = now or utcnow()
    horizon = now + timedelta(hours=get_settings().offer_reminder_hours)
    due = await Offer.filter(state__in=LIVE_STATES, expires_at__gt=now, expires_at__lte=horizon)
    reminded = 0
    for offer in due:
        if offer.reminded_for >= offer.terms_number:
            continue
        async with unit_of_work():
            marked = await Offer.filter(
                id=offer.id,
                state=offer.state,
                terms_number=offer.terms_number,
                reminded_for=offer.reminded_for,
            ).update(reminded_for=offer.terms_number)
            if not marked:
                continue
            await outbox.emit(
                "offer.expiring",
                _event(
                    offer,
                    Actor.system(),
                    side=states.TURN[str(offer.state)],
                    expires_at=offer.expires_at.isoformat(),
                ),
            )
        reminded += 1
    return reminded
