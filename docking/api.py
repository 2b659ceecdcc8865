"""JSON endpoints for technology needs and their moderation (see API.md, wave 2 "docking").

Every need in an answer is `service.public_view` of it for the caller, written as JSON: an
anonymous need's seeker is null for anyone outside it."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from docking import matching, proposals, questions, service
from docking.models import Cooperation, Need, NeedState, ProposalStage
from docking.schemas import (
    AnswerIn,
    CloseIn,
    ExtendIn,
    NeedIn,
    NeedPatch,
    ProposalIn,
    ProposalMessageIn,
    QuestionIn,
    StageIn,
)
from listings import ipc
from market.accounts.schemas import ReasonIn
from market.actor import Actor
from market.api import (
    FLAG,
    PAGE,
    PER_PAGE,
    ApiRouter,
    body,
    filter_of,
    flag,
    paged,
    query_text,
    text,
)
from market.web import get_actor, json_response, language, page_number, page_size

router = ApiRouter("needs")
# The longest search the list takes.
Q_MAX = 200


def need_json(view: dict[str, Any]) -> dict[str, Any]:
    """A public view as JSON: dates and times as ISO 8601, each IPC code with its title."""
    data = {k: v.isoformat() if isinstance(v, date) else v for k, v in view.items()}
    data["ipc"] = [{"code": code, "title": ipc.title(code)} for code in view["ipc_codes"]]
    return data


def _answer(actor: Actor, need: Need, status: int = 200) -> Response:
    data: dict[str, Any] = {
        "need": need_json(service.public_view(need, actor)),
        "state": str(need.state),
    }
    if service.insider(actor, need):
        data["actions"] = service.actions_for(actor, need)
    return json_response(data, status)


def _id(request: Request) -> str:
    return str(request.path_params["need_id"])


@router.route("/needs", "POST", summary="Create a draft need", body=NeedIn, status=201)
async def create(request: Request) -> Response:
    actor = await get_actor(request)
    need = await service.create_need(actor, await body(request, NeedIn))
    return _answer(actor, need, 201)


@router.route(
    "/needs",
    summary="Open needs (closed or awarded with state=), or your enterprise's with mine=1",
    auth=False,
    query={
        "q": text(Q_MAX),
        "mine": FLAG,
        "state": filter_of(NeedState),
        "cooperation": filter_of(Cooperation),
        "page": PAGE,
        "per_page": PER_PAGE,
    },
)
async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    items, total = await service.list_needs(
        actor,
        q=query_text(request, "q", Q_MAX),
        mine=flag(request, "mine"),
        state=request.query_params.get("state") or None,
        cooperation=request.query_params.get("cooperation") or None,
        page=page,
        per_page=per_page,
    )
    views = [need_json(service.public_view(need, actor)) for need in items]
    return json_response(paged(views, page, per_page, total))


@router.route("/needs/{need_id}", summary="One need (unpublished: seeker and admins)", auth=False)
async def show(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.get_need(actor, _id(request)))


@router.route("/needs/{need_id}", "PATCH", body=NeedPatch, summary="Edit a draft or rejected need")
async def update(request: Request) -> Response:
    actor = await get_actor(request)
    need = await service.update_need(actor, _id(request), await body(request, NeedPatch))
    return _answer(actor, need)


@router.route("/needs/{need_id}/submit", "POST", summary="Submit a need for moderation")
async def submit(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.submit_need(actor, _id(request)))


@router.route(
    "/needs/{need_id}/close",
    "POST",
    body=CloseIn,
    summary="Close a published need before its deadline, with an optional reason",
)
async def close(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, CloseIn)
    return _answer(actor, await service.close_need(actor, _id(request), data.reason))


@router.route("/needs/{need_id}/withdraw", "POST", summary="Withdraw a need")
async def withdraw(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.withdraw_need(actor, _id(request)))


@router.route(
    "/needs/{need_id}/confidentiality",
    "POST",
    summary="Accept a confidential need's clause: your organisation then sees its details",
)
async def accept_clause(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.accept_clause(actor, _id(request)))


@router.route(
    "/needs/{need_id}/extend", "POST", body=ExtendIn, summary="Move a published need's deadline"
)
async def extend(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, ExtendIn)
    return _answer(actor, await service.extend_deadline(actor, _id(request), data.deadline))


@router.route("/needs/{need_id}/award", "POST", summary="Mark a need as awarded")
async def award(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.award_need(actor, _id(request)))


@router.route(
    "/admin/needs",
    summary="The needs' moderation queue",
    query={"state": filter_of(NeedState), "page": PAGE},
)
async def queue(request: Request) -> Response:
    actor = await get_actor(request)
    page = page_number(request)
    items, total = await service.moderation_queue(
        actor, state=request.query_params.get("state") or "submitted", page=page
    )
    views = [need_json(service.public_view(need, actor)) for need in items]
    return json_response(paged(views, page, 50, total))


@router.route("/admin/needs/{need_id}/approve", "POST", summary="Publish a need")
async def approve(request: Request) -> Response:
    actor = await get_actor(request)
    return _answer(actor, await service.approve_need(actor, _id(request)))


@router.route(
    "/admin/needs/{need_id}/reject",
    "POST",
    body=ReasonIn,
    summary="Reject a need, with the reason",
)
async def reject(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, ReasonIn)
    return _answer(actor, await service.reject_need(actor, _id(request), data.reason))


# --- proposals -------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def proposal_json(view: dict[str, Any]) -> dict[str, Any]:
    """A proposal's view as JSON; its need as `need_json` shows it."""
    data = _json({k: v for k, v in view.items() if k != "need"})
    data["need"] = need_json(view["need"])
    return data


async def _proposal(actor: Actor, proposal_id: str, status: int = 200) -> Response:
    seen = await proposals.read_proposal(actor, proposal_id)
    listings = {str(x.id): x for x in seen.listings}
    view = proposals.proposal_view(actor, seen.proposal, seen.need, listings, seen.messages)
    return json_response({"proposal": proposal_json(view)}, status)


def _pid(request: Request) -> str:
    return str(request.path_params["proposal_id"])


@router.route(
    "/needs/{need_id}/proposals",
    "POST",
    body=ProposalIn,
    status=201,
    summary="Answer a published need with a proposal (verified institutes)",
)
async def propose(request: Request) -> Response:
    actor = await get_actor(request)
    made = await proposals.make_proposal(actor, _id(request), await body(request, ProposalIn))
    return await _proposal(actor, str(made.id), 201)


@router.route(
    "/needs/{need_id}/proposals",
    summary="The proposals to one of your enterprise's needs, by stage",
    query={"stage": filter_of(ProposalStage), "page": PAGE, "per_page": PER_PAGE},
)
async def need_proposals(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    items, total, counts = await proposals.proposals_for_need(
        actor,
        _id(request),
        stage=request.query_params.get("stage") or "",
        page=page,
        per_page=per_page,
    )
    views = [proposal_json(v) for v in await proposals.views(actor, items)]
    return json_response({**paged(views, page, per_page, total), "stages": counts})


@router.route(
    "/proposals",
    summary="Your organisation's proposals (mine=1), newest change first",
    query={
        "mine": FLAG,
        "stage": filter_of(ProposalStage),
        "page": PAGE,
        "per_page": PER_PAGE,
    },
)
async def my_proposals(request: Request) -> Response:
    actor = await get_actor(request)
    flag(request, "mine")  # checked as documented; the answer is the organisation's either way
    page, per_page = page_number(request), page_size(request)
    items, total = await proposals.my_proposals(
        actor, stage=request.query_params.get("stage") or "", page=page, per_page=per_page
    )
    views = [proposal_json(v) for v in await proposals.views(actor, items)]
    return json_response(paged(views, page, per_page, total))


@router.route("/proposals/{proposal_id}", summary="One proposal with its thread (its two sides)")
async def show_proposal(request: Request) -> Response:
    actor = await get_actor(request)
    return await _proposal(actor, _pid(request))


@router.route(
    "/proposals/{proposal_id}/stage",
    "POST",
    body=StageIn,
    summary="Move a proposal: shortlisted, finalist, declined {reason, note} or withdrawn",
)
async def stage(request: Request) -> Response:
    actor = await get_actor(request)
    await proposals.move(actor, _pid(request), await body(request, StageIn))
    return await _proposal(actor, _pid(request))


@router.route(
    "/proposals/{proposal_id}/messages",
    "POST",
    body=ProposalMessageIn,
    status=201,
    summary="Write in a proposal's thread",
)
async def message(request: Request) -> Response:
    actor = await get_actor(request)
    await proposals.post_message(actor, _pid(request), await body(request, ProposalMessageIn))
    return await _proposal(actor, _pid(request), 201)


# --- public questions on a need ----------------------------------------------------------------


@router.route(
    "/needs/{need_id}/questions",
    summary="A need's answered questions (the seeker sees all; an asker their own)",
    auth=False,
)
async def need_questions(request: Request) -> Response:
    actor = await get_actor(request)
    need = await service.get_need(actor, _id(request))
    items = [_json(q) for q in await questions.questions_of(actor, need)]
    return json_response({"items": items})


@router.route(
    "/needs/{need_id}/questions",
    "POST",
    body=QuestionIn,
    status=201,
    summary="Ask a public question on a published need",
)
async def ask(request: Request) -> Response:
    actor = await get_actor(request)
    asked = await questions.ask(actor, _id(request), await body(request, QuestionIn))
    return json_response({"question": _json(questions.question_view(asked, actor))}, 201)


@router.route(
    "/needs/{need_id}/questions/{question_id}/answer",
    "POST",
    body=AnswerIn,
    summary="Answer a question on your enterprise's need (shown to everyone)",
)
async def answer(request: Request) -> Response:
    actor = await get_actor(request)
    answered = await questions.answer(
        actor,
        _id(request),
        str(request.path_params["question_id"]),
        await body(request, AnswerIn),
    )
    return json_response({"question": _json(questions.question_view(answered, actor))})


# --- matches (issue 18, point 3) ------------------------------------------------------------


def _reasons(match: Any, lang: str, other_title: str) -> list[dict[str, Any]]:
    """The stored reasons with their text in the caller's language; the words reason also
    carries the other side's title with the words marked (escaped first)."""
    reasons = matching.explain(match.reasons, lang)
    for reason in reasons:
        if reason["kind"] == "words":
            reason["highlight"] = matching.highlight(other_title, reason["terms"])
    return reasons


def _match_json(match: Any, lang: str, side: str, other: dict[str, Any]) -> dict[str, Any]:
    """A match as one side sees it: `other` is the other side (its title is what the matched
    words are marked in)."""
    return {
        "id": str(match.id),
        side: other,
        "score": match.score,
        "reasons": _reasons(match, lang, other["title"]),
        "created_at": match.created_at.isoformat(),
    }


@router.route(
    "/needs/{need_id}/matches",
    summary="The listings that match a need, best first, with why (the seeker only)",
)
async def need_matches(request: Request) -> Response:
    actor = await get_actor(request)
    _, found = await matching.need_matches(actor, _id(request))
    lang = language(request, actor)
    items = [
        _match_json(
            m,
            lang,
            "listing",
            {
                "id": str(m.listing.id),
                "title": m.listing.title,
                "institute": m.listing.institute.name,
            },
        )
        for m in found[: matching.SHOWN]
    ]
    return json_response({"items": items})


@router.route(
    "/listings/{listing_id}/matches",
    summary="The open needs a listing fits, best first, with why (the institute only)",
)
async def listing_matches(request: Request) -> Response:
    actor = await get_actor(request)
    _, found = await matching.listing_matches(actor, str(request.path_params["listing_id"]))
    lang = language(request, actor)
    # A need as the institute may see it: its id and title, never an anonymous seeker.
    items = [
        _match_json(m, lang, "need", {"id": str(m.need.id), "title": m.need.title})
        for m in found[: matching.SHOWN]
    ]
    return json_response({"items": items})


@router.route(
    "/matches/{match_id}/dismiss",
    "POST",
    summary="Set a match aside for your side (the need's seeker or the listing's institute)",
)
async def dismiss_match(request: Request) -> Response:
    actor = await get_actor(request)
    match = await matching.dismiss(actor, str(request.path_params["match_id"]))
    return json_response(
        {
            "id": str(match.id),
            "dismissed_by_seeker": match.dismissed_by_seeker,
            "dismissed_by_institute": match.dismissed_by_institute,
        }
    )
