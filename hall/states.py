"""The hall's lifecycles as tables: (state, action) -> next state, and who may act.

Roles (derived by the hall's services, never passed in): "organiser", a member of the event's
organising organisation whose role lets them manage it, and the platform "admin"; "exhibitor",
such a member of the organisation a booth belongs to; "requester" and "guest", the two sides
of a meeting request; "system", the worker (booking opens and closes on the clock, pending
requests expire).
"""

from market.transitions import rule

EVENT_CHANGED = "event.changed"

EVENT = {
    ("draft", "publish"): rule("published", "organiser", "admin", event=EVENT_CHANGED),
    ("published", "open_booking"): rule(
        "booking_open", "organiser", "admin", "system", event=EVENT_CHANGED
    ),
    ("booking_open", "start"): rule("running", "organiser", "admin", "system", event=EVENT_CHANGED),
    ("published", "start"): rule("running", "organiser", "admin", "system", event=EVENT_CHANGED),
    ("published", "close"): rule("closed", "organiser", "admin", "system", event=EVENT_CHANGED),
    ("booking_open", "close"): rule("closed", "organiser", "admin", "system", event=EVENT_CHANGED),
    ("running", "close"): rule("closed", "organiser", "admin", "system", event=EVENT_CHANGED),
}
# States in which anyone may see the event and its hall.
PUBLIC = {"published", "booking_open", "running", "closed"}
# States in which meetings may be requested and booked (and the booking window must be open).
BOOKING = {"booking_open", "running"}

BOOTH_CHANGED = "booth.changed"

BOOTH = {
    ("pending", "approve"): rule("approved", "organiser", "admin", event=BOOTH_CHANGED),
    ("pending", "reject"): rule("rejected", "organiser", "admin", event=BOOTH_CHANGED),
    ("pending", "withdraw"): rule("withdrawn", "exhibitor", event=BOOTH_CHANGED),
    ("approved", "withdraw"): rule(
        "withdrawn", "exhibitor", "organiser", "admin", event=BOOTH_CHANGED
    ),
    ("rejected", "reapply"): rule("pending", "exhibitor", event=BOOTH_CHANGED),
    ("withdrawn", "reapply"): rule("pending", "exhibitor", event=BOOTH_CHANGED),
}

REQUESTED = "meeting.requested"
REQUEST_DECIDED = "meeting.request_decided"
MEETING_CHANGED = "meeting.changed"

REQUEST = {
    # "system": an event whose requests need no acceptance books the first shared slot at once
    # (hall.meetings.request_meeting), on nobody's decision.
    ("pending", "accept"): rule("accepted", "guest", "organiser", "system", event=REQUEST_DECIDED),
    ("pending", "decline"): rule("declined", "guest", event=REQUEST_DECIDED),
    ("pending", "cancel"): rule("cancelled", "requester", event=REQUEST_DECIDED),
    ("pending", "expire"): rule("expired", "system", event=REQUEST_DECIDED),
    # An accepted request's meeting is cancelled by either side (or the organiser).
    ("accepted", "cancel"): rule(
        "cancelled", "requester", "guest", "organiser", event=MEETING_CHANGED
    ),
    # Moving an accepted request's meeting to another slot: no new state, but the same
    # table says who may, and it is audited and announced like any move.
    ("accepted", "reschedule"): rule(
        "accepted", "requester", "guest", "organiser", event=MEETING_CHANGED
    ),
}
