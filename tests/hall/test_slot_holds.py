"""The database itself refuses a second hold of one participant or one table in a slot."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError

from hall.models import SlotHold
from tests.hall.builders import a_meeting, a_participant, an_event


async def test_a_participant_cannot_be_held_twice_in_one_slot(database):
    event = await an_event()
    a, b, c = [await a_participant(event) for _ in range(3)]
    meeting = await a_meeting(a, b)
    with pytest.raises(IntegrityError):
        await SlotHold.create(
            event=event, meeting=meeting, holder=f"p:{a.id}", starts_at=meeting.starts_at
        )
    assert await SlotHold.filter(holder=f"p:{c.id}").count() == 0
