"""Need input shapes shared by the form and the API.

Every rule of a need's input is here, so the form, the API and an edit of a stored need refuse
the same things with the same field names: amounts at or above zero (market.money.Money), a
budget whose minimum is not above its maximum and whose ends share a currency, a TRL range
of 1-9 the right way up, a deadline after today and a feedback date not before it, bounded
texts and lists, known IPC codes and territories (the listings' own validators), and known
forms of cooperation and visibility.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from listings.schemas import IpcCodeStr, Keyword, Territory, Unset, refuse_null, unique
from market.clock import utcnow
from market.i18n import Msg
from market.money import Money

CooperationForm = Literal[
    "license", "assignment", "commissioned_development", "joint_development", "sponsored_research"
]
VisibilityChoice = Literal["public", "anonymous", "after_confidentiality"]
COOPERATION: tuple[str, ...] = CooperationForm.__args__  # type: ignore[attr-defined]
VISIBILITY: tuple[str, ...] = VisibilityChoice.__args__  # type: ignore[attr-defined]
# A deadline years away is a typo, not a call for proposals.
HORIZON_DAYS = 3 * 365
LIST_FIELDS = (
    "must_have",
    "nice_to_have",
    "ipc_codes",
    "keywords",
    "cooperation",
    "territories",
)
# A field left out of a patch is None; only these may also be sent as null (to clear them).
NULLABLE_FIELDS = ("budget_min", "budget_max", "feedback_by")


def _a_date_as_text(value: Any) -> Any:
    # Pydantic would read a number as a Unix time; the document promises YYYY-MM-DD only.
    if isinstance(value, int | float):
        raise ValueError("Give the date as YYYY-MM-DD.")
    return value


def _ahead(value: date) -> date:
    today = utcnow().date()
    if value <= today:
        raise ValueError("Choose a date after today.")
    if value > today + timedelta(days=HORIZON_DAYS):
        raise ValueError(f"Choose a date within {HORIZON_DAYS // 365} years.")
    return value


Title = Annotated[str, Field(min_length=3, max_length=200)]
Problem = Annotated[str, Field(min_length=10, max_length=5000)]
LongText = Annotated[str, Field(max_length=20_000)]
ShortText = Annotated[str, Field(max_length=5000)]
Requirement = Annotated[str, Field(min_length=1, max_length=300)]
Requirements = Annotated[list[Requirement], Field(max_length=20)]
Trl = Annotated[StrictInt, Field(ge=1, le=9)]
IpcCodes = Annotated[list[IpcCodeStr], Field(max_length=40)]
Keywords = Annotated[list[Keyword], Field(max_length=40)]
Cooperations = Annotated[list[CooperationForm], Field(max_length=len(COOPERATION))]
Territories = Annotated[list[Territory], Field(max_length=250)]
Day = Annotated[date, BeforeValidator(_a_date_as_text), AfterValidator(_ahead)]
Reason = Annotated[str, Field(max_length=2000)]


class NeedIn(BaseModel):
    """A whole need. A draft may still lack requirements and forms of cooperation; submitting
    asks for them (`submission_problems`). The order of the fields matters: each cross-field
    check runs on the later field of its pair and names it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title
    problem: Problem
    background: LongText = ""
    must_have: Requirements = Field(default_factory=list)
    nice_to_have: Requirements = Field(default_factory=list)
    out_of_scope: ShortText = ""
    trl_min: Trl
    trl_max: Trl
    ipc_codes: IpcCodes = Field(default_factory=list)
    keywords: Keywords = Field(default_factory=list)
    budget_min: Money | None = None
    budget_max: Money | None = None
    cooperation: Cooperations = Field(default_factory=list)
    territories: Territories = Field(default_factory=lambda: ["WORLD"])
    deadline: Day
    feedback_by: Day | None = None
    visibility: VisibilityChoice = "public"
    language: Literal["en", "zh"] = "en"

    @field_validator(*LIST_FIELDS)
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        return unique(values)

    @field_validator("trl_max")
    @classmethod
    def _trl_range(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("trl_min")
        if low is not None and value < low:
            raise ValueError(
                Msg("The highest level cannot be below the lowest (%(low)s).", low=low)
            )
        return value

    @field_validator("budget_max")
    @classmethod
    def _budget_range(cls, value: Money | None, info: ValidationInfo) -> Money | None:
        low = info.data.get("budget_min")
        if value is None or low is None:
            return value
        if value.currency != low.currency:
            raise ValueError("Give both ends of the budget in the same currency.")
        if value.amount < low.amount:
            raise ValueError("The maximum cannot be below the minimum.")
        return value

    @field_validator("feedback_by")
    @classmethod
    def _feedback_after_deadline(cls, value: date | None, info: ValidationInfo) -> date | None:
        deadline = info.data.get("deadline")
        if value is not None and deadline is not None and value < deadline:
            raise ValueError("Feedback cannot come before the deadline.")
        return value


class NeedPatch(BaseModel):
    """A partial change of a draft or rejected need: only the fields sent are touched, and the
    need they make is checked whole, as NeedIn (docking.service.update_need). null clears a
    field that may be empty (NULLABLE_FIELDS); any other field sent as null is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title | Unset = None
    problem: Problem | Unset = None
    background: LongText | Unset = None
    must_have: Requirements | Unset = None
    nice_to_have: Requirements | Unset = None
    out_of_scope: ShortText | Unset = None
    trl_min: Trl | Unset = None
    trl_max: Trl | Unset = None
    ipc_codes: IpcCodes | Unset = None
    keywords: Keywords | Unset = None
    budget_min: Money | None = None
    budget_max: Money | None = None
    cooperation: Cooperations | Unset = None
    territories: Territories | Unset = None
    deadline: Day | Unset = None
    feedback_by: Day | None = None
    visibility: VisibilityChoice | Unset = None
    language: Literal["en", "zh"] | Unset = None

    _not_null = refuse_null(*NULLABLE_FIELDS)


class CloseIn(BaseModel):
    """Closing early: why, for those who answered (optional)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason = ""


class ExtendIn(BaseModel):
    """A later deadline for a published need."""

    model_config = ConfigDict(extra="forbid")

    deadline: Day


def submission_problems(need: dict[str, Any]) -> dict[str, str]:
    """What a need still lacks before an administrator can review it."""
    problems: dict[str, str] = {}
    if not need.get("must_have"):
        problems["must_have"] = "Name at least one requirement a solution must meet."
    if not need.get("cooperation"):
        problems["cooperation"] = "Say which forms of cooperation you would accept."
    if not need.get("territories"):
        problems["territories"] = "Say where you need the rights (WORLD or countries)."
    deadline = need.get("deadline")
    if deadline is not None and deadline <= utcnow().date():
        problems["deadline"] = "The deadline has passed: choose a later one."
    return problems


# --- proposals and questions ---------------------------------------------------------------

DeclineReasonChoice = Literal[
    "not_a_fit",
    "requirements_not_met",
    "trl_too_low",
    "over_budget",
    "territory",
    "chose_another",
    "other",
]
DECLINE_REASONS: tuple[str, ...] = DeclineReasonChoice.__args__  # type: ignore[attr-defined]
StageChoice = Literal["shortlisted", "finalist", "declined", "withdrawn"]
# A proposal is short by design: a page, not a dossier.
MAX_LISTINGS = 10
Summary = Annotated[str, Field(min_length=20, max_length=3000)]
How = Annotated[str, Field(min_length=3, max_length=1500)]
Body = Annotated[str, Field(min_length=1, max_length=5000)]
ListingId = Annotated[str, Field(min_length=1, max_length=64)]


class RequirementAnswer(BaseModel):
    """How the proposal meets one must-have of the need (named as the need words it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    requirement: Requirement
    how: How


class ProposalIn(BaseModel):
    """A proposal: one answer per must-have of the need (checked against the need by
    docking.service.make_proposal), a TRL, and the proposer's own published listings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    summary: Summary
    requirements: Annotated[list[RequirementAnswer], Field(max_length=20)] = Field(
        default_factory=list
    )
    trl: Trl
    listing_ids: Annotated[list[ListingId], Field(min_length=1, max_length=MAX_LISTINGS)]
    # The enquiry the proposal follows up: the seeker's question on one of these listings.
    enquiry_id: ListingId | None = None

    @field_validator("listing_ids")
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        return unique(values)


class StageIn(BaseModel):
    """A move of a proposal: a decline names its reason from the list, with an optional note."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    stage: StageChoice
    reason: DeclineReasonChoice | None = None
    note: Reason = ""


class ProposalMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Body


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Annotated[str, Field(min_length=5, max_length=2000)]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    answer: Annotated[str, Field(min_length=1, max_length=5000)]
