"""What a page calls a need's coded values, in the page's language (see `market.web.Labels`).

Templates reach them as `need_labels.state(...)` (docking/routes.py offers them)."""

from __future__ import annotations

from types import SimpleNamespace

from market.web import N_, Labels

STATE = Labels(
    {
        "draft": N_("Draft"),
        "submitted": N_("Awaiting review"),
        "published": N_("Open for responses"),
        "rejected": N_("Rejected"),
        "closed": N_("Closed"),
        "awarded": N_("Awarded"),
        "withdrawn": N_("Withdrawn"),
    }
)
COOPERATION = Labels(
    {
        "license": N_("Licence"),
        "assignment": N_("Assignment"),
        "commissioned_development": N_("Commissioned development"),
        "joint_development": N_("Joint development"),
        "sponsored_research": N_("Sponsored research"),
    }
)
VISIBILITY = Labels(
    {
        "public": N_("Public: everyone sees the need and who posts it"),
        "anonymous": N_("Anonymous: the need is public, your organisation is not named"),
        "after_confidentiality": N_(
            "Confidential details: the problem is public, the details only after a "
            "confidentiality clause is accepted"
        ),
    }
)

# The same, in a word, where a table has no room for the explanation.
VISIBILITY_SHORT = Labels(
    {
        "public": N_("Public"),
        "anonymous": N_("Anonymous"),
        "after_confidentiality": N_("Confidential details"),
    }
)

STAGE = Labels(
    {
        "new": N_("New"),
        "shortlisted": N_("Shortlisted"),
        "finalist": N_("Finalist"),
        "declined": N_("Turned down"),
        "withdrawn": N_("Withdrawn"),
        "converted": N_("Offer made"),
    }
)
# The buttons that move a proposal (docking/states.py PROPOSAL's actions).
STAGE_ACTION = Labels(
    {
        "shortlist": N_("Shortlist"),
        "finalise": N_("Make a finalist"),
        "decline": N_("Decline"),
        "withdraw": N_("Withdraw the proposal"),
    }
)
DECLINE_REASON = Labels(
    {
        "not_a_fit": N_("Not a fit for the problem"),
        "requirements_not_met": N_("Does not meet a must-have requirement"),
        "trl_too_low": N_("Not mature enough (TRL too low)"),
        "over_budget": N_("Beyond the budget"),
        "territory": N_("The rights do not cover the territories needed"),
        "chose_another": N_("Another proposal was chosen"),
        "other": N_("Another reason (see the note)"),
    }
)


def cooperation_list(forms: list[str] | None) -> str:
    """Forms of cooperation as a comma-separated list; a dash where there are none."""
    return ", ".join(COOPERATION(form) for form in forms) if forms else "—"


def trl_range(low: int | None, high: int | None) -> str:
    if low is None or high is None:
        return "—"
    return f"{low}–{high}" if low != high else str(low)


# What docking/routes.py offers every template as `need_labels`.
FOR_TEMPLATES = SimpleNamespace(
    state=STATE,
    cooperation=COOPERATION,
    visibility=VISIBILITY,
    visibility_short=VISIBILITY_SHORT,
    stage=STAGE,
    stage_action=STAGE_ACTION,
    decline_reason=DECLINE_REASON,
    cooperation_list=cooperation_list,
    trl_range=trl_range,
)
