"""The payment and refund tables walked through the lifecycle engine against PostgreSQL: every
pair the table holds moves the row where it says, audited and announced as its row says, with
roles derived from the actor; every other pair is refused with a 409 naming the state, and a
role the row does not name gets a 403; nothing refused changes anything."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.agreements.models import Contract
from contracts.payments import refunds, states
from contracts.payments import service as payments
from contracts.payments.models import Payment, PaymentState, Refund, RefundState
from market.actor import Actor
from market.audit import AuditEntry
from market.db import unit_of_work
from market.errors import Conflict, Forbidden
from market.outbox import OutboxEvent
from market.transitions import Lifecycle, apply
from tests.builders import a_contract, actor_of, an_admin, signatories

ACTIONS = sorted({action for _, action in states.PAYMENT})
REFUND_ACTIONS = sorted({action for _, action in states.REFUND})


async def a_payment_in(state: str) -> tuple[Payment, dict[str, Actor]]:
    """A bank-transfer payment of a contract awaiting payment, put in `state`; and an actor
    for each role the table names."""
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    await Payment.filter(id=started.payment.id).update(state=state)
    actors = {
        "buyer": buyer,
        "admin": await actor_of(await an_admin()),
        "system": Actor.system(),
    }
    return await Payment.get(id=started.payment.id), actors


async def row_of(lifecycle: Lifecycle, object_id: Any) -> dict[str, Any]:
    [row] = await lifecycle.model.filter(pk=object_id).values()
    return row


async def moves(lifecycle: Lifecycle, object_id: Any) -> tuple[int, int]:
    return (
        await AuditEntry.filter(object_type=lifecycle.name, object_id=str(object_id)).count(),
        await OutboxEvent.all().count(),
    )


@pytest.mark.parametrize("state", [s.value for s in PaymentState])
async def test_every_pair_of_the_payment_table(state: str) -> None:
    # One payment, put back in `state` before each action: a contract per action would cost
    # a minute of drawing up agreements for nothing the table cares about.
    payment, actors = await a_payment_in(state)
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    for action in ACTIONS:
        await Payment.filter(id=payment.id).update(state=state)
        found = states.PAYMENT.get((state, action))
        before = await row_of(payments.PAYING, payment.id)
        counted = await moves(payments.PAYING, payment.id)
        if found is None:
            # A pair the table does not hold: refused even to a role that takes the action
            # from some other state.
            role = min(next(r.who for (_, a), r in states.PAYMENT.items() if a == action))
            with pytest.raises(Conflict) as refused:
                async with unit_of_work():
                    await apply(payments.PAYING, payment.id, action, actors[role])
            assert refused.value.state == state and state.replace("_", " ") in str(refused.value)
            assert await row_of(payments.PAYING, payment.id) == before
            assert await moves(payments.PAYING, payment.id) == counted
            continue
        for role in {"buyer", "admin", "system"} - found.who:
            with pytest.raises(Forbidden):
                async with unit_of_work():
                    await apply(payments.PAYING, payment.id, action, actors[role])
        assert await row_of(payments.PAYING, payment.id) == before
        assert await moves(payments.PAYING, payment.id) == counted
        seen = set(await OutboxEvent.all().values_list("id", flat=True))
        [role] = sorted(found.who)[:1]
        async with unit_of_work():
            moved = await apply(payments.PAYING, payment.id, action, actors[role])
        assert (moved.before, moved.after) == (state, found.to)
        assert (await Payment.get(id=payment.id)).state == found.to
        entry = (
            await AuditEntry.filter(
                object_type="payment", object_id=str(payment.id), action=f"payment.{action}"
            )
            .order_by("-id")
            .first()
        )
        assert entry is not None and entry.state_before == {"state": state}
        assert entry.state_after == {"state": found.to}
        assert entry.organization_id == contract.buyer_id  # type: ignore[attr-defined]
        announced = [
            e.event_type
            for e in await OutboxEvent.all().order_by("created_at")
            if e.id not in seen and e.payload.get("payment_id") == str(payment.id)
        ]
        assert announced == ([found.event] if found.event else [])


@pytest.mark.parametrize("state", [s.value for s in RefundState])
async def test_every_pair_of_the_refund_table(state: str) -> None:
    payment, actors = await a_payment_in("succeeded")
    for action in REFUND_ACTIONS:
        refund = await Refund.create(
            payment_id=payment.id, amount=100, currency=payment.currency, reason="Test", state=state
        )
        found = states.REFUND.get((state, action))
        before = await row_of(refunds.REFUNDING, refund.id)
        if found is None:
            with pytest.raises(Conflict):
                async with unit_of_work():
                    await apply(refunds.REFUNDING, refund.id, action, actors["system"])
            assert await row_of(refunds.REFUNDING, refund.id) == before
            continue
        with pytest.raises(Forbidden):  # an administrator asks; only the system carries out
            async with unit_of_work():
                await apply(refunds.REFUNDING, refund.id, action, actors["admin"])
        async with unit_of_work():
            moved = await apply(refunds.REFUNDING, refund.id, action, actors["system"])
        assert moved.after == found.to == (await Refund.get(id=refund.id)).state
