"""Pages of the exhibition hall: the events list and search, an event's page, its hall of
booths by pavilion with search, a booth's page, and the organiser's and exhibitor's forms.
Each handler parses, calls one use case and renders; a refused form comes back with what was
typed and why.

Times are shown in the event's zone, and beside it in the viewer's when they chose one
(`?tz=`, kept in a cookie): anyone reading the hall from elsewhere sees both clocks."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hall import forms, labels, meetings, outcomes, service
from hall.models import AgendaState, Booth, BoothState, Event, EventState
from hall.schemas import MODES, BlockIn, BoothIn, EventIn, EventPatch, PavilionIn, zones
from market import files
from market.actor import Actor
from market.api import query_text
from market.errors import DomainError, Forbidden, ValidationFailed
from market.i18n import Msg
from market.validation import parse
from market.web import (
    ANON_COOKIE,
    check_form_csrf,
    csrf_token,
    get_actor,
    nest,
    page_number,
    read_form,
    redirect,
    render,
    render_form,
    require_login,
    settings_of,
    template_global,
)

PER_PAGE = 20
# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422})
ZONE_COOKIE = "tm_tz"
template_global("event_labels", labels.FOR_TEMPLATES)


def in_zone(moment: datetime | None, zone: str) -> str:
    """A time as the wall clock of `zone` shows it."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def name_in(thing: Any, lang: str) -> str:
    """An event's, pavilion's or booth's words in the page's language, the other when that is
    all there is."""
    for field in ("name", "headline"):
        if hasattr(thing, field):
            own, zh = getattr(thing, field), getattr(thing, f"{field}_zh", "")
            return (zh or own) if lang == "zh" else (own or zh)
    return str(thing)


def description_in(event: Event, lang: str) -> str:
    if lang == "zh":
        return event.description_zh or event.description
    return event.description or event.description_zh


HELPERS: dict[str, Any] = {
    "in_zone": in_zone,
    "name_in": name_in,
    "description_in": description_in,
    "modes": MODES,
    "agenda_states": [s.value for s in AgendaState],
    "event_states": [s.value for s in EventState],
    "minutes_choices": (15, 20, 30),
}


@cache
def sorted_zones() -> tuple[str, ...]:
    return tuple(sorted(zones()))


@cache
def _options(all_zones: tuple[str, ...]) -> str:
    return "".join(f'\n      <option value="{escape(z)}">{escape(z)}</option>' for z in all_zones)


def zone_options(all_zones: tuple[str, ...], selected: str) -> Markup:
    """The zone chooser's options (templates/hall/_zone.html), `selected` marked: built once,
    as escaping some 600 zone names twice each was a third of the event page's time."""
    html = _options(tuple(all_zones))
    if selected:
        mark = f'<option value="{escape(selected)}">'
        html = html.replace(mark, f'<option value="{escape(selected)}" selected>', 1)
    return Markup(html)


template_global("zone_options", zone_options)


def viewer_zone(request: Request) -> str:
    """The zone the viewer asked to see times in (`?tz=`, else their cookie), or ""."""
    asked = request.query_params.get("tz", "") or request.cookies.get(ZONE_COOKIE, "")
    return asked if asked in zones() else ""


async def _page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    zone = viewer_zone(request)
    response = await render(
        request,
        template,
        {**HELPERS, "viewer_zone": zone, "all_zones": sorted_zones(), **context},
        status=status,
    )
    if request.query_params.get("tz") and zone:
        response.set_cookie(ZONE_COOKIE, zone, max_age=365 * 86400, samesite="lax")
    return response


async def _form_page(
    request: Request, template: str, context: dict[str, Any], error: DomainError | None
) -> Response:
    return await render_form(
        request, template, {**HELPERS, "viewer_zone": viewer_zone(request), **context}, error=error
    )


def _problems(exc: DomainError) -> str:
    return " ".join([exc.message, *exc.fields.values()])


def _eid(request: Request) -> str:
    return str(request.path_params["event_id"])


def _may_run_events(actor: Actor) -> bool:
    org = actor.organization
    return actor.is_admin or (org is not None and bool(org.organises_events))


# --- events ----------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page = page_number(request)
    q = query_text(request, "q", 200)
    mine = request.query_params.get("mine") == "1" and actor.is_authenticated
    items, total = await service.list_events(actor, q=q, mine=mine, page=page, per_page=PER_PAGE)
    return await _page(
        request,
        "hall/index.html",
        {
            "events": items,
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "q": q,
            "mine": mine,
            "can_create": _may_run_events(actor),
        },
    )


async def new_event(request: Request) -> Response:
    actor = await require_login(request)
    if not _may_run_events(actor):
        raise Forbidden(
            "Your organisation has not been granted the organiser role: ask an administrator."
        )
    if request.method == "GET":
        return await _page(request, "hall/event_form.html", {"values": forms.new_event_values()})
    values: dict[str, Any] = {}
    try:
        values = forms.event_values(await read_form(request))
        event = await service.create_event(actor, parse(EventIn, forms.event_input(values)))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(request, "hall/event_form.html", {"values": values}, exc)
    return redirect(f"/events/{event.id}", "The event is saved as a draft.")


async def edit_event(request: Request) -> Response:
    actor = await require_login(request)
    event = await service.get_event(actor, _eid(request))
    if not service.is_organiser(actor, event):
        raise Forbidden("Only the event's organisers can edit it.")
    if request.method == "GET":
        return await _page(
            request,
            "hall/event_form.html",
            {"event": event, "values": forms.event_form_values(event)},
        )
    values: dict[str, Any] = {}
    try:
        values = forms.event_values(await read_form(request))
        whole = parse(EventIn, forms.event_input(values))
        patch = EventPatch.model_validate(whole.model_dump(exclude={"organiser_id"}))
        await service.update_event(actor, str(event.id), patch)
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(
            request, "hall/event_form.html", {"event": event, "values": values}, exc
        )
    return redirect(f"/events/{event.id}", "The event is saved.")


async def show_event(request: Request) -> Response:
    actor = await get_actor(request)
    read = await service.event_page(actor, _eid(request))
    event = read.event
    organiser = service.is_organiser(actor, event)
    pending = (
        (await service.list_booths(actor, event, state=BoothState.PENDING, per_page=100))[0]
        if organiser
        else []
    )
    own = read.own_booth
    return await _page(
        request,
        "hall/event.html",
        {
            "event": event,
            "organiser": organiser,
            "actions": service.event_actions(actor, event) if organiser else [],
            "blocks": read.blocks,
            "pavilions": read.pavilions,
            "booth_counts": read.booth_counts,
            "booth_total": read.booth_total,
            "pending": pending,
            "own_booth": own,
            "can_apply": _may_apply(actor, event) and own is None,
            "me": read.participant,
            "joinable": str(event.state) in meetings.JOINABLE,
            # The figures' page has its own rule (hall.stats): the link follows it.
            "sees_figures": outcomes.organises(actor, event),
        },
    )


def _may_apply(actor: Actor, event: Event) -> bool:
    org = actor.organization
    return (
        actor.user is not None
        and org is not None
        and org.kind != "platform"
        and org.verification == "verified"
        and str(event.state) in {"published", "booking_open", "running"}
    )


async def move_event(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    action = request.url.path.rsplit("/", 1)[-1].replace("-", "_")
    movers = {
        "publish": (service.publish_event, Msg("The event is published.")),
        "open_booking": (service.open_booking, Msg("Booking is open.")),
        "start": (service.start_event, Msg("The event is running.")),
        "close": (service.close_event, Msg("The event is closed.")),
    }
    if action not in movers:
        raise ValidationFailed("Unknown action.", fields={"action": "Unknown action."})
    mover, notice = movers[action]
    url = f"/events/{_eid(request)}"
    try:
        await mover(actor, _eid(request))
    except DomainError as exc:
        if exc.status != 409:
            raise
        return redirect(url, exc.message)
    return redirect(url, notice)


# --- blocks and pavilions ----------------------------------------------------------------------


async def new_block(request: Request) -> Response:
    actor = await require_login(request)
    event = await service.get_event(actor, _eid(request))
    if not service.is_organiser(actor, event):
        raise Forbidden("Only the event's organisers can add meeting blocks.")
    context = {"event": event, "block": None}
    if request.method == "GET":
        return await _page(
            request, "hall/block_form.html", {**context, "values": {"mode": "onsite"}}
        )
    typed: dict[str, Any] = {}
    try:
        form = await read_form(request)
        typed, data = forms.block_input(form, event)
        await service.add_block(actor, str(event.id), parse(BlockIn, data))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(request, "hall/block_form.html", {**context, "values": typed}, exc)
    return redirect(f"/events/{event.id}", "The meeting block is added.")


async def edit_block(request: Request) -> Response:
    actor = await require_login(request)
    block_id = str(request.path_params["block_id"])
    event, block = await service.block_of(actor, block_id)
    if not service.is_organiser(actor, event):
        raise Forbidden("Only the event's organisers can change meeting blocks.")
    context = {"event": event, "block": block}
    if request.method == "GET":
        return await _page(
            request,
            "hall/block_form.html",
            {**context, "values": forms.block_values(block, event)},
        )
    typed: dict[str, Any] = {}
    try:
        form = await read_form(request)
        if form.get("remove") == "1":
            await service.remove_block(actor, block_id)
            return redirect(f"/events/{event.id}", "The meeting block is removed.")
        typed, data = forms.block_input(form, event)
        await service.update_block(actor, block_id, parse(BlockIn, data))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        if not typed:
            typed = forms.block_values(block, event)
        return await _form_page(request, "hall/block_form.html", {**context, "values": typed}, exc)
    return redirect(f"/events/{event.id}", "The meeting block is changed.")


async def new_pavilion(request: Request) -> Response:
    actor = await require_login(request)
    event = await service.get_event(actor, _eid(request))
    if not service.is_organiser(actor, event):
        raise Forbidden("Only the event's organisers can add pavilions.")
    if request.method == "GET":
        return await _page(request, "hall/pavilion_form.html", {"event": event})
    values: dict[str, Any] = {}
    try:
        form = nest(await read_form(request))
        values = {k: str(form.get(k, "")) for k in ("name", "name_zh", "position")}
        data = {**values, "position": forms._number(values["position"] or "0")}
        await service.add_pavilion(actor, str(event.id), parse(PavilionIn, data))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(
            request, "hall/pavilion_form.html", {"event": event, "values": values}, exc
        )
    return redirect(f"/events/{event.id}", "The pavilion is added.")


# --- the hall: booths ---------------------------------------------------------------------------


async def hall(request: Request) -> Response:
    """The event's booths, by pavilion, found by name or headline."""
    actor = await get_actor(request)
    event = await service.get_event(actor, _eid(request))
    page = page_number(request)
    q = query_text(request, "q", 200)
    pavilion = request.query_params.get("pavilion", "")
    pavilions = await service.pavilions_of(event)
    if pavilion and pavilion not in {str(p.id) for p in pavilions}:
        pavilion = ""
    items, total = await service.list_booths(
        actor, event, q=q, pavilion_id=pavilion or None, page=page, per_page=PER_PAGE
    )
    return await _page(
        request,
        "hall/booths.html",
        {
            "event": event,
            "pavilions": pavilions,
            "pavilion": pavilion,
            "booths": items,
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "q": q,
        },
    )


def _booth_values(booth: Booth) -> dict[str, Any]:
    return {
        "pavilion_id": str(booth.pavilion_id),  # type: ignore[attr-defined]
        "headline": booth.headline,
        "headline_zh": booth.headline_zh,
        "video_url": booth.video_url,
        "listing_ids": list(booth.listing_ids),
        "need_ids": list(booth.need_ids),
        "attendee_ids": list(booth.attendee_ids),
    }


async def apply_for_booth(request: Request) -> Response:
    actor = await require_login(request)
    event = await service.get_event(actor, _eid(request))
    context = {
        "event": event,
        "booth": None,
        "pavilions": await service.pavilions_of(event),
        **await service.own_choices(actor),
    }
    if request.method == "GET":
        values = {"attendee_ids": [actor.user_id]}
        return await _page(request, "hall/booth_form.html", {**context, "values": values})
    values: dict[str, Any] = {}
    try:
        values = forms.booth_input(await read_form(request))
        booth = await service.apply_for_booth(actor, str(event.id), parse(BoothIn, values))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(request, "hall/booth_form.html", {**context, "values": values}, exc)
    return redirect(
        f"/booths/{booth.id}", "Your application is sent; the organiser will review it."
    )


async def edit_booth(request: Request) -> Response:
    actor = await require_login(request)
    booth, event = await service.get_booth(actor, _bid(request))
    context = {
        "event": event,
        "booth": booth,
        "pavilions": await service.pavilions_of(event),
        **await service.own_choices(actor),
    }
    if request.method == "GET":
        if "exhibitor" not in service.booth_roles_with(actor, booth, event.organiser_id):  # type: ignore[attr-defined]
            raise Forbidden("Only the exhibiting organisation can change its booth.")
        return await _page(
            request, "hall/booth_form.html", {**context, "values": _booth_values(booth)}
        )
    values: dict[str, Any] = {}
    try:
        values = forms.booth_input(await read_form(request))
        await service.update_booth(actor, str(booth.id), parse(BoothIn, values))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _form_page(request, "hall/booth_form.html", {**context, "values": values}, exc)
    return redirect(f"/booths/{booth.id}", "The booth is saved.")


def _bid(request: Request) -> str:
    return str(request.path_params["booth_id"])


async def show_booth(request: Request) -> Response:
    """A booth: its organisation, what it shows, who attends; each visit counted once a day
    per visitor (a visitor not logged in by a keyed hash of their browser's token)."""
    actor = await get_actor(request)
    booth, event = await service.get_booth(actor, _bid(request))
    held = service.booth_roles_with(actor, booth, event.organiser_id)  # type: ignore[attr-defined]
    if booth.state == BoothState.APPROVED and "exhibitor" not in held:
        csrf_token(request)  # makes the browser's anonymous token when it has none yet
        token = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon", "")
        secret = settings_of(request).require_secret_key()
        await service.record_visit(booth, event, service.visitor_key(actor, token, secret))
    shown = await service.showcase(booth)
    insider = bool(held & {"organiser", "admin", "exhibitor"})
    approved = booth.state == BoothState.APPROVED
    hosts = await meetings.participants_from(event, booth.organization_id) if approved else []  # type: ignore[attr-defined]
    return await _page(
        request,
        "hall/booth.html",
        {
            "booth": booth,
            "event": event,
            "org": booth.organization,
            "shown": shown,
            "actions": service.booth_actions(actor, booth, event),
            "exhibitor": "exhibitor" in held,
            "visits": await service.visits_by_day(booth) if insider else {},
            "hosts": hosts,
            "me": await meetings.participant_of(actor, event),
            "joinable": str(event.state) in meetings.JOINABLE,
        },
    )


async def decide_booth(request: Request) -> Response:
    actor = await get_actor(request)
    form = nest(await read_form(request))
    action = request.url.path.rsplit("/", 1)[-1]
    booth_id = _bid(request)
    back = str(form.get("back", ""))
    try:
        if action == "approve":
            booth = await service.approve_booth(actor, booth_id)
            notice = Msg("The booth is approved.")
        elif action == "reject":
            booth = await service.reject_booth(actor, booth_id, str(form.get("reason", "")))
            notice = Msg("The booth is rejected.")
        elif action == "withdraw":
            booth = await service.withdraw_booth(actor, booth_id)
            notice = Msg("The booth is withdrawn.")
        else:
            raise ValidationFailed("Unknown action.", fields={"action": "Unknown action."})
    except DomainError as exc:
        if exc.status not in (409, 422):
            raise
        return redirect(f"/booths/{booth_id}", _problems(exc))
    url = f"/events/{booth.event_id}" if back == "event" else f"/booths/{booth.id}"  # type: ignore[attr-defined]
    return redirect(url, notice)


# --- brochures ---------------------------------------------------------------------------------


async def add_brochure(request: Request) -> Response:
    actor = await require_login(request)
    url = f"/booths/{_bid(request)}"
    try:
        form, _, data = await files.read_upload(
            request, service.BROCHURE_FIELD, service.MAX_BROCHURE_BYTES
        )
        check_form_csrf(request, form)
        await service.add_brochure(actor, _bid(request), str(form.get("title", "")), data)
    except DomainError as exc:
        if exc.status not in (409, 413, 422):
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The brochure is on the booth.")


async def remove_brochure(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await service.remove_brochure(actor, _bid(request), int(request.path_params["index"]))
    return redirect(f"/booths/{_bid(request)}", "The brochure is removed.")


async def download_brochure(request: Request) -> Response:
    actor = await get_actor(request)
    path, content_type, title = await service.brochure(
        actor, _bid(request), int(request.path_params["index"])
    )
    return files.file_response(path, content_type, title, private=False)


# --- the organiser role ---------------------------------------------------------------------


async def organisers(request: Request) -> Response:
    """The administrators' list of organisations that run events, and the grant form."""
    actor = await require_login(request)
    if request.method == "POST":
        form = nest(await read_form(request))
        grant = form.get("grant") == "1"
        org = await service.grant_organiser(actor, str(form.get("organization_id", "")), grant)
        notice = (
            Msg("%(name)s may run events now.", name=org.name)
            if grant
            else Msg("%(name)s no longer runs new events.", name=org.name)
        )
        return redirect("/admin/organisers", notice)
    return await _page(
        request, "hall/organisers.html", {"organisers": await service.organisers(actor)}
    )


# `:uuid` keeps /events/new free for its own route.
routes: list[BaseRoute] = [
    Route("/events", index),
    Route("/events/new", new_event, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}", show_event),
    Route("/events/{event_id:uuid}/edit", edit_event, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}/hall", hall),
    Route("/events/{event_id:uuid}/blocks/new", new_block, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}/pavilions/new", new_pavilion, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}/booths/apply", apply_for_booth, methods=["GET", "POST"]),
    *[
        Route(f"/events/{{event_id:uuid}}/{action}", move_event, methods=["POST"])
        for action in ("publish", "open-booking", "start", "close")
    ],
    Route("/blocks/{block_id:uuid}/edit", edit_block, methods=["GET", "POST"]),
    Route("/booths/{booth_id:uuid}", show_booth),
    Route("/booths/{booth_id:uuid}/edit", edit_booth, methods=["GET", "POST"]),
    *[
        Route(f"/booths/{{booth_id:uuid}}/{action}", decide_booth, methods=["POST"])
        for action in ("approve", "reject", "withdraw")
    ],
    Route("/booths/{booth_id:uuid}/brochures", add_brochure, methods=["POST"]),
    Route("/booths/{booth_id:uuid}/brochures/{index:int}", download_brochure),
    Route(
        "/booths/{booth_id:uuid}/brochures/{index:int}/remove", remove_brochure, methods=["POST"]
    ),
    Route("/admin/organisers", organisers, methods=["GET", "POST"]),
]
