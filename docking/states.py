"""The need lifecycle as a table: (state, action) -> next state, and who may act.

Roles (derived by `docking.service.roles_on`): "member" of the seeking enterprise whose role
lets them list (a need is the enterprise's listing of demand: market/accounts/roles.py), the
platform "admin", and "system" for the worker that closes needs whose deadline has passed.
Editing is not a transition: drafts and rejected needs are edited in place (EDITABLE).

A published need stays up until its deadline. Closing it early, extending its deadline and
withdrawing it are announced by name: their handlers tell whoever answered it (today the
seeker's own members; proposals will add the responders, docking/events.py).
"""

from market.transitions import rule

# Moves nobody outside the seeker has to hear of (the search index of needs will follow them).
CHANGED = "need.changed"
CLOSED = "need.closed"
EXPIRED = "need.expired"
EXTENDED = "need.deadline_extended"
WITHDRAWN = "need.withdrawn"

LIFECYCLE = {
    ("draft", "submit"): rule("submitted", "member", event=CHANGED),
    ("rejected", "submit"): rule("submitted", "member", event=CHANGED),
    ("submitted", "approve"): rule("published", "admin", event="need.published"),
    ("submitted", "reject"): rule("rejected", "admin", event=CHANGED),
    # The deadline moves later; the need stays published (extend_deadline checks the date).
    ("published", "extend"): rule("published", "member", event=EXTENDED),
    ("published", "close"): rule("closed", "member", "admin", event=CLOSED),
    ("published", "expire"): rule("closed", "system", event=EXPIRED),
    # The seeker found what it sought: before the deadline, or while reviewing after it.
    ("published", "award"): rule("awarded", "member", event="need.awarded"),
    ("closed", "award"): rule("awarded", "member", event="need.awarded"),
    ("draft", "withdraw"): rule("withdrawn", "member", event=CHANGED),
    ("submitted", "withdraw"): rule("withdrawn", "member", event=CHANGED),
    ("rejected", "withdraw"): rule("withdrawn", "member", event=CHANGED),
    ("published", "withdraw"): rule("withdrawn", "member", "admin", event=WITHDRAWN),
}

# States whose need the seeker may change directly; a published need changes only its deadline.
EDITABLE = {"draft", "rejected"}
# States anyone may see (through docking.service.public_view).
PUBLIC = {"published", "closed", "awarded"}

# --- proposals ---------------------------------------------------------------------------
#
# A proposal's stages. Roles (derived by `docking.service.proposal_roles`): "seeker", a member
# of the need's enterprise whose role lets them negotiate, reviews; "proposer", such a member
# of the answering institute, may withdraw until the proposal is decided. Every move is
# announced: the proposer hears of each stage, the seeker of a withdrawal. "convert" is taken
# only by contracts.offers.service.offer_from_proposal, in the unit of work that makes the offer.

PROPOSED = "proposal.made"
STAGED = "proposal.staged"
PROPOSAL_WITHDRAWN = "proposal.withdrawn"
PROPOSAL_MESSAGE = "proposal.message"
QUESTION_ASKED = "need.question_asked"
QUESTION_ANSWERED = "need.question_answered"

PROPOSAL = {
    ("new", "shortlist"): rule("shortlisted", "seeker", event=STAGED),
    ("shortlisted", "finalise"): rule("finalist", "seeker", event=STAGED),
    ("new", "decline"): rule("declined", "seeker", event=STAGED),
    ("shortlisted", "decline"): rule("declined", "seeker", event=STAGED),
    ("finalist", "decline"): rule("declined", "seeker", event=STAGED),
    ("new", "withdraw"): rule("withdrawn", "proposer", event=PROPOSAL_WITHDRAWN),
    ("shortlisted", "withdraw"): rule("withdrawn", "proposer", event=PROPOSAL_WITHDRAWN),
    ("finalist", "withdraw"): rule("withdrawn", "proposer", event=PROPOSAL_WITHDRAWN),
    ("finalist", "convert"): rule("converted", "seeker", event=STAGED),
}
# The stage a client asks for (POST /proposals/{id}/stage) -> the action that reaches it.
STAGE_ACTIONS = {
    "shortlisted": "shortlist",
    "finalist": "finalise",
    "declined": "decline",
    "withdrawn": "withdraw",
}
# Stages whose thread is still open.
TALKING = {"new", "shortlisted", "finalist"}
