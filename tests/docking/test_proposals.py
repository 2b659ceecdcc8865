"""Proposal use cases against PostgreSQL: the stage table pair by pair, every refusal of a
proposal with its reason, duplicate proposals racing, the thread's privacy, the public
questions on a need, and what each stage tells the proposer, in the recipient's language,
without naming an anonymous seeker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError

from docking import proposals, questions, service, states
from docking.models import Need, NeedQuestion, Proposal, ProposalMessage, ProposalStage
from docking.schemas import AnswerIn, ProposalIn, ProposalMessageIn, QuestionIn, StageIn
from market.accounts.models import Organization, User
from market.actor import Actor
from market.audit import AuditEntry
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from market.outbox import OutboxEvent
from market.validation import parse
from tests.builders import (
    a_colleague,
    a_draft_listing,
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    proposal_data,
    run_worker,
)

SECRET = "Secretive Steel AG"
ALL_STAGES = [s.value for s in ProposalStage]
ALL_ACTIONS = sorted({action for (_, action) in states.PROPOSAL})


async def _parties(**need: Any) -> tuple[Actor, Actor, Need, Any]:
    """The seeker, the institute, a published need and the institute's published listing."""
    seeker_user, _ = await a_verified_enterprise(organization={"name": SECRET})
    institute_user, _ = await a_verified_institute()
    published = await a_published_need(seeker_user, **need)
    listing = await a_published_listing(institute_user)
    return await actor_of(seeker_user), await actor_of(institute_user), published, listing


def _data(need: Need, listing: Any, **overrides: Any) -> ProposalIn:
    return ProposalIn.model_validate(proposal_data(need, [str(listing.id)], **overrides))


async def _do(action: str, seeker: Actor, proposer: Actor, proposal: Proposal) -> Proposal:
    pid = str(proposal.id)
    match action:
        case "shortlist":
            return await proposals.move(seeker, pid, StageIn(stage="shortlisted"))
        case "finalise":
            return await proposals.move(seeker, pid, StageIn(stage="finalist"))
        case "decline":
            data = StageIn(stage="declined", reason="over_budget", note="Twice our budget.")
            return await proposals.move(seeker, pid, data)
        case "withdraw":
            return await proposals.move(proposer, pid, StageIn(stage="withdrawn"))
        case "convert":
            # The offer's use case takes this move inside its own unit of work.
            async with unit_of_work():
                return await proposals.convert(seeker, proposal.id, proposal.id)
    raise AssertionError(action)


async def test_every_pair_of_the_stage_table() -> None:
    """Every allowed pair moves the proposal where the table says, audited and announced;
    every other is refused with a 409 naming the stage, and changes nothing."""
    seeker, proposer, need, listing = await _parties()
    wrong = {}
    for stage in ALL_STAGES:
        for action in ALL_ACTIONS:
            await Proposal.filter(need_id=need.id).delete()
            proposal = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
            await Proposal.filter(id=proposal.id).update(stage=stage)
            rule = states.PROPOSAL.get((stage, action))
            before = await OutboxEvent.all().count()
            try:
                moved = await _do(action, seeker, proposer, proposal)
            except Conflict as refused:
                now = await Proposal.get(id=proposal.id)
                if rule is not None:
                    wrong[(stage, action)] = f"refused: {refused.message}"
                elif refused.state != stage or now.stage != stage:
                    wrong[(stage, action)] = f"refused naming {refused.state}, now {now.stage}"
                elif await OutboxEvent.all().count() != before:
                    wrong[(stage, action)] = "refused, yet an event was written"
                continue
            if rule is None:
                wrong[(stage, action)] = "allowed, but the table has no such row"
                continue
            if moved.stage != rule.to:
                wrong[(stage, action)] = f"moved to {moved.stage}, not {rule.to}"
            entry = await AuditEntry.get_or_none(
                action=f"proposal.{action}", object_id=str(proposal.id)
            )
            if entry is None or entry.state_after["stage"] != rule.to:
                wrong[(stage, action)] = "not audited"
            event = await OutboxEvent.filter(event_type=rule.event).order_by("-created_at").first()
            if event is None or event.payload["proposal_id"] != str(proposal.id):
                wrong[(stage, action)] = f"no {rule.event} event"
    assert not wrong, wrong


async def test_each_side_takes_only_its_own_moves() -> None:
    seeker, proposer, need, listing = await _parties()
    proposal = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    with pytest.raises(Forbidden):
        await proposals.move(proposer, str(proposal.id), StageIn(stage="shortlisted"))
    with pytest.raises(Forbidden):
        await proposals.move(seeker, str(proposal.id), StageIn(stage="withdrawn"))
    stranger = await actor_of((await a_verified_institute())[0])
    with pytest.raises(NotFound):
        await proposals.move(stranger, str(proposal.id), StageIn(stage="withdrawn"))
    assert (await Proposal.get(id=proposal.id)).stage == "new"


async def test_a_decline_names_its_reason_from_the_list() -> None:
    seeker, proposer, need, listing = await _parties()
    proposal = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    with pytest.raises(ValidationFailed) as refused:
        await proposals.move(seeker, str(proposal.id), StageIn(stage="declined"))
    assert set(refused.value.fields) == {"reason"}
    with pytest.raises(ValidationFailed):
        parse(StageIn, {"stage": "declined", "reason": "too expensive"})
    with pytest.raises(ValidationFailed):
        parse(StageIn, {"stage": "converted"})
    declined = await proposals.move(
        seeker, str(proposal.id), StageIn(stage="declined", reason="trl_too_low", note="TRL 3")
    )
    assert (declined.stage, declined.decline_reason, declined.decline_note) == (
        "declined",
        "trl_too_low",
        "TRL 3",
    )


# --- refusals ------------------------------------------------------------------------------


async def test_a_proposal_is_refused_with_the_reason() -> None:
    seeker, proposer, need, listing = await _parties()

    async def refused(actor: Actor, data: ProposalIn, kind: type[Exception], words: str) -> None:
        with pytest.raises(kind) as caught:
            await proposals.make_proposal(actor, str(need.id), data)
        assert words in caught.value.message, caught.value.message  # type: ignore[attr-defined]

    good = _data(need, listing)
    # the seeker's own organisation
    await refused(seeker, good, Forbidden, "posted this need")
    # an enterprise
    other_enterprise = await actor_of((await a_verified_enterprise())[0])
    await refused(other_enterprise, good, Forbidden, "Only institutes")
    # an unverified institute
    pending_user, pending_org = await a_verified_institute()
    await Organization.filter(id=pending_org.id).update(verification="pending")
    await refused(await actor_of(pending_user), good, Forbidden, "verified")
    # nobody signed in
    with pytest.raises(NotAuthenticated):
        await proposals.make_proposal(Actor.anonymous(), str(need.id), good)
    # a listing not the proposer's own
    someone_elses = await a_published_listing()
    with pytest.raises(ValidationFailed) as caught:
        await proposals.make_proposal(proposer, str(need.id), _data(need, someone_elses))
    assert set(caught.value.fields) == {"listing_ids"} and "own" in caught.value.message
    # a draft listing of its own
    draft = await a_draft_listing(await User.get(id=proposer.user_id))
    with pytest.raises(ValidationFailed) as caught:
        await proposals.make_proposal(proposer, str(need.id), _data(need, draft))
    assert "published" in caught.value.fields["listing_ids"]
    # a must-have left unanswered, and one the need does not have
    short = _data(need, listing, requirements=proposal_data(need, [])["requirements"][:1])
    with pytest.raises(ValidationFailed) as caught:
        await proposals.make_proposal(proposer, str(need.id), short)
    assert set(caught.value.fields) == {"requirements"}
    made_up = proposal_data(need, [])["requirements"] + [{"requirement": "Cheap", "how": "Yes"}]
    with pytest.raises(ValidationFailed) as caught:
        await proposals.make_proposal(
            proposer, str(need.id), _data(need, listing, requirements=made_up)
        )
    assert set(caught.value.fields) == {"requirements.2.requirement"}
    assert await Proposal.all().count() == 0
    # the need is no longer published
    for state in ("closed", "awarded"):
        await Need.filter(id=need.id).update(state=state)
        await refused(proposer, good, Conflict, state)
    for state in ("draft", "submitted", "withdrawn"):  # not public: no such need to them
        await Need.filter(id=need.id).update(state=state)
        with pytest.raises(NotFound):
            await proposals.make_proposal(proposer, str(need.id), good)
    assert await Proposal.all().count() == 0


def test_the_server_keeps_a_proposal_short() -> None:
    need = Need(must_have=["One"])
    for overrides, field in (
        ({"summary": "x" * 3001}, "summary"),
        ({"summary": "short"}, "summary"),
        ({"trl": 10}, "trl"),
        ({"listing_ids": []}, "listing_ids"),
        ({"listing_ids": [f"id-{i}" for i in range(11)]}, "listing_ids"),
        ({"requirements": [{"requirement": "One", "how": "y" * 1501}]}, "requirements.0.how"),
        ({"extra": 1}, "extra"),
    ):
        with pytest.raises(Exception) as caught:
            parse(ProposalIn, {**proposal_data(need, ["x"]), **overrides})
        assert isinstance(caught.value, ValidationFailed), overrides
        assert field in caught.value.fields, (overrides, caught.value.fields)


async def test_a_second_proposal_of_one_institute_is_refused_even_when_racing() -> None:
    seeker, proposer, need, listing = await _parties()
    colleagues = [await a_colleague(proposer.organization) for _ in range(4)]
    actors = [proposer, *[await actor_of(c) for c in colleagues]]
    data = _data(need, listing)
    results = await asyncio.gather(
        *(proposals.make_proposal(a, str(need.id), data) for a in actors), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Proposal)]
    assert len(made) == 1, results
    assert all(isinstance(r, Conflict) and "already" in r.message for r in results if r not in made)
    assert await Proposal.filter(need_id=need.id).count() == 1
    assert await OutboxEvent.filter(event_type="proposal.made").count() == 1
    with pytest.raises(Conflict):
        await proposals.make_proposal(proposer, str(need.id), data)


# --- the thread ------------------------------------------------------------------------------


async def test_the_thread_is_the_two_sides_own() -> None:
    seeker, proposer, need, listing = await _parties(visibility="anonymous")
    proposal = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    pid = str(proposal.id)
    await proposals.post_message(
        seeker, pid, ProposalMessageIn(body="Which pH did the pilot run at?")
    )
    await proposals.post_message(proposer, pid, ProposalMessageIn(body="From 2 to 11."))
    stranger = await actor_of((await a_verified_enterprise())[0])
    for doing in (
        proposals.get_proposal(stranger, pid),
        proposals.post_message(stranger, pid, ProposalMessageIn(body="Me too")),
        proposals.read_proposal(stranger, pid),
    ):
        with pytest.raises(NotFound):
            await doing
    seen = await proposals.read_proposal(proposer, pid)
    shown = [proposals.message_view(m, seen.side, seen.need) for m in seen.messages]
    # The anonymous seeker's person is not named to the proposer; the proposer's is.
    assert [m["author"] is None for m in shown] == [True, False]
    own = await proposals.read_proposal(seeker, pid)
    assert all(proposals.message_view(m, own.side, own.need)["author"] for m in own.messages)
    assert proposals.proposal_view(proposer, proposal, seen.need, {})["need"]["seeker"] is None

    await proposals.move(proposer, pid, StageIn(stage="withdrawn"))
    with pytest.raises(Conflict):
        await proposals.post_message(seeker, pid, ProposalMessageIn(body="Still there?"))
    assert await ProposalMessage.filter(proposal_id=proposal.id).count() == 2


# --- what each side hears ----------------------------------------------------------------------


async def test_each_stage_tells_the_proposer_in_their_language_without_the_anonymous_seeker(
    settings, redis_client, mailbox
) -> None:
    seeker, proposer, need, listing = await _parties(visibility="anonymous")
    reader = await a_colleague(proposer.organization, locale="zh")
    await run_worker(settings)
    mailbox.messages.clear()
    proposal = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    await run_worker(settings)
    # The seeker hears of the new proposal (the institute is no secret).
    assert mailbox.recipients == [seeker.user.email]  # type: ignore[union-attr]
    mailbox.messages.clear()

    pid = str(proposal.id)
    await proposals.move(seeker, pid, StageIn(stage="shortlisted"))
    await proposals.move(seeker, pid, StageIn(stage="finalist"))
    await proposals.post_message(seeker, pid, ProposalMessageIn(body="Could you cut the price?"))
    await proposals.move(
        seeker, pid, StageIn(stage="declined", reason="over_budget", note="<b>Too dear</b>")
    )
    with pytest.raises(Conflict):  # the thread closed with the decline
        await proposals.post_message(seeker, pid, ProposalMessageIn(body="Sorry, and thank you."))
    await run_worker(settings)
    to_reader = [m for m in mailbox.messages if m["To"] == reader.email]
    to_author = [m for m in mailbox.messages if m["To"] == proposer.user.email]  # type: ignore[union-attr]
    assert len(to_reader) == len(to_author) == 4  # shortlisted, finalist, the message, declined
    subjects = [str(m["Subject"]) for m in to_author]
    assert any("shortlisted" in s for s in subjects) and any("declined" in s for s in subjects)
    assert all("提案" in str(m["Subject"]) for m in to_reader)
    every = "".join(m.get_body(("plain",)).get_content() for m in mailbox.messages)
    assert SECRET not in every and "Posted anonymously" in every
    assert "Beyond the budget" in every and "<b>Too dear</b>" in every
    assert "The enterprise that posted" in every and "Could you cut the price?" in every


# --- public questions on a need ----------------------------------------------------------------


async def test_questions_are_asked_by_verified_users_and_answered_by_the_seeker() -> None:
    seeker, proposer, need, _ = await _parties(visibility="anonymous")
    question = await questions.ask(proposer, str(need.id), QuestionIn(body="<i>Lifetime?</i>"))
    visitor = Actor.anonymous()
    assert await questions.questions_of(visitor, need) == []
    assert [q["body"] for q in await questions.questions_of(proposer, need)] == ["<i>Lifetime?</i>"]
    assert len(await questions.questions_of(seeker, need)) == 1

    with pytest.raises(Forbidden):
        await questions.answer(proposer, str(need.id), str(question.id), AnswerIn(answer="Me"))
    with pytest.raises(Forbidden):
        await questions.ask(seeker, str(need.id), QuestionIn(body="Our own question"))
    pending_user, pending_org = await a_verified_institute()
    await Organization.filter(id=pending_org.id).update(verification="pending")
    with pytest.raises(Forbidden):
        await questions.ask(await actor_of(pending_user), str(need.id), QuestionIn(body="Hello?"))
    with pytest.raises(NotAuthenticated):
        await questions.ask(visitor, str(need.id), QuestionIn(body="Hello?"))

    await questions.answer(seeker, str(need.id), str(question.id), AnswerIn(answer="Five years"))
    await questions.answer(seeker, str(need.id), str(question.id), AnswerIn(answer="Six years"))
    shown = await questions.questions_of(visitor, need)
    assert [(q["body"], q["answer"]) for q in shown] == [("<i>Lifetime?</i>", "Six years")]
    assert set(shown[0]) == {"id", "body", "answer", "answered_at", "created_at", "mine"}
    assert await OutboxEvent.filter(event_type="need.question_answered").count() == 1

    await Need.filter(id=need.id).update(state="closed")
    with pytest.raises(Conflict):
        await questions.ask(proposer, str(need.id), QuestionIn(body="Too late?"))
    assert await NeedQuestion.all().count() == 1


async def test_the_asker_hears_the_answer_without_the_anonymous_seeker(
    settings, redis_client, mailbox
) -> None:
    seeker, proposer, need, _ = await _parties(visibility="anonymous")
    await run_worker(settings)
    mailbox.messages.clear()
    question = await questions.ask(proposer, str(need.id), QuestionIn(body="Lifetime?"))
    await run_worker(settings)
    assert mailbox.recipients == [seeker.user.email]  # type: ignore[union-attr]
    mailbox.messages.clear()
    await questions.answer(seeker, str(need.id), str(question.id), AnswerIn(answer="Five years"))
    await run_worker(settings)
    assert mailbox.recipients == [proposer.user.email]  # type: ignore[union-attr]
    text = mailbox.messages[0].get_body(("plain",)).get_content()
    assert "Five years" in text and SECRET not in text


async def test_the_database_itself_refuses_a_second_proposal() -> None:
    _, proposer, need, listing = await _parties()
    made = await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    with pytest.raises(IntegrityError):
        await Proposal.create(
            need_id=need.id,
            proposer_id=made.proposer_id,
            summary="Again",
            trl=5,  # type: ignore[attr-defined]
        )


async def test_closing_a_need_early_tells_those_who_still_stand_by_their_proposal(
    settings, redis_client, mailbox
) -> None:
    seeker, proposer, need, listing = await _parties(visibility="anonymous")
    await proposals.make_proposal(proposer, str(need.id), _data(need, listing))
    _, quitter, _, _ = await _parties()
    other_listing = await a_published_listing(await User.get(id=quitter.user_id))
    gone = await proposals.make_proposal(quitter, str(need.id), _data(need, other_listing))
    await proposals.move(quitter, str(gone.id), StageIn(stage="withdrawn"))
    await run_worker(settings)
    mailbox.messages.clear()
    await service.close_need(seeker, str(need.id), "Solved in house")
    await run_worker(settings)
    assert mailbox.recipients == [proposer.user.email]  # type: ignore[union-attr]
    text = mailbox.messages[0].get_body(("plain",)).get_content()
    assert "Solved in house" in text and SECRET not in text
