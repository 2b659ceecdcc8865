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
# The facts a contract relies on: the patents it licenses, who invented them, where and for
# what the rights apply, how mature the technology is. On a published listing a change waits
# for review like the substance; once an accepted offer relies on the listing they are fixed
# (`listings.service.relied_on`). The contact address is not among them: no contract names it,
# and an institute must be able to redirect enquiries at once when a person leaves.
FACTS = ("patent_numbers", "inventors", "territories", "fields_of_use", "trl")
# Fields whose change on a published listing waits for an administrator.
SUBSTANCE = (
    "title",
    "summary",
    "description",
    "license_types",
    "price_model",
    "asking_price",
    *FACTS,
)

# An enquiry (listings/enquiries.py): a question thread on a listing, open until either side
# closes it. Roles: "buyer" (the asking enterprise's negotiators), "seller" (the institute's).
ENQUIRY_CLOSED = "enquiry.closed"
ENQUIRY = {
    ("open", "close"): rule("closed", "buyer", "seller", event=ENQUIRY_CLOSED),
}
# States in which both sides may still write, and an offer may be made from the enquiry.
ENQUIRY_OPEN = {"open"}
