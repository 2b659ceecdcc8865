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

A provider's lists are not read one by one: it returns an `Ask` for each (what to select, from
where, in which order), and `cards_for` reads every provider's asks in one statement, a
UNION ALL of them. The dashboard of a member asked seven lists on every view, and each
statement cost more CPU than the page's own reading of its rows (issue 16).

A card's text is an English message marked with `N_` and its values apart; it is translated
when shown, into the page's (or the API caller's) language.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from market import rows
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
    """A card for each single thing that waits, from its row (an `Ask`'s): `link` with `{id}`
    standing for the row's id, and the row's label as `%(name)s` in `text`."""
    return [
        Card(
            kind,
            text,
            link.format(id=row["id"]),
            subject_id=str(row["id"]),
            values={name: row["label"]},
        )
        for row in found
    ]


@dataclass(frozen=True)
class Ask:
    """A list of waiting things a provider asks for, read with the other providers' asks in one
    statement: SQL expressions for the row's `id`, `label` (what `text` names) and, where the
    cards need them, a `state` and a `number`; `source` the FROM, WHERE (and GROUP BY) part,
    `order` the ORDER BY; `$1, $2, ...` in them stand for `values`, each used once, in the
    order id, label, state, number, source, order. At most MOST rows; `cards` turns them
    (mappings with those four keys: id, label and state as text, number as an integer) into
    cards."""

    id: str
    label: str
    source: str
    order: str
    values: Sequence[Any]
    cards: Callable[[Sequence[Mapping[str, Any]]], list[Card]]
    state: str = "NULL"
    number: str = "NULL"


def each_row(kind: str, text: str, link: str, *, name: str = "title", **ask: Any) -> Ask:
    """An `Ask` whose every row is a card of its own (`one_per_row`); `ask` is the rest of the
    Ask (id, label, source, order, values)."""
    return Ask(**ask, cards=lambda found: one_per_row(kind, text, link, found, name))


Provider = Callable[[Actor], Awaitable[list[Card | Ask]]]
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
    given: list[Card | Ask] = []
    for provider in _providers:
        given += await provider(actor)
    return await answered(given)


async def answered(given: Sequence[Card | Ask]) -> list[Card]:
    """The cards, each ask's in its place, every ask read in one statement."""
    asks = [item for item in given if isinstance(item, Ask)]
    found: dict[int, list[Mapping[str, Any]]] = {n: [] for n in range(len(asks))}
    if asks:
        values = [value for ask in asks for value in ask.values]
        for row in await _statement(asks).fetch(values):
            found[row["part"]].append(row)
    cards: list[Card] = []
    part = 0
    for item in given:
        if isinstance(item, Ask):
            cards += item.cards(found[part])
            part += 1
        else:
            cards.append(item)
    return cards


_PLACEHOLDER = re.compile(r"\$(\d+)")
_statements: dict[tuple[tuple[str, ...], ...], rows.Statement] = {}


def _statement(asks: Sequence[Ask]) -> rows.Statement:
    """The asks' UNION ALL, made once per combination: each part numbered, each row numbered
    in its part's order (so the parts' orders hold whatever order UNION ALL returns them in),
    the placeholders numbered on across the parts."""
    shape = tuple((a.id, a.label, a.state, a.number, a.source, a.order) for a in asks)
    found = _statements.get(shape)
    if found is None:
        parts, offset = [], 0
        for n, ask in enumerate(asks):
            # The providers' own SQL, constants of their modules; every value is bound.
            text = (
                f"SELECT * FROM (SELECT {n} AS part,"  # noqa: S608
                f" row_number() OVER (ORDER BY {ask.order}) AS seq,"
                f" CAST({ask.id} AS TEXT) AS id, CAST({ask.label} AS TEXT) AS label,"
                f" CAST({ask.state} AS TEXT) AS state, CAST({ask.number} AS BIGINT) AS number"
                f" {ask.source} ORDER BY {ask.order} LIMIT {MOST}) AS part{n}"
            )
            used = _PLACEHOLDER.findall(text)
            if [int(u) for u in used] != list(range(1, len(ask.values) + 1)):
                raise ValueError(f"ask {n}: placeholders {used} for {len(ask.values)} values")
            parts.append(_PLACEHOLDER.sub(lambda m, o=offset: f"${int(m[1]) + o}", text))
            offset += len(ask.values)
        union = " UNION ALL ".join(parts)
        found = _statements[shape] = rows.Statement(
            f"SELECT * FROM ({union}) AS asked ORDER BY part, seq"  # noqa: S608
        )
    return found


async def shown_for(actor: Actor, lang: str) -> list[dict[str, Any]]:
    return [card.shown(lang) for card in await cards_for(actor)]
