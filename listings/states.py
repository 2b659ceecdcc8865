"""The listing lifecycle as a table: (state, action) -> next state, and who may act.

Roles (derived by `listings.service.roles_on`): "member" of the owning institute, platform
"admin", and "system" for what other domains do (contracts license a listing). Editing is not
a transition: drafts, rejected and withdrawn listings are edited in place, published ones
through a reviewed revision.
"""

from market.transitions import rule

# Every move is announced (search and notifications decide what matters to them): publishing
# and withdrawing by name, the rest as a change.
CHANGED = "listing.changed"

LIFECYCLE = {
    ("draft", "submit"): rule("submitted", "member", event=CHANGED),
    ("rejected", "submit"): rule("submitted", "member", event=CHANGED),
    ("withdrawn", "submit"): rule("submitted", "member", event=CHANGED),
    ("submitted", "approve"): rule("published", "admin", event="listing.published"),
    ("submitted", "reject"): rule("rejected", "admin", event=CHANGED),
    ("published", "withdraw"): rule("withdrawn", "member", "admin", event="listing.withdrawn"),
    ("published", "license"): rule("licensed", "system", event=CHANGED),
}

# States whose listing the owner may change directly.
EDITABLE = {"draft", "rejected", "withdrawn"}
# Fields whose change on a published listing waits for an administrator.
SUBSTANCE = ("title", "summary", "description", "license_types", "price_model", "asking_price")
