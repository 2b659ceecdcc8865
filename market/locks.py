"""Row locks, taken in one order.

Two use cases that lock the same rows in opposite orders can each wait for the other for ever
(PostgreSQL breaks the tie by failing one). So every `SELECT ... FOR UPDATE` goes through
`lock()`, and within one use case (one `unit_of_work()` block, nested ones each on their own)
rows are locked in the order of `ORDER` (rows of one kind in any order: what queues them is
the row above them, e.g. a listing for its offers). A
lock out of order raises at once, in tests as in production, instead of deadlocking one day
under load. Re-locking a row the unit of work already holds is always fine.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.exceptions import DoesNotExist
from tortoise.models import Model

from market.db import current_unit_of_work

M = TypeVar("M", bound=Model)

# The flow of a deal: who, what is sought, what is offered, the offer, the contract, the
# money. A need comes before the listings it is answered with: a proposal on a need will
# become an offer on a listing (issue 18), locking the need, then the listing. An event and its
# blocks come before what is booked in them (a block edit locks the event, then the block).
ORDER = (
    "Organization",
    "User",
    "SavedSearch",
    "Event",
    "MeetingBlock",
    "Booth",
    "Need",
    "Proposal",
    # The hall: a participant (whose requests are counted against its quota) before the
    # requests it sends, a request before its meeting; all before the listings and offers a
    # meeting leads to.
    "Participant",
    "MeetingRequest",
    "Meeting",
    "Listing",
    "ListingRevision",
    "Enquiry",
    "Offer",
    "Contract",
    "Payment",
    "Refund",
    "Notification",
    "OutboxEvent",
)
_RANK = {name: rank for rank, name in enumerate(ORDER)}


class LockOrderError(RuntimeError):
    """A row was locked after one that comes later in ORDER."""


async def lock(model: type[M], pk: Any) -> M | None:
    """The row, locked until the unit of work ends; None when there is no such row."""
    name = model.__name__
    if name not in _RANK:
        raise LockOrderError(f"{name} has no place in market.locks.ORDER")
    uow = current_unit_of_work()
    key = (name, str(pk))
    if key not in uow.locked:
        if _RANK[name] < uow.lock_rank:
            raise LockOrderError(
                f"{name} locked after {ORDER[uow.lock_rank]}: see market.locks.ORDER"
            )
        uow.lock_rank = _RANK[name]
    row = await model.select_for_update().get_or_none(pk=pk)
    uow.locked.add(key)
    return row


async def lock_existing(model: type[M], pk: Any) -> M:
    row = await lock(model, pk)
    if row is None:
        raise DoesNotExist(f"No {model.__name__} {pk}")
    return row
