"""create_app(): every domain's routes, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match, Mount, Router, get_route_path
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from alerts import api as alerts_api
from alerts import routes as alerts_routes
from contracts.agreements import actions as contract_actions
from contracts.agreements import api as contract_api
from contracts.agreements import routes as contract_routes
from contracts.offers import actions as offer_actions
from contracts.offers import api as contracts_api
from contracts.offers import routes as contracts_routes
from contracts.payments import api as payment_api
from contracts.payments import routes as payment_routes
from contracts.payments import webhooks
from docking import actions as need_actions
from docking import api as docking_api
from docking import routes as docking_routes
from docking import search as need_search
from hall import actions as hall_actions
from hall import api as hall_api
from hall import deal_actions as hall_deal_actions
from hall import deal_routes as hall_deal_routes
from hall import deals_api as hall_deals_api
from hall import meeting_actions as hall_meeting_actions
from hall import meeting_routes as hall_meeting_routes
from hall import meetings_api as hall_meetings_api
from hall import routes as hall_routes
from listings import actions as listing_actions
from listings import api as listings_api
from listings import enquiries_api as listings_enquiries_api
from listings import enquiry_routes as listings_enquiry_routes
from listings import import_routes as listings_import_routes
from listings import media_routes as listings_media_routes
from listings import routes as listings_routes
from listings import search
from listings import search_routes as listings_search_routes
from listings.search import close_search_clients
from market import actions, api, notification_routes, outbox, pages
from market.accounts import actions as account_actions
from market.accounts import api as accounts_api
from market.accounts import (
    documents_api,
    documents_routes,
    logos_api,
    logos_routes,
    member_routes,
    members_api,
    recovery_api,
    recovery_routes,
)
from market.accounts import routes as accounts_routes
from market.admin import api as admin_api
from market.admin import routes as admin_routes
from market.app import profiles
from market.config import ROOT, Settings, get_settings
from market.db import OneConnection, close_db, init_db
from market.errors import DomainError
from market.limits import BodyLimitMiddleware
from market.security import SecurityHeadersMiddleware

# The "needs your action" cards of the dashboard and /api/v1/me/actions, room by room, in the
# order they are shown (market/actions.py).
actions.install(
    account_actions.cards,
    listing_actions.cards,
    need_actions.cards,
    offer_actions.cards,
    contract_actions.cards,
    hall_meeting_actions.cards,
    hall_deal_actions.cards,
    hall_actions.cards,
)

API_ROUTERS = (
    accounts_api.router,
    members_api.router,
    documents_api.router,
    logos_api.router,
    recovery_api.router,
    profiles.router,
    admin_api.router,
    listings_api.router,
    listings_enquiries_api.router,
    listings_media_routes.router,
    listings_search_routes.router,
    docking_api.router,
    hall_deals_api.router,
    alerts_api.router,
    contracts_api.router,
    contract_api.router,
    payment_api.router,
    hall_meetings_api.router,
    hall_api.router,
    notification_routes.router,
)


async def _apply_search_settings(settings: Settings) -> None:
    try:
        await asyncio.wait_for(search.apply_settings(settings), timeout=30)
        await asyncio.wait_for(need_search.apply_settings(settings), timeout=30)
    except Exception as exc:  # best effort: `market reindex` and the drift check apply them too
        logging.getLogger(__name__).warning("search index settings not applied: %s", exc)


class _SegmentRouter(Router):
    """Starlette's router, trying for a request only the routes its path's first segment can
    match: Starlette tries every route in turn, and with 170 of them a contract page spent a
    tenth of a millisecond in regular expressions before its handler began (issue 16).

    The routes a first segment can match are those with that first segment and those whose
    first segment is a parameter (or that have no path), in their order, so the first full
    match is the one Starlette would find. Anything else (a partial match, a 405, the slash
    redirect, the 404) is Starlette's own walk over every route. The table is rebuilt when
    routes are added or removed."""

    _table: dict[str, list[BaseRoute]]
    _anywhere: list[BaseRoute]
    _built_for = -1

    def _candidates(self, path: str) -> list[BaseRoute]:
        if self._built_for != len(self.routes):
            self._build()
        return self._table.get(path.split("/", 2)[1] if path[:1] == "/" else "", self._anywhere)

    def _build(self) -> None:
        pairs = [(route, _first_segment(route)) for route in self.routes]
        self._anywhere = [route for route, seg in pairs if seg is None]
        self._table = {
            segment: [route for route, seg in pairs if seg in (segment, None)]
            for segment in {seg for _, seg in pairs if seg is not None}
        }
        self._built_for = len(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("router", self)
            for route in self._candidates(get_route_path(scope)):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _first_segment(route: BaseRoute) -> str | None:
    """The fixed first segment of a route's path; None when it can match any (a parameter,
    a mount at the root, a route without a path)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or path[:1] != "/":
        return None
    segment = path.split("/", 2)[1]
    return None if "{" in segment else segment


class _Market(Starlette):
    """Starlette with the security headers outermost: around its own error middleware too, so
    a 500 page gets them (a user middleware would sit inside it and never see that page)."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(**options)
        # Starlette makes its router itself; it becomes ours, with the same routes and state.
        self.router.__class__ = _SegmentRouter
        self.settings = settings

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), self.settings)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    settings = settings or get_settings()
    settings.require_secret_key()
    settings.require_webhook_secret()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await init_db(settings)
        outbox.configure(settings.redis_url, settings.queue_name)
        # Index settings are code: applied at start-up, best effort and in the background, so
        # a Meilisearch that is down never delays or fails the start (search falls back).
        index_setup = asyncio.create_task(_apply_search_settings(settings))
        try:
            yield
        finally:
            index_setup.cancel()
            await close_search_clients()
            await outbox.shutdown()
            if manage_db:
                await close_db()

    routes = [
        api.routes(*API_ROUTERS),
        *pages.routes,
        *accounts_routes.routes,
        *member_routes.routes,
        *documents_routes.routes,
        *logos_routes.routes,
        *recovery_routes.routes,
        *profiles.routes,
        *admin_routes.routes,
        *listings_routes.routes,
        *listings_enquiry_routes.routes,
        *listings_media_routes.routes,
        *listings_import_routes.routes,
        *listings_search_routes.routes,
        *docking_routes.routes,
        *hall_deal_routes.routes,
        *alerts_routes.routes,
        *contracts_routes.routes,
        *contract_routes.routes,
        *payment_routes.routes,
        *hall_meeting_routes.routes,
        *hall_routes.routes,
        *webhooks.routes,
        *notification_routes.routes,
        Mount("/static", StaticFiles(directory=ROOT / "static"), name="static"),
    ]
    app = _Market(
        settings,
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(BodyLimitMiddleware), Middleware(OneConnection)],
        exception_handlers={
            DomainError: pages.domain_error,
            HTTPException: pages.http_error,
            Exception: pages.server_error,
        },
    )
    app.state.settings = settings
    return app
