"""The virtual exhibition hall: events, their meeting blocks, pavilions and booths, the people
who take part, and the one-to-one meetings they book.

Times are UTC (`DatetimeField`, aware); an event's `timezone` and each participant's say how
they are shown. The meeting grid is discrete: a block is cut into slots of the event's
`meeting_minutes` from its start, and blocks never overlap, so a slot is named by its start.
That is what lets the database itself refuse a double booking: every booked meeting holds one
`SlotHold` row per participant and one per on-site table, unique per (event, holder, start),
inserted in the unit of work that books it and deleted in the one that cancels it.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class EventState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    BOOKING_OPEN = "booking_open"
    RUNNING = "running"
    CLOSED = "closed"


class AgendaState(StrEnum):
    NONE = "none"
    PRELIMINARY = "preliminary"
    FINAL = "final"


class BlockMode(StrEnum):
    ONSITE = "onsite"
    ONLINE = "online"


class BoothState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class RequestState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class MeetingState(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    FOLLOW_UP = "follow_up"
    CONFIDENTIALITY = "confidentiality"
    OFFER = "offer"
    NO_FIT = "no_fit"
    # The other side did not come: counted by the organiser's figures as a no-show.
    NO_SHOW = "no_show"


MEETING_MINUTES = (15, 20, 30)


class Event(Model):
    id = fields.UUIDField(primary_key=True)
    # The organisation that runs it: the platform's own, or one an administrator made an
    # organiser (Organization.organises_events).
    organiser: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="events_organised", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="events_created", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=200)
    name_zh = fields.CharField(max_length=200, default="")
    description = fields.TextField(default="")
    description_zh = fields.TextField(default="")
    # An IANA zone name ("Asia/Shanghai"): the event's own clock, in which its dates are days.
    timezone = fields.CharField(max_length=64)
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    booking_opens_at = fields.DatetimeField()
    booking_closes_at = fields.DatetimeField()
    meeting_minutes = fields.SmallIntField(default=30)
    # False: a request is a meeting at once, in the first slot both sides share.
    requests_need_acceptance = fields.BooleanField(default=True)
    request_expiry_hours = fields.IntField(default=48)
    max_requests_per_participant = fields.IntField(default=10)
    agenda = fields.CharEnumField(AgendaState, max_length=16, default=AgendaState.NONE)
    state = fields.CharEnumField(EventState, max_length=16, default=EventState.DRAFT)
    # Days after a meeting with nothing recorded after which both sides are reminded.
    follow_up_days = fields.SmallIntField(default=7)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "hall_event"
        indexes = (("state", "starts_on"),)


class MeetingBlock(Model):
    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="blocks", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    mode = fields.CharEnumField(BlockMode, max_length=8)
    # On-site blocks seat this many meetings at once (tables 1..n); online blocks: null.
    tables = fields.SmallIntField(null=True)

    class Meta:
        table = "hall_block"
        indexes = (("event_id", "starts_at"),)


class Pavilion(Model):
    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="pavilions", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    name_zh = fields.CharField(max_length=120, default="")
    position = fields.SmallIntField(default=0)

    class Meta:
        table = "hall_pavilion"


class Booth(Model):
    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="booths", on_delete=fields.CASCADE
    )
    pavilion: fields.ForeignKeyRelation[Pavilion] = fields.ForeignKeyField(
        "models.Pavilion", related_name="booths", on_delete=fields.RESTRICT
    )
    organization: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="booths", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="booths_made", null=True, on_delete=fields.SET_NULL
    )
    state = fields.CharEnumField(BoothState, max_length=16, default=BoothState.PENDING)
    # The organisation's own published listings and open needs it shows (ids as text, in the
    # order chosen); what is no longer public is left out when shown.
    listing_ids = fields.JSONField(default=list)
    need_ids = fields.JSONField(default=list)
    headline = fields.CharField(max_length=200, default="")
    headline_zh = fields.CharField(max_length=200, default="")
    video_url = fields.CharField(max_length=300, default="")
    # [{"title": str, "name": <stored file under var/media/brochures>, "type": str}]
    brochures = fields.JSONField(default=list)
    # The members who attend (user ids as text).
    attendee_ids = fields.JSONField(default=list)
    rejection_reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "hall_booth"
        unique_together = (("event", "organization"),)
        indexes = (("event_id", "state"),)


class BoothVisit(Model):
    """One row per booth, day (in the event's time zone) and visitor: the unique key is what
    keeps a visitor who comes back the same day from counting twice."""

    id = fields.BigIntField(primary_key=True)
    booth: fields.ForeignKeyRelation[Booth] = fields.ForeignKeyField(
        "models.Booth", related_name="visits", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    # The user's id, or for a visitor not logged in a keyed hash of their session.
    visitor = fields.CharField(max_length=64)

    class Meta:
        table = "hall_booth_visit"
        unique_together = (("booth", "day", "visitor"),)


class Participant(Model):
    """A person taking part in an event's meetings, for their organisation."""

    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="participants", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="participations", on_delete=fields.CASCADE
    )
    organization: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="participations", on_delete=fields.CASCADE
    )
    # The participant's own zone, in which their agenda is shown.
    timezone = fields.CharField(max_length=64)
    about = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # When the organiser last reminded them that they have no meeting yet.
    reminded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "hall_participant"
        unique_together = (("event", "user"),)


class Availability(Model):
    """A participant is available in a block."""

    id = fields.BigIntField(primary_key=True)
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="availability", on_delete=fields.CASCADE
    )
    block: fields.ForeignKeyRelation[MeetingBlock] = fields.ForeignKeyField(
        "models.MeetingBlock", related_name="availability", on_delete=fields.CASCADE
    )

    class Meta:
        table = "hall_availability"
        unique_together = (("participant", "block"),)


class MeetingRequest(Model):
    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="requests", on_delete=fields.CASCADE
    )
    requester: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="requests_sent", on_delete=fields.CASCADE
    )
    guest: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="requests_received", on_delete=fields.CASCADE
    )
    message = fields.TextField(default="")
    # What the meeting is about: listings and needs (ids as text).
    listing_ids = fields.JSONField(default=list)
    need_ids = fields.JSONField(default=list)
    state = fields.CharEnumField(RequestState, max_length=16, default=RequestState.PENDING)
    # A pending request lapses then (the worker's cron); null once decided.
    expires_at = fields.DatetimeField(null=True)
    decline_reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "hall_meeting_request"
        indexes = (("event_id", "state"), ("state", "expires_at"))


class Meeting(Model):
    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="meetings", on_delete=fields.CASCADE
    )
    request: fields.OneToOneRelation[MeetingRequest] = fields.OneToOneField(
        "models.MeetingRequest", related_name="meeting", on_delete=fields.CASCADE
    )
    block: fields.ForeignKeyRelation[MeetingBlock] = fields.ForeignKeyField(
        "models.MeetingBlock", related_name="meetings", on_delete=fields.RESTRICT
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    # On-site: the table (1..block.tables); online: null, and a video room instead.
    table_no = fields.SmallIntField(null=True)
    video_url = fields.CharField(max_length=300, default="")
    state = fields.CharEnumField(MeetingState, max_length=16, default=MeetingState.SCHEDULED)
    # Bumped on each reschedule, so an .ics client replaces the event it holds (SEQUENCE).
    sequence = fields.SmallIntField(default=0)
    follow_up_sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "hall_meeting"
        indexes = (("event_id", "starts_at"),)


class SlotHold(Model):
    """A participant or a table taken in a slot by a scheduled meeting. `holder` is
    "p:<participant id>" or "t:<block id>:<table number>"."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="holds", on_delete=fields.CASCADE
    )
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "models.Meeting", related_name="holds", on_delete=fields.CASCADE
    )
    holder = fields.CharField(max_length=80)
    starts_at = fields.DatetimeField()

    class Meta:
        table = "hall_slot_hold"
        unique_together = (("event", "holder", "starts_at"),)


class MeetingOutcome(Model):
    """What one side recorded after a meeting: each side records its own, once (it may change
    it)."""

    id = fields.UUIDField(primary_key=True)
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "models.Meeting", related_name="outcomes", on_delete=fields.CASCADE
    )
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="outcomes", on_delete=fields.CASCADE
    )
    outcome = fields.CharEnumField(Outcome, max_length=16)
    note = fields.TextField(default="")
    recorded_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "hall_meeting_outcome"
        unique_together = (("meeting", "participant"),)
