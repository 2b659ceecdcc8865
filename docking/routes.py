"""Pages for technology needs: the public list and page, the enterprise's own list and form,
and the administrators' moderation queue. Each handler parses, calls one use case and
translates; every need a page shows is `service.public_view` of it for the viewer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from docking import forms, labels, matching, proposals, questions, service, states
from docking.models import Need, NeedState
from docking.schemas import (
    COOPERATION,
    DECLINE_REASONS,
    VISIBILITY,
    AnswerIn,
    ExtendIn,
    NeedIn,
    NeedPatch,
    ProposalMessageIn,
    QuestionIn,
    StageIn,
)
from listings import enquiries, ipc
from listings import forms as listing_forms
from listings.models import EnquirySide
from market.accounts.models import OrganizationKind, Verification
from market.accounts.schemas import countries
from market.accounts.service import NotVerified
from market.actor import Actor
from market.api import query_text
from market.errors import Conflict, DomainError, Forbidden, ValidationFailed
from market.i18n import Msg
from market.validation import parse
from market.web import (
    get_actor,
    language,
    nest,
    page_number,
    read_form,
    redirect,
    render,
    render_error,
    render_form,
    require_login,
    template_global,
)

PER_PAGE = 20
# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429})
QUEUE_PAGE = 50
template_global("need_labels", labels.FOR_TEMPLATES)
HELPERS: dict[str, Any] = {
    "ipc_title": ipc.title,
    "money_text": listing_forms.money_text,
    "cooperations": COOPERATION,
    "visibilities": VISIBILITY,
    "trl_levels": listing_forms.TRL_LEVELS,
    "need_states": [s.value for s in NeedState],
}


async def _page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return await render(request, template, {**HELPERS, **context}, status=status)


def _id(request: Request) -> str:
    return str(request.path_params["need_id"])


def _views(actor: Actor, needs: list[Any]) -> list[dict[str, Any]]:
    return [service.public_view(need, actor) for need in needs]


def _enterprise_member(actor: Actor) -> bool:
    org = actor.organization
    return org is not None and org.kind == OrganizationKind.ENTERPRISE


# --- public ------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page = page_number(request)
    q = query_text(request, "q", 200)
    cooperation = request.query_params.get("cooperation") or ""
    items, total = await service.list_needs(
        actor, q=q, cooperation=cooperation or None, page=page, per_page=PER_PAGE
    )
    return await _page(
        request,
        "docking/index.html",
        {
            "needs": _views(actor, items),
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "q": q,
            "cooperation": cooperation,
            "can_post": _enterprise_member(actor),
        },
    )


async def show(request: Request) -> Response:
    actor = await get_actor(request)
    read = await proposals.need_page(actor, _id(request))
    # From an enquiry's "answer one of their needs": the proposal form names it (checked when
    # the proposal is sent).
    follows = request.query_params.get("enquiry", "")[:64]
    values = {**forms.new_proposal_values(), "enquiry_id": follows} if follows else None
    return await _need_page(request, actor, read.need, values=values, read=read)


async def follow_up(request: Request) -> Response:
    """The needs the institute of an enquiry may answer with a proposal that follows it up."""
    actor = await require_login(request)
    view = await enquiries.get_enquiry(actor, str(request.path_params["enquiry_id"]))
    if view.side != EnquirySide.SELLER:
        raise Forbidden("Only the institute that was asked follows an enquiry up with a proposal.")
    return await _page(
        request,
        "docking/follow_up.html",
        {"enquiry": view.enquiry, "needs": await proposals.needs_to_follow_up(view.enquiry)},
    )


async def _need_page(
    request: Request,
    actor: Actor,
    need: Need,
    *,
    values: dict[str, Any] | None = None,
    error: DomainError | None = None,
    read: proposals.NeedPage | None = None,
) -> Response:
    """The need page: the need as the viewer may see it, its answered questions, and what the
    viewer may do: propose (an institute), ask (a verified organisation), answer and review
    (the seeker). A refused proposal or question comes back here with what was typed. `read`
    is the page's own read of the need (`proposals.need_page`), with the viewer's proposal and
    the proposal count; a form sent back reads them here."""
    is_seeker = "member" in service.roles_on(actor, need)
    own = read.own if read is not None else await proposals.proposal_of(actor, need)
    can_propose = own is None and proposals.proposal_refusal(actor, need) is None
    view = service.public_view(need, actor)
    insider = service.insider(actor, need) and str(need.state) == "published"
    context = {
        "need": view,
        "actions": service.actions_for(actor, need),
        "is_seeker": is_seeker,
        "can_edit": is_seeker and str(need.state) in states.EDITABLE,
        "countries": countries(),
        "questions": await questions.questions_of(actor, need),
        "can_ask": _may_ask(actor, need),
        "own_proposal": own,
        "can_propose": can_propose and not view["details_hidden"],
        "own_listings": await proposals.own_listings(actor) if can_propose else [],
        "proposal_count": (
            (read.proposal_count if read is not None else await proposals.count_for(need))
            if is_seeker
            else 0
        ),
        "values": values or forms.new_proposal_values(),
        "decline_reasons": DECLINE_REASONS,
        "may_accept_clause": service.may_accept_clause(actor, need),
        # "Why this match", to the seeker (and the administrators) only.
        "matches": await _need_match_rows(request, actor, need) if insider else None,
    }
    return await render_form(request, "docking/show.html", {**HELPERS, **context}, error=error)


def _may_ask(actor: Actor, need: Need) -> bool:
    org = actor.organization
    return (
        actor.user is not None
        and org is not None
        and org.verification == Verification.VERIFIED
        and not service.insider(actor, need)
        and str(need.state) == "published"
    )


# --- matches -------------------------------------------------------------------------------


def match_rows(matches: list[Any], lang: str, *, need_side: bool) -> list[dict[str, Any]]:
    """Each match as the component shows it: `need_side` lists listings for a need's seeker,
    otherwise needs for a listing's institute (an id and title, never the seeker)."""
    rows = []
    for m in matches:
        title = m.listing.title if need_side else m.need.title
        reasons = matching.explain(m.reasons, lang)
        words = next((r["terms"] for r in reasons if r["kind"] == "words"), [])
        rows.append(
            {
                "id": str(m.id),
                "score": m.score,
                # Escaped by highlight before the marks go in.
                "marked": Markup(matching.highlight(title, words)),
                "href": f"/listings/{m.listing_id}" if need_side else f"/needs/{m.need_id}",
                "subtitle": m.listing.institute.name if need_side else "",
                "reasons": reasons,
            }
        )
    return rows


async def _need_match_rows(request: Request, actor: Actor, need: Any) -> list[dict[str, Any]]:
    # The caller read the need for an insider: what need_matches checks before it reads these.
    found = await matching.matches_of(need)
    return match_rows(found, language(request, actor), need_side=True)


async def listing_matches(request: Request) -> Response:
    actor = await get_actor(request)
    listing, found = await matching.listing_matches(actor, str(request.path_params["listing_id"]))
    return await _page(
        request,
        "docking/matches.html",
        {
            "listing": listing,
            "rows": match_rows(found, language(request, actor), need_side=False),
        },
    )


async def dashboard(request: Request) -> Response:
    actor = await require_login(request)
    found = await matching.organization_matches(actor)
    lang = language(request, actor)
    return await _page(
        request,
        "docking/matches.html",
        {
            "listing": None,
            "need_rows": match_rows(found["needs"], lang, need_side=True),
            "listing_rows": match_rows(found["listings"], lang, need_side=False),
        },
    )


async def dismiss(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await matching.dismiss(actor, str(request.path_params["match_id"]))
    # Back where the button was, when that is one of our pages.
    back = urlsplit(request.headers.get("referer", ""))
    same_site = back.netloc in {"", request.url.netloc} and back.path.startswith("/")
    return redirect(back.path if same_site else "/matches", "The match is set aside.")


# --- the enterprise's own -------------------------------------------------------------------


async def mine(request: Request) -> Response:
    actor = await require_login(request)
    state = request.query_params.get("state") or ""
    page = page_number(request)
    items, total = await service.list_needs(
        actor, mine=True, state=state or None, page=page, per_page=PER_PAGE
    )
    return await _page(
        request,
        "docking/mine.html",
        {
            "needs": _views(actor, items),
            "total": total,
            "state": state,
            "page": page,
            "per_page": PER_PAGE,
        },
    )


def _form_context(request: Request, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    currency = str(values.get("budget_currency") or "").upper()
    return {
        "values": values,
        "currencies": listing_forms.currency_options(language(request, actor), currency),
    }


async def new(request: Request) -> Response:
    actor = await require_login(request)
    if not _enterprise_member(actor):
        raise Forbidden("Only members of an enterprise can post technology needs.")
    if request.method == "GET":
        return await _page(
            request, "docking/form.html", _form_context(request, actor, forms.new_values())
        )
    values: dict[str, Any] = {}
    try:
        values = forms.values_of(await read_form(request))
        need = await service.create_need(actor, forms.parse_need(NeedIn, values))
    except DomainError as exc:
        if exc.status != 422:
            raise
        return await render_error(
            request, exc, "docking/form.html", {**HELPERS, **_form_context(request, actor, values)}
        )
    return redirect(f"/needs/{need.id}", "The draft is saved.")


async def edit(request: Request) -> Response:
    actor = await require_login(request)
    need = await service.get_need(actor, _id(request))
    if "member" not in service.roles_on(actor, need):
        raise Forbidden("Only the enterprise that posted this need can edit it.")
    if str(need.state) not in states.EDITABLE:
        raise Conflict(
            Msg("A %(state)s need cannot be edited.", state=need.state), state=str(need.state)
        )
    context = {"need": service.public_view(need, actor)}
    if request.method == "GET":
        values = forms.current_values(need)
        return await _page(
            request, "docking/form.html", {**context, **_form_context(request, actor, values)}
        )
    values = {}
    try:
        values = forms.values_of(await read_form(request))
        # The form sends every field: checked whole here, then laid over the stored need.
        whole = forms.parse_need(NeedIn, values)
        try:
            await service.update_need(
                actor, str(need.id), NeedPatch.model_validate(whole.model_dump())
            )
        except ValidationFailed as exc:
            raise forms.refused(values, exc) from None
    except DomainError as exc:
        if exc.status != 422:
            raise
        return await render_error(
            request,
            exc,
            "docking/form.html",
            {**HELPERS, **context, **_form_context(request, actor, values)},
        )
    return redirect(f"/needs/{need.id}", "The need is saved.")


def _problems(exc: DomainError) -> str:
    return " ".join([exc.message, *exc.fields.values()])


async def submit(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    url = f"/needs/{_id(request)}"
    try:
        await service.submit_need(actor, _id(request))
    except NotVerified as exc:  # back to the draft, told why and until when
        return redirect(url, exc.message)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The need is submitted; an administrator will review it.")


async def close(request: Request) -> Response:
    actor = await get_actor(request)
    reason = str(nest(await read_form(request)).get("reason", ""))
    url = f"/needs/{_id(request)}"
    try:
        await service.close_need(actor, _id(request), reason)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The need is closed; it takes no more responses.")


async def accept_clause(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await service.accept_clause(actor, _id(request))
    return redirect(
        f"/needs/{_id(request)}",
        "You accepted the confidentiality clause: the need's details are below.",
    )


async def extend(request: Request) -> Response:
    actor = await get_actor(request)
    form = nest(await read_form(request))
    url = f"/needs/{_id(request)}"
    try:
        data = parse(ExtendIn, {"deadline": str(form.get("deadline", "")).strip()})
        await service.extend_deadline(actor, _id(request), data.deadline)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The deadline is extended.")


async def withdraw(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await service.withdraw_need(actor, _id(request))
    return redirect(f"/needs/{_id(request)}", "The need is withdrawn.")


async def award(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await service.award_need(actor, _id(request))
    return redirect(f"/needs/{_id(request)}", "The need is marked as awarded.")


# --- moderation ----------------------------------------------------------------------------


async def moderation(request: Request) -> Response:
    actor = await get_actor(request)
    state = request.query_params.get("state") or "submitted"
    page = page_number(request)
    items, total = await service.moderation_queue(actor, state=state, page=page)
    return await _page(
        request,
        "admin/needs.html",
        {
            "rows": [(service.public_view(n, actor), service.actions_for(actor, n)) for n in items],
            "total": total,
            "state": state,
            "page": page,
            "per_page": QUEUE_PAGE,
        },
    )


async def approve(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    need = await service.approve_need(actor, _id(request))
    return redirect("/admin/needs", Msg("“%(title)s” is published.", title=need.title))


async def reject(request: Request) -> Response:
    actor = await get_actor(request)
    reason = str(nest(await read_form(request)).get("reason", ""))
    try:
        need = await service.reject_need(actor, _id(request), reason)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect("/admin/needs", exc.message)
    return redirect("/admin/needs", Msg("“%(title)s” is rejected.", title=need.title))


# --- proposals and questions ------------------------------------------------------------------


async def propose(request: Request) -> Response:
    actor = await require_login(request)
    need = await service.get_need(actor, _id(request))
    values = forms.proposal_values_of(await read_form(request))
    try:
        data = forms.parse_proposal(values, list(need.must_have))
        try:
            made = await proposals.make_proposal(actor, str(need.id), data)
        except ValidationFailed as exc:
            raise forms.proposal_refused(exc) from None
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _need_page(request, actor, need, values=values, error=exc)
    return redirect(f"/proposals/{made.id}", "Your proposal is sent to the seeker.")


async def ask(request: Request) -> Response:
    actor = await require_login(request)
    need = await service.get_need(actor, _id(request))
    body = str(nest(await read_form(request)).get("question", ""))
    try:
        data = parse(QuestionIn, {"body": body.strip()})
        await questions.ask(actor, str(need.id), data)
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        fields = {"question": exc.fields.get("body", exc.message)}
        refused = ValidationFailed(exc.message, fields=fields)
        refused.status = exc.status
        return await _need_page(request, actor, need, values={"question": body}, error=refused)
    return redirect(
        f"/needs/{need.id}", "Your question is sent; its answer will show here to everyone."
    )


async def answer(request: Request) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    url = f"/needs/{_id(request)}"
    try:
        data = parse(AnswerIn, {"answer": str(form.get("answer", "")).strip()})
        await questions.answer(actor, _id(request), str(request.path_params["question_id"]), data)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The answer is published with the question.")


async def inbox(request: Request) -> Response:
    actor = await require_login(request)
    stage = request.query_params.get("stage") or ""
    page = page_number(request)
    need = await service.get_need(actor, _id(request))
    items, total, counts = await proposals.proposals_for_need(
        actor, str(need.id), stage=stage, page=page, per_page=PER_PAGE
    )
    return await _page(
        request,
        "docking/proposals.html",
        {
            "need": service.public_view(need, actor),
            "proposals": await proposals.views(actor, items),
            "counts": counts,
            "stage": stage,
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "stages": proposals.STAGES,
        },
    )


async def my_proposals(request: Request) -> Response:
    actor = await require_login(request)
    stage = request.query_params.get("stage") or ""
    page = page_number(request)
    items, total = await proposals.my_proposals(actor, stage=stage, page=page, per_page=PER_PAGE)
    return await _page(
        request,
        "docking/my_proposals.html",
        {
            "proposals": await proposals.views(actor, items),
            "stage": stage,
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "stages": proposals.STAGES,
        },
    )


def _pid(request: Request) -> str:
    return str(request.path_params["proposal_id"])


async def _proposal_page(
    request: Request,
    actor: Actor,
    *,
    values: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> Response:
    seen = await proposals.read_proposal(actor, _pid(request))
    listings = {str(x.id): x for x in seen.listings}
    view = proposals.proposal_view(actor, seen.proposal, seen.need, listings, seen.messages)
    context = {
        "proposal": view,
        "can_talk": proposals.may_talk(actor, seen.proposal, seen.need),
        "decline_reasons": DECLINE_REASONS,
        "values": values or {},
    }
    return await render_form(request, "docking/proposal.html", {**HELPERS, **context}, error=error)


async def show_proposal(request: Request) -> Response:
    actor = await require_login(request)
    return await _proposal_page(request, actor)


async def stage(request: Request) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    values = {k: str(form.get(k, "")).strip() for k in ("stage", "reason", "note")}
    sent = {k: v for k, v in values.items() if v}
    try:
        await proposals.move(actor, _pid(request), parse(StageIn, sent))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _proposal_page(request, actor, values=values, error=exc)
    return redirect(f"/proposals/{_pid(request)}", "The proposal is moved.")


async def message(request: Request) -> Response:
    actor = await require_login(request)
    body = str(nest(await read_form(request)).get("body", ""))
    try:
        data = parse(ProposalMessageIn, {"body": body.strip()})
        await proposals.post_message(actor, _pid(request), data)
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _proposal_page(request, actor, values={"body": body}, error=exc)
    return redirect(f"/proposals/{_pid(request)}", "Your message is sent.")


# `:uuid` keeps /needs/new and /needs/mine free for their own routes.
routes: list[BaseRoute] = [
    Route("/needs", index),
    Route("/needs/mine", mine),
    Route("/needs/new", new, methods=["GET", "POST"]),
    Route("/needs/{need_id:uuid}", show),
    Route("/needs/{need_id:uuid}/edit", edit, methods=["GET", "POST"]),
    Route("/needs/{need_id:uuid}/submit", submit, methods=["POST"]),
    Route("/needs/{need_id:uuid}/close", close, methods=["POST"]),
    Route("/needs/{need_id:uuid}/extend", extend, methods=["POST"]),
    Route("/needs/{need_id:uuid}/confidentiality", accept_clause, methods=["POST"]),
    Route("/needs/{need_id:uuid}/withdraw", withdraw, methods=["POST"]),
    Route("/needs/{need_id:uuid}/award", award, methods=["POST"]),
    Route("/needs/{need_id:uuid}/proposals", propose, methods=["POST"]),
    Route("/needs/{need_id:uuid}/proposals", inbox),
    Route("/needs/{need_id:uuid}/questions", ask, methods=["POST"]),
    Route("/needs/{need_id:uuid}/questions/{question_id:uuid}/answer", answer, methods=["POST"]),
    Route("/proposals", my_proposals),
    Route("/proposals/{proposal_id:uuid}", show_proposal),
    Route("/proposals/{proposal_id:uuid}/stage", stage, methods=["POST"]),
    Route("/proposals/{proposal_id:uuid}/messages", message, methods=["POST"]),
    Route("/enquiries/{enquiry_id:uuid}/propose", follow_up),
    Route("/matches", dashboard),
    Route("/matches/{match_id:uuid}/dismiss", dismiss, methods=["POST"]),
    Route("/listings/{listing_id:uuid}/matches", listing_matches),
    Route("/admin/needs", moderation),
    Route("/admin/needs/{need_id:uuid}/approve", approve, methods=["POST"]),
    Route("/admin/needs/{need_id:uuid}/reject", reject, methods=["POST"]),
]
