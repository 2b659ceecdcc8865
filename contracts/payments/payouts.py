"""Payouts: an administrator records money sent to an institute, never more than it is owed.
Paying institutes through Stripe Connect is not built (localstripe has no Connect to test it
against), so payouts are bank transfers recorded here."""

from __future__ import annotations

import logging
from typing import Any

from contracts.payments import ledger
from contracts.payments.models import (
    Payout,
)
from contracts.payments.service import (
    BANK_REFERENCE,
)
from market import audit
from market.accounts.models import Organization, OrganizationKind
from market.accounts.service import require_admin
from market.actor import Actor
from market.db import unit_of_work
from market.errors import validation_error
from market.i18n import Msg
from market.locks import lock_existing
from market.money import Money
from market.validation import object_id

log = logging.getLogger(__name__)


async def record_payout(actor: Actor, organization_id: Any, amount: Any, reference: Any) -> Payout:
    """An administrator records money sent to an institute; never more than is owed."""
    require_admin(actor)
    org = await Organization.get_or_none(id=object_id(str(organization_id), "organization"))
    if org is None or org.kind != OrganizationKind.INSTITUTE:
        raise validation_error("organization", "Choose an institute.")
    if not isinstance(amount, Money) or amount.amount <= 0:
        raise validation_error("amount", "Give a positive amount as {amount, currency}.")
    text = " ".join(str(reference or "").split()) if isinstance(reference, str) else ""
    if not BANK_REFERENCE.match(text):
        raise validation_error(
            "reference", "Give the bank's reference for the payout (2–64 characters)."
        )
    async with unit_of_work():
        # Payouts to one institute queue behind each other, so two cannot both spend one balance.
        await lock_existing(Organization, org.id)
        owed = await ledger.owed_to(org.id, amount.currency)
        if amount.amount > owed:
            due = Money(amount=max(owed, 0), currency=amount.currency).format()
            raise validation_error(
                "amount", Msg("%(name)s is owed %(due)s.", name=org.name, due=due)
            )
        payout = await Payout.create(
            organization_id=org.id,
            amount=amount.amount,
            currency=amount.currency,
            reference=text,
            created_by_id=actor.user_id,
        )
        await ledger.post_payout(payout)
        await audit.record(
            actor,
            "payout.recorded",
            "payout",
            payout.id,
            after={"amount": amount.amount, "currency": amount.currency, "reference": text},
            organization_id=org.id,
        )
    return payout
