"""JSON endpoints for payments (see API.md): the buyer starts and confirms payments; the
parties read them and their receipts; administrators confirm transfers, refund, read the ledger
and record payouts. The same use cases as the pages."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contracts.offers.api import money_json
from contracts.payments import ledger, payouts, receipts, refunds
from contracts.payments import service as payments
from contracts.payments.models import LedgerTransaction, Payment, PaymentState, Payout, Refund
from contracts.payments.routes import receipt_response
from contracts.payments.schemas import ConfirmCardIn, PaymentIn, PayoutIn, RefundIn, TransferIn
from market.accounts.service import require_admin
from market.api import PAGE, PER_PAGE, UUID, ApiRouter, body, filter_of, paged
from market.validation import object_id
from market.web import get_actor, json_response, page_number, page_size

router = ApiRouter("payments")


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "contract_id": str(payment.contract_id),  # type: ignore[attr-defined]
        "item": payment.item,
        "amount": money_json(payment.amount, payment.currency),
        "method": str(payment.method),
        "state": str(payment.state),
        "reference": payment.reference,
        "attempt": payment.attempt,
        "failure_message": payment.failure_message or None,
        "bank_reference": payment.bank_reference or None,
        "paid_at": _when(payment.paid_at),
        "created_at": payment.created_at.isoformat(),
        "receipt_url": (
            f"/api/v1/payments/{payment.id}/receipt.pdf" if payment.paid_at is not None else None
        ),
    }


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "id": str(refund.id),
        "payment_id": str(refund.payment_id),  # type: ignore[attr-defined]
        "amount": money_json(refund.amount, refund.currency),
        "reason": refund.reason,
        "state": str(refund.state),
        "failure_message": refund.failure_message or None,
        "created_at": refund.created_at.isoformat(),
    }


@router.route(
    "/contracts/{contract_id}/payments",
    "POST",
    summary="Start (or resume) paying a contract's upfront fee or a milestone, by card or bank "
    "transfer (the buyer's owner or admin). Card: the client secrets for Stripe.js",
    body=PaymentIn,
    status=201,
)
async def start(request: Request) -> Response:
    data = await body(request, PaymentIn)
    started = await payments.start_payment(
        await get_actor(request), request.path_params["contract_id"], data.method, data.item
    )
    return json_response(
        {
            "payment": payment_json(started.payment),
            "client_secret": started.client_secret,
            "setup_client_secret": started.setup_client_secret,
            "bank_transfer": started.bank or None,
        },
        201,
    )


@router.route("/payments/{payment_id}", summary="One payment with its refunds")
async def show(request: Request) -> Response:
    payment, _contract, its_refunds = await payments.get_payment(
        await get_actor(request), request.path_params["payment_id"]
    )
    return json_response(
        {"payment": payment_json(payment), "refunds": [refund_json(r) for r in its_refunds]}
    )


@router.route(
    "/payments/{payment_id}/confirm",
    "POST",
    summary="Pay with the card Stripe.js set up (a PaymentMethod id). Answers the payment's "
    "state, and a client secret when the bank asks for 3-D Secure",
    body=ConfirmCardIn,
)
async def confirm(request: Request) -> Response:
    data = await body(request, ConfirmCardIn)
    result = await payments.confirm_card(
        await get_actor(request), request.path_params["payment_id"], data.payment_method
    )
    return json_response(
        {
            "state": result.state,
            "requires_action": result.requires_action,
            "client_secret": result.client_secret,
            "message": result.message or None,
        }
    )


@router.route(
    "/payments/{payment_id}/receipt.pdf",
    summary="The receipt of a paid payment (PDF)",
    produces="application/pdf",
)
async def receipt(request: Request) -> Response:
    found = await receipts.receipt(await get_actor(request), request.path_params["payment_id"])
    return receipt_response(found)


@router.route(
    "/admin/payments",
    summary="Payments, newest first (administrators)",
    query={"state": filter_of(PaymentState), "page": PAGE, "per_page": PER_PAGE},
)
async def admin_index(request: Request) -> Response:
    page, per_page = page_number(request), page_size(request)
    items, total = await payments.list_payments(
        await get_actor(request),
        state=request.query_params.get("state", ""),
        page=page,
        per_page=per_page,
    )
    return json_response(paged([payment_json(p) for p in items], page, per_page, total))


@router.route(
    "/admin/payments/{payment_id}/confirm-transfer",
    "POST",
    summary="Confirm a bank transfer arrived, with the bank's reference (administrators)",
    body=TransferIn,
)
async def confirm_transfer(request: Request) -> Response:
    data = await body(request, TransferIn)
    payment = await payments.confirm_transfer(
        await get_actor(request), request.path_params["payment_id"], data.reference
    )
    return json_response({"payment": payment_json(payment)})


@router.route(
    "/admin/payments/{payment_id}/refund",
    "POST",
    summary="Refund all or part of a payment, with a reason (administrators)",
    body=RefundIn,
    status=201,
)
async def refund(request: Request) -> Response:
    data = await body(request, RefundIn)
    made = await refunds.refund_payment(
        await get_actor(request), request.path_params["payment_id"], data.amount, data.reason
    )
    payment = await Payment.get(id=made.payment_id)  # type: ignore[attr-defined]
    return json_response({"refund": refund_json(made), "payment": payment_json(payment)}, 201)


@router.route(
    "/admin/ledger",
    summary="What the platform owes each institute, account balances and recent transactions "
    "(administrators)",
    query={"organization": UUID},
)
async def ledger_index(request: Request) -> Response:
    require_admin(await get_actor(request))
    raw = request.query_params.get("organization", "")
    org = object_id(raw, "organization") if raw else None
    owed = await ledger.owed_to_institutes(org)
    query = LedgerTransaction.all()
    if org:
        query = query.filter(entries__organization_id=org).distinct()
    transactions = await query.order_by("-id").limit(100).prefetch_related("entries")
    return json_response(
        {
            "owed": [
                {
                    "organization": {"id": str(o.organization.id), "name": o.organization.name},
                    "amount": money_json(o.amount, o.currency),
                }
                for o in owed
            ],
            "balances": await ledger.account_balances() if org is None else None,
            "transactions": [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "memo": t.memo,
                    "payment_id": str(t.payment_id) if t.payment_id else None,  # type: ignore[attr-defined]
                    "created_at": t.created_at.isoformat(),
                    "entries": [
                        {
                            "account": str(e.account),
                            "organization_id": str(e.organization_id)  # type: ignore[attr-defined]
                            if e.organization_id  # type: ignore[attr-defined]
                            else None,
                            "amount": money_json(e.amount, e.currency),
                        }
                        for e in t.entries
                    ],
                }
                for t in transactions
            ],
        }
    )


@router.route(
    "/admin/payouts",
    "POST",
    summary="Record money sent to an institute, at most what it is owed (administrators)",
    body=PayoutIn,
    status=201,
)
async def payout(request: Request) -> Response:
    data = await body(request, PayoutIn)
    made: Payout = await payouts.record_payout(
        await get_actor(request), data.organization, data.amount, data.reference
    )
    return json_response(
        {
            "payout": {
                "id": str(made.id),
                "organization_id": str(made.organization_id),  # type: ignore[attr-defined]
                "amount": money_json(made.amount, made.currency),
                "reference": made.reference,
                "created_at": made.created_at.isoformat(),
            }
        },
        201,
    )
