"""Payments: what a signed contract owes, paid by card through Stripe or by bank transfer.
Beside it in this room: refunds.py, payouts.py, reconcile.py (with Stripe) and receipts.py.

Card payments. Starting one creates our Payment row (one per contract and item, enforced by the
database) and one Stripe PaymentIntent for it, keyed `payment:<id>:intent:<attempt>`. Concurrent
clicks cannot create two: the request that wins a short lease on the row creates the intent,
the others wait for it. No database lock is held while Stripe is called. The browser sets up
the card with Stripe.js (`confirmCardSetup`, the card never reaches us) and sends us the
resulting PaymentMethod id; we attach it to the intent and confirm, and hand a 3-D Secure
challenge (`requires_action`) back to Stripe.js. A charge the bank declined retires its intent
(cancelled at Stripe) and the buyer's next try, on the same payment, gets the next attempt's
intent; a failed authentication keeps the intent, which takes a new card.

Only Stripe's word marks a card payment paid: `apply_intent` re-reads the PaymentIntent from
Stripe and applies its status, from a webhook (webhooks.py) or from the reconciliation
cron, and only when the intent is this payment's in every respect: its amount (converted back
to our units by the gateway, market/currencies.py), currency and metadata. An intent that
differs marks nothing; it is audited and the administrators are told, once per intent.
A card payment is refused up front in a currency or amount Stripe cannot charge exactly.

Nothing is created at Stripe by viewing a page: the PaymentIntent and the SetupIntent the card
form needs are made when the buyer chooses to pay (POST) and when the form asks for the card
set-up (POST `prepare_card`).

Paying writes the ledger (ledger.py), activates the contract when its upfront fee is paid, and
tells both parties, with a receipt.

Bank transfers: the buyer gets the platform's account and our reference; an administrator
confirms the money arrived with the bank's reference, which posts the same ledger entries.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import uuid4

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract
from contracts.agreements.service import can_see, side_of
from contracts.offers.models import OfferTerms, Side
from contracts.payments import gateway, ledger, states
from contracts.payments.models import (
    FEE_PERCENT_PLACES,
    PAID_STATES,
    Payment,
    PaymentMethod,
    PaymentState,
    Refund,
    StripeEvent,
)
from market import audit, currencies, outbox, paging, rows
from market.accounts import roles
from market.accounts.roles import Permission, may
from market.accounts.service import require_admin, require_verified
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    validation_error,
)
from market.locks import lock_existing
from market.money import Money
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id, visible_or_404

log = logging.getLogger(__name__)

EVENTS = outbox.declare(
    "payment.started",
    "payment.duplicate_charge",
    "payment.intent_mismatch",
    *events_of(states.PAYMENT),
)

# How long a request may take to create an intent before another may try (same key).
CREATE_LEASE = timedelta(seconds=30)
# How long a concurrent request waits for the intent another is creating.
CREATE_WAIT_SECONDS = 10.0
REASON_MAX = 2000
BANK_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 /._:-]{1,63}$")


class PaymentUnavailable(DomainError):
    """Stripe could not be reached or refused in a way the buyer cannot fix."""

    status = 502
    code = "payment_provider_error"


# --- who may see and do what -------------------------------------------------------------------


def can_see_payment(actor: Actor, contract: Contract) -> bool:
    return can_see(actor, contract)


def _require_payer(actor: Actor, contract: Contract) -> None:
    if side_of(actor, contract) != Side.BUYER:
        raise Forbidden("Only the buyer pays a contract.")
    roles.require(actor, Permission.PAY)
    require_verified(actor, "pay contracts")


async def load_payment(actor: Actor, payment_id: str) -> tuple[Payment, Contract]:
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    payment = await Payment.get_or_none(id=object_id(payment_id, "payment"))
    if payment is None:
        raise NotFound("No such payment.")
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    if not can_see_payment(actor, contract):
        raise NotFound("No such payment.")
    return payment, contract


def _event(payment: Payment, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": str(payment.id),
        "contract_id": str(payment.contract_id),  # type: ignore[attr-defined]
        "amount": payment.amount,
        "currency": payment.currency,
        "method": str(payment.method),
        "actor_id": actor.user_id,
        **extra,
    }


async def audit_payment(
    actor: Actor, action: str, payment: Payment, contract: Contract, **after: Any
) -> None:
    await audit.record(
        actor,
        action,
        "payment",
        payment.id,
        after={k: v for k, v in after.items() if v not in ("", None)},
        organization_id=contract.buyer_id,  # type: ignore[attr-defined]
    )


async def roles_on(actor: Actor, payment: Payment) -> set[str]:
    roles = actor.standing()
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    if side_of(actor, contract) == Side.BUYER and may(actor, Permission.PAY):
        roles.add("buyer")
    return roles


async def _buyer_of(payment: Payment, actor: Actor) -> Any:
    """Payments are filed under the buying organisation."""
    return (await Contract.get(id=payment.contract_id)).buyer_id  # type: ignore[attr-defined]


PAYING = Lifecycle(
    "payment", Payment, states.PAYMENT, roles=roles_on, payload=_event, organization=_buyer_of
)


async def move(
    actor: Actor,
    payment: Payment,
    action: str,
    *,
    noted: dict[str, Any] | None = None,
    announced: dict[str, Any] | None = None,
    **changes: Any,
) -> Payment:
    moved = await apply(
        PAYING,
        payment.id,
        action,
        actor,
        changes={"updated_at": utcnow(), **changes},
        noted=noted,
        announced=announced,
    )
    return moved.row


# --- what is owed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One amount a contract owes."""

    key: str  # "upfront" or "milestone-<n>"
    description: str
    amount: int
    currency: str


_TERMS = rows.Statement(
    "SELECT {t} FROM offer_terms t WHERE t.offer_id = $1 AND t.number = $2", t=OfferTerms
)
_PAYMENTS = rows.Statement(
    "SELECT {p} FROM payment p WHERE p.contract_id = $1 ORDER BY p.created_at", p=Payment
)


async def items_of(contract: Contract) -> list[Item]:
    """What the contract asks to be paid: the upfront fee, then each milestone."""
    offer_id = contract.offer_id  # type: ignore[attr-defined]
    found = await _TERMS.fetch([offer_id, contract.terms_number])
    if not found:
        raise RuntimeError(f"contract {contract.id} names terms that do not exist")
    terms = rows.build(OfferTerms, found[0], "t")
    assert terms is not None
    items = [Item("upfront", "Upfront fee", contract.amount_due, contract.currency)]
    for n, milestone in enumerate(terms.milestones or [], start=1):
        items.append(
            Item(
                f"milestone-{n}",
                f"Milestone {n}: {milestone.get('description', '')}",
                int(milestone["amount"]),
                terms.currency,
            )
        )
    return items


def _kind(item: str) -> str:
    return "upfront" if item == "upfront" else "milestone"


async def _item(contract: Contract, key: str) -> Item:
    for item in await items_of(contract):
        if item.key == key:
            return item
    raise validation_error("item", f"This contract owes nothing called {key!r}.")


def reference_for(payment_id: Any) -> str:
    # Long enough to be unique in practice, short enough to type into a bank transfer.
    return "TMP-" + str(payment_id).replace("-", "")[:12].upper()


# --- starting a payment --------------------------------------------------------------------------


@dataclass
class Started:
    payment: Payment
    # The PaymentIntent's secret, for Stripe.js to finish a 3-D Secure challenge.
    client_secret: str | None = None
    # A SetupIntent's secret: the card form sets the card up with it (`confirmCardSetup`).
    setup_client_secret: str | None = None
    bank: dict[str, str] = field(default_factory=dict)


async def start_payment(
    actor: Actor, contract_id: str, method: str, item: str = "upfront"
) -> Started:
    """Start (or resume) paying one item of a contract; the same payment however often."""
    contract = await visible_or_404(actor, Contract, contract_id, "contract", can_see)
    _require_payer(actor, contract)
    try:
        chosen = PaymentMethod(method)
    except ValueError:
        raise validation_error("method", "Choose card or bank_transfer.") from None
    owed = await _item(contract, item)
    if str(contract.state) not in states.PAYABLE_IN[_kind(item)]:
        raise Conflict(
            f"This contract is {str(contract.state).replace('_', ' ')}: "
            + (
                "its upfront fee is paid once it is signed by both parties."
                if item == "upfront"
                else "milestones are paid once it is active."
            ),
            state=str(contract.state),
        )
    if owed.amount <= 0:
        raise Conflict("Nothing is owed for this item.", state=str(contract.state))
    if chosen == PaymentMethod.CARD:
        require_chargeable(owed.amount, owed.currency, "method")
    payment = await _get_or_create(actor, contract, owed, chosen)
    if payment.state in PAID_STATES:
        raise Conflict("This has been paid already.", state=str(payment.state))
    if payment.method != chosen:
        payment = await _switch_method(actor, payment, chosen)
    return await resume(payment)


def require_chargeable(amount: int, currency: str, field: str) -> None:
    """Refuse, before anything is written or sent, a card amount Stripe cannot carry exactly."""
    try:
        currencies.to_provider(amount, currency)
    except currencies.NotChargeable as exc:
        raise validation_error(field, str(exc)) from None


async def resume(payment: Payment) -> Started:
    """What the card form needs to go on with a payment (creates at Stripe: only on a POST)."""
    if payment.method == PaymentMethod.BANK_TRANSFER:
        return Started(payment, bank=bank_details(payment))
    intent = await ensure_intent(payment)
    setup = await _stripe(gateway.create_setup_intent({"payment_id": str(payment.id)}))
    payment = await Payment.get(id=payment.id)
    return Started(
        payment, client_secret=intent["client_secret"], setup_client_secret=setup["client_secret"]
    )


async def prepare_card(actor: Actor, payment_id: str) -> Started:
    """The card form's explicit request for what Stripe.js needs (a SetupIntent's secret, and
    the payment's intent made if it was not yet): the payer of a card payment still to pay."""
    payment, contract = await load_payment(actor, payment_id)
    _require_payer(actor, contract)
    if payment.method != PaymentMethod.CARD:
        raise Conflict("This payment is by bank transfer.", state=str(payment.state))
    if payment.state not in (PaymentState.PENDING, PaymentState.FAILED):
        raise Conflict(
            f"This payment is {str(payment.state).replace('_', ' ')}.", state=str(payment.state)
        )
    if str(contract.state) not in states.PAYABLE_IN[_kind(payment.item)]:
        raise Conflict(
            f"This contract is {str(contract.state).replace('_', ' ')}.", state=str(contract.state)
        )
    return await resume(payment)


def bank_details(payment: Payment) -> dict[str, str]:
    settings = get_settings()
    return {
        "account_name": settings.bank_account_name,
        "iban": settings.bank_iban,
        "bic": settings.bank_bic,
        "bank": settings.bank_name,
        "reference": payment.reference,
        "amount": Money(amount=payment.amount, currency=payment.currency).format(),
    }


def _fee_percent_now() -> Decimal:
    """The platform fee a payment created now keeps for good: the setting, at the precision
    its row stores (so what the ledger posts is what the row says)."""
    return get_settings().platform_fee_percent.quantize(
        Decimal(1).scaleb(-FEE_PERCENT_PLACES), ROUND_HALF_UP
    )


async def _get_or_create(
    actor: Actor, contract: Contract, owed: Item, method: PaymentMethod
) -> Payment:
    existing = await Payment.get_or_none(contract_id=contract.id, item=owed.key)
    if existing is not None:
        return existing
    payment_id = _uuid()
    try:
        async with unit_of_work():
            payment = await Payment.create(
                id=payment_id,
                contract_id=contract.id,
                item=owed.key,
                amount=owed.amount,
                currency=owed.currency,
                fee_percent=_fee_percent_now(),
                method=method,
                reference=reference_for(payment_id),
                started_by_id=actor.user_id,
            )
            await audit_payment(actor, "payment.started", payment, contract, method=str(method))
            await outbox.emit("payment.started", _event(payment, actor, item=owed.key))
    except IntegrityError:
        # A concurrent request made it first: (contract, item) is unique.
        return await Payment.get(contract_id=contract.id, item=owed.key)
    return payment


def _uuid() -> Any:
    return uuid4()


async def _switch_method(actor: Actor, payment: Payment, method: PaymentMethod) -> Payment:
    """Move an unpaid payment to the other method; a card intent is cancelled at Stripe first,
    so it can never succeed behind a bank transfer's back."""
    if payment.state not in (PaymentState.PENDING, PaymentState.FAILED):
        raise Conflict(
            "A card payment is being processed; wait for its outcome before choosing another "
            "method.",
            state=str(payment.state),
        )
    if payment.intent_id:
        intent = await _stripe(gateway.retrieve_intent(payment.intent_id))
        if intent["status"] not in ("canceled",):
            if intent["status"] in ("processing", "succeeded", "requires_capture"):
                raise Conflict("The card payment went through meanwhile.", state="processing")
            await _stripe(
                gateway.cancel_intent(
                    intent["id"], f"payment:{payment.id}:intent:{payment.attempt}:cancel"
                )
            )
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    switched = {
        "method": method,
        "intent_id": None,
        "attempt": F("attempt") + (1 if payment.intent_id else 0),
        "failure_message": "",
        "updated_at": utcnow(),
    }
    async with unit_of_work():
        locked = await lock_existing(Payment, payment.id)
        if locked.intent_id != payment.intent_id or locked.state not in (
            PaymentState.PENDING,
            PaymentState.FAILED,
        ):
            raise Conflict("The payment changed meanwhile; reload and try again.")
        if locked.state == PaymentState.FAILED:
            # A declined card tried again another way: back to pending, by the table.
            await move(actor, locked, "retry", noted={"method": str(method)}, **switched)
        else:
            await Payment.filter(id=payment.id).update(**switched)
        await audit_payment(actor, "payment.method_changed", payment, contract, method=str(method))
    return await Payment.get(id=payment.id)


async def _stripe(call: Any) -> Any:
    try:
        return await call
    except gateway.CardError:
        raise
    except gateway.NotChargeable as exc:  # a payment from before the check: nothing was sent
        raise validation_error("method", str(exc)) from None
    except gateway.StripeError as exc:
        log.warning("stripe call failed: %s", exc)
        raise PaymentUnavailable(
            "The payment provider could not be reached or refused the request; nothing was "
            "charged. Try again in a moment."
        ) from exc


async def ensure_intent(payment: Payment) -> Any:
    """The payment's current PaymentIntent, created once however many requests ask at once."""
    deadline = asyncio.get_running_loop().time() + CREATE_WAIT_SECONDS
    while True:
        current = await Payment.get(id=payment.id)
        if current.intent_id:
            return await _stripe(gateway.retrieve_intent(current.intent_id))
        now = utcnow()
        claimed = await Payment.filter(
            Q(creating_until=None) | Q(creating_until__lt=now), id=payment.id, intent_id=None
        ).update(creating_until=now + CREATE_LEASE)
        if claimed == 1:
            return await _create_intent(current)
        if asyncio.get_running_loop().time() > deadline:
            raise Conflict("The payment is being prepared; try again in a moment.")
        await asyncio.sleep(0.05)


async def _create_intent(payment: Payment) -> Any:
    try:
        intent = await _stripe(
            gateway.create_intent(
                amount=payment.amount,
                currency=payment.currency,
                key=f"payment:{payment.id}:intent:{payment.attempt}",
                metadata={
                    "payment_id": str(payment.id),
                    "contract_id": str(payment.contract_id),  # type: ignore[attr-defined]
                    "attempt": str(payment.attempt),
                    "reference": payment.reference,
                },
            )
        )
    except BaseException:
        await Payment.filter(id=payment.id).update(creating_until=None)
        raise
    await Payment.filter(id=payment.id, intent_id=None).update(
        intent_id=intent["id"], creating_until=None, updated_at=utcnow()
    )
    return intent


# --- confirming a card payment ------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    state: str
    requires_action: bool = False
    client_secret: str | None = None
    message: str = ""


PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,100}$")


async def confirm_card(actor: Actor, payment_id: str, payment_method: Any) -> Confirmation:
    """Pay with the card the browser set up (a PaymentMethod id); never marks it paid."""
    payment, contract = await load_payment(actor, payment_id)
    _require_payer(actor, contract)
    if not isinstance(payment_method, str) or not PAYMENT_METHOD_ID.match(payment_method):
        raise validation_error("payment_method", "Not a card set up with Stripe (pm_…).")
    if payment.method != PaymentMethod.CARD:
        raise Conflict("This payment is by bank transfer.", state=str(payment.state))
    if payment.state in PAID_STATES:
        raise Conflict("This has been paid already.", state=str(payment.state))
    if str(contract.state) not in states.PAYABLE_IN[_kind(payment.item)]:
        raise Conflict(
            f"This contract is {str(contract.state).replace('_', ' ')}.", state=str(contract.state)
        )
    intent = await ensure_intent(payment)
    declined = intent["status"] == "requires_payment_method" and intent.get("latest_charge")
    if declined or intent["status"] == "canceled":
        intent = await _next_attempt(payment, intent)
    payment = await Payment.get(id=payment.id)
    differences = mismatches(payment, intent)
    if differences:
        await refuse_mismatch(payment, intent, differences)
        raise Conflict(
            "The card payment prepared at Stripe does not match what is owed, so it was not "
            "charged; an administrator has been told.",
            state=str(payment.state),
        )
    if intent["status"] in ("requires_payment_method", "requires_confirmation"):
        key = f"payment:{payment.id}:intent:{payment.attempt}:{payment_method}"
        try:
            await gateway.use_payment_method(intent["id"], payment_method, key)
        except gateway.CardError:
            pass  # the declined charge is on the intent; re-read below
        except gateway.StripeError as exc:
            # A concurrent confirmation or a card Stripe refuses: the intent says which.
            log.info("confirming %s: %s", intent["id"], exc)
        intent = await _stripe(gateway.retrieve_intent(intent["id"]))
        if intent["status"] in ("requires_payment_method", "requires_confirmation") and not (
            intent.get("last_payment_error")
        ):
            raise validation_error("payment_method", "Stripe did not accept this card; try again.")
    await apply_intent(intent, may_succeed=False)
    payment = await Payment.get(id=payment.id)
    if intent["status"] == "requires_action":
        return Confirmation(str(payment.state), True, intent["client_secret"])
    error = intent.get("last_payment_error") or {}
    return Confirmation(str(payment.state), message=str(error.get("message") or ""))


async def _next_attempt(payment: Payment, intent: Any) -> Any:
    """Retire an intent whose charge was declined (or that was cancelled at Stripe) and give
    the payment a fresh one."""
    if intent["status"] != "canceled":
        await _stripe(
            gateway.cancel_intent(
                intent["id"], f"payment:{payment.id}:intent:{payment.attempt}:cancel"
            )
        )
    await Payment.filter(id=payment.id, intent_id=intent["id"]).update(
        intent_id=None, attempt=F("attempt") + 1, updated_at=utcnow()
    )
    return await ensure_intent(payment)


# --- applying what Stripe says -------------------------------------------------------------------


def mismatches(payment: Payment, intent: Any) -> dict[str, Any]:
    """How the intent differs from the payment it is the intent of (empty: it is that payment's
    in amount, currency and metadata). The gateway gave the amount in our units, or None."""
    metadata = intent.get("metadata") or {}
    expected = {
        "amount": payment.amount,
        "currency": payment.currency,
        "payment_id": str(payment.id),
        "contract_id": str(payment.contract_id),  # type: ignore[attr-defined]
        "reference": payment.reference,
    }
    found = {
        "amount": intent.get("amount"),
        "currency": intent.get("currency"),
        "payment_id": metadata.get("payment_id"),
        "contract_id": metadata.get("contract_id"),
        "reference": metadata.get("reference"),
    }
    return {
        name: {"expected": want, "found": found[name]}
        for name, want in expected.items()
        if found[name] != want
    }


async def refuse_mismatch(payment: Payment, intent: Any, differences: dict[str, Any]) -> str:
    """Record and announce (once per intent) an intent that is not what its payment owes; the
    payment stays as it is."""
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    system = Actor.system()
    async with unit_of_work():
        # Serialises the check below with a concurrent webhook or reconciliation.
        locked = await lock_existing(Payment, payment.id)
        known = await audit.AuditEntry.filter(
            action="payment.intent_mismatch", object_type="payment", object_id=str(payment.id)
        ).values_list("state_after", flat=True)
        if any((entry or {}).get("intent") == intent["id"] for entry in known):
            return "mismatch"
        log.error("intent %s does not match payment %s: %s", intent["id"], locked.id, differences)
        await audit_payment(
            system,
            "payment.intent_mismatch",
            locked,
            contract,
            intent=intent["id"],
            status=intent.get("status"),
            provider_amount=intent.get("provider_amount"),
            differences=differences,
        )
        await outbox.emit(
            "payment.intent_mismatch",
            _event(locked, system, intent=intent["id"], differences=differences),
        )
    return "mismatch"


async def _payment_named(raw_id: Any) -> Payment | None:
    try:
        return await Payment.get_or_none(id=object_id(raw_id, "payment")) if raw_id else None
    except DomainError:  # metadata that is no id of ours
        return None


async def apply_intent(intent: Any, *, may_succeed: bool = True) -> str:
    """Bring our payment in line with a PaymentIntent as Stripe reports it now. Idempotent and
    safe in any order: it reads state, not events. Returns what it did, for the job log."""
    metadata = intent.get("metadata") or {}
    status = intent["status"]
    payment = await Payment.get_or_none(intent_id=intent["id"])
    if payment is None:
        named = await _payment_named(metadata.get("payment_id"))
        if named is None:
            return "not ours"
        if status == "succeeded":
            # A retired intent charged after all (confirmed elsewhere): never silently.
            log.error("retired intent %s of payment %s succeeded", intent["id"], named.id)
            await _notice_admins("payment.duplicate_charge", named, intent=intent["id"])
            return "retired intent succeeded"
        return "retired intent"
    differences = mismatches(payment, intent)
    if differences:
        return await refuse_mismatch(payment, intent, differences)
    system = Actor.system()
    if status == "succeeded" and may_succeed:
        return "paid" if await mark_paid(system, payment) else "already paid"
    if status == "succeeded":
        # Confirmed by our page: Stripe has it, and only its word (a webhook) marks it paid.
        return await _try(system, payment, "submit", PaymentState.PENDING, PaymentState.FAILED)
    if status in ("processing", "requires_capture"):
        return await _try(system, payment, "submit", PaymentState.PENDING, PaymentState.FAILED)
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        error = intent["last_payment_error"]
        return await mark_failed(
            payment, str(error.get("message") or "The payment failed."), intent["id"]
        )
    return "nothing to do"


async def _try(actor: Actor, payment: Payment, action: str, *from_states: PaymentState) -> str:
    async with unit_of_work():
        locked = await lock_existing(Payment, payment.id)
        if locked.state not in from_states:
            return f"already {locked.state}"
        await move(actor, locked, action)
    return action


async def mark_failed(payment: Payment, message: str, intent_id: str) -> str:
    system = Actor.system()
    async with unit_of_work():
        locked = await lock_existing(Payment, payment.id)
        if locked.state not in (PaymentState.PENDING, PaymentState.PROCESSING):
            return f"already {locked.state}"
        if locked.intent_id != intent_id:
            return "retired intent"
        await move(
            system,
            locked,
            "fail",
            noted={"message": message[:500]},
            announced={"message": message[:500], "attempt": locked.attempt},
            failure_message=message[:500],
        )
    return "failed"


async def mark_paid(actor: Actor, payment: Payment, *, bank_reference: str = "") -> bool:
    """Record the money as received, once: the ledger, the contract, the parties told."""
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    transfer = bool(bank_reference)
    async with unit_of_work():
        # The contract it may activate, before the payment (market.locks.ORDER).
        await lock_existing(Contract, contract.id)
        locked = await lock_existing(Payment, payment.id)
        if transfer and locked.method != PaymentMethod.BANK_TRANSFER:
            raise Conflict("This payment is by card; Stripe confirms it.", state=str(locked.state))
        if not transfer and locked.state in PAID_STATES:
            return False
        changes: dict[str, Any] = {"paid_at": utcnow(), "failure_message": ""}
        if transfer:
            changes.update(bank_reference=bank_reference, confirmed_by_id=actor.user_id)
        paid = await move(
            actor,
            locked,
            "confirm_transfer" if transfer else "succeed",
            noted={"bank_reference": bank_reference},
            **changes,
        )
        await ledger.post_payment(paid, contract.seller_id)  # type: ignore[attr-defined]
        if paid.item == "upfront":
            await agreements.activate_contract(actor, contract.id)
    return True


async def _notice_admins(event: str, payment: Payment, **extra: Any) -> None:
    async with unit_of_work():
        await outbox.emit(event, _event(payment, Actor.system(), **extra))


# --- bank transfers -------------------------------------------------------------------------------


async def confirm_transfer(actor: Actor, payment_id: str, bank_reference: Any) -> Payment:
    require_admin(actor)
    payment, _contract = await load_payment(actor, payment_id)
    reference = (
        " ".join(str(bank_reference or "").split()) if isinstance(bank_reference, str) else ""
    )
    if not BANK_REFERENCE.match(reference):
        raise validation_error(
            "reference",
            "Give the bank's reference for the transfer (2–64 letters, digits, spaces or /._:-).",
        )
    await mark_paid(actor, payment, bank_reference=reference)
    return await Payment.get(id=payment.id)


async def handle_stripe_event(row_id: int) -> str:
    """Apply one stored event, by re-reading its PaymentIntent from Stripe; idempotent."""
    row = await StripeEvent.get_or_none(id=row_id)
    if row is None:
        return "missing"
    if row.handled_at is not None:
        return "already handled"
    try:
        intent = await gateway.retrieve_intent(row.object_id)
        result = await apply_intent(intent)
    except Exception as exc:
        await StripeEvent.filter(id=row_id).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    await StripeEvent.filter(id=row_id, handled_at=None).update(
        handled_at=datetime.now(UTC), attempts=F("attempts") + 1
    )
    return result


# --- reading -------------------------------------------------------------------------------------


PAYMENT_STATES = [s.value for s in PaymentState]


async def list_payments(
    actor: Actor, *, state: str = "", page: int = 1, per_page: int = 20
) -> tuple[list[Payment], int]:
    """Every payment, newest first, for administrators (the pages and the API alike)."""
    require_admin(actor)
    return await paging.page_by_state(
        Payment.all(),
        state=state,
        states=PAYMENT_STATES,
        page=page,
        per_page=per_page,
        related=("contract",),
        order="-created_at",
    )


async def payment_counts(actor: Actor) -> dict[str, int]:
    require_admin(actor)
    return await paging.count_by_state(Payment.all(), PAYMENT_STATES)


async def payments_of(actor: Actor, contract: Contract) -> list[Payment]:
    if not can_see(actor, contract):
        return []
    return [rows.build(Payment, row, "p") for row in await _PAYMENTS.fetch([contract.id])]  # type: ignore[misc]


async def get_payment(actor: Actor, payment_id: str) -> tuple[Payment, Contract, list[Refund]]:
    payment, contract = await load_payment(actor, payment_id)
    refunds = await Refund.filter(payment_id=payment.id).order_by("created_at")
    return payment, contract, refunds


def may_pay(actor: Actor, contract: Contract) -> bool:
    """Whether the actor pays for this contract at all (its buyer's signatory, while paying is
    possible); `owes_now` says whether anything is due."""
    return (
        side_of(actor, contract) == Side.BUYER
        and may(actor, Permission.PAY)
        and str(contract.state) in states.PAYABLE_IN["upfront"] | states.PAYABLE_IN["milestone"]
    )


async def owes_now(actor: Actor, contract: Contract, payments: list[Payment] | None = None) -> bool:
    """Whether the actor has something to pay on this contract now. `payments`: every payment
    of the contract, when the caller has read them (the contract page has)."""
    if not may_pay(actor, contract):
        return False
    if payments is None:
        payments = await Payment.filter(contract_id=contract.id)
    paid = {p.item for p in payments if p.state in PAID_STATES}
    return any(
        item.amount > 0
        and item.key not in paid
        and str(contract.state) in states.PAYABLE_IN[_kind(item.key)]
        for item in await items_of(contract)
    )
