"""Technology needs: an enterprise's listing of demand, the other side of listings' supply.

Proposals, matches and alerts will hang off `Need` (issue 18, points 2 to 4); what they read of
it is already here: the requirements as lists of short strings (a proposal answers each
must-have), the TRL range, IPC codes and keywords (what matching compares), the territories
and forms of cooperation (what an offer made from a proposal is prefilled with), and a version
for the search index to check its drift by, as listings do.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class NeedState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    REJECTED = "rejected"
    CLOSED = "closed"
    AWARDED = "awarded"
    WITHDRAWN = "withdrawn"


class Cooperation(StrEnum):
    LICENSE = "license"
    ASSIGNMENT = "assignment"
    COMMISSIONED_DEVELOPMENT = "commissioned_development"
    JOINT_DEVELOPMENT = "joint_development"
    SPONSORED_RESEARCH = "sponsored_research"


class Visibility(StrEnum):
    PUBLIC = "public"
    # Published without the seeker's name: who posted it is known to the seeker and the
    # administrators only (docking.service.public_view).
    ANONYMOUS = "anonymous"
    # The problem is public; the details (background, requirements, budget) only to a
    # responder who accepted a confidentiality clause.
    AFTER_CONFIDENTIALITY = "after_confidentiality"


class Need(Model):
    id = fields.UUIDField(primary_key=True)
    # The enterprise that seeks: it owns the need, whoever of its members wrote it.
    seeker: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="needs", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="needs", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=200)
    problem = fields.TextField()
    background = fields.TextField(default="")
    must_have = fields.JSONField(default=list)
    nice_to_have = fields.JSONField(default=list)
    out_of_scope = fields.TextField(default="")
    trl_min = fields.SmallIntField()
    trl_max = fields.SmallIntField()
    ipc_codes = fields.JSONField(default=list)
    keywords = fields.JSONField(default=list)
    # The budget range in minor units of one currency; either end may be open.
    budget_min = fields.BigIntField(null=True)
    budget_max = fields.BigIntField(null=True)
    budget_currency = fields.CharField(max_length=3, null=True)
    cooperation = fields.JSONField(default=list)
    territories = fields.JSONField(default=list)
    # The last day (UTC) responses are taken; the worker closes the need after it.
    deadline = fields.DateField()
    # When the seeker expects to tell responders how they fared.
    feedback_by = fields.DateField(null=True)
    visibility = fields.CharEnumField(Visibility, max_length=24, default=Visibility.PUBLIC)
    language = fields.CharField(max_length=2, default="en")
    state = fields.CharEnumField(NeedState, max_length=16, default=NeedState.DRAFT)
    rejection_reason = fields.TextField(default="")
    closed_reason = fields.TextField(default="")
    # Bumped on every change a reader of the need (the search index, a matcher) must see.
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    published_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "need"
        # The public list (newest first), an enterprise's own, and the deadline sweep.
        indexes = (("state", "published_at"), ("seeker_id", "state"), ("state", "deadline"))


class ProposalStage(StrEnum):
    NEW = "new"
    SHORTLISTED = "shortlisted"
    FINALIST = "finalist"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    # The seeker made an offer on one of its listings (contracts/offers: offer_from_proposal).
    CONVERTED = "converted"


class DeclineReason(StrEnum):
    """Why a seeker declined a proposal: a short list the proposer can learn from."""

    NOT_A_FIT = "not_a_fit"
    REQUIREMENTS_NOT_MET = "requirements_not_met"
    TRL_TOO_LOW = "trl_too_low"
    OVER_BUDGET = "over_budget"
    TERRITORY = "territory"
    CHOSE_ANOTHER = "chose_another"
    OTHER = "other"


class Proposal(Model):
    """The answer of a verified institute to a published need: one per organisation and need."""

    id = fields.UUIDField(primary_key=True)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="proposals", on_delete=fields.CASCADE
    )
    proposer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="proposals", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="proposals", null=True, on_delete=fields.SET_NULL
    )
    summary = fields.TextField()
    # [{"requirement": <a must-have of the need, as it read then>, "how": str}], in its order.
    requirements = fields.JSONField(default=list)
    trl = fields.SmallIntField()
    # The proposer's own published listings it offers to solve the need with (ids as text).
    listing_ids = fields.JSONField(default=list)
    # The enquiry on one of those listings that the seeker asked the proposer before, if the
    # proposal follows it up (listings.enquiries.origin_for_proposal).
    enquiry: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Enquiry", related_name="proposals", null=True, on_delete=fields.SET_NULL
    )
    stage = fields.CharEnumField(ProposalStage, max_length=16, default=ProposalStage.NEW)
    decline_reason = fields.CharField(max_length=32, default="")
    decline_note = fields.TextField(default="")
    # The offer it became: the offer holds the foreign key (Offer.proposal), contracts being
    # after docking in the flow; this plain id lets the proposal page link to it.
    offer_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "proposal"
        # The database itself refuses a second proposal of one organisation to one need.
        unique_together = (("need", "proposer"),)
        indexes = (("proposer_id", "updated_at"), ("need_id", "stage"))


class ProposalMessage(Model):
    """The question thread of one proposal, between the seeker and the proposer."""

    id = fields.UUIDField(primary_key=True)
    proposal: fields.ForeignKeyRelation[Proposal] = fields.ForeignKeyField(
        "models.Proposal", related_name="messages", on_delete=fields.CASCADE
    )
    # "seeker" or "proposer": what a reader of an anonymous need is shown instead of a name.
    side = fields.CharField(max_length=8)
    author: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="proposal_messages", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "proposal_message"
        ordering = ["created_at"]


class NeedQuestion(Model):
    """A public question on a published need. Once the seeker answers it, everyone sees both
    (never who asked, nor who answered)."""

    id = fields.UUIDField(primary_key=True)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="questions", on_delete=fields.CASCADE
    )
    asked_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="need_questions", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    answer = fields.TextField(default="")
    answered_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="need_answers", null=True, on_delete=fields.SET_NULL
    )
    answered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "need_question"
        indexes = (("need_id", "answered_at"),)


class Match(Model):
    """A listing that fits a need, found by the worker (docking/matching.py) when either was
    published. One row per (need, listing): matching again updates it. `reasons` is what a
    person reads under "why this match": a list of {"kind": ..., ...} entries (words, ipc,
    trl, rights), rendered in the reader's language by docking.matching.explain."""

    id = fields.UUIDField(primary_key=True)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="matches", on_delete=fields.CASCADE
    )
    listing: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Listing", related_name="need_matches", on_delete=fields.CASCADE
    )
    # 0..100: what the reasons add up to (docking.matching.score).
    score = fields.SmallIntField()
    reasons = fields.JSONField(default=list)
    # Either side may set its match aside; the other side still sees it.
    dismissed_by_seeker = fields.BooleanField(default=False)
    dismissed_by_institute = fields.BooleanField(default=False)
    # Set when both sides were told of a strong match: they are told once per pair.
    notified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "need_match"
        unique_together = (("need", "listing"),)
        # A need's matches and a listing's, best first.
        indexes = (("need_id", "score"), ("listing_id", "score"))


class ClauseAcceptance(Model):
    """An organisation's acceptance of a need's confidentiality clause: from then on its
    members see the need's background, requirements and budget (docking.service.public_view).
    One per need and organisation; it is never withdrawn (what was read stays read)."""

    id = fields.UUIDField(primary_key=True)
    need: fields.ForeignKeyRelation[Need] = fields.ForeignKeyField(
        "models.Need", related_name="clause_acceptances", on_delete=fields.CASCADE
    )
    organization: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="clause_acceptances", on_delete=fields.RESTRICT
    )
    accepted_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="clause_acceptances", null=True, on_delete=fields.SET_NULL
    )
    accepted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "need_clause_acceptance"
        unique_together = (("need", "organization"),)
