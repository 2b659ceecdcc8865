"""The offer lifecycle as a table: (state, action) -> next state, and who may act.

Roles: "seller" (a member of the listing's institute), "buyer" (a member of the organisation
that made the offer) and "system" (the expiry cron, and the holds an acceptance puts on
conflicting offers). An open offer waits for the seller, a countered one for the buyer: only
that side accepts or counters. The buyer may withdraw while the offer is open; either side may
reject.

An acceptance does not decline the live offers it conflicts with: it puts them on hold, so a
buyer who never signs cannot take the rights hostage. The accepted offer's contract decides:
cancelled, rejected or lapsed, the held offers resume the state they were held from (expire if
their time ran out meanwhile); active, they are declined. A held offer waits for nobody's
answer (no accept, no counter); its buyer may still withdraw it and either side reject it.
"""

from market.transitions import rule

HELD = "offer.held"
RESUMED = "offer.resumed"

OFFER = {
    ("open", "accept"): rule("accepted", "seller", event="offer.accepted"),
    ("open", "counter"): rule("countered", "seller", event="offer.countered"),
    ("open", "reject"): rule("rejected", "seller", "buyer", event="offer.rejected"),
    ("open", "withdraw"): rule("withdrawn", "buyer", event="offer.withdrawn"),
    ("open", "expire"): rule("expired", "system", event="offer.expired"),
    ("open", "hold"): rule("on_hold", "system", event=HELD),
    ("countered", "accept"): rule("accepted", "buyer", event="offer.accepted"),
    ("countered", "counter"): rule("open", "buyer", event="offer.countered"),
    ("countered", "reject"): rule("rejected", "buyer", "seller", event="offer.rejected"),
    ("countered", "expire"): rule("expired", "system", event="offer.expired"),
    ("countered", "hold"): rule("on_hold", "system", event=HELD),
    # Back to the state it was held from (Offer.held_from): one row for each.
    ("on_hold", "resume_open"): rule("open", "system", event=RESUMED),
    ("on_hold", "resume_countered"): rule("countered", "system", event=RESUMED),
    # Released past its expiry time.
    ("on_hold", "expire"): rule("expired", "system", event="offer.expired"),
    # The holding contract went active, or the rights went to a contract that did.
    ("on_hold", "decline"): rule("declined", "system", event="offer.declined"),
    # Released by one contract, still in conflict with another one pending: held by that one
    # instead. Nothing changes for either side, so nobody is told.
    ("on_hold", "hold"): rule("on_hold", "system"),
    ("on_hold", "reject"): rule("rejected", "seller", "buyer", event="offer.rejected"),
    ("on_hold", "withdraw"): rule("withdrawn", "buyer", event="offer.withdrawn"),
}

# Whose turn it is in each live state.
TURN = {"open": "seller", "countered": "buyer"}

# The action that takes a held offer back to the state it was held from.
RESUME = {"open": "resume_open", "countered": "resume_countered"}

# States in which the two sides may still write to each other.
MESSAGING = {"open", "countered", "accepted", "on_hold"}

# Licence types whose grant excludes others in the same territory and field.
EXCLUSIVE_TYPES = frozenset({"exclusive", "sole"})
