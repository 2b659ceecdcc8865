"""The contract lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "admin" (a platform administrator approves the trade), "seller" and "buyer" (a member
of either party with authority to sign for it: its owner or admin), and "system" (the worker:
drawing up the document, opening signing once approved, finishing a signed contract, and
cancelling one left unsigned too long).

"drafted" means the worker is (re)drawing the document: generation submits it for approval,
and an administrator asking for changes sends it back there for a new version.
"sign" records one party's signature without moving the contract; the signature that
completes the pair moves it to "signed" in the same transaction.
"""

from market.transitions import rule

CANCELLED = "contract.cancelled"

CONTRACT = {
    ("drafted", "submit"): rule("pending_approval", "system", event="contract.submitted"),
    ("drafted", "cancel"): rule("cancelled", "seller", "buyer", event=CANCELLED),
    ("pending_approval", "approve"): rule("approved", "admin", event="contract.approved"),
    ("pending_approval", "reject"): rule("rejected", "admin", event="contract.rejected"),
    ("pending_approval", "request_changes"): rule(
        "drafted", "admin", event="contract.changes_requested"
    ),
    ("pending_approval", "cancel"): rule("cancelled", "seller", "buyer", event=CANCELLED),
    ("approved", "open_signing"): rule(
        "awaiting_signatures", "system", event="contract.awaiting_signatures"
    ),
    ("approved", "cancel"): rule("cancelled", "seller", "buyer", event=CANCELLED),
    ("awaiting_signatures", "sign"): rule("signed", "seller", "buyer", event="contract.signed"),
    ("awaiting_signatures", "cancel"): rule("cancelled", "seller", "buyer", event=CANCELLED),
    ("awaiting_signatures", "lapse"): rule("cancelled", "system", event=CANCELLED),
    ("signed", "request_payment"): rule(
        "awaiting_payment", "system", event="contract.awaiting_payment"
    ),
    # The upfront fee paid (or none owed): the deal is on.
    ("awaiting_payment", "activate"): rule("active", "system", event="contract.active"),
}

# Licence types whose grant a signed contract fixes in the listing's rights.
FIXED_BY_SIGNING = frozenset({"exclusive", "sole", "assignment"})
