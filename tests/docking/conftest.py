"""Fixtures of the docking room's tests."""

from __future__ import annotations

import uuid

import pytest

from docking import search as need_search
from listings import search


@pytest.fixture
async def indexes(settings):
    """A fresh listings index and needs index for this test."""
    saved = settings.meili_index, settings.meili_needs_index
    token = uuid.uuid4().hex[:10]
    settings.meili_index = f"test_l_{token}"
    settings.meili_needs_index = f"test_n_{token}"
    await search.apply_settings(settings)
    await need_search.apply_settings(settings)
    try:
        yield settings
    finally:
        async with search.Meili(settings) as meili:
            for uid in (settings.meili_index, settings.meili_needs_index):
                await meili.call("DELETE", f"/indexes/{uid}")
        settings.meili_index, settings.meili_needs_index = saved
