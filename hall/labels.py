"""What a page calls the hall's coded values, in the page's language (see `market.web.Labels`).

Templates reach them as `event_labels.state(...)` (hall/routes.py offers them)."""

from __future__ import annotations

from types import SimpleNamespace

from market.web import N_, Labels

STATE = Labels(
    {
        "draft": N_("Draft"),
        "published": N_("Announced"),
        "booking_open": N_("Open for booking"),
        "running": N_("Running"),
        "closed": N_("Closed"),
    }
)
# The buttons that move an event (hall/states.py EVENT's actions).
ACTION = Labels(
    {
        "publish": N_("Publish"),
        "open_booking": N_("Open booking"),
        "start": N_("Start the event"),
        "close": N_("Close the event"),
    }
)
BOOTH_STATE = Labels(
    {
        "pending": N_("Awaiting approval"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
    }
)
MODE = Labels({"onsite": N_("On site"), "online": N_("Online")})
AGENDA = Labels(
    {"none": N_("No agenda yet"), "preliminary": N_("Preliminary"), "final": N_("Final")}
)

# What hall/routes.py offers every template as `event_labels`.
FOR_TEMPLATES = SimpleNamespace(
    state=STATE, action=ACTION, booth_state=BOOTH_STATE, mode=MODE, agenda=AGENDA
)
