"""What a page calls an offer's coded values, in the page's language (see `market.web.Labels`).

Templates reach them through the names of `components/offer.html` (`ox.state_badge(...)`),
which now are these functions: an inbox row called four macros (issue 16)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from markupsafe import Markup

from market.rendering import page_variable, translate
from market.web import N_, Labels

STATE = Labels(
    {
        "open": N_("Open"),
        "countered": N_("Countered"),
        "accepted": N_("Accepted"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "expired": N_("Expired"),
        "declined": N_("Declined"),
        "on_hold": N_("On hold"),
    }
)
# The side of an offer: the listing's institute sells, the other organisation buys.
SIDE = Labels({"seller": N_("Institute"), "buyer": N_("Buyer")})
TERM = Labels(
    {
        "license_type": N_("Licence type"),
        "territories": N_("Territories"),
        "fields_of_use": N_("Fields of use"),
        "term_months": N_("Duration"),
        "upfront_fee": N_("Upfront fee"),
        "royalty_percent": N_("Royalty"),
        "milestones": N_("Milestone payments"),
        "conditions": N_("Conditions"),
        "expires_at": N_("Offer expires"),
    }
)
# What the listing page says about the rights already granted.
AVAILABILITY = Labels(
    {"available": N_("Available"), "partly": N_("Partly taken"), "taken": N_("Taken")}
)

_ON_HOLD = N_("Nobody's: on hold")
_CLOSED = N_("Closed")
_YOURS = N_("Your turn")
_WAITING = {"seller": N_("Waiting for the institute"), "buyer": N_("Waiting for the buyer")}
_WHOSE = {"seller": N_("The institute's turn"), "buyer": N_("The buyer's turn")}


def turn_text(state: Any, side: Any) -> Markup:
    """Whose turn it is, said from where the reader stands (`side` is none for
    administrators); the page's `turns` maps a state to the side whose turn it is."""
    state = str(state)
    turns = page_variable("turns")
    turn = turns.get(state) if isinstance(turns, Mapping) else None
    # The translations are ours, put in as they are, as `_()` puts them.
    if state == "on_hold":
        return Markup(f'<span class="muted">{translate(_ON_HOLD)}</span>')
    if not turn:
        return Markup(f'<span class="muted">{translate(_CLOSED)}</span>')
    if side and str(side) == turn:
        return Markup(f'<strong class="your-turn">{translate(_YOURS)}</strong>')
    whose = _WAITING if side else _WHOSE
    return Markup(translate(whose["seller" if turn == "seller" else "buyer"]))


# What contracts/offers/routes.py offers every template as `offer_labels`.
FOR_TEMPLATES = SimpleNamespace(
    state=STATE,
    state_badge=STATE.badge("offer"),
    side=SIDE,
    turn_text=turn_text,
    term=TERM,
    availability=AVAILABILITY,
)
