"""Job functions: thin adapters from arq to the services that hold the rules."""

from __future__ import annotations

from typing import Any

from arq import Retry

from market import outbox


async def handle_outbox_event(ctx: dict[str, Any], event_id: str) -> str:
    try:
        return await outbox.process(event_id)
    except Exception as exc:
        tries = ctx.get("job_try", 1)
        if tries >= outbox.MAX_ATTEMPTS:
            raise
        # Back off 5 s, 10 s, 20 s ... so a flapping dependency is not hammered.
        raise Retry(defer=5 * 2 ** (tries - 1)) from exc


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    return await outbox.sweep()


FUNCTIONS = [handle_outbox_event]
