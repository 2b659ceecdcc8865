"""The payment lifecycle as a table: (state, action) -> next state, and who may act.

Roles (derived by `contracts.payments.service.roles_on`): "buyer" (a signatory of the paying
organisation), "admin" (confirms bank transfers, asks for refunds) and "system" (the worker
applying what Stripe says, from a webhook or the reconciliation cron). Only "system" marks a
card payment paid: whatever confirmed the intent, only Stripe's word (re-read from Stripe)
does.
"""

from market.transitions import rule

PAID = "payment.succeeded"
FAILED = "payment.failed"
REFUNDED = "payment.refunded"

PAYMENT = {
    # Confirmed: Stripe is charging the card (our page, or what a webhook says).
    ("pending", "submit"): rule("processing", "buyer", "system"),
    ("failed", "submit"): rule("processing", "buyer", "system"),
    ("pending", "fail"): rule("failed", "system", event=FAILED),
    ("processing", "fail"): rule("failed", "system", event=FAILED),
    ("pending", "succeed"): rule("succeeded", "system", event=PAID),
    ("processing", "succeed"): rule("succeeded", "system", event=PAID),
    ("failed", "succeed"): rule("succeeded", "system", event=PAID),
    ("pending", "confirm_transfer"): rule("succeeded", "admin", event=PAID),
    # The buyer tries again after a declined card (by card or by switching to a transfer).
    ("failed", "retry"): rule("pending", "buyer"),
    # Refunds are asked for by an administrator (see REFUND) and applied to the payment by the
    # system once the money is back with the buyer.
    ("succeeded", "refund_part"): rule("partially_refunded", "system", event=REFUNDED),
    ("succeeded", "refund_all"): rule("refunded", "system", event=REFUNDED),
    ("partially_refunded", "refund_part"): rule("partially_refunded", "system", event=REFUNDED),
    ("partially_refunded", "refund_all"): rule("refunded", "system", event=REFUNDED),
}

# A refund an administrator asked for: carried out at Stripe (a card) or by the bank, then
# posted; or refused by Stripe.
REFUND = {
    ("pending", "succeed"): rule("succeeded", "system"),
    ("pending", "fail"): rule("failed", "system"),
}

# Contract states in which each kind of payment item may be started.
PAYABLE_IN = {"upfront": frozenset({"awaiting_payment"}), "milestone": frozenset({"active"})}
