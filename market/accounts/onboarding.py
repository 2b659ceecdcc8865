"""The newcomer's checklist on the dashboard while their organisation waits for verification:
each step marked done or not from the live state (one query: the documents), what the
administrators check, how long it usually takes, and whom to write to."""

from __future__ import annotations

from dataclasses import dataclass

from market.accounts.models import OrganizationKind, Verification, VerificationDocument
from market.actor import Actor


@dataclass(frozen=True)
class Step:
    key: str  # "confirm_email", "document"
    done: bool
    link: str


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]
    verification_days: int
    support_email: str
    email_domain: str
    registration_number: str

    @property
    def done(self) -> bool:
        return all(step.done for step in self.steps)


async def checklist(
    actor: Actor, *, verification_days: int, support_email: str
) -> Checklist | None:
    """The checklist for a member of an organisation not yet verified; None for anyone else."""
    org = actor.organization
    user = actor.user
    if user is None or org is None or org.kind == OrganizationKind.PLATFORM:
        return None
    if org.verification == Verification.VERIFIED:
        return None
    has_document = await VerificationDocument.filter(organization_id=org.id).exists()
    # The registration number is asked for at registration; the administrators' check of it
    # is in "what they check" below.
    steps = [
        Step("confirm_email", user.email_verified, ""),
        Step("document", has_document, "/organization#documents-title"),
    ]
    return Checklist(
        steps=steps,
        verification_days=verification_days,
        support_email=support_email,
        email_domain=user.email.rsplit("@", 1)[-1],
        registration_number=org.registration_number,
    )
