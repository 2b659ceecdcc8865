"""The offer lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "seller" (a member of the listing's institute), "buyer" (a member of the organisation
that made the offer) and "system" (the expiry cron, and a conflicting grant declining an offer).
An open offer waits for the seller, a countered one for the buyer: only that side accepts or
counters. The buyer may withdraw while the offer is open; either side may reject.
"""

from market.transitions import rule

OFFER = {
    ("open", "accept"): rule("accepted", "seller", event="offer.accepted"),
    ("open", "counter"): rule("countered", "seller", event="offer.countered"),
    ("open", "reject"): rule("rejected", "seller", "buyer", event="offer.rejected"),
    ("open", "withdraw"): rule("withdrawn", "buyer", event="offer.withdrawn"),
    ("open", "expire"): rule("expired", "system", event="offer.expired"),
    ("open", "decline"): rule("declined", "system", event="offer.declined"),
    ("countered", "accept"): rule("accepted", "buyer", event="offer.accepted"),
    ("countered", "counter"): rule("open", "buyer", event="offer.countered"),
    ("countered", "reject"): rule("rejected", "buyer", "seller", event="offer.rejected"),
    ("countered", "expire"): rule("expired", "system", event="offer.expired"),
    ("countered", "decline"): rule("declined", "system", event="offer.declined"),
}

# Whose turn it is in each live state.
TURN = {"open": "seller", "countered": "buyer"}

# States in which the two sides may still write to each other.
MESSAGING = {"open", "countered", "accepted"}

# Licence types whose grant excludes others in the same territory and field.
EXCLUSIVE_TYPES = frozenset({"exclusive", "sole"})
