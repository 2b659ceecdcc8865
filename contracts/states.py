"""The offer lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "seller" (a member of the listing's institute), "buyer" (a member of the organisation
that made the offer) and "system" (the expiry cron, and a conflicting grant declining an offer).
An open offer waits for the seller, a countered one for the buyer: only that side accepts or
counters. The buyer may withdraw while the offer is open; either side may reject.
"""

from market.transitions import rule

OFFER = {
    ("open", "accept"): rule("accepted", "seller"),
    ("open", "counter"): rule("countered", "seller"),
    ("open", "reject"): rule("rejected", "seller", "buyer"),
    ("open", "withdraw"): rule("withdrawn", "buyer"),
    ("open", "expire"): rule("expired", "system"),
    ("open", "decline"): rule("declined", "system"),
    ("countered", "accept"): rule("accepted", "buyer"),
    ("countered", "counter"): rule("open", "buyer"),
    ("countered", "reject"): rule("rejected", "buyer", "seller"),
    ("countered", "expire"): rule("expired", "system"),
    ("countered", "decline"): rule("declined", "system"),
}

# Whose turn it is in each live state.
TURN = {"open": "seller", "countered": "buyer"}

# States in which the two sides may still write to each other.
MESSAGING = {"open", "countered", "accepted"}

# Licence types whose grant excludes others in the same territory and field.
EXCLUSIVE_TYPES = frozenset({"exclusive", "sole"})


# --- contracts -----------------------------------------------------------------------------
#
# Roles: "admin" (a platform administrator approves the trade), "seller" and "buyer" (a member
# of either party with authority to sign for it: its owner or admin), and "system" (the worker:
# drawing up the document, opening signing once approved, finishing a signed contract, and
# cancelling one left unsigned too long).
#
# "drafted" means the worker is (re)drawing the document: generation submits it for approval,
# and an administrator asking for changes sends it back there for a new version.
# "sign" records one party's signature without moving the contract; the signature that
# completes the pair moves it to "signed" in the same transaction.

CONTRACT = {
    ("drafted", "submit"): rule("pending_approval", "system"),
    ("drafted", "cancel"): rule("cancelled", "seller", "buyer"),
    ("pending_approval", "approve"): rule("approved", "admin"),
    ("pending_approval", "reject"): rule("rejected", "admin"),
    ("pending_approval", "request_changes"): rule("drafted", "admin"),
    ("pending_approval", "cancel"): rule("cancelled", "seller", "buyer"),
    ("approved", "open_signing"): rule("awaiting_signatures", "system"),
    ("approved", "cancel"): rule("cancelled", "seller", "buyer"),
    ("awaiting_signatures", "sign"): rule("signed", "seller", "buyer"),
    ("awaiting_signatures", "cancel"): rule("cancelled", "seller", "buyer"),
    ("awaiting_signatures", "lapse"): rule("cancelled", "system"),
    ("signed", "request_payment"): rule("awaiting_payment", "system"),
    # The upfront fee paid (or none owed): the deal is on.
    ("awaiting_payment", "activate"): rule("active", "system"),
}

# Membership roles that may sign (and cancel) for an organisation; plain members may not.
SIGNING_ROLES = frozenset({"owner", "admin"})

# Licence types whose grant a signed contract fixes in the listing's rights.
FIXED_BY_SIGNING = frozenset({"exclusive", "sole", "assignment"})


# --- payments ------------------------------------------------------------------------------
#
# Roles: "buyer" (a signatory of the paying organisation), "admin" (confirms bank transfers and
# refunds) and "system" (the worker applying what Stripe says, from a webhook or the
# reconciliation cron). Only "system" marks a card payment paid: whatever confirmed the intent,
# only Stripe's word (re-read from Stripe) does.

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
