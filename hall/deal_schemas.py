"""Input shapes of what follows a meeting (outcomes, the offer made from it, the organiser's
reminders), shared by the forms and the JSON API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.offers.schemas import FromProposalIn

OutcomeName = Literal["follow_up", "confidentiality", "offer", "no_fit", "no_show"]


class OutcomeIn(BaseModel):
    """What one side says came of a meeting; recording again replaces its own record."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: OutcomeName
    note: str = Field(default="", max_length=2000)


class FromMeetingIn(FromProposalIn):
    """An offer made after a meeting: on one of the listings the meeting was about, of the
    other side's organisation; any term left out is prefilled from the listing and the rights
    it still has free (hall.outcomes.prefill_from_listing)."""


class RemindIn(BaseModel):
    """Which participants without a meeting the organiser reminds; none named: all of them."""

    model_config = ConfigDict(extra="forbid")

    participant_ids: list[str] = Field(default_factory=list, max_length=1000)
