"""What happens after need and proposal events commit: who is told, and what.

Closing a need early, withdrawing it, extending its deadline and its closing at the deadline
concern the seeker's own members and everyone who answered it and still stands by it
(`responders`: the institutes whose proposal is neither withdrawn nor declined). A new
proposal and a withdrawal are told to the seeker, each stage to the proposer, a message in a
proposal's thread to the other side; a public question to the seeker, its answer to the one
who asked. Each recipient reads the need through `public_view` as they may see it, so a
responder's mail about an anonymous need never names its seeker. The member who acted is not
told of their own act; the dedup key is (event, user), so a second run of a handler sends
nothing.
"""

from __future__ import annotations

from typing import Any

from docking import labels, states
from docking.models import Need, NeedQuestion, Proposal, ProposalMessage, ProposalStage
from docking.proposals import message_view
from docking.service import public_view
from market.accounts.models import Membership, Organization, User
from market.actor import Actor
from market.config import get_settings
from market.notify import about, tell
from market.outbox import OutboxEvent

# Event type -> e-mail template under templates/emails (without .txt).
TEMPLATES = {
    states.CLOSED: "need_closed",
    states.EXPIRED: "need_expired",
    states.EXTENDED: "need_deadline_extended",
    states.WITHDRAWN: "need_withdrawn",
}


def need_link(need_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/needs/{need_id}"


async def seeker_members(need: Need) -> list[tuple[User, Actor]]:
    """The seeker's active members, each with the actor they are to the need."""
    org = need.seeker
    assert isinstance(org, Organization)
    memberships = (
        await Membership.filter(organization_id=org.id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [(m.user, Actor(user=m.user, organization=org, role=m.role)) for m in memberships]


async def members_of(org_id: Any) -> list[tuple[User, Actor]]:
    """An organisation's active members, each with the actor they are."""
    org = await Organization.get(id=org_id)
    memberships = (
        await Membership.filter(organization_id=org_id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [(m.user, Actor(user=m.user, organization=org, role=m.role)) for m in memberships]


async def responders(need: Need) -> list[tuple[User, Actor]]:
    """Those who answered the need and still stand by it: the members of every institute
    whose proposal is neither withdrawn nor declined."""
    standing = (
        await Proposal.filter(need_id=need.id)
        .exclude(stage__in=(ProposalStage.WITHDRAWN, ProposalStage.DECLINED))
        .order_by("created_at")
        .values_list("proposer_id", flat=True)
    )
    found: list[tuple[User, Actor]] = []
    for org_id in standing:
        found += await members_of(org_id)
    return found


async def tell_about_need(event: OutboxEvent) -> None:
    payload = event.payload
    need = await Need.get_or_none(id=payload["need_id"]).select_related("seeker")
    if need is None:
        return
    actor_id = payload.get("actor_id")
    template = TEMPLATES[event.event_type]
    for user, viewer in [*await seeker_members(need), *await responders(need)]:
        if str(user.id) == actor_id:
            continue  # they know what they did
        await tell(
            user,
            template,
            dedup_key=f"{event.id}:{user.id}",
            about=about("need", need.id),
            link=need_link(need.id),
            need=public_view(need, viewer),
            deadline=payload.get("deadline") or need.deadline.isoformat(),
            previous_deadline=payload.get("previous_deadline", ""),
            reason=payload.get("reason", ""),
        )


# --- proposals -------------------------------------------------------------------------------


def proposal_link(proposal_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/proposals/{proposal_id}"


async def _proposal(payload: dict[str, Any]) -> tuple[Proposal, Need] | None:
    proposal = await Proposal.get_or_none(id=payload["proposal_id"]).select_related("proposer")
    if proposal is None:
        return None
    need = await Need.get(id=proposal.need_id).select_related("seeker")  # type: ignore[attr-defined]
    return proposal, need


async def _tell_side(event: OutboxEvent, side: str, template: str, **context: Any) -> None:
    """Tell the members of one side of a proposal, each seeing the need as they may."""
    found = await _proposal(event.payload)
    if found is None:
        return
    proposal, need = found
    org_id = need.seeker_id if side == "seeker" else proposal.proposer_id  # type: ignore[attr-defined]
    for user, viewer in await members_of(org_id):
        if str(user.id) == event.payload.get("actor_id"):
            continue
        await tell(
            user,
            template,
            dedup_key=f"{event.id}:{user.id}",
            link=proposal_link(proposal.id),
            need=public_view(need, viewer),
            proposer=proposal.proposer,
            **context,
        )


async def tell_seeker_of_proposal(event: OutboxEvent) -> None:
    await _tell_side(event, "seeker", "proposal_received")


async def tell_seeker_of_withdrawal(event: OutboxEvent) -> None:
    await _tell_side(event, "seeker", "proposal_withdrawn")


async def tell_proposer_of_stage(event: OutboxEvent) -> None:
    payload = event.payload
    await _tell_side(
        event,
        "proposer",
        "proposal_stage",
        stage=payload["stage"],
        reason=labels.DECLINE_REASON.text(payload["reason"]) if payload.get("reason") else "",
        note=payload.get("note", ""),
    )


async def tell_the_other_side(event: OutboxEvent) -> None:
    """A message in a proposal's thread, to the other side. To the proposer, the seeker's
    people on an anonymous need are only "the enterprise that posted the need"."""
    payload = event.payload
    message = await ProposalMessage.get_or_none(id=payload["message_id"]).select_related("author")
    found = await _proposal(payload)
    if message is None or found is None:
        return
    _, need = found
    other = "proposer" if message.side == "seeker" else "seeker"
    shown = message_view(message, other, need)
    await _tell_side(
        event, other, "proposal_message", author=shown["author"] or "", message=message.body
    )


# --- the need's public questions ---------------------------------------------------------------


async def tell_seeker_of_question(event: OutboxEvent) -> None:
    payload = event.payload
    question = await NeedQuestion.get_or_none(id=payload["question_id"])
    need = await Need.get_or_none(id=payload["need_id"]).select_related("seeker")
    if question is None or need is None:
        return
    for user, viewer in await seeker_members(need):
        await tell(
            user,
            "need_question",
            dedup_key=f"{event.id}:{user.id}",
            link=need_link(need.id),
            need=public_view(need, viewer),
            question=question.body,
        )


async def tell_asker_of_answer(event: OutboxEvent) -> None:
    payload = event.payload
    question = await NeedQuestion.get_or_none(id=payload["question_id"]).select_related("asked_by")
    need = await Need.get_or_none(id=payload["need_id"]).select_related("seeker")
    if question is None or need is None or question.asked_by is None:
        return
    asker = question.asked_by
    membership = await Membership.filter(user_id=asker.id).select_related("organization").first()
    viewer = Actor(
        user=asker,
        organization=membership.organization if membership else None,
        role=membership.role if membership else None,
    )
    await tell(
        asker,
        "need_answer",
        dedup_key=f"{event.id}:{asker.id}",
        link=need_link(need.id),
        need=public_view(need, viewer),
        question=question.body,
        answer=question.answer,
    )
