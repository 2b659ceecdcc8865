"""Organisation verification as a table: (state, action) -> next state, and who may act.

Roles (derived by `market.accounts.service.roles_on`): platform "admin", and the "owner" of
the organisation. Each move announces the state it reaches.
"""

from market.transitions import rule

VERIFICATION = {
    ("pending", "verify"): rule("verified", "admin", event="organization.verified"),
    ("pending", "reject"): rule("rejected", "admin", event="organization.rejected"),
    ("rejected", "verify"): rule("verified", "admin", event="organization.verified"),
    # After fixing what the administrator named, the owner asks again.
    ("rejected", "resubmit"): rule("pending", "owner", event="organization.pending"),
    # Revoking a verification, e.g. after a complaint.
    ("verified", "reject"): rule("rejected", "admin", event="organization.rejected"),
}
