"""What a page calls a payment's coded values, in the page's language (see
`market.web.Labels`), through the names of `components/payment.html`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from markupsafe import Markup

from market.rendering import translate
from market.web import N_, Labels

STATE = Labels(
    {
        "pending": N_("Not paid yet"),
        "processing": N_("Processing"),
        "succeeded": N_("Paid"),
        "failed": N_("Failed"),
        "partially_refunded": N_("Partly refunded"),
        "refunded": N_("Refunded"),
    }
)
METHOD = Labels({"card": N_("Card"), "bank_transfer": N_("Bank transfer")})
REFUND_STATE = Labels(
    {"pending": N_("Being sent"), "succeeded": N_("Refunded"), "failed": N_("Failed")}
)
ACCOUNT = Labels(
    {
        "cash_stripe": N_("Cash at Stripe"),
        "cash_bank": N_("Cash at the bank"),
        "platform_fees": N_("Platform fees"),
        "institute_payable": N_("Owed to institutes"),
    }
)
_UPFRONT = N_("Upfront fee")
_MILESTONE = N_("Milestone %(number)s")
_MILESTONE_TEXT = N_("Milestone %(number)s: %(description)s")


def item_label(key: Any, text: Any = "") -> Markup:
    """ "upfront" or "milestone-<n>"; `text` is the milestone's description, when known."""
    key = str(key)
    if key == "upfront":
        return Markup(translate(_UPFRONT))
    if key.startswith("milestone-"):
        if text:
            return Markup(translate(_MILESTONE_TEXT)) % {"number": key[10:], "description": text}
        return Markup(translate(_MILESTONE)) % {"number": key[10:]}
    return Markup.escape(key)


# What contracts/payments/routes.py offers every template as `payment_labels`.
FOR_TEMPLATES = SimpleNamespace(
    state=STATE,
    state_badge=STATE.badge("payment"),
    method=METHOD,
    refund_state=REFUND_STATE,
    account=ACCOUNT,
    item=item_label,
)
