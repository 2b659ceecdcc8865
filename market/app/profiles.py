"""The public profile of an organisation: `/organizations/{slug}` and its JSON twin.

It lives on the top floor because it gathers several rooms: the organisation (accounts), its
published listings, and (as those rooms arrive) its needs, events and open positions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from docking import service as needs
from hall import service as hall
from listings import service as listings
from market.accounts import service as accounts
from market.accounts.models import Organization
from market.accounts.schemas import countries
from market.api import ApiRouter
from market.web import get_actor, json_response, language, render

router = ApiRouter("organizations")
LISTED = 50


def about_in(org: Organization, lang: str) -> str:
    """The description in the page's language, the other one when that is all there is."""
    if lang == "zh":
        return org.about_zh or org.about
    return org.about or org.about_zh


async def profile_page(request: Request) -> Response:
    actor = await get_actor(request)
    org = await accounts.public_organization(actor, request.path_params["slug"])
    return await render(
        request,
        "organizations/profile.html",
        {
            "org": org,
            "about": about_in(org, language(request, actor)),
            "listings": await listings.published_by(org.id, LISTED),
            # Never an anonymous need: it would name its seeker (docking.service.published_by).
            "needs": [needs.public_view(n, actor) for n in await needs.published_by(org.id)],
            # The public events it runs or exhibits at (hall.service.events_of_organization).
            "events": await hall.events_of_organization(org.id),
            "countries": countries(),
        },
    )


def profile_json(org: Organization) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "slug": org.slug,
        "name": org.name,
        "kind": str(org.kind),
        "country": org.country,
        "region": org.region,
        "website": org.website,
        "about": org.about,
        "about_zh": org.about_zh,
        "logo_url": org.logo_url or None,
        "verification": str(org.verification),
    }


@router.route(
    "/organizations/{id_or_slug}",
    summary="An organisation's public profile, with its published listings, open needs and events",
    auth=False,
)
async def profile(request: Request) -> Response:
    actor = await get_actor(request)
    org = await accounts.public_organization(actor, request.path_params["id_or_slug"])
    found = await listings.published_by(org.id, LISTED)
    sought = await needs.published_by(org.id, LISTED)
    events = await hall.events_of_organization(org.id, LISTED)
    return json_response(
        {
            "organization": profile_json(org),
            "listings": [{"id": str(x.id), "title": x.title, "kind": str(x.kind)} for x in found],
            "needs": [{"id": str(n.id), "title": n.title} for n in sought],
            "events": [
                {
                    "id": str(e.id),
                    "name": e.name,
                    "name_zh": e.name_zh,
                    "starts_on": e.starts_on.isoformat(),
                    "ends_on": e.ends_on.isoformat(),
                    "state": str(e.state),
                    "organiser": str(e.organiser_id) == str(org.id),  # type: ignore[attr-defined]
                }
                for e in events
            ],
        }
    )


routes = [Route("/organizations/{slug}", profile_page)]
