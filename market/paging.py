"""The offer, contract and payment lists: one page of a scoped query, and its counts by state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from tortoise.functions import Count
from tortoise.models import Model
from tortoise.queryset import QuerySet

from market.errors import validation_error

M = TypeVar("M", bound=Model)


async def page_by_state(
    query: QuerySet[M],
    *,
    state: str,
    states: Iterable[str],
    page: int,
    per_page: int,
    related: Sequence[str],
    order: str = "-updated_at",
    counts: Mapping[str, int] | None = None,
) -> tuple[list[M], int]:
    """One page of `query` (in `state` when given), most recently changed first unless
    `order` says otherwise, with the total it is a page of. A page that shows the counts by
    state (`count_by_state` of the same query) passes them, and the total is read off them."""
    if state:
        if state not in set(states):
            raise validation_error("state", "Unknown state.")
        query = query.filter(state=state)
    if counts is None:
        total = await query.count()
    else:
        total = counts.get(state, 0) if state else sum(counts.values())
    items = (
        await query.order_by(order)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .prefetch_related(*related)
    )
    return list(items), total


async def count_by_state(query: QuerySet[M], states: Iterable[str]) -> dict[str, int]:
    """How many of `query` are in each state, for the filter tabs; every state is named."""
    counts = dict.fromkeys(states, 0)
    rows = await query.group_by("state").annotate(n=Count("id")).values("state", "n")
    for row in rows:
        counts[str(row["state"])] = row["n"]
    return counts
