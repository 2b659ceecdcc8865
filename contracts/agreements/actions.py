"""The cards of contracts (market/actions.py): contracts waiting for the signature of the
actor's organisation (for those who may sign for it) or for its payment (for those who may
pay); for the administrators, the contracts waiting for approval."""

from __future__ import annotations

from tortoise.expressions import Q, Subquery

from contracts.agreements.models import Contract, ContractState, Signature
from market.accounts.roles import Permission, may
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
    found: list[Card] = []
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
    if may(actor, Permission.SIGN):
        ours_signed = Signature.filter(organization_id=org_id).values("contract_id")
        to_sign = (
            await Contract.filter(Q(seller_id=org_id) | Q(buyer_id=org_id))
            .filter(state=ContractState.AWAITING_SIGNATURES)
            .exclude(id__in=Subquery(ours_signed))
            .select_related("listing")
            .order_by("signing_opened_at")
            .limit(MOST)
        )
        for contract in to_sign:
            found.append(
                Card(
                    "contract.sign",
                    N_("Sign the contract for “%(title)s”"),
                    f"/contracts/{contract.id}",
                    subject_id=str(contract.id),
                    values={"title": contract.listing.title},
                )
            )
    if may(actor, Permission.PAY):
        to_pay = (
            await Contract.filter(buyer_id=org_id, state=ContractState.AWAITING_PAYMENT)
            .select_related("listing")
            .order_by("signed_at")
            .limit(MOST)
        )
        for contract in to_pay:
            found.append(
                Card(
                    "contract.pay",
                    N_("Pay for the contract for “%(title)s”"),
                    f"/contracts/{contract.id}",
                    subject_id=str(contract.id),
                    values={"title": contract.listing.title},
                )
            )
    return found
