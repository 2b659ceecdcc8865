"""Offer pages: make an offer, the inboxes, one offer with its versions and thread."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
