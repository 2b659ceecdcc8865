"""Rights availability: whether a grant (licence type x territories x fields of use) collides
with the grants a listing already gave.

- An assignment transfers the whole right: it conflicts with every other grant.
- An exclusive or sole licence conflicts with any grant that overlaps it in territory and in
  field of use.
- Non-exclusive licences and options do not exclude one another.

"WORLD" overlaps every territory and the field "all" every field. Fields are free text,
compared without case and surrounding spaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WORLD = "WORLD"
ALL_FIELDS = "all"
EXCLUSIVE = frozenset({"exclusive", "sole"})
ASSIGNMENT = "assignment"


@dataclass(frozen=True)
class Scope:
    license_type: str
    territories: tuple[str, ...]
    fields_of_use: tuple[str, ...]

    @classmethod
    def of(cls, license_type: str, territories: Iterable[str], fields: Iterable[str]) -> Scope:
        return cls(
            license_type=str(license_type),
            territories=tuple(str(t).strip().upper() for t in territories) or (WORLD,),
            fields_of_use=tuple(_field(f) for f in fields) or (ALL_FIELDS,),
        )

    def describe(self) -> str:
        places = ", ".join(self.territories)
        uses = ", ".join(self.fields_of_use)
        return f"{self.license_type.replace('_', '-')} licence in {places} for {uses}"


def _field(value: str) -> str:
    text = " ".join(str(value).split()).lower()
    return ALL_FIELDS if text in {"", ALL_FIELDS, "all fields"} else text


def territories_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    return WORLD in a or WORLD in b or bool(set(a) & set(b))


def fields_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    return ALL_FIELDS in a or ALL_FIELDS in b or bool(set(a) & set(b))


def conflicts(new: Scope, existing: Scope) -> bool:
    if ASSIGNMENT in (new.license_type, existing.license_type):
        return True
    if not ({new.license_type, existing.license_type} & EXCLUSIVE):
        return False
    return territories_overlap(new.territories, existing.territories) and fields_overlap(
        new.fields_of_use, existing.fields_of_use
    )


def first_conflict(new: Scope, granted: Iterable[tuple[str, Scope]]) -> tuple[str, Scope] | None:
    """The first (label, scope) among `granted` that `new` collides with."""
    for label, scope in granted:
        if conflicts(new, scope):
            return label, scope
    return None


@dataclass(frozen=True)
class Availability:
    license_type: str
    # "available", "partly" (some territories or fields are taken) or "taken".
    status: str
    blocked_by: tuple[Scope, ...] = ()


def availability(
    license_types: Iterable[str],
    territories: Iterable[str],
    fields_of_use: Iterable[str],
    granted: Iterable[Scope],
) -> list[Availability]:
    """For each licence type the listing offers, whether its whole scope is still free."""
    granted = list(granted)
    whole = Scope.of("", territories, fields_of_use)
    result = []
    for license_type in license_types:
        wanted = Scope.of(license_type, whole.territories, whole.fields_of_use)
        blockers = tuple(scope for scope in granted if conflicts(wanted, scope))
        if not blockers:
            status = "available"
        elif any(
            _covers(b, whole) or ASSIGNMENT in (b.license_type, license_type) for b in blockers
        ):
            status = "taken"
        else:
            status = "partly"
        result.append(Availability(license_type, status, blockers))
    return result


def _covers(scope: Scope, whole: Scope) -> bool:
    """`scope` spans every territory and every field of `whole`."""
    places = WORLD in scope.territories or set(whole.territories) <= set(scope.territories)
    uses = ALL_FIELDS in scope.fields_of_use or set(whole.fields_of_use) <= set(scope.fields_of_use)
    return places and uses
