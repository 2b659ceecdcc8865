"""Payment pages: what a contract owes and the choice of method, one payment (the card form,
or the bank details for a transfer), its receipt, and the administrators' payments, transfer
confirmations, refunds, ledger and payouts.

Each handler parses, calls one use case of `contracts.payments` and translates, as the contract
pages do: a refusal the user can act on shows the same page again with the reason and what was
typed; anything else (a stranger's 404, a wrong CSRF token) is the error page.

The card form is the one place the site runs someone else's script: Stripe.js, from the URL the
settings name, so the card number goes from the browser to Stripe and never reaches us. That
page gets a Content-Security-Policy widened for Stripe alone; every other page keeps the
site-wide one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from babel.numbers import get_currency_precision
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from contracts.agreements.models import Contract
from contracts.agreements.routes import pdf_response
from contracts.agreements.service import can_see, side_of
from contracts.offers import forms
from contracts.offers.models import Side
from contracts.payments import labels, ledger, payouts, receipts, refunds, states
from contracts.payments import service as payments
from contracts.payments.models import (
    PAID_STATES,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentState,
    RefundState,
)
from contracts.payments.schemas import ConfirmCardIn
from market.accounts.models import Organization
from market.accounts.service import require_admin
from market.actor import Actor
from market.errors import DomainError, validation_error
from market.i18n import Msg
from market.money import MAX_MINOR_UNITS, Money, currencies
from market.validation import parse, visible_or_404
from market.web import (
    check_api_csrf,
    error_json,
    json_response,
    page_number,
    read_form,
    read_json,
    redirect,
    render_form,
    require_login,
    settings_of,
    template_global,
)

template_global("payment_labels", labels.FOR_TEMPLATES)

ADMIN_PER_PAGE = 50
LEDGER_TRANSACTIONS = 100
# Refusals shown on the page the user acted from; 502 is Stripe out of reach ("try again").
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429, 502})
PAYMENT_STATES = [s.value for s in PaymentState]
# While a card is being set up or charged, the buyer may only try again on the same payment.
RESUMABLE = (PaymentState.PENDING, PaymentState.FAILED)
# "1250", "1250.5", "1,250.50": a decimal comma would be read as thousands, so it is refused.
AMOUNT = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?$")
# The hosts Stripe.js itself talks to (its API, and the 3-D Secure frames), per Stripe's CSP
# guide; a compatible test server serves everything from the script's own origin.
STRIPE_JS_HOST = "js.stripe.com"
STRIPE_EXTRA_SOURCES = (
    "https://api.stripe.com",
    "https://hooks.stripe.com",
    "https://*.stripe.com",
)


def signed_money(amount: int, currency: str) -> str:
    """Ledger balances are signed (credits negative); Money itself is never negative."""
    text = Money(amount=abs(amount), currency=currency).format()
    return f"−{text}" if amount < 0 else text


HELPERS: dict[str, Any] = {
    "money_text": forms.money_text,
    "signed_money": signed_money,
    "payment_states": PAYMENT_STATES,
}


async def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    return await render_form(request, template, {**HELPERS, **context}, error=error)


def _shown(exc: DomainError) -> bool:
    return exc.status in SHOWN_ON_PAGE


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").replace("\r\n", "\n")


def _contract_id(request: Request) -> str:
    return str(request.path_params["contract_id"])


def _payment_id(request: Request) -> str:
    return str(request.path_params["payment_id"])


def money_of(raw: str, currency: str, field: str = "amount") -> Money:
    """An amount typed in major units (`"1,250.50"`) -> Money in minor units, exactly: a
    fraction finer than the currency's smallest unit is refused, never rounded."""
    code = currency.strip().upper()
    if code not in currencies():
        raise validation_error(field, "Choose a currency in use.")
    text = raw.strip().replace(" ", "")
    if text.startswith("-"):
        raise validation_error(field, "The amount cannot be negative.")
    if not text or len(text) > 30 or not AMOUNT.match(text):
        raise validation_error(field, "Enter a number, like 1250 or 1,250.00.")
    digits = get_currency_precision(code)
    try:
        minor = Decimal(text.replace(",", "")).scaleb(digits)
    except InvalidOperation:  # the pattern should make this impossible
        raise validation_error(field, "Enter a number, like 1250 or 1,250.00.") from None
    if minor != minor.to_integral_value():
        raise validation_error(
            field,
            Msg(
                "%(code)s amounts take at most %(digits)s decimal places.", code=code, digits=digits
            ),
        )
    if not 0 < minor <= MAX_MINOR_UNITS:
        raise validation_error(field, "Enter a positive amount within the limit.")
    return Money(amount=int(minor), currency=code)


def major_units(amount: int, currency: str) -> str:
    digits = get_currency_precision(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


# --- what a contract owes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Owed:
    """One item of a contract with its payment, if one was started."""

    key: str
    text: str  # a milestone's description; empty for the upfront fee
    amount: int
    currency: str
    payment: Payment | None
    payable: bool  # a payment may be started or resumed now


def _kind(key: str) -> str:
    return "upfront" if key == "upfront" else "milestone"


def item_texts(items: list[payments.Item]) -> dict[str, str]:
    """Item key -> the milestone's own words (the use case prefixes "Milestone n: ")."""
    return {
        i.key: i.description.partition(": ")[2] for i in items if i.key.startswith("milestone-")
    }


def owed_rows(contract: Contract, items: list[payments.Item], made: list[Payment]) -> list[Owed]:
    by_item = {p.item: p for p in made}
    texts = item_texts(items)
    rows = []
    for item in items:
        payment = by_item.get(item.key)
        payable = (
            str(contract.state) in states.PAYABLE_IN[_kind(item.key)]
            and item.amount > 0
            and (payment is None or payment.state in RESUMABLE)
        )
        rows.append(
            Owed(item.key, texts.get(item.key, ""), item.amount, item.currency, payment, payable)
        )
    return rows


async def _pay_page(
    request: Request,
    actor: Actor,
    contract_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    contract = await visible_or_404(actor, Contract, contract_id, "contract", can_see)
    await contract.fetch_related("listing", "seller", "buyer")
    made = await payments.payments_of(actor, contract)
    context = {
        "contract": contract,
        "rows": owed_rows(contract, await payments.items_of(contract), made),
        "may_pay": payments.may_pay(actor, contract),
        "side": side_of(actor, contract),
        "values": values or {},
    }
    return await _page(request, "payments/pay.html", context, error=error)


async def pay_page(request: Request) -> Response:
    actor = await require_login(request)
    return await _pay_page(request, actor, _contract_id(request))


async def pay(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    contract_id = _contract_id(request)
    values = {"method": _text(form, "method"), "item": _text(form, "item") or "upfront"}
    try:
        started = await payments.start_payment(actor, contract_id, values["method"], values["item"])
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _pay_page(request, actor, contract_id, error=exc, values=values)
    return redirect(f"/payments/{started.payment.id}")


# --- one payment ---------------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def card_csp(stripe_js_url: str) -> str:
    """The site-wide policy, plus Stripe.js's origin for its script, its calls and its frames."""
    sources = [_origin(stripe_js_url)]
    if urlsplit(stripe_js_url).hostname == STRIPE_JS_HOST:
        sources += STRIPE_EXTRA_SOURCES
    allowed = " ".join(s for s in sources if s)
    return (
        f"default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"script-src 'self' {allowed}; connect-src 'self' {allowed}; frame-src {allowed}; "
        "frame-ancestors 'none'; form-action 'self'"
    )


async def _item_text(contract: Contract, key: str) -> str:
    return item_texts(await payments.items_of(contract)).get(key, "")


def _card_form(actor: Actor, payment: Payment, contract: Contract) -> bool:
    """Whether the page shows the card form: to the payer of a card payment not yet paid or
    processing. Viewing asks nothing of Stripe; the form asks for its SetupIntent when the buyer
    pays (POST /payments/<id>/setup), so reloading the page creates nothing there."""
    return (
        payment.method == PaymentMethod.CARD
        and payment.state in RESUMABLE
        and payments.may_pay(actor, contract)
    )


def _bank_details(actor: Actor, payment: Payment, contract: Contract) -> dict[str, str] | None:
    """Where to send a transfer still awaited: for the buyer (and administrators) only."""
    if payment.method != PaymentMethod.BANK_TRANSFER or payment.state != PaymentState.PENDING:
        return None
    if side_of(actor, contract) != Side.BUYER and not actor.is_admin:
        return None
    return payments.bank_details(payment)


async def payment_page(request: Request) -> Response:
    actor = await require_login(request)
    payment, contract, its_refunds = await payments.get_payment(actor, _payment_id(request))
    await contract.fetch_related("listing", "seller", "buyer")
    card = _card_form(actor, payment, contract)
    settings = settings_of(request)
    context = {
        "payment": payment,
        "contract": contract,
        "refunds": its_refunds,
        "item_text": await _item_text(contract, payment.item),
        "paid": payment.state in PAID_STATES and payment.paid_at is not None,
        "card": card,
        "bank": _bank_details(actor, payment, contract),
        "may_pay": payments.may_pay(actor, contract),
        # The two values the card form needs, never the Settings object (secrets).
        "stripe_js_url": settings.stripe_js_url,
        "stripe_publishable_key": settings.stripe_publishable_key,
    }
    response = await _page(request, "payments/show.html", context)
    if card:
        response.headers["Content-Security-Policy"] = card_csp(settings.stripe_js_url)
    return response


async def setup(request: Request) -> Response:
    """The card form's call when the buyer pays: a SetupIntent's secret for Stripe.js to set the
    card up with (and the payment's intent, made if it was not yet). JSON, with the CSRF header
    the API asks of a cookie session."""
    try:
        check_api_csrf(request)
        actor = await require_login(request)
        started = await payments.prepare_card(actor, _payment_id(request))
    except DomainError as exc:
        return error_json(exc)
    return json_response({"setup_client_secret": started.setup_client_secret})


async def confirm(request: Request) -> Response:
    """The card form's call once Stripe.js has set the card up: JSON in and out, and the same
    CSRF header the API asks of a cookie session."""
    try:
        check_api_csrf(request)
        actor = await require_login(request)
        data = parse(ConfirmCardIn, await read_json(request))
        result = await payments.confirm_card(actor, _payment_id(request), data.payment_method)
    except DomainError as exc:
        return error_json(exc)
    return json_response(
        {
            "state": result.state,
            "requires_action": result.requires_action,
            "client_secret": result.client_secret,
            "message": result.message or None,
        }
    )


def receipt_response(found: receipts.StoredReceipt) -> Response:
    """The stored PDF, named by its hash (the bytes never change for one edition)."""
    response = pdf_response(found.filename, found.pdf)
    response.headers["ETag"] = f'"{found.sha256}"'
    return response


async def receipt(request: Request) -> Response:
    actor = await require_login(request)
    return receipt_response(await receipts.receipt(actor, _payment_id(request)))


# --- administrators: payments --------------------------------------------------------------------


async def admin_payments(request: Request) -> Response:
    actor = await require_login(request)
    state = request.query_params.get("state", "")
    page = page_number(request)
    items, total = await payments.list_payments(
        actor, state=state, page=page, per_page=ADMIN_PER_PAGE
    )
    counts = await payments.payment_counts(actor)
    context = {
        "items": items,
        "total": total,
        "counts": counts,
        "state": state,
        "page": page,
        "per_page": ADMIN_PER_PAGE,
    }
    return await _page(request, "admin/payments.html", context)


async def _admin_payment_page(
    request: Request,
    actor: Actor,
    payment_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
    failed: str = "",
) -> Response:
    require_admin(actor)
    payment, contract, its_refunds = await payments.get_payment(actor, payment_id)
    await contract.fetch_related("listing", "seller", "buyer")
    refundable = payment.state in (PaymentState.SUCCEEDED, PaymentState.PARTIALLY_REFUNDED)
    taken = await refunds.refunded_total(payment.id, RefundState.PENDING, RefundState.SUCCEEDED)
    left = max(payment.amount - taken, 0)
    context = {
        "payment": payment,
        "contract": contract,
        "refunds": its_refunds,
        "item_text": await _item_text(contract, payment.item),
        "can_confirm": payment.method == PaymentMethod.BANK_TRANSFER
        and payment.state == PaymentState.PENDING,
        "can_refund": refundable and left > 0,
        "refundable": left,
        "transactions": await LedgerTransaction.filter(payment_id=payment.id)
        .order_by("id")
        .prefetch_related("entries"),
        "failed": failed,
        "values": values or {},
    }
    return await _page(request, "admin/payment.html", context, error=error)


async def admin_payment(request: Request) -> Response:
    actor = await require_login(request)
    return await _admin_payment_page(request, actor, _payment_id(request))


async def admin_confirm_transfer(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    payment_id = _payment_id(request)
    reference = _text(form, "reference")
    try:
        payment = await payments.confirm_transfer(actor, payment_id, reference)
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _admin_payment_page(
            request,
            actor,
            payment_id,
            error=exc,
            values={"reference": reference},
            failed="transfer",
        )
    return redirect(
        f"/admin/payments/{payment_id}", f"The transfer for {payment.reference} is confirmed."
    )


async def admin_refund(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    payment_id = _payment_id(request)
    values = {"amount": _text(form, "amount"), "reason": _text(form, "reason")}
    try:
        require_admin(actor)  # before reading the payment: a party learns nothing from a 422
        payment, _contract, _refunds = await payments.get_payment(actor, payment_id)
        amount = money_of(values["amount"], payment.currency)
        await refunds.refund_payment(actor, payment_id, amount, values["reason"])
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _admin_payment_page(
            request, actor, payment_id, error=exc, values=values, failed="refund"
        )
    return redirect(
        f"/admin/payments/{payment_id}",
        f"{amount.format()} of {payment.reference} is refunded.",
    )


# --- administrators: the ledger and payouts -------------------------------------------------------


def payout_row(organization_id: Any, currency: str) -> str:
    """Which payout form on the ledger page: one per institute and currency."""
    return f"{organization_id}-{currency}"


async def _ledger_page(
    request: Request,
    actor: Actor,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
    failed: str = "",
) -> Response:
    require_admin(actor)
    transactions = (
        await LedgerTransaction.all()
        .order_by("-id")
        .limit(LEDGER_TRANSACTIONS)
        .prefetch_related("entries")
    )
    org_ids = {
        str(e.organization_id)  # type: ignore[attr-defined]
        for t in transactions
        for e in t.entries
        if e.organization_id  # type: ignore[attr-defined]
    }
    names = {str(o.id): o.name for o in await Organization.filter(id__in=list(org_ids))}
    owed = await ledger.owed_to_institutes()
    context = {
        "owed": owed,
        "owed_major": {
            payout_row(o.organization.id, o.currency): major_units(o.amount, o.currency)
            for o in owed
            if o.amount > 0
        },
        "balances": await ledger.account_balances(),
        "transactions": transactions,
        "names": names,
        "failed": failed,
        "values": values or {},
        "payout_row": payout_row,
    }
    return await _page(request, "admin/ledger.html", context, error=error)


async def admin_ledger(request: Request) -> Response:
    return await _ledger_page(request, await require_login(request))


async def admin_payout(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    values = {
        name: _text(form, name).strip()
        for name in ("organization", "currency", "amount", "reference")
    }
    try:
        require_admin(actor)
        amount = money_of(values["amount"], values["currency"])
        payout = await payouts.record_payout(
            actor, values["organization"], amount, values["reference"]
        )
    except DomainError as exc:
        if not _shown(exc):
            raise
        failed = payout_row(values["organization"], values["currency"].upper())
        return await _ledger_page(request, actor, error=exc, values=values, failed=failed)
    return redirect(
        "/admin/ledger",
        Msg(
            "Payout %(reference)s of %(amount)s recorded.",
            reference=payout.reference,
            amount=amount.format(),
        ),
    )


routes: list[BaseRoute] = [
    Route("/contracts/{contract_id:uuid}/pay", pay_page),
    Route("/contracts/{contract_id:uuid}/pay", pay, methods=["POST"]),
    Route("/payments/{payment_id:uuid}", payment_page),
    Route("/payments/{payment_id:uuid}/setup", setup, methods=["POST"]),
    Route("/payments/{payment_id:uuid}/confirm", confirm, methods=["POST"]),
    Route("/payments/{payment_id:uuid}/receipt.pdf", receipt),
    Route("/admin/payments", admin_payments),
    Route("/admin/payments/{payment_id:uuid}", admin_payment),
    Route(
        "/admin/payments/{payment_id:uuid}/confirm-transfer",
        admin_confirm_transfer,
        methods=["POST"],
    ),
    Route("/admin/payments/{payment_id:uuid}/refund", admin_refund, methods=["POST"]),
    Route("/admin/ledger", admin_ledger),
    Route("/admin/payouts", admin_payout, methods=["POST"]),
]
