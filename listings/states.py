"""The listing lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "member" of the owning institute, platform "admin", and "system" for what other
domains do (contracts license a listing). Editing is not a transition: drafts, rejected and
withdrawn listings are edited in place, published ones through a reviewed revision.
"""

from market.transitions import rule

LIFECYCLE = {
    ("draft", "submit"): rule("submitted", "member"),
    ("rejected", "submit"): rule("submitted", "member"),
    ("withdrawn", "submit"): rule("submitted", "member"),
    ("submitted", "approve"): rule("published", "admin"),
    ("submitted", "reject"): rule("rejected", "admin"),
    ("published", "withdraw"): rule("withdrawn", "member", "admin"),
    ("published", "license"): rule("licensed", "system"),
}

# States whose listing the owner may change directly.
EDITABLE = {"draft", "rejected", "withdrawn"}
# Fields whose change on a published listing waits for an administrator.
SUBSTANCE = ("title", "summary", "description", "license_types", "price_model", "asking_price")
