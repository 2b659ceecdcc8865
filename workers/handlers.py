"""Which handlers react to which outbox event: the one place that says so.

Every event type any module declares (`outbox.declare`) has an entry here; an empty tuple says
on purpose that nothing reacts (the event is kept for the record). `outbox.install(HANDLERS)`,
run by the worker at start-up, refuses a table that misses a declared type or names an unknown
one. Each handler runs as its own delivery (see market/outbox.py): its own transaction, its own
record of done, its own retries.
"""

from __future__ import annotations

from contracts.agreements import events as contract_events
from contracts.agreements import service as agreements
from contracts.offers import events as offer_events
from contracts.offers import service as offers
from contracts.payments import events as payment_events
from contracts.payments import service as payments
from docking import events as need_events
from docking import matching, proposals, questions
from docking import search as need_search
from docking import service as needs
from docking import states as need_states
from hall import events as hall_events
from hall import meeting_events
from hall import meetings as hall_meetings
from hall import service as hall
from hall import states as hall_states
from listings import enquiries, enquiry_events, importer, search_sync
from listings import service as listings
from market import notify, outbox
from market.accounts import confirmation, members, recovery
from market.accounts import events as account_events
from market.accounts import service as accounts

# What each module emits, named here so that the check below sees every declaration.
DECLARED = (
    accounts.EVENTS
    | confirmation.EVENTS
    | members.EVENTS
    | recovery.EVENTS
    | notify.EVENTS
    | listings.EVENTS
    | importer.EVENTS
    | enquiries.EVENTS
    | needs.EVENTS
    | proposals.EVENTS
    | questions.EVENTS
    | hall_meetings.EVENTS
    | offers.EVENTS
    | agreements.EVENTS
    | payments.EVENTS
    | hall.EVENTS
)

_tell_offer = offer_events.tell_the_parties
_tell_contract = contract_events.tell_about_contract
_tell_payment = payment_events.tell_about_payment

HANDLERS: outbox.Handlers = {
    # organisations
    "organization.registered": (account_events.tell_admins_of_new_organization,),
    "organization.verified": (account_events.tell_owners_verified,),
    "organization.rejected": (account_events.tell_owners_rejected,),
    # Asked again after a rejection: it is back in the administrators' verification queue.
    "organization.pending": (),
    # a verified organisation's new name or country waits for an administrator
    "organization.identity_proposed": (account_events.tell_admins_of_identity_change,),
    # the new name reaches the search documents of the institute's listings
    "organization.identity_approved": (
        account_events.tell_owners_of_identity_decision,
        search_sync.sync_institute,
    ),
    "organization.identity_rejected": (account_events.tell_owners_of_identity_decision,),
    # teams: the invitation's link goes by e-mail (a new one each time it is sent)
    members.INVITED: (members.mail_invitation,),
    # signing up: the confirmation link, or word to an address that has an account already
    accounts.EMAIL_CONFIRMATION_REQUESTED: (confirmation.mail_confirmation,),
    confirmation.REGISTRATION_REPEATED: (confirmation.mail_registration_repeated,),
    # a password reset's link goes by e-mail
    recovery.RESET_REQUESTED: (recovery.mail_reset,),
    # e-mail of every in-app notification
    notify.MAIL_EVENT: (notify.mail_notification,),
    # listings: the search index follows every change
    # ... and matching looks for the open needs a new listing fits, once it is searchable
    "listing.published": (search_sync.sync_listing, matching.on_listing_published),
    "listing.changed": (search_sync.sync_listing,),
    "listing.withdrawn": (search_sync.sync_listing,),
    importer.EVENT: (importer.start_requested_import,),
    # technology needs: the needs index follows every change (issue 18, point 7); a published
    # need is matched against the listings once it is searchable itself (point 3); whoever
    # answered a need hears when it ends early, gets more time, or reaches its deadline
    need_states.CHANGED: (need_search.sync_need,),
    "need.published": (need_search.sync_need, matching.on_need_published),
    "need.awarded": (need_search.sync_need,),
    need_states.CLOSED: (need_search.sync_need, need_events.tell_about_need),
    need_states.WITHDRAWN: (need_search.sync_need, need_events.tell_about_need),
    need_states.EXTENDED: (need_search.sync_need, need_events.tell_about_need),
    need_states.EXPIRED: (need_search.sync_need, need_events.tell_about_need),
    # proposals: the seeker hears of each new one and each withdrawal, the proposer of each
    # stage, each side of the other's messages; a need's public question and its answer
    need_states.PROPOSED: (need_events.tell_seeker_of_proposal,),
    need_states.STAGED: (need_events.tell_proposer_of_stage,),
    need_states.PROPOSAL_WITHDRAWN: (need_events.tell_seeker_of_withdrawal,),
    need_states.PROPOSAL_MESSAGE: (need_events.tell_the_other_side,),
    need_states.QUESTION_ASKED: (need_events.tell_seeker_of_question,),
    need_states.QUESTION_ANSWERED: (need_events.tell_asker_of_answer,),
    # the hall's meetings: a request reaches its guest, a decision the other side, a
    # cancelled or moved meeting both sides
    hall_states.REQUESTED: (meeting_events.tell_guest_of_request,),
    hall_states.REQUEST_DECIDED: (meeting_events.tell_of_decision,),
    hall_states.MEETING_CHANGED: (meeting_events.tell_of_change,),
    # offers
    "offer.made": (_tell_offer,),
    "offer.countered": (_tell_offer,),
    "offer.message": (_tell_offer,),
    # a question on a listing, its answers and its closing: both organisations hear of each
    "enquiry.asked": (enquiry_events.tell_both_sides,),
    "enquiry.message": (enquiry_events.tell_both_sides,),
    "enquiry.closed": (enquiry_events.tell_both_sides,),
    "offer.accepted": (_tell_offer, contract_events.draw_up_contract),
    "offer.rejected": (_tell_offer,),
    "offer.withdrawn": (_tell_offer,),
    "offer.declined": (_tell_offer,),
    "offer.expired": (_tell_offer,),
    "offer.expiring": (_tell_offer,),
    "offer.held": (_tell_offer,),
    "offer.resumed": (_tell_offer,),
    # contracts
    "contract.submitted": (_tell_contract,),
    "contract.approved": (contract_events.open_for_signing,),
    "contract.rejected": (_tell_contract,),
    "contract.changes_requested": (_tell_contract, contract_events.draw_up_new_version),
    "contract.awaiting_signatures": (_tell_contract,),
    "contract.signature_added": (_tell_contract,),
    "contract.signed": (contract_events.finish_signed_contract,),
    "contract.awaiting_payment": (_tell_contract, contract_events.activate_when_nothing_is_owed),
    "contract.cancelled": (_tell_contract,),
    "contract.signing_reminder": (_tell_contract,),
    "contract.active": (contract_events.decline_held_offers,),
    # payments
    "payment.started": (),
    "payment.succeeded": (_tell_payment,),
    "payment.failed": (_tell_payment,),
    "payment.refunded": (_tell_payment,),
    "payment.duplicate_charge": (_tell_payment,),
    "payment.intent_mismatch": (_tell_payment,),
    # the hall: the pages show an event's moves; a booth's application reaches the organiser,
    # the decision on it the exhibitor
    hall_states.EVENT_CHANGED: (),
    hall_states.BOOTH_CHANGED: (hall_events.tell_about_booth,),
}


def install() -> None:
    """Install the table; raises outbox.HandlerTableError when it and the declarations differ."""
    if set(DECLARED) != outbox.declared():
        raise outbox.HandlerTableError(
            "an event type is declared outside the modules this table names: "
            + ", ".join(sorted(outbox.declared() - set(DECLARED)))
        )
    outbox.install(HANDLERS)
