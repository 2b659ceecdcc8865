"""JSON endpoints for listings (see API.md)."""

from market.api import ApiRouter

router = ApiRouter("listings")
