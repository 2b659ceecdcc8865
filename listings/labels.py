"""What a page calls a listing's coded values, in the page's language (see `market.web.Labels`).

Templates reach them as `listing_labels.kind(...)` (listings/routes.py offers them), and through
the names of `components/listing.html` (`lx.kind_label(...)`), which now are these functions."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from markupsafe import Markup, escape

from market.money import Money
from market.web import N_, Labels

KIND = Labels(
    {
        "patent": N_("Patent"),
        "patent_application": N_("Patent application"),
        "software": N_("Software"),
        "know_how": N_("Know-how"),
        "material": N_("Material"),
        "design": N_("Design"),
        "other": N_("Other"),
    }
)
STATE = Labels(
    {
        "draft": N_("Draft"),
        "submitted": N_("Awaiting review"),
        "published": N_("Published"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "licensed": N_("Licensed"),
    }
)
LICENSE = Labels(
    {
        "exclusive": N_("Exclusive licence"),
        "sole": N_("Sole licence"),
        "non_exclusive": N_("Non-exclusive licence"),
        "assignment": N_("Assignment"),
        "option": N_("Option"),
    }
)
PRICE_MODEL = Labels(
    {
        "fixed": N_("Fixed price"),
        "negotiable": N_("Price negotiable"),
        "royalty": N_("Royalty"),
        "offers": N_("Open to offers"),
    }
)
TRL = Labels(
    {
        "1": N_("TRL 1: basic principles observed"),
        "2": N_("TRL 2: technology concept formulated"),
        "3": N_("TRL 3: experimental proof of concept"),
        "4": N_("TRL 4: validated in the laboratory"),
        "5": N_("TRL 5: validated in a relevant environment"),
        "6": N_("TRL 6: demonstrated in a relevant environment"),
        "7": N_("TRL 7: prototype demonstrated in operation"),
        "8": N_("TRL 8: system complete and qualified"),
        "9": N_("TRL 9: proven in operation"),
    }
)


def trl(level: object) -> str:
    """A readiness level's description; a dash where there is none."""
    text = TRL(level)
    return "—" if text == str(level) else text


def license_list(kinds: list[str] | None) -> str:
    """Licence types as a comma-separated list; a dash where there are none."""
    return ", ".join(LICENSE(kind) for kind in kinds) if kinds else "—"


def price(listing: Any) -> Markup:
    """The asking price with its model ("EUR 1,000.00 (Fixed price)"), or the model alone."""
    model = PRICE_MODEL(listing.price_model)
    if listing.asking_amount is None or listing.asking_currency is None:
        return escape(model)
    amount = Money(amount=listing.asking_amount, currency=listing.asking_currency).format()
    return Markup(f'{escape(amount)} <span class="muted">({escape(model)})</span>')


# What listings/routes.py offers every template as `listing_labels`.
FOR_TEMPLATES = SimpleNamespace(
    kind=KIND,
    state=STATE,
    license=LICENSE,
    price_model=PRICE_MODEL,
    trl=trl,
    license_list=license_list,
    price=price,
)
