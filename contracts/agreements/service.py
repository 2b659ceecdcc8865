"""Contract use cases: the worker draws up the agreement an accepted offer becomes, an
administrator approves the trade (or rejects it, or sends it back for changes), an authorised
member of each party signs the exact document they read, and the worker finishes a signed
contract (final PDF with a signature page, the listing's rights fixed, the listing closed when
the deal takes all of it). The timers remind and then cancel contracts left unsigned.

Each use case takes the acting party first and does its writes, audit entries and outbox events
in one transaction. Rendering (Jinja2, and WeasyPrint in a thread) happens before any row is
locked, so a slow PDF never holds a contract or an offer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from contracts.agreements import documents, states
from contracts.agreements.models import (
    Contract,
    ContractDocument,
    ContractState,
    DocumentKind,
    Signature,
)
from contracts.offers import rights
from contracts.offers import service as offers
from contracts.offers.models import Grant, Offer, OfferState, OfferTerms, Side
from listings.models import Listing, ListingState
from listings.service import license_listing
from market import audit, notify, outbox, paging, rows
from market.accounts import roles
from market.accounts.models import Organization
from market.accounts.roles import Permission
from market.accounts.service import confirm_identity, require_admin, require_verified
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, validation_error
from market.i18n import Msg
from market.locks import lock_existing
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id, visible_or_404
from market.web import N_

log = logging.getLogger(__name__)

# The parties as the agreement names them.
EVENTS = outbox.declare(
    "contract.signature_added", "contract.signing_reminder", *events_of(states.CONTRACT)
)
DOCUMENT_SIDES = {Side.SELLER.value: "licensor", Side.BUYER.value: "licensee"}
FULL_NAME_MAX = 200
# A contract in these states has its rights for good: the offers it held are declined.
SETTLED = (ContractState.ACTIVE, ContractState.COMPLETED)
# What the buyers of held offers read when the contract that held them falls through (not the
# parties' own reasons, which are theirs); marked for translation, as the "offer.resumed"
# e-mail says them in its recipient's language.
RELEASED_BECAUSE = {
    "cancel": N_("The contract of the offer accepted before yours was cancelled."),
    "reject": N_("The contract of the offer accepted before yours was not approved."),
    "lapse": N_("The contract of the offer accepted before yours was not signed in time."),
}


# --- who is who ------------------------------------------------------------------------------


def side_of(actor: Actor, contract: Contract) -> Side | None:
    """Which party the actor's organisation is, whatever their role in it."""
    org = actor.organization_id
    if org and org == str(contract.seller_id):  # type: ignore[attr-defined]
        return Side.SELLER
    if org and org == str(contract.buyer_id):  # type: ignore[attr-defined]
        return Side.BUYER
    return None


def has_authority(actor: Actor) -> bool:
    """Whether the actor signs for their organisation: the right an owner grants
    (market/accounts/roles.py), whatever the member's role."""
    return roles.may(actor, Permission.SIGN)


def roles_on(actor: Actor, contract: Contract) -> set[str]:
    roles = actor.standing()
    side = side_of(actor, contract)
    if side is not None and has_authority(actor):
        roles.add(side.value)
    return roles


def can_see(actor: Actor, contract: Contract) -> bool:
    return actor.is_admin or actor.is_system or side_of(actor, contract) is not None


def actions_for(
    actor: Actor, contract: Contract, signed_sides: set[str] | None = None
) -> list[str]:
    """The buttons a page shows come from the same table the services apply."""
    if actor.user is None:
        return []
    actions = CONTRACTING.actions(actor, contract)
    side = side_of(actor, contract)
    if "sign" in actions and side is not None and side.value in (signed_sides or set()):
        actions.remove("sign")
    return actions


async def _load_visible(actor: Actor, contract_id: str) -> Contract:
    return await visible_or_404(actor, Contract, contract_id, "contract", can_see)


def _require_signatory(actor: Actor, contract: Contract, doing: str) -> Side:
    side = side_of(actor, contract)
    if side is None:
        raise Forbidden(f"Only the two parties to a contract may {doing}; administrators do not.")
    roles.require(actor, Permission.SIGN, doing)
    require_verified(actor, doing)
    return side


def _event(contract: Contract, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {
        "contract_id": str(contract.id),
        "offer_id": str(contract.offer_id),  # type: ignore[attr-defined]
        "document_number": contract.document_number,
        "actor_id": actor.user_id,
        **extra,
    }


def _trail(contract: Contract, actor: Actor) -> Any:
    """Filed under the acting party; under the institute when the system or an administrator
    acts."""
    return actor.organization_id if side_of(actor, contract) else contract.seller_id  # type: ignore[attr-defined]


CONTRACTING = Lifecycle(
    "contract", Contract, states.CONTRACT, roles=roles_on, payload=_event, organization=_trail
)


async def _audit(
    actor: Actor,
    action: str,
    contract: Contract,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """An entry that is not a move of the table (a document drawn up, a signature, a grant)."""
    await audit.record(
        actor,
        action,
        "contract",
        contract.id,
        before=before,
        after=after,
        organization_id=_trail(contract, actor),
    )


async def _move(
    actor: Actor,
    contract: Contract,
    action: str,
    *,
    changes: dict[str, Any] | None = None,
    **facts: Any,
) -> Contract:
    """One move of the table; `facts` go to both its audit entry and its event."""
    moved = await apply(
        CONTRACTING,
        contract.id,
        action,
        actor,
        changes={"updated_at": utcnow(), **(changes or {})},
        noted=facts,
        announced=facts,
    )
    return moved.row


# --- the deal is on ----------------------------------------------------------------------------


async def activate_contract(actor: Actor, contract_id: Any) -> bool:
    """A contract awaiting payment becomes active: payments calls this when the upfront fee is
    paid (in its own unit of work, which this joins), and the worker when none is owed. The
    move is the system's (the table says so); `because_of` names the user whose act led to it,
    if one did. False when the contract is not (or no longer) awaiting payment."""
    async with unit_of_work():
        locked = await lock_existing(Contract, contract_id)
        if locked.state != ContractState.AWAITING_PAYMENT:
            return False
        await _move(Actor.system(), locked, "activate", because_of=actor.user_id)
    return True


async def decline_held_offers(contract_id: str) -> int:
    """Once a contract is active its rights are gone for good: the offers its acceptance put on
    hold are declined (their buyers told by the offers' own events). The `contract.active`
    handler runs this rather than `activate_contract` itself, because activation joins the
    payment's unit of work, which holds the contract and payment locks already and so may not
    lock offers (market.locks.ORDER); the event commits with the activation, so the decline
    is certain. Idempotent: a second run finds nothing on hold."""
    contract = await Contract.get_or_none(id=object_id(contract_id, "contract"))
    if contract is None or contract.state not in SETTLED:
        return 0
    async with unit_of_work():
        held = await offers.lock_holds(contract.offer_id)  # type: ignore[attr-defined]
        return await offers.decline_holds(contract.offer_id, held)  # type: ignore[attr-defined]


async def _release_holds(
    contract: Contract, held: list[Offer], action: str, now: datetime | None = None
) -> None:
    """A contract that fell through gives back the offers its acceptance held (locked by
    `offers.lock_holds` before the contract); call after `_release_grant`."""
    if not held:
        return
    settled = await Contract.filter(
        listing_id=contract.listing_id,  # type: ignore[attr-defined]
        state__in=SETTLED,
    ).values_list("offer_id", flat=True)
    await offers.release_holds(held, RELEASED_BECAUSE[action], {str(i) for i in settled}, now)


async def activate_if_nothing_owed(contract_id: str) -> bool:
    """A contract whose upfront fee is zero is active as soon as it awaits payment."""
    contract = await Contract.get_or_none(id=object_id(contract_id, "contract"))
    if contract is None or contract.state != ContractState.AWAITING_PAYMENT:
        return False
    if contract.amount_due > 0:
        return False
    return await activate_contract(Actor.system(), contract.id)


# --- drawing up the agreement ------------------------------------------------------------------


def reference_for(offer_id: Any) -> str:
    """A short reference people can quote, fixed by the offer (one contract per offer)."""
    return f"TM-{UUID(str(offer_id)).hex[:12].upper()}"


# The listing's facts an agreement keeps: what its schedule names, and what the deal relies on.
LISTING_FACTS = (
    "title",
    "kind",
    "patent_numbers",
    "ipc_codes",
    "inventors",
    "trl",
    "territories",
    "fields_of_use",
)


def _party(org: Organization) -> dict[str, str]:
    """A party as the agreement names and places it (the fields of `documents.Party`)."""
    return asdict(
        documents.Party(
            name=org.name, country=org.country, region=org.region or "", kind=str(org.kind)
        )
    )


async def snapshot_of(offer: Offer) -> dict[str, Any]:
    """The parties and the listing as they are now, for the document drawn up now. Taken with
    each version drawn (the first, and a new one after an administrator asked for changes), so
    a party renamed before signing is named as it is; signing opens only after the last version
    is approved, so what the signers read is what the contract keeps."""
    listing = await Listing.get(id=offer.listing_id)  # type: ignore[attr-defined]
    seller = await Organization.get(id=offer.seller_id)  # type: ignore[attr-defined]
    buyer = await Organization.get(id=offer.buyer_id)  # type: ignore[attr-defined]
    facts = {name: getattr(listing, name) for name in LISTING_FACTS}
    facts["kind"] = str(listing.kind)
    return {"seller": _party(seller), "buyer": _party(buyer), "listing": facts}


def agreement_data(
    offer: Offer, terms: OfferTerms, snapshot: dict[str, Any], *, version: int
) -> documents.AgreementData:
    """The agreement of these terms, naming the parties and the listing as the snapshot has
    them (never the live rows)."""
    listing = snapshot["listing"]
    return documents.AgreementData(
        reference=reference_for(offer.id),
        version=version,
        date=utcnow().date(),
        licensor=documents.Party(**snapshot["seller"]),
        licensee=documents.Party(**snapshot["buyer"]),
        listing_title=listing["title"],
        patent_numbers=tuple(listing["patent_numbers"] or ()),
        ipc_codes=tuple(listing["ipc_codes"] or ()),
        license_type=terms.license_type,
        territories=tuple(terms.territories or ()),
        fields_of_use=tuple(terms.fields_of_use or ()),
        term_months=terms.term_months,
        currency=terms.currency,
        upfront_amount=terms.upfront_amount,
        royalty_percent=terms.royalty_percent,
        milestones=tuple(
            documents.MilestoneLine(description=m["description"], amount=int(m["amount"]))
            for m in terms.milestones or ()
        ),
        conditions=terms.conditions or "",
        offer_id=str(offer.id),
    )


@dataclass(frozen=True)
class Rendered:
    html: str
    sha256: str
    pdf: bytes


async def _render(html: str) -> Rendered:
    pdf = await asyncio.to_thread(documents.to_pdf, html)
    return Rendered(html=html, sha256=documents.document_sha256(html), pdf=pdf)


async def generate_contract(offer_id: str) -> Contract | None:
    """Draw up the contract of an accepted offer and submit it for approval. The worker runs
    this for `offer.accepted`; it is idempotent: a second run (or a run racing this one) finds
    the contract and does nothing. None when the offer is not (or no longer) accepted."""
    oid = object_id(offer_id, "offer")
    existing = await Contract.get_or_none(offer_id=oid)
    if existing is not None:
        return existing
    offer = await Offer.get_or_none(id=oid)
    if offer is None or offer.state != OfferState.ACCEPTED:
        log.warning("no contract for offer %s: it is not accepted", offer_id)
        return None
    terms = await OfferTerms.get(offer_id=offer.id, number=offer.terms_number)
    snapshot = await snapshot_of(offer)
    data = agreement_data(offer, terms, snapshot, version=1)
    # The slow part, before any lock: the same offer always renders the same agreement.
    rendered = await _render(documents.render_agreement(data))
    system = Actor.system()
    async with unit_of_work():
        # Generations of one offer queue here; the loser finds the winner's contract.
        await lock_existing(Offer, offer.id)
        existing = await Contract.get_or_none(offer_id=offer.id)
        if existing is not None:
            return existing
        contract = await Contract.create(
            id=uuid4(),
            offer_id=offer.id,
            reference=data.reference,
            listing_id=offer.listing_id,  # type: ignore[attr-defined]
            seller_id=offer.seller_id,  # type: ignore[attr-defined]
            buyer_id=offer.buyer_id,  # type: ignore[attr-defined]
            terms_number=offer.terms_number,
            license_type=terms.license_type,
            amount_due=terms.upfront_amount,
            currency=terms.currency,
            document_number=1,
            document_sha256=rendered.sha256,
            snapshot=snapshot,
        )
        await ContractDocument.create(
            contract_id=contract.id,
            number=1,
            html=rendered.html,
            sha256=rendered.sha256,
            pdf=rendered.pdf,
        )
        await _audit(
            system,
            "contract.draft",
            contract,
            None,
            {"state": ContractState.DRAFTED.value, "document": 1, "sha256": rendered.sha256},
        )
        contract = await _move(system, contract, "submit")
    return contract


async def regenerate_contract(contract_id: str) -> Contract | None:
    """Draw up a new version after an administrator asked for changes, and submit it again.
    Idempotent: a contract no longer waiting for its new version is left alone."""
    contract = await Contract.get_or_none(id=object_id(contract_id, "contract"))
    if contract is None or contract.state != ContractState.DRAFTED:
        return contract
    offer = await Offer.get(id=contract.offer_id)  # type: ignore[attr-defined]
    terms = await OfferTerms.get(offer_id=offer.id, number=contract.terms_number)
    number = contract.document_number + 1
    snapshot = await snapshot_of(offer)
    data = agreement_data(offer, terms, snapshot, version=number)
    rendered = await _render(documents.render_agreement(data))
    system = Actor.system()
    async with unit_of_work():
        locked = await lock_existing(Contract, contract.id)
        if locked.state != ContractState.DRAFTED or locked.document_number != number - 1:
            return locked  # done by another run meanwhile, or cancelled
        await ContractDocument.create(
            contract_id=contract.id,
            number=number,
            html=rendered.html,
            sha256=rendered.sha256,
            pdf=rendered.pdf,
            reason=locked.reason,
        )
        await Contract.filter(id=contract.id).update(
            document_number=number,
            document_sha256=rendered.sha256,
            snapshot=snapshot,
            updated_at=utcnow(),
        )
        await _audit(
            system,
            "contract.redraft",
            locked,
            {"document": number - 1},
            {"document": number, "sha256": rendered.sha256},
        )
        contract = await _move(
            system,
            await Contract.get(id=contract.id),
            "submit",
        )
    return contract


# --- trade approval ------------------------------------------------------------------------


def _reason(reason: str, *, required: bool) -> str:
    text = (reason or "").strip()[:2000]
    if required and len(text) < 3:
        raise validation_error("reason", "Say why, so the parties can put it right.")
    return text


async def approve_contract(actor: Actor, contract_id: str) -> Contract:
    require_admin(actor)
    contract = await _load_visible(actor, contract_id)
    async with unit_of_work():
        return await _move(actor, contract, "approve")


async def reject_contract(actor: Actor, contract_id: str, reason: str) -> Contract:
    require_admin(actor)
    contract = await _load_visible(actor, contract_id)
    text = _reason(reason, required=True)
    async with unit_of_work():
        held = await offers.lock_holds(contract.offer_id)  # type: ignore[attr-defined]
        moved = await _move(actor, contract, "reject", changes={"reason": text}, reason=text)
        await _release_grant(actor, moved)
        await _release_holds(moved, held, "reject")
    return moved


async def request_changes(actor: Actor, contract_id: str, reason: str) -> Contract:
    """Send the contract back: the worker draws up a new version, older ones stay readable."""
    require_admin(actor)
    contract = await _load_visible(actor, contract_id)
    text = _reason(reason, required=True)
    async with unit_of_work():
        return await _move(
            actor,
            contract,
            "request_changes",
            changes={"reason": text},
            reason=text,
        )


async def open_signing(contract_id: str) -> Contract | None:
    """Once approved, the contract waits for both signatures (the worker, after approval)."""
    contract = await Contract.get_or_none(id=object_id(contract_id, "contract"))
    if contract is None or contract.state != ContractState.APPROVED:
        return contract
    system = Actor.system()
    async with unit_of_work():
        try:
            return await _move(
                system,
                contract,
                "open_signing",
                changes={"signing_opened_at": utcnow()},
            )
        except Conflict:
            return await Contract.get(id=contract.id)  # cancelled, or opened by another run


# --- signing -------------------------------------------------------------------------------


async def sign_contract(
    actor: Actor,
    contract_id: str,
    full_name: str,
    document_sha256: str,
    *,
    ip: str | None = None,
    user_agent: str = "",
    password: str | None = None,
) -> Signature:
    """Sign for one's organisation the document whose hash one saw. The signature completing
    the pair moves the contract to "signed"; the worker then finishes it. A login that is
    not recent (or an API token) signs only with the password typed again."""
    contract = await _load_visible(actor, contract_id)
    side = _require_signatory(actor, contract, "sign contracts")
    name = " ".join((full_name or "").split())
    if len(name) < 2:
        raise validation_error("full_name", "Type your full name to sign.")
    if len(name) > FULL_NAME_MAX:
        raise validation_error(
            "full_name", Msg("At most %(full_name_max)s characters.", full_name_max=FULL_NAME_MAX)
        )
    await confirm_identity(actor, password, doing="sign")
    seen = (document_sha256 or "").strip().lower()
    assert actor.user is not None and actor.organization is not None  # by _require_signatory
    async with unit_of_work():
        locked = await lock_existing(Contract, contract.id)
        CONTRACTING.check(actor, locked, "sign")
        if seen != locked.document_sha256:
            raise Conflict(
                Msg(
                    "The document changed since you read it (its hash is not the current version "
                    "%(number)s's). Read the current version and sign that.",
                    number=locked.document_number,
                ),
                state=str(locked.state),
                fields={"document_sha256": "Not the current document's hash."},
            )
        signed = {s.side for s in await Signature.filter(contract_id=locked.id)}
        if side.value in signed:
            raise Conflict(
                f"{actor.organization.name} has signed this contract already.",
                state=str(locked.state),
            )
        signature = await Signature.create(
            contract_id=locked.id,
            side=side,
            organization_id=actor.organization_id,
            user_id=actor.user_id,
            full_name=name,
            email=actor.user.email,
            document_number=locked.document_number,
            document_sha256=locked.document_sha256,
            ip=(actor.ip if ip is None else ip)[:64],
            user_agent=(user_agent or "")[:300],
        )
        record = {
            "side": side.value,
            "full_name": name,
            "document": locked.document_number,
            "sha256": locked.document_sha256,
        }
        if signed | {side.value} == {Side.SELLER.value, Side.BUYER.value}:
            await _move(
                actor,
                locked,
                "sign",
                changes={"signed_at": utcnow()},
                by=side.value,
            )
            await _audit(actor, "contract.signature", locked, None, record)
        else:
            await _audit(actor, "contract.signature", locked, None, record)
            await outbox.emit("contract.signature_added", _event(locked, actor, by=side.value))
            # Not a move of the contract, but this side's "sign it" notices are answered.
            await notify.settle(notify.about("contract", locked.id), actor)
    return signature


# --- after signing: the worker finishes the contract ----------------------------------------


def closes_listing(license_type: str, scope: rights.Scope, listing: Listing) -> bool:
    """An assignment, or an exclusive licence over all the listing's territories and fields,
    leaves nothing to license: the listing is closed."""
    if license_type == rights.ASSIGNMENT:
        return True
    if license_type != "exclusive":
        return False
    whole = rights.Scope.of("", listing.territories or ["WORLD"], listing.fields_of_use or ["all"])
    places = rights.WORLD in scope.territories or set(whole.territories) <= set(scope.territories)
    uses = rights.ALL_FIELDS in scope.fields_of_use or set(whole.fields_of_use) <= set(
        scope.fields_of_use
    )
    return places and uses


def _signature_lines(signatures: list[Signature], orgs: dict[str, str]) -> list[Any]:
    return [
        documents.SignatureLine(
            side=DOCUMENT_SIDES[str(s.side)],
            organization=orgs[str(s.side)],
            full_name=s.full_name,
            email=s.email,
            signed_at=s.signed_at,
            ip=s.ip,
            user_agent=s.user_agent,
            document_sha256=s.document_sha256,
        )
        for s in sorted(signatures, key=lambda s: 0 if s.side == Side.SELLER else 1)
    ]


async def finalize_signed(contract_id: str) -> Contract | None:
    """Make the signed document (the agreement and a signature page), fix the grant in the
    listing's rights, close the listing when the deal takes all of it, and ask for payment.
    Idempotent: only a contract still "signed" is finished, once."""
    contract = await Contract.get_or_none(id=object_id(contract_id, "contract"))
    if contract is None or contract.state != ContractState.SIGNED:
        return contract
    agreement = await ContractDocument.get(contract_id=contract.id, number=contract.document_number)
    offer = await Offer.get(id=contract.offer_id)  # type: ignore[attr-defined]
    terms = await OfferTerms.get(offer_id=offer.id, number=contract.terms_number)
    # The agreement data only feed the signature page's heading: the signed text is
    # `agreement.html`, byte for byte. Both name the parties as the signed version does, not
    # as they may be called by now.
    data = agreement_data(offer, terms, contract.snapshot, version=contract.document_number)
    signatures = await Signature.filter(contract_id=contract.id)
    lines = _signature_lines(
        signatures,
        {Side.SELLER.value: contract.seller_name, Side.BUYER.value: contract.buyer_name},
    )
    rendered = await _render(documents.render_signed(data, agreement.html, lines))
    system = Actor.system()
    async with unit_of_work():
        # The listing whose rights the deal may close, before the contract (market.locks.ORDER).
        await lock_existing(Listing, contract.listing_id)  # type: ignore[attr-defined]
        locked = await lock_existing(Contract, contract.id)
        if locked.state != ContractState.SIGNED:
            return locked  # finished by another run
        number = locked.document_number + 1
        await ContractDocument.create(
            contract_id=locked.id,
            number=number,
            kind=DocumentKind.SIGNED,
            html=rendered.html,
            sha256=rendered.sha256,
            pdf=rendered.pdf,
            reason=f"Signed by both parties (version {locked.document_number}).",
        )
        await Contract.filter(id=locked.id).update(signed_number=number)
        listing_closed = await _fix_rights(system, locked, terms)
        return await _move(
            system,
            locked,
            "request_payment",
            signed_document=number,
            listing_licensed=listing_closed,
            amount_due=locked.amount_due,
            currency=locked.currency,
        )


async def _fix_rights(system: Actor, contract: Contract, terms: OfferTerms) -> bool:
    """Fix the grant of a signed exclusive, sole or assignment contract in the listing's
    rights, and license the listing when nothing is left; returns whether it was licensed."""
    if contract.license_type not in states.FIXED_BY_SIGNING:
        return False
    fixed = await Grant.filter(offer_id=contract.offer_id, basis="accepted").update(basis="signed")  # type: ignore[attr-defined]
    if not fixed and not await Grant.exists(offer_id=contract.offer_id, basis="signed"):  # type: ignore[attr-defined]
        await Grant.create(
            listing_id=contract.listing_id,  # type: ignore[attr-defined]
            grantee_id=contract.buyer_id,  # type: ignore[attr-defined]
            offer_id=contract.offer_id,  # type: ignore[attr-defined]
            license_type=terms.license_type,
            territories=terms.territories,
            fields_of_use=terms.fields_of_use,
            basis="signed",
        )
    scope = rights.Scope.of(terms.license_type, terms.territories, terms.fields_of_use)
    await _audit(system, "contract.grant_fixed", contract, None, {"grant": scope.describe()})
    listing = await lock_existing(Listing, contract.listing_id)  # type: ignore[attr-defined]
    if not closes_listing(terms.license_type, scope, listing):
        return False
    if listing.state != ListingState.PUBLISHED:
        return False  # withdrawn (or closed) meanwhile: nothing left to close
    # Its own transition joins this transaction; its listing.changed event updates search.
    await license_listing(system, str(listing.id))
    return True


async def _release_grant(actor: Actor, contract: Contract) -> None:
    """A contract that will never be signed gives back the rights its offer reserved."""
    released = await Grant.filter(offer_id=contract.offer_id, basis="accepted").delete()  # type: ignore[attr-defined]
    if released:
        await _audit(actor, "contract.grant_released", contract, None, {"grants": released})


# --- cancelling ------------------------------------------------------------------------------


async def cancel_contract(actor: Actor, contract_id: str, reason: str = "") -> Contract:
    """Either party (an owner or admin of it) may cancel a contract before it is signed."""
    contract = await _load_visible(actor, contract_id)
    side = _require_signatory(actor, contract, "cancel contracts")
    text = _reason(reason, required=False)
    async with unit_of_work():
        # The offers it holds before the contract itself (market.locks.ORDER).
        held = await offers.lock_holds(contract.offer_id)  # type: ignore[attr-defined]
        moved = await _move(
            actor,
            contract,
            "cancel",
            changes={"reason": text},
            by=side.value,
            reason=text,
        )
        await _release_grant(actor, moved)
        await _release_holds(moved, held, "cancel")
    return moved


# --- the worker's sweeps -----------------------------------------------------------------------


async def _missing_sides(contract: Contract) -> list[str]:
    signed = {
        str(s)
        for s in await Signature.filter(contract_id=contract.id).values_list("side", flat=True)
    }
    return [s for s in (Side.SELLER.value, Side.BUYER.value) if s not in signed]


def days_to_sign(contract: Contract, holds_offers: bool) -> int:
    """How long after signing opens a contract may stay unsigned before it lapses.

    One timer, two lengths (see SIGNING_DAYS and CONTRACT_CANCEL_DAYS in market/config.py): a
    contract that reserves rights others wait for (an exclusive, sole or assignment grant, or
    offers on hold behind it) gets `signing_days`; one that keeps nobody waiting, the longer
    `contract_cancel_days`. Never more than `contract_cancel_days`, the outer limit."""
    settings = get_settings()
    reserves = holds_offers or contract.license_type in states.FIXED_BY_SIGNING
    if reserves:
        return min(settings.signing_days, settings.contract_cancel_days)
    return settings.contract_cancel_days


async def _holds_offers(contract: Contract) -> bool:
    return await Offer.exists(held_by_id=contract.offer_id, state=OfferState.ON_HOLD)  # type: ignore[attr-defined]


async def remind_unsigned(now: datetime | None = None) -> int:
    """Remind the parties that have not signed, once, `contract_reminder_days` after signing
    opened."""
    now = now or utcnow()
    settings = get_settings()
    cutoff = now - timedelta(days=settings.contract_reminder_days)
    due = await Contract.filter(
        state=ContractState.AWAITING_SIGNATURES, signing_opened_at__lte=cutoff, reminded_at=None
    )
    system = Actor.system()
    reminded = 0
    for contract in due:
        async with unit_of_work():
            marked = await Contract.filter(
                id=contract.id, state=ContractState.AWAITING_SIGNATURES, reminded_at=None
            ).update(reminded_at=now)
            if not marked:
                continue
            missing = await _missing_sides(contract)
            opened = contract.signing_opened_at or now
            days = days_to_sign(contract, await _holds_offers(contract))
            cancel_at = opened + timedelta(days=days)
            await outbox.emit(
                "contract.signing_reminder",
                _event(contract, system, sides=missing, cancel_at=cancel_at.isoformat()),
            )
        reminded += 1
    return reminded


async def cancel_unsigned(now: datetime | None = None) -> int:
    """Cancel, with notice to both parties, contracts still unsigned `days_to_sign` after
    signing opened: the rights they reserved are given back and the offers they held resume."""
    now = now or utcnow()
    settings = get_settings()
    soonest = now - timedelta(days=min(settings.signing_days, settings.contract_cancel_days))
    due = await Contract.filter(
        state=ContractState.AWAITING_SIGNATURES, signing_opened_at__lte=soonest
    )
    system = Actor.system()
    cancelled = 0
    for contract in due:
        try:
            async with unit_of_work():
                # The offers it holds before the contract itself (market.locks.ORDER).
                held = await offers.lock_holds(contract.offer_id)  # type: ignore[attr-defined]
                locked = await lock_existing(Contract, contract.id)
                days = days_to_sign(locked, bool(held))
                opened = locked.signing_opened_at
                if opened is None or opened > now - timedelta(days=days):
                    continue
                reason = f"Not signed by both parties within {days} days of approval."
                moved = await _move(
                    system,
                    locked,
                    "lapse",
                    changes={"reason": reason},
                    reason=reason,
                    missing=await _missing_sides(locked),
                )
                await _release_grant(system, moved)
                await _release_holds(moved, held, "lapse", now)
            cancelled += 1
        except Conflict:
            continue  # signed or cancelled meanwhile
    return cancelled


# --- reading -----------------------------------------------------------------------------------


@dataclass
class ContractView:
    contract: Contract
    documents: list[dict[str, Any]]
    signatures: list[Signature]
    side: Side | None
    actions: list[str]

    @property
    def signed_sides(self) -> set[str]:
        return {str(s.side) for s in self.signatures}


DOCUMENT_COLUMNS = ("number", "kind", "sha256", "reason", "created_at")


async def get_contract(actor: Actor, contract_id: str) -> ContractView:
    """A contract, its document versions (without their bodies) and signatures: for the two
    parties and administrators; anyone else is told there is no such contract."""
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    # The contract with its listing, parties, document versions and signatures in one
    # statement (market/rows.py): a row per version and signature, at most two of those.
    found = await _CONTRACT_PAGE.fetch([object_id(contract_id, "contract")])
    contract = rows.build(Contract, found[0], "c") if found else None
    if contract is None or not can_see(actor, contract):
        raise NotFound("No such contract.")
    contract.listing = rows.build(Listing, found[0], "l", NAMED_LISTING)
    contract.seller = rows.build(Organization, found[0], "s", NAMED_PARTY)
    contract.buyer = rows.build(Organization, found[0], "b", NAMED_PARTY)
    docs: dict[Any, dict[str, Any]] = {}
    signed_by: dict[Any, Signature] = {}
    for row in found:
        number = row["d__number"]
        if number is not None and number not in docs:
            docs[number] = rows.values(ContractDocument, row, "d", DOCUMENT_COLUMNS)
        signature_id = row["g__id"]
        if signature_id is not None and signature_id not in signed_by:
            signed_by[signature_id] = rows.build(Signature, row, "g")  # type: ignore[assignment]
    signatures = sorted(signed_by.values(), key=lambda g: g.signed_at)
    signed = {str(g.side) for g in signatures}
    return ContractView(
        contract=contract,
        documents=list(docs.values()),
        signatures=signatures,
        side=side_of(actor, contract),
        actions=actions_for(actor, contract, signed),
    )


# Of the listing and the parties as they are now, what the contract page and the API use: the
# agreement names them as they were (`snapshot`), and a listing's description is long.
NAMED_LISTING = ("id", "title")
NAMED_PARTY = ("id", "name")
_CONTRACT_PAGE = rows.Statement(
    """
SELECT {c}, {l}, {s}, {b}, {d}, {g} FROM contract c
JOIN listing l ON l.id = c.listing_id
JOIN organization s ON s.id = c.seller_id
JOIN organization b ON b.id = c.buyer_id
LEFT JOIN contract_document d ON d.contract_id = c.id
LEFT JOIN contract_signature g ON g.contract_id = c.id
WHERE c.id = $1
ORDER BY d.number, g.signed_at, g.id
""",
    c=Contract,
    l=(Listing, NAMED_LISTING),
    s=(Organization, NAMED_PARTY),
    b=(Organization, NAMED_PARTY),
    d=(ContractDocument, DOCUMENT_COLUMNS),
    g=Signature,
)


async def contract_id_for_offer(offer_id: Any) -> str | None:
    found = await Contract.filter(offer_id=offer_id).values_list("id", flat=True)
    return str(found[0]) if found else None


CONTRACT_STATES = tuple(s.value for s in ContractState)


def _scoped(actor: Actor) -> QuerySet[Contract]:
    """The contracts the actor may list: their organisation's (either side); administrators'
    are all of them."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.is_admin:
        return Contract.all()
    if actor.organization is None:
        raise Forbidden("Only members of an organisation have contracts.")
    org = actor.organization_id
    return Contract.filter(Q(seller_id=org) | Q(buyer_id=org))


async def list_contracts(
    actor: Actor,
    *,
    state: str = "",
    page: int = 1,
    per_page: int = 20,
    counts: Mapping[str, int] | None = None,
) -> tuple[list[Contract], int]:
    """The contracts of the actor's organisation (either side); administrators see all.
    `counts`: `contract_counts`, when the caller has them."""
    return await paging.page_by_state(
        _scoped(actor),
        state=state,
        states=CONTRACT_STATES,
        page=page,
        per_page=per_page,
        related=("listing", "seller", "buyer"),
        counts=counts,
    )


async def contract_counts(actor: Actor) -> dict[str, int]:
    """Contracts by state, for the filter tabs; counted over what `list_contracts` lists."""
    return await paging.count_by_state(_scoped(actor), CONTRACT_STATES)


async def download_document(
    actor: Actor, contract_id: str, number: int | None = None
) -> tuple[str, bytes]:
    """(filename, PDF bytes) of a version of the contract's document: by default the signed
    document once there is one, else the current agreement. Parties and administrators only."""
    contract = await _load_visible(actor, contract_id)
    wanted = number if number is not None else (contract.signed_number or contract.document_number)
    doc = await ContractDocument.get_or_none(contract_id=contract.id, number=wanted)
    if doc is None:
        raise NotFound("No such version of this contract's document.")
    suffix = "signed" if doc.kind == DocumentKind.SIGNED else f"v{doc.number}"
    return f"{contract.reference}-{suffix}.pdf", bytes(doc.pdf)


async def document_html(actor: Actor, contract_id: str, number: int | None = None) -> str:
    """The exact HTML of a version (what its hash is of): parties and administrators only."""
    contract = await _load_visible(actor, contract_id)
    doc = await ContractDocument.get_or_none(
        contract_id=contract.id, number=number or contract.document_number
    )
    if doc is None:
        raise NotFound("No such version of this contract's document.")
    return doc.html
