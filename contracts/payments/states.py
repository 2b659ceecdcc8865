"""The payment lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "buyer" (a signatory of the paying organisation), "admin" (confirms bank transfers and
refunds) and "system" (the worker applying what Stripe says, from a webhook or the
reconciliation cron). Only "system" marks a card payment paid: whatever confirmed the intent,
only Stripe's word (re-read from Stripe) does.
"""

from market.transitions import rule

PAYMENT = {
    ("pending", "submit"): rule("processing", "buyer", "system"),
    ("pending", "fail"): rule("failed", "system"),
    ("pending", "succeed"): rule("succeeded", "system"),
    ("pending", "confirm_transfer"): rule("succeeded", "admin"),
    ("processing", "fail"): rule("failed", "system"),
    ("processing", "succeed"): rule("succeeded", "system"),
    ("processing", "reset"): rule("pending", "system"),
    ("failed", "retry"): rule("pending", "buyer"),
    ("failed", "submit"): rule("processing", "buyer", "system"),
    ("failed", "succeed"): rule("succeeded", "system"),
    ("succeeded", "refund_part"): rule("partially_refunded", "admin"),
    ("succeeded", "refund_all"): rule("refunded", "admin"),
    ("partially_refunded", "refund_part"): rule("partially_refunded", "admin"),
    ("partially_refunded", "refund_all"): rule("refunded", "admin"),
}

# Contract states in which each kind of payment item may be started.
PAYABLE_IN = {"upfront": frozenset({"awaiting_payment"}), "milestone": frozenset({"active"})}
