"""JSON endpoints for offers (see API.md)."""

from __future__ import annotations

from market.api import ApiRouter

router = ApiRouter("offers")
