"""What a need's end or extension tells whom, from a real worker: the deadline cron, closing
early, and an anonymous seeker kept out of every mail to someone outside it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from docking import events, service
from docking.models import Need
from market import mail
from market.accounts.models import User
from market.actor import Actor
from market.clock import utcnow
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import (
    a_colleague,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    run_crons,
    run_worker,
)

SECRET = "Secretive Steel AG"


@pytest.fixture
async def seeker(settings, redis_client, mailbox) -> tuple[User, User]:
    """The enterprise's owner and a colleague who reads Chinese; the verification mail is out."""
    owner, org = await a_verified_enterprise(organization={"name": SECRET})
    colleague = await a_colleague(org, locale="zh")
    await run_worker(settings)
    mailbox.messages.clear()
    return owner, colleague


async def test_the_cron_closes_a_need_after_its_deadline_and_tells_the_seeker(
    settings, seeker, mailbox
) -> None:
    owner, colleague = seeker
    need = await a_published_need(owner)
    await run_crons(settings, "close_expired_needs")
    assert (await Need.get(id=need.id)).state == "published"  # the deadline is a month away

    await Need.filter(id=need.id).update(deadline=utcnow().date() - timedelta(days=1))
    await run_crons(settings, "close_expired_needs")
    assert (await Need.get(id=need.id)).state == "closed"
    assert await OutboxEvent.filter(event_type="need.expired").count() == 1
    assert sorted(mailbox.recipients) == sorted([owner.email, colleague.email])
    subjects = {m["To"]: str(m["Subject"]) for m in mailbox.messages}
    assert "reached its deadline" in subjects[owner.email]
    assert "截止" in subjects[colleague.email]
    await run_crons(settings, "close_expired_needs")  # nothing left to close, nobody told again
    assert len(mailbox.messages) == 2


async def test_closing_early_tells_everyone_but_who_closed_it_and_a_rerun_tells_nobody(
    settings, seeker
) -> None:
    owner, colleague = seeker
    need = await a_published_need(owner)
    await run_worker(settings)
    await service.close_need(await actor_of(owner), str(need.id), "Solved in house")
    await run_worker(settings)
    notes = await Notification.filter(link__endswith=f"/needs/{need.id}")
    assert [n.user_id for n in notes] == [colleague.id]  # in Chinese, with the reason as typed
    assert "提前关闭" in notes[0].subject and "Solved in house" in notes[0].body

    event = await OutboxEvent.get(event_type="need.closed")
    await events.tell_about_need(event)  # the handler again, as a retried delivery would
    assert await Notification.filter(link__endswith=f"/needs/{need.id}").count() == 1


async def test_an_anonymous_seeker_is_named_to_its_members_and_nobody_else(
    settings, seeker, monkeypatch
) -> None:
    owner, colleague = seeker
    outsider, _ = await a_verified_institute()
    outsider_actor = await actor_of(outsider)

    async def one_responder(need: Need) -> list[tuple[User, Actor]]:
        return [(outsider, outsider_actor)]

    # Proposals will fill the hook; a responder stands in for them here.
    monkeypatch.setattr(events, "responders", one_responder)
    need = await a_published_need(owner, visibility="anonymous")
    await service.extend_deadline(
        await actor_of(owner), str(need.id), need.deadline + timedelta(days=7)
    )
    await run_worker(settings)
    told = {n.user_id: n for n in await Notification.filter(link__contains=str(need.id))}
    assert set(told) == {colleague.id, outsider.id}
    assert SECRET in told[colleague.id].body
    assert SECRET not in told[outsider.id].subject + told[outsider.id].body
    assert "anonymously" in told[outsider.id].body

    # Every need mail, rendered for the outsider, names no seeker.
    view = service.public_view(await Need.get(id=need.id).select_related("seeker"), outsider_actor)
    for template in events.TEMPLATES.values():
        for locale in ("en", "zh"):
            made = mail.compose(
                template,
                locale=locale,
                need=view,
                deadline="2031-01-31",
                previous_deadline="2031-01-01",
                reason="",
            )
            assert SECRET not in made.subject + made.text + (made.html or ""), template
