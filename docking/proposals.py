"""Proposals: a verified institute's answer to a published need, the seeker's review in
stages (docking/states.py `PROPOSAL`), and the question thread between the two. Each use case
takes the acting party first and owns one unit of work.

Who sees a proposal: the members of the seeking enterprise, the members of the proposing
institute, and the administrators; anyone else gets the 404 of a proposal that does not exist.
The need inside every view is `service.public_view` for the reader, and a message of the
seeker's side on an anonymous need names no one to the proposer (`message_view`).

Turning a finalist into an offer is in contracts/offers/service.py (`offer_from_proposal`):
contracts come after docking in the flow; it takes the "convert" move with `convert`, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from docking import service, states
from docking.models import Need, NeedState, Proposal, ProposalMessage, ProposalStage, Visibility
from docking.schemas import ProposalIn, ProposalMessageIn, StageIn
from listings import enquiries
from listings.models import Listing, ListingState
from market import audit, outbox, rows
from market.accounts import roles
from market.accounts.models import Organization, OrganizationKind
from market.accounts.roles import Permission, may
from market.accounts.service import require_verified
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    validation_error,
)
from market.locks import lock_existing
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id

EVENTS = outbox.declare(states.PROPOSED, states.PROPOSAL_MESSAGE, *events_of(states.PROPOSAL))
STAGES = tuple(s.value for s in ProposalStage)


# --- who is who ------------------------------------------------------------------------------


def side_of(actor: Actor, proposal: Proposal, need: Need) -> str | None:
    """ "seeker" or "proposer": the side the actor's organisation is on, whatever their role."""
    org = actor.organization_id
    if org and org == str(need.seeker_id):  # type: ignore[attr-defined]
        return "seeker"
    if org and org == str(proposal.proposer_id):  # type: ignore[attr-defined]
        return "proposer"
    return None


def proposal_roles(actor: Actor, proposal: Proposal) -> set[str]:
    """The actor's standing, and their side when their role lets them negotiate. The need is
    read from the proposal (`need` loaded, or `seeker_id` noted on it by `_load`)."""
    held = actor.standing()
    org = actor.organization_id
    seeker = str(getattr(proposal, "seeker_id", "") or "")
    if org and org == seeker and may(actor, Permission.NEGOTIATE):
        held.add("seeker")
    if org and org == str(proposal.proposer_id) and may(actor, Permission.NEGOTIATE):  # type: ignore[attr-defined]
        held.add("proposer")
    return held


def _announced(proposal: Proposal, actor: Actor) -> dict[str, Any]:
    # Ids only: the handlers read the rows and show the need through public_view.
    return {
        "proposal_id": str(proposal.id),
        "need_id": str(proposal.need_id),  # type: ignore[attr-defined]
        "stage": str(proposal.stage),
        "actor_id": actor.user_id,
    }


def _trail(proposal: Proposal, actor: Actor) -> Any:
    return actor.organization_id or proposal.proposer_id  # type: ignore[attr-defined]


def _roles(actor: Actor, proposal: Proposal) -> Any:
    # A row read with its need's seeker answers at once (pages, checks); a row `apply` has
    # just locked reads it first.
    if getattr(proposal, "seeker_id", None):
        return proposal_roles(actor, proposal)
    return _roles_read(actor, proposal)


async def _roles_read(actor: Actor, proposal: Proposal) -> set[str]:
    await _note_seeker(proposal)
    return proposal_roles(actor, proposal)


PROPOSING = Lifecycle(
    "proposal",
    Proposal,
    states.PROPOSAL,
    roles=_roles,
    payload=_announced,
    organization=_trail,
    field="stage",
)


async def _note_seeker(proposal: Proposal) -> None:
    if not getattr(proposal, "seeker_id", None):
        seeker = await Need.filter(id=proposal.need_id).values_list("seeker_id", flat=True)  # type: ignore[attr-defined]
        proposal.seeker_id = seeker[0] if seeker else None  # type: ignore[attr-defined]


def is_seeker(actor: Actor, need: Need) -> bool:
    """A member of the need's enterprise who may review its proposals."""
    org = actor.organization_id
    return bool(org) and org == str(need.seeker_id) and may(actor, Permission.NEGOTIATE)  # type: ignore[attr-defined]


def can_see(actor: Actor, proposal: Proposal, need: Need) -> bool:
    return actor.is_admin or actor.is_system or side_of(actor, proposal, need) is not None


def actions_for(actor: Actor, proposal: Proposal, need: Need) -> list[str]:
    """The moves a page or API answer offers, from the table the use cases apply ("convert"
    is the offer form's: POST /proposals/{id}/offer)."""
    proposal.seeker_id = need.seeker_id  # type: ignore[attr-defined]
    return PROPOSING.actions(actor, proposal)


def may_talk(actor: Actor, proposal: Proposal, need: Need) -> bool:
    return (
        side_of(actor, proposal, need) is not None
        and may(actor, Permission.NEGOTIATE)
        and str(proposal.stage) in states.TALKING
    )


# --- reading ---------------------------------------------------------------------------------


async def _load(proposal_id: Any) -> tuple[Proposal, Need]:
    proposal = await Proposal.get_or_none(id=object_id(str(proposal_id), "proposal"))
    if proposal is None:
        raise NotFound("No such proposal.")
    need = await Need.get(id=proposal.need_id).select_related("seeker")  # type: ignore[attr-defined]
    proposal.seeker_id = need.seeker_id  # type: ignore[attr-defined]
    return proposal, need


async def get_proposal(actor: Actor, proposal_id: str) -> tuple[Proposal, Need]:
    """The proposal and its need, if the actor is one of its two sides or an administrator;
    anyone else gets the 404 of a proposal that does not exist."""
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    proposal, need = await _load(proposal_id)
    if not can_see(actor, proposal, need):
        raise NotFound("No such proposal.")
    return proposal, need


def _organization(org: Any) -> dict[str, Any] | None:
    if not isinstance(org, Organization):
        return None
    return {"id": str(org.id), "name": org.name, "slug": org.slug, "country": org.country}


def message_view(message: ProposalMessage, reader_side: str | None, need: Need) -> dict[str, Any]:
    """A message as its reader may see it: the seeker's people on an anonymous need are
    "the seeker" to anyone outside it."""
    hidden = (
        message.side == "seeker"
        and reader_side != "seeker"
        and need.visibility == Visibility.ANONYMOUS
    )
    author = message.author if not hidden else None
    return {
        "id": str(message.id),
        "side": message.side,
        "author": getattr(author, "name", None),
        "body": message.body,
        "created_at": message.created_at,
    }


@dataclass
class ProposalView:
    proposal: Proposal
    need: Need
    side: str | None
    listings: list[Listing]
    messages: list[ProposalMessage]


async def read_proposal(actor: Actor, proposal_id: str) -> ProposalView:
    proposal, need = await get_proposal(actor, proposal_id)
    await proposal.fetch_related("proposer")
    listings = await _listings_of([proposal])
    messages = (
        await ProposalMessage.filter(proposal_id=proposal.id)
        .order_by("created_at")
        .select_related("author")
    )
    return ProposalView(
        proposal=proposal,
        need=need,
        side=side_of(actor, proposal, need),
        listings=[listings[i] for i in proposal.listing_ids if i in listings],
        messages=list(messages),
    )


async def _listings_of(proposals: list[Proposal]) -> dict[str, Listing]:
    ids = {i for p in proposals for i in p.listing_ids}
    return {str(x.id): x for x in await Listing.filter(id__in=list(ids))} if ids else {}


def proposal_view(
    actor: Actor,
    proposal: Proposal,
    need: Need,
    listings: dict[str, Listing],
    messages: list[ProposalMessage] | None = None,
) -> dict[str, Any]:
    """What every page and API answer shows of a proposal (the need as `public_view`)."""
    side = side_of(actor, proposal, need)
    view: dict[str, Any] = {
        "id": str(proposal.id),
        "need": service.public_view(need, actor),
        "proposer": _organization(proposal.proposer),
        "summary": proposal.summary,
        "requirements": list(proposal.requirements),
        "trl": proposal.trl,
        "listings": [
            {"id": i, "title": listings[i].title} for i in proposal.listing_ids if i in listings
        ],
        "stage": str(proposal.stage),
        "decline_reason": proposal.decline_reason or None,
        "decline_note": proposal.decline_note,
        "offer_id": str(proposal.offer_id) if proposal.offer_id else None,
        # The enquiry it follows up (both sides were its two sides).
        "enquiry_id": str(proposal.enquiry_id) if proposal.enquiry_id else None,  # type: ignore[attr-defined]
        "created_at": proposal.created_at,
        "updated_at": proposal.updated_at,
        "side": side,
        "actions": actions_for(actor, proposal, need),
    }
    if messages is not None:
        view["messages"] = [message_view(m, side, need) for m in messages]
    return view


async def views(actor: Actor, proposals: list[Proposal]) -> list[dict[str, Any]]:
    """Views of a page of proposals loaded with `need__seeker` and `proposer`: their listings
    in one more query, however many."""
    listings = await _listings_of(proposals)
    return [proposal_view(actor, p, p.need, listings) for p in proposals]


async def proposals_for_need(
    actor: Actor, need_id: str, *, stage: str = "", page: int = 1, per_page: int = 20
) -> tuple[list[Proposal], int, dict[str, int]]:
    """The seeker's inbox of one need, by stage, with the count of each stage for its tabs.
    A need the actor may see but does not seek gives a 403; one they may not see, a 404."""
    need = await service.get_need(actor, need_id)
    if not is_seeker(actor, need) and not actor.is_admin:
        raise Forbidden("Only the enterprise that posted this need sees its proposals.")
    if stage and stage not in STAGES:
        raise validation_error("stage", "Unknown stage.")
    query = Proposal.filter(need_id=need.id)
    counts = dict.fromkeys(STAGES, 0)
    by_stage = Proposal.filter(need_id=need.id).annotate(n=Count("id")).group_by("stage")
    for row in await by_stage.values("stage", "n"):
        counts[str(row["stage"])] = row["n"]
    if stage:
        query = query.filter(stage=stage)
    total = counts.get(stage, 0) if stage else sum(counts.values())
    items = (
        await query.order_by("-created_at", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("need__seeker", "proposer")
    )
    return list(items), total, counts


async def my_proposals(
    actor: Actor, *, stage: str = "", page: int = 1, per_page: int = 20
) -> tuple[list[Proposal], int]:
    """The proposals the actor's organisation made, newest change first."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None:
        raise Forbidden("Only members of an organisation have proposals.")
    if stage and stage not in STAGES:
        raise validation_error("stage", "Unknown stage.")
    query = Proposal.filter(proposer_id=actor.organization_id)
    if stage:
        query = query.filter(stage=stage)
    total = await query.count()
    items = (
        await query.order_by("-updated_at", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("need__seeker", "proposer")
    )
    return list(items), total


async def proposal_of(actor: Actor, need: Need) -> Proposal | None:
    """The actor's organisation's proposal to the need, if it made one (the need page links to
    it instead of showing the form)."""
    if not actor.organization_id:
        return None
    return await Proposal.get_or_none(need_id=need.id, proposer_id=actor.organization_id)


@dataclass
class NeedPage:
    need: Need
    # The reader's organisation's proposal to the need, if it made one.
    own: Proposal | None
    # How many proposals the need has: counted for a reader of the seeking enterprise only.
    proposal_count: int


# The need page's read, written out (market/rows.py): the columns of service's `_WITH_SEEKER`
# (the need, its seeker, the reader's clause acceptance), the reader's organisation's proposal
# (one at most: unique per need and proposer), and for a reader of the seeking enterprise the
# number of proposals, in one statement.
_NEED_PAGE = rows.Statement(
    "SELECT {n}, {o}, EXISTS (SELECT 1 FROM need_clause_acceptance a"
    " WHERE a.need_id = n.id AND a.organization_id = $1) AS clause_accepted, {p},"
    " CASE WHEN n.seeker_id = $2"
    " THEN (SELECT count(*) FROM proposal c WHERE c.need_id = n.id) ELSE 0 END AS proposal_count"
    " FROM need n JOIN organization o ON o.id = n.seeker_id"
    " LEFT JOIN proposal p ON p.need_id = n.id AND p.proposer_id = $3"
    " WHERE n.id = $4",
    n=Need,
    o=Organization,
    p=Proposal,
)


async def need_page(actor: Actor, need_id: str) -> NeedPage:
    """What the need page reads of the need for the actor, as `service.get_need` and
    `proposal_of` would (the same 404 for a need the actor may not see)."""
    org = actor.organization_id
    found = await _NEED_PAGE.fetch([org, org, org, object_id(str(need_id), "need")])
    if not found:
        raise NotFound("No such need.")
    return NeedPage(
        need=service.from_row(actor, found[0]),
        own=rows.build(Proposal, found[0], "p"),
        proposal_count=int(found[0]["proposal_count"] or 0),
    )


# --- proposing -------------------------------------------------------------------------------


def proposal_refusal(actor: Actor, need: Need) -> Forbidden | Conflict | NotAuthenticated | None:
    """Why the actor may not answer the need, or None if they may: make_proposal raises it,
    and the need page asks it whether to show the form."""
    if actor.user is None:
        return NotAuthenticated("Log in first.")
    org = actor.organization
    if org is not None and str(org.id) == str(need.seeker_id):  # type: ignore[attr-defined]
        return Forbidden("Your organisation posted this need: it cannot answer it.")
    if org is None or org.kind != OrganizationKind.INSTITUTE:
        return Forbidden("Only institutes answer technology needs with proposals.")
    try:
        roles.require(actor, Permission.NEGOTIATE, "make proposals")
        require_verified(actor, "make proposals")
    except Forbidden as exc:
        return exc
    if need.state != NeedState.PUBLISHED:
        return Conflict(f"The need is {need.state}: it takes no proposals.", state=str(need.state))
    if need.deadline < utcnow().date():
        return Conflict("The need's deadline has passed: it takes no proposals.", state="closed")
    return None


def _answers(data: ProposalIn, need: Need) -> list[dict[str, str]]:
    """One answer per must-have of the need, in the need's order; field errors otherwise."""
    wanted = list(need.must_have)
    given: dict[str, str] = {}
    problems: dict[str, str] = {}
    for i, answer in enumerate(data.requirements):
        if answer.requirement not in wanted:
            problems[f"requirements.{i}.requirement"] = "The need has no such must-have."
        elif answer.requirement in given:
            problems[f"requirements.{i}.requirement"] = "Answer each must-have once."
        else:
            given[answer.requirement] = answer.how
    missing = [i for i, req in enumerate(wanted) if req not in given]
    if missing and not problems:
        problems["requirements"] = (
            f"Say how the proposal meets each must-have of the need: {len(missing)} "
            "without an answer."
        )
    if problems:
        raise ValidationFailed("The proposal does not answer the need.", fields=problems)
    return [{"requirement": req, "how": given[req]} for req in wanted]


async def _own_listings(actor: Actor, ids: list[str]) -> list[str]:
    """The ids, if each names a published listing of the actor's organisation."""
    found = {}
    wanted = []
    for raw in ids:
        try:
            wanted.append(object_id(raw, "listing"))
        except NotFound:
            raise validation_error("listing_ids", f"No listing of yours is called {raw}.") from None
    for listing in await Listing.filter(id__in=wanted):
        found[str(listing.id)] = listing
    for listing_id in wanted:
        listing = found.get(listing_id)
        if listing is None or str(listing.institute_id) != actor.organization_id:  # type: ignore[attr-defined]
            raise validation_error(
                "listing_ids", "Attach only your own organisation's published listings."
            )
        if listing.state != ListingState.PUBLISHED:
            raise validation_error(
                "listing_ids", f"“{listing.title}” is {listing.state}: attach published listings."
            )
    return wanted


async def needs_to_follow_up(enquiry: Any) -> list[Need]:
    """What the institute of an enquiry may answer with a proposal that follows it up: the
    asker's published needs that name their seeker (an anonymous need's seeker stays unknown,
    so it cannot be linked to whoever asked). One query, at most ten."""
    return (
        await Need.filter(
            seeker_id=enquiry.buyer_id,
            state=NeedState.PUBLISHED,
            visibility__not=Visibility.ANONYMOUS,
        )
        .order_by("-published_at")
        .limit(10)
    )


async def _enquiry_followed(actor: Actor, need: Need, data: ProposalIn) -> str | None:
    """The enquiry the proposal names, checked; None when it names none."""
    if not data.enquiry_id:
        return None
    if need.visibility == Visibility.ANONYMOUS:
        # Whether it fits would tell the institute who the anonymous seeker is.
        raise validation_error("enquiry_id", "A proposal to an anonymous need names no enquiry.")
    enquiry = await enquiries.origin_for_proposal(
        actor,
        data.enquiry_id,
        str(need.seeker_id),  # type: ignore[attr-defined]
        data.listing_ids,
    )
    return str(enquiry.id)


async def make_proposal(actor: Actor, need_id: str, data: ProposalIn) -> Proposal:
    need = await service.get_need(actor, need_id)
    refusal = proposal_refusal(actor, need)
    if refusal is not None:
        raise refusal
    if service.public_view(need, actor)["details_hidden"]:
        raise Forbidden(
            "The need's requirements are kept behind its confidentiality clause: accept it on "
            "the need's page first."
        )
    requirements = _answers(data, need)
    listing_ids = await _own_listings(actor, data.listing_ids)
    enquiry_id = await _enquiry_followed(actor, need, data)
    try:
        async with unit_of_work():
            # The need's row first (market.locks.ORDER): a need closed meanwhile takes nothing.
            locked = await lock_existing(Need, need.id)
            if locked.state != NeedState.PUBLISHED:
                raise Conflict(
                    f"The need is {locked.state}: it takes no proposals.", state=str(locked.state)
                )
            if await Proposal.exists(need_id=need.id, proposer_id=actor.organization_id):
                raise _twice()
            proposal = await Proposal.create(
                need_id=need.id,
                proposer_id=actor.organization_id,
                created_by_id=actor.user_id,
                summary=data.summary,
                requirements=requirements,
                trl=data.trl,
                listing_ids=listing_ids,
                enquiry_id=enquiry_id,
            )
            await audit.record(
                actor,
                "proposal.made",
                "proposal",
                proposal.id,
                after={
                    "stage": ProposalStage.NEW.value,
                    "need_id": str(need.id),
                    **({"enquiry_id": enquiry_id} if enquiry_id else {}),
                },
                organization_id=actor.organization_id,
            )
            await outbox.emit(states.PROPOSED, _announced(proposal, actor))
    except IntegrityError:
        # The unique constraint, where a racing twin got past the check first.
        raise _twice() from None
    return proposal


def _twice() -> Conflict:
    return Conflict(
        "Your organisation has already answered this need; withdraw that proposal or add to "
        "its thread.",
        state="proposed",
    )


# --- the stages ------------------------------------------------------------------------------


async def move(actor: Actor, proposal_id: str, data: StageIn) -> Proposal:
    """Shortlist, make a finalist, decline (with a reason from the list and a note), or, for
    the proposer, withdraw."""
    proposal, need = await get_proposal(actor, proposal_id)
    action = states.STAGE_ACTIONS[data.stage]
    changes: dict[str, Any] = {"updated_at": utcnow()}
    noted: dict[str, Any] = {}
    if action == "decline":
        if data.reason is None:
            raise validation_error("reason", "Choose the reason for declining from the list.")
        changes.update(decline_reason=data.reason, decline_note=data.note)
        noted = {"reason": data.reason, "note": data.note}
    elif data.reason or data.note:
        raise validation_error("reason", "Only a decline takes a reason and a note.")
    if action != "withdraw":
        require_verified(actor, "review proposals")
    async with unit_of_work():
        moved = await apply(
            PROPOSING, proposal.id, action, actor, changes=changes, noted=noted, announced=noted
        )
    return moved.row


async def convert(actor: Actor, proposal_id: Any, offer_id: Any) -> Proposal:
    """Mark a finalist as turned into the offer `offer_id`, inside the caller's unit of work
    (contracts.offers.service.offer_from_proposal, which made the offer)."""
    moved = await apply(
        PROPOSING,
        proposal_id,
        "convert",
        actor,
        changes={"offer_id": offer_id, "updated_at": utcnow()},
        noted={"offer_id": str(offer_id)},
        announced={"offer_id": str(offer_id)},
    )
    return moved.row


async def hold_for_convert(actor: Actor, proposal_id: Any) -> None:
    """Lock the proposal before its offer is written, and check it may still convert: the
    offer's row refers to it (a key share on it), so taking the lock only afterwards would
    deadlock two racing conversions."""
    locked = await lock_existing(Proposal, proposal_id)
    await _note_seeker(locked)
    PROPOSING.check(actor, locked, "convert")


def check_convert(actor: Actor, proposal: Proposal, need: Need) -> None:
    """403 or 409 before an offer is drawn up from a proposal that cannot become one."""
    proposal.seeker_id = need.seeker_id  # type: ignore[attr-defined]
    PROPOSING.check(actor, proposal, "convert")


# --- the thread ------------------------------------------------------------------------------


async def post_message(actor: Actor, proposal_id: str, data: ProposalMessageIn) -> ProposalMessage:
    proposal, need = await get_proposal(actor, proposal_id)
    side = side_of(actor, proposal, need)
    if side is None:
        raise Forbidden("Only the two sides of a proposal write in its thread.")
    roles.require(actor, Permission.NEGOTIATE, "write about proposals")
    require_verified(actor, "write about proposals")
    if str(proposal.stage) not in states.TALKING:
        raise Conflict(
            f"The proposal is {proposal.stage}; its thread is closed.", state=str(proposal.stage)
        )
    async with unit_of_work():
        message = await ProposalMessage.create(
            proposal_id=proposal.id, side=side, author_id=actor.user_id, body=data.body
        )
        await outbox.emit(
            states.PROPOSAL_MESSAGE,
            {**_announced(proposal, actor), "message_id": str(message.id), "side": side},
        )
    return message


# --- for the need page -------------------------------------------------------------------------

# The listings a proposal form offers to attach, at most.
OFFERED_LISTINGS = 100


async def own_listings(actor: Actor) -> list[Listing]:
    """The actor's organisation's published listings: what a proposal may attach."""
    if not actor.organization_id:
        return []
    found = await _OWN_LISTINGS.fetch([actor.organization_id, OFFERED_LISTINGS])
    return [rows.build(Listing, row, "l") for row in found]  # type: ignore[misc]


_OWN_LISTINGS = rows.Statement(
    "SELECT {l} FROM listing l WHERE l.institute_id = $1 AND l.state = 'published'"
    " ORDER BY l.title, l.id LIMIT $2",
    l=Listing,
)


async def count_for(need: Need) -> int:
    return await Proposal.filter(need_id=need.id).count()
