"""What waits for the actor: the "needs your action" cards that lead the dashboard, and
`GET /api/v1/me/actions`.

Each room knows what in it waits for whom, and the ground floor may not import a room, so each
room has a provider, `async def cards(actor) -> list[Card]` (`listings/actions.py`,
`docking/actions.py`, `contracts/offers/actions.py`, `contracts/agreements/actions.py`, and
`market/accounts/actions.py` for the administrators' verification queue), and the top floor,
which composes the rooms, installs them (`market/app/asgi.py`). The cards are computed from
the live state at each request, so a card is gone as soon as its thing is handled; a
provider sends a constant number of queries (one count or one list per kind of card, never
one per item), which `tests/market/accounts/test_dashboard.py` counts.

A card's text is an English message marked with `N_` and its values apart; it is translated
when shown, into the page's (or the API caller's) language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from market.actor import Actor
from market.i18n import translations


@dataclass(frozen=True)
class Card:
    kind: str  # what it is: "offer.answer", "contract.sign", "admin.organizations", ...
    text: str  # an English message marked with N_, with %(name)s for `values`
    link: str  # a path on this site where the action is taken
    count: int | None = None  # for a queue: how many wait
    subject_id: str | None = None  # for one thing: its id
    values: dict[str, Any] = field(default_factory=dict)

    def shown(self, lang: str) -> dict[str, Any]:
        """The card as a page and the API show it, in `lang`."""
        text = translations(lang).gettext(self.text)
        item: dict[str, Any] = {
            "kind": self.kind,
            "text": text % self.values if self.values else text,
            "link": self.link,
        }
        if self.count is not None:
            item["count"] = self.count
        if self.subject_id is not None:
            item["subject_id"] = self.subject_id
        return item


def one_per_row(
    kind: str, text: str, link: str, found: Iterable[Mapping[str, Any]], name: str = "title"
) -> list[Card]:
    """A card for each single thing that waits, from its row: `link` with `{id}` standing for
    the row's id, and the row's `name` column as `%(name)s` in `text`."""
    return [
        Card(
            kind,
            text,
            link.format(id=row["id"]),
            subject_id=str(row["id"]),
            values={name: row[name]},
        )
        for row in found
    ]


Provider = Callable[[Actor], Awaitable[list[Card]]]
_providers: tuple[Provider, ...] = ()

# At most this many cards of one kind of single thing; the link to its list shows the rest.
MOST = 10


def install(*providers: Provider) -> None:
    """Say which providers make the cards (the top floor does, once, at import)."""
    global _providers
    _providers = tuple(providers)


def installed() -> Sequence[Provider]:
    return _providers


async def cards_for(actor: Actor) -> list[Card]:
    """Everything that waits for the actor and their current organisation, in the providers'
    order; nothing for a visitor or an address not yet confirmed (they may act on nothing)."""
    if actor.user is None or not actor.user.email_verified:
        return []
    found: list[Card] = []
    for provider in _providers:
        found += await provider(actor)
    return found


async def shown_for(actor: Actor, lang: str) -> list[dict[str, Any]]:
    return [card.shown(lang) for card in await cards_for(actor)]
