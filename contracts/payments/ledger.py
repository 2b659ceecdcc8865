"""The ledger: double-entry records of every movement of money.

Amounts are signed integers of minor units: positive debits, negative credits. Each
transaction's entries sum to zero (checked before it is written) and each business event posts
once (`LedgerTransaction.key` is unique). Balances are always derived from the entries.

Accounts: cash at Stripe and at the bank (what the platform holds), the platform's fees, and
what it owes each institute. A payment of G with fee F: cash +G, fees -F, payable -(G-F).
A refund reverses its share of both; a payout moves payable back into cash leaving the bank.

The platform fee is the payment's own rate (`Payment.fee_percent`, the `PLATFORM_FEE_PERCENT`
setting when the payment was created, never today's setting) of the amount, computed with Decimal
and rounded half up to the minor unit. Refunds return the fee on the cumulative refunded amount
with the same rule at the same rate, so a full refund, whether in one part or many, returns
exactly the fee charged, however the setting changed meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.functions import Sum

from contracts.payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    Payout,
    Refund,
)
from market.accounts.models import Organization


class UnbalancedError(ValueError):
    """A transaction whose entries do not sum to zero: a bug, never written."""


def platform_fee(amount: int, percent: Decimal) -> int:
    """`percent` of `amount`, rounded half up to the minor unit; for a payment, pass its own
    `fee_percent`."""
    return int((Decimal(amount) * percent / Decimal(100)).quantize(Decimal(1), ROUND_HALF_UP))


Line = tuple[LedgerAccount, Any, int]  # account, organisation id (payable only), amount


async def post(
    key: str, kind: str, currency: str, lines: list[Line], *, payment: Payment | None, memo: str
) -> LedgerTransaction:
    """Write one balanced transaction; inside the use case's unit of work."""
    if sum(amount for _, _, amount in lines) != 0:
        raise UnbalancedError(f"{key}: entries sum to {sum(a for _, _, a in lines)}")
    txn = await LedgerTransaction.create(key=key, kind=kind, payment=payment, memo=memo)
    await LedgerEntry.bulk_create(
        [
            LedgerEntry(
                transaction_id=txn.id,
                account=account,
                organization_id=org,
                amount=amount,
                currency=currency,
            )
            for account, org, amount in lines
            if amount != 0
        ]
    )
    return txn


def cash_account(payment: Payment) -> LedgerAccount:
    return LedgerAccount.STRIPE if payment.method == "card" else LedgerAccount.BANK


async def post_payment(payment: Payment, seller_id: Any) -> LedgerTransaction:
    fee = platform_fee(payment.amount, payment.fee_percent)
    return await post(
        f"payment:{payment.id}",
        "payment",
        payment.currency,
        [
            (cash_account(payment), None, payment.amount),
            (LedgerAccount.FEES, None, -fee),
            (LedgerAccount.PAYABLE, seller_id, -(payment.amount - fee)),
        ],
        payment=payment,
        memo=f"Payment {payment.reference} ({payment.item})",
    )


async def post_refund(
    refund: Refund, payment: Payment, seller_id: Any, refunded_before: int
) -> LedgerTransaction:
    # The fee on all refunded so far less the fee returned before, both at the payment's rate.
    rate = payment.fee_percent
    fee_so_far = platform_fee(refunded_before + refund.amount, rate)
    fee_back = fee_so_far - platform_fee(refunded_before, rate)
    return await post(
        f"refund:{refund.id}",
        "refund",
        payment.currency,
        [
            (cash_account(payment), None, -refund.amount),
            (LedgerAccount.FEES, None, fee_back),
            (LedgerAccount.PAYABLE, seller_id, refund.amount - fee_back),
        ],
        payment=payment,
        memo=f"Refund of payment {payment.reference}",
    )


async def post_payout(payout: Payout) -> LedgerTransaction:
    return await post(
        f"payout:{payout.id}",
        "payout",
        payout.currency,
        [
            (LedgerAccount.PAYABLE, payout.organization_id, payout.amount),  # type: ignore[attr-defined]
            (LedgerAccount.BANK, None, -payout.amount),
        ],
        payment=None,
        memo=f"Payout {payout.reference}",
    )


# --- balances --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owed:
    organization: Organization
    currency: str
    amount: int  # what the platform owes; negative if the institute owes it back


async def owed_to(organization_id: Any, currency: str) -> int:
    rows = (
        await LedgerEntry.filter(
            account=LedgerAccount.PAYABLE, organization_id=organization_id, currency=currency
        )
        .annotate(total=Sum("amount"))
        .values_list("total", flat=True)
    )
    return -int(rows[0] or 0) if rows else 0


async def owed_to_institutes(organization_id: Any | None = None) -> list[Owed]:
    """What the platform owes each institute, per currency, from the entries."""
    query = LedgerEntry.filter(account=LedgerAccount.PAYABLE)
    if organization_id is not None:
        query = query.filter(organization_id=organization_id)
    rows = (
        await query.annotate(total=Sum("amount"))
        .group_by("organization_id", "currency")
        .values("organization_id", "currency", "total")
    )
    orgs = {
        str(o.id): o for o in await Organization.filter(id__in=[r["organization_id"] for r in rows])
    }
    owed = [
        Owed(orgs[str(r["organization_id"])], r["currency"], -int(r["total"] or 0))
        for r in rows
        if int(r["total"] or 0) != 0
    ]
    return sorted(owed, key=lambda o: (o.organization.name, o.currency))


async def account_balances() -> dict[str, dict[str, int]]:
    """Account -> currency -> balance, the platform's own books at a glance."""
    rows = (
        await LedgerEntry.all()
        .annotate(total=Sum("amount"))
        .group_by("account", "currency")
        .values("account", "currency", "total")
    )
    balances: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        balances[str(r["account"])][r["currency"]] = int(r["total"] or 0)
    return dict(balances)


async def unbalanced_transactions() -> list[int]:
    """Ids of transactions whose entries do not sum to zero: empty unless something is wrong."""
    rows = (
        await LedgerEntry.all()
        .annotate(total=Sum("amount"))
        .group_by("transaction_id")
        .values("transaction_id", "total")
    )
    return [r["transaction_id"] for r in rows if int(r["total"] or 0) != 0]
