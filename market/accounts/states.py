"""Organisation verification as a table: (state, action) -> next state, and who may act."""

from market.transitions import rule

VERIFICATION = {
    ("pending", "verify"): rule("verified", "admin"),
    ("pending", "reject"): rule("rejected", "admin"),
    ("rejected", "verify"): rule("verified", "admin"),
    # After fixing what the administrator named, the owner asks again.
    ("rejected", "resubmit"): rule("pending", "owner"),
    # Revoking a verification, e.g. after a complaint.
    ("verified", "reject"): rule("rejected", "admin"),
}
