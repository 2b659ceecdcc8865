"""The public questions on a need: any signed-in member of a verified organisation may ask on a
published need, the seeker answers, and an answered question shows on the need's page to
everyone. Neither who asked nor who answered is ever shown (an anonymous seeker's people would
name it); the seeker sees every question, an asker their own until it is answered."""

from __future__ import annotations

from typing import Any

from docking import service, states
from docking.models import Need, NeedQuestion, NeedState
from docking.schemas import AnswerIn, QuestionIn
from market import audit, outbox, rows
from market.accounts.service import require_verified
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from market.locks import lock_existing
from market.validation import object_id

EVENTS = outbox.declare(states.QUESTION_ASKED, states.QUESTION_ANSWERED)
# The questions a need page shows, at most.
SHOWN = 100


def _payload(question: NeedQuestion, actor: Actor) -> dict[str, Any]:
    return {
        "need_id": str(question.need_id),  # type: ignore[attr-defined]
        "question_id": str(question.id),
        "actor_id": actor.user_id,
    }


async def ask(actor: Actor, need_id: str, data: QuestionIn) -> NeedQuestion:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    need = await service.get_need(actor, need_id)
    if service.insider(actor, need) and not actor.is_admin:
        raise Forbidden("Your organisation posted this need: answer its questions instead.")
    if actor.organization is None:
        raise Forbidden("Only members of an organisation ask about needs.")
    require_verified(actor, "ask about needs")
    if need.state != NeedState.PUBLISHED:
        raise Conflict(f"The need is {need.state}: it takes no questions.", state=str(need.state))
    async with unit_of_work():
        question = await NeedQuestion.create(
            need_id=need.id, asked_by_id=actor.user_id, body=data.body
        )
        await audit.record(
            actor,
            "need.question_asked",
            "need",
            need.id,
            after={"question_id": str(question.id)},
            organization_id=actor.organization_id,
        )
        await outbox.emit(states.QUESTION_ASKED, _payload(question, actor))
    return question


async def answer(actor: Actor, need_id: str, question_id: str, data: AnswerIn) -> NeedQuestion:
    """The seeker's answer (a later one replaces it; only the first is announced)."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    need = await service.get_need(actor, need_id)
    if "member" not in service.roles_on(actor, need):
        raise Forbidden("Only the enterprise that posted this need answers its questions.")
    question = await NeedQuestion.get_or_none(
        id=object_id(question_id, "question"), need_id=need.id
    )
    if question is None:
        raise NotFound("No such question.")
    async with unit_of_work():
        await lock_existing(Need, need.id)  # one answer at a time per need: the first is told
        first = (await NeedQuestion.get(id=question.id)).answered_at is None
        await NeedQuestion.filter(id=question.id).update(
            answer=data.answer, answered_by_id=actor.user_id, answered_at=utcnow()
        )
        await audit.record(
            actor,
            "need.question_answered",
            "need",
            need.id,
            after={"question_id": str(question.id)},
            organization_id=need.seeker_id,  # type: ignore[attr-defined]
        )
        if first:
            await outbox.emit(states.QUESTION_ANSWERED, _payload(question, actor))
    return await NeedQuestion.get(id=question.id)


def question_view(question: NeedQuestion, actor: Actor) -> dict[str, Any]:
    return {
        "id": str(question.id),
        "body": question.body,
        "answer": question.answer or None,
        "answered_at": question.answered_at,
        "created_at": question.created_at,
        "mine": actor.user_id is not None and str(question.asked_by_id) == actor.user_id,  # type: ignore[attr-defined]
    }


async def questions_of(actor: Actor, need: Need) -> list[dict[str, Any]]:
    """The questions the actor may see: answered ones for everyone, and every one for the
    seeker; an asker also sees their own while it waits."""
    values: list[Any] = [need.id]
    if service.insider(actor, need):
        statement = _QUESTIONS["all"]
    elif actor.user_id:
        statement = _QUESTIONS["answered_or_asker"]
        values.append(actor.user_id)
    else:
        statement = _QUESTIONS["answered"]
    found = await statement.fetch([*values, SHOWN])
    return [question_view(rows.build(NeedQuestion, row, "q"), actor) for row in found]  # type: ignore[arg-type]


# The need page's questions, written out (market/rows.py): one statement per kind of reader.
_QUESTIONS = {
    name: rows.Statement(
        "SELECT {q} FROM need_question q WHERE q.need_id = $1{seen}"
        " ORDER BY q.created_at, q.id LIMIT {limit}",
        parts={"seen": seen, "limit": limit},
        q=NeedQuestion,
    )
    for name, seen, limit in (
        ("all", "", "$2"),
        ("answered_or_asker", " AND (q.answered_at IS NOT NULL OR q.asked_by_id = $2)", "$3"),
        ("answered", " AND q.answered_at IS NOT NULL", "$2"),
    )
}
