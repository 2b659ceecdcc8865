"""What a page calls a contract's coded values, in the page's language (see
`market.web.Labels`), through the names of `components/contract.html`."""

from __future__ import annotations

from types import SimpleNamespace

from market.web import N_, Labels

STATE = Labels(
    {
        "drafted": N_("Being drawn up"),
        "pending_approval": N_("Awaiting approval"),
        "approved": N_("Approved"),
        "awaiting_signatures": N_("Awaiting signatures"),
        "signed": N_("Signed"),
        "awaiting_payment": N_("Awaiting payment"),
        "active": N_("Active"),
        "completed": N_("Completed"),
        "rejected": N_("Rejected"),
        "cancelled": N_("Cancelled"),
    }
)
# The parties as the agreement names them.
SIDE = Labels({"seller": N_("Licensor"), "buyer": N_("Licensee")})
KIND = Labels({"agreement": N_("Agreement"), "signed": N_("Signed agreement")})

# What contracts/agreements/routes.py offers every template as `contract_labels`.
FOR_TEMPLATES = SimpleNamespace(
    state=STATE, state_badge=STATE.badge("contract"), side=SIDE, kind=KIND
)
