"""Names the landed migrations import from `contracts.models` (0003, 0005, 0006). Migrations are
never edited after they land, so these enums stay importable here; the models themselves live in
their rooms (offers, agreements, payments) and nothing else imports this module."""

from contracts.agreements.models import ContractState, DocumentKind
from contracts.offers.models import OfferState, Side
from contracts.payments.models import LedgerAccount, PaymentMethod, PaymentState, RefundState

__all__ = [
    "ContractState",
    "DocumentKind",
    "LedgerAccount",
    "OfferState",
    "PaymentMethod",
    "PaymentState",
    "RefundState",
    "Side",
]
