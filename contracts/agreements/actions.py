"""The cards of contracts (market/actions.py): contracts waiting for the signature of the
actor's organisation (for those who may sign for it) or for its payment (for those who may
pay); for the administrators, the contracts waiting for approval."""

from __future__ import annotations

from contracts.agreements.models import Contract, ContractState
from market.accounts.roles import Permission, may
from market.actions import Ask, Card, each_row
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card | Ask]:
    found: list[Card | Ask] = []
    if actor.is_admin:
        waiting = await Contract.filter(state=ContractState.PENDING_APPROVAL).count()
        if waiting:
            found.append(
                Card(
                    "admin.contracts",
                    N_("Contracts waiting for your approval: %(count)s"),
                    "/admin/contracts",
                    count=waiting,
                    values={"count": waiting},
                )
            )
        return found
    if actor.organization is None:
        return found
    org_id = actor.organization.id
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    if may(actor, Permission.SIGN):
        found.append(
            each_row(
                "contract.sign",
                N_("Sign the contract for “%(title)s”"),
                "/contracts/{id}",
                id="c.id",
                label="l.title",
                source=_TO_SIGN,
                order="c.signing_opened_at, c.id",
                values=(org_id, org_id, ContractState.AWAITING_SIGNATURES.value, org_id),
            )
        )
    if may(actor, Permission.PAY):
        found.append(
            each_row(
                "contract.pay",
                N_("Pay for the contract for “%(title)s”"),
                "/contracts/{id}",
                id="c.id",
                label="l.title",
                source="FROM contract c JOIN listing l ON l.id = c.listing_id"
                " WHERE c.buyer_id = $1 AND c.state = $2",
                order="c.signed_at, c.id",
                values=(org_id, ContractState.AWAITING_PAYMENT.value),
            )
        )
    return found


_TO_SIGN = """
FROM contract c JOIN listing l ON l.id = c.listing_id
WHERE (c.seller_id = $1 OR c.buyer_id = $2) AND c.state = $3
  AND NOT EXISTS (
    SELECT 1 FROM contract_signature g WHERE g.contract_id = c.id AND g.organization_id = $4
  )"""
