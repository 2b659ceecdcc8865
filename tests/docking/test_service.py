"""Need use cases against PostgreSQL: the whole lifecycle table, who may act, bad input, edits,
the deadline, and what an anonymous or confidential need shows to whom."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from docking import service, states
from docking.models import Need, NeedState
from docking.schemas import NeedIn, NeedPatch
from market.accounts.models import Organization, User
from market.actor import Actor
from market.audit import AuditEntry
from market.clock import utcnow
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from market.outbox import OutboxEvent
from market.validation import parse
from tests.builders import (
    a_draft_need,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    need_data,
)

ALL_STATES = [s.value for s in NeedState]
ALL_ACTIONS = sorted({action for (_, action) in states.LIFECYCLE})
TODAY = utcnow().date()


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


async def _admin() -> Actor:
    return await actor_of(await an_admin())


async def _need_in(state: str, seeker: User | None = None, **overrides: Any) -> tuple[Actor, Need]:
    if seeker is None:
        seeker, _ = await a_verified_enterprise()
    need = await a_draft_need(seeker, **overrides)
    await Need.filter(id=need.id).update(state=state)
    return await actor_of(seeker), await Need.get(id=need.id)


def _actor_for(action: str, seeker: Actor, admin: Actor) -> Actor:
    roles = set().union(*(r.who for (_, a), r in states.LIFECYCLE.items() if a == action))
    if "member" in roles:
        return seeker
    if "admin" in roles:
        return admin
    return Actor.system()


async def _do(action: str, actor: Actor, need: Need) -> Need:
    nid = str(need.id)
    match action:
        case "submit":
            return await service.submit_need(actor, nid)
        case "approve":
            return await service.approve_need(actor, nid)
        case "reject":
            return await service.reject_need(actor, nid, "The problem names a competitor")
        case "close":
            return await service.close_need(actor, nid, "Solved in house")
        case "withdraw":
            return await service.withdraw_need(actor, nid)
        case "award":
            return await service.award_need(actor, nid)
        case "extend":
            return await service.extend_deadline(actor, nid, need.deadline + timedelta(days=5))
        case "expire":
            # The worker's sweep, on a need whose deadline passed yesterday.
            await Need.filter(id=need.id).update(deadline=TODAY - timedelta(days=1))
            assert await service.expire_need(need.id)
            return await Need.get(id=need.id)
    raise AssertionError(action)


async def _walk(state: str, action: str, seeker: User, admin: Actor) -> str | None:
    """One pair of the table: what is wrong with it, or None."""
    owner, need = await _need_in(state, seeker)
    actor = _actor_for(action, owner, admin)
    rule = states.LIFECYCLE.get((state, action))
    events_before = await OutboxEvent.all().count()
    if rule is None:
        try:
            await _do(action, actor, need)
        except Conflict as refused:
            after = await Need.get(id=need.id)
            unchanged = (after.state, after.version) == (state, need.version)
            if refused.state != state or not unchanged:
                return f"refused naming {refused.state}, now {after.state} v{after.version}"
            if await OutboxEvent.all().count() != events_before:
                return "refused, yet an event was written"
            return None
        return "allowed, but the table has no such row"
    moved = await _do(action, actor, need)
    if (moved.state, moved.version) != (rule.to, need.version + 1):
        return f"moved to {moved.state} v{moved.version}, not {rule.to}"
    entry = await AuditEntry.get_or_none(action=f"need.{action}", object_id=str(need.id))
    if entry is None or (entry.state_before["state"], entry.state_after["state"]) != (
        state,
        rule.to,
    ):
        return "not audited"
    events = await OutboxEvent.filter(event_type=rule.event).order_by("-created_at").limit(1)
    if not events or events[0].payload["need_id"] != str(need.id):
        return f"no {rule.event} event"
    if events[0].payload["actor_id"] != actor.user_id:
        return "the event does not name who acted"
    return None


async def test_every_pair_of_the_lifecycle_table() -> None:
    """Every allowed pair moves the need where the table says, audited and announced; every
    other is refused with a 409 naming the state, and changes nothing. One seeker for all the
    pairs (a registration each would cost a second a pair)."""
    seeker, _ = await a_verified_enterprise()
    admin = await _admin()
    wrong = {}
    for state in ALL_STATES:
        for action in ALL_ACTIONS:
            problem = await _walk(state, action, seeker, admin)
            if problem:
                wrong[(state, action)] = problem
    assert not wrong, wrong


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_only_admins_moderate(action: str) -> None:
    seeker, need = await _need_in("submitted")
    with pytest.raises(Forbidden):
        await _do(action, seeker, need)
    assert (await Need.get(id=need.id)).state == "submitted"


async def test_strangers_cannot_see_or_move_what_is_not_public() -> None:
    _, draft = await _need_in("draft")
    _, live = await _need_in("published")
    stranger = await actor_of((await a_verified_enterprise())[0])
    for doing in (
        service.get_need(stranger, str(draft.id)),
        service.submit_need(stranger, str(draft.id)),
        service.withdraw_need(stranger, str(draft.id)),
        service.update_need(stranger, str(draft.id), NeedPatch(title="Taken over")),
    ):
        with pytest.raises(NotFound):
            await doing
    for action in ("close", "withdraw", "extend", "award"):
        with pytest.raises(Forbidden):
            await _do(action, stranger, live)
    assert (await Need.get(id=live.id)).state == "published"
    assert (await Need.get(id=draft.id)).title == draft.title


async def test_concurrent_approvals_have_exactly_one_winner() -> None:
    _, need = await _need_in("submitted")
    admin = await _admin()
    results = await asyncio.gather(
        *(service.approve_need(admin, str(need.id)) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, Need) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Need))
    assert await OutboxEvent.filter(event_type="need.published").count() == 1


async def test_only_enterprises_post_needs_and_only_verified_ones_submit_them() -> None:
    data = NeedIn.model_validate(need_data())
    institute, _ = await a_verified_institute()
    with pytest.raises(Forbidden) as refused:
        await service.create_need(await actor_of(institute), data)
    assert "enterprise" in refused.value.message
    with pytest.raises(NotAuthenticated):
        await service.create_need(Actor.anonymous(), data)
    assert await Need.all().count() == 0
    pending, _ = await a_verified_institute(organization={"kind": "enterprise"})
    await Organization.filter(id=(await actor_of(pending)).organization_id).update(
        verification="pending"
    )
    draft = await service.create_need(await actor_of(pending), data)  # a draft waits not
    with pytest.raises(Forbidden) as refused:
        await service.submit_need(await actor_of(pending), str(draft.id))
    assert "verified" in refused.value.message
    assert (await Need.get(id=draft.id)).state == "draft"


async def test_an_incomplete_draft_cannot_be_submitted_and_says_what_is_missing() -> None:
    seeker, need = await _need_in("draft", must_have=[], cooperation=[])
    with pytest.raises(ValidationFailed) as refused:
        await service.submit_need(seeker, str(need.id))
    assert set(refused.value.fields) == {"must_have", "cooperation"}
    assert (await Need.get(id=need.id)).state == "draft"


# One test for every refusal (each a few milliseconds): a table cleaning per case would cost
# more than all of them.
BAD = [
    ({"budget_min": {"amount": -1, "currency": "USD"}}, "budget_min.amount"),
    ({"budget_max": {"amount": 10.5, "currency": "USD"}}, "budget_max.amount"),
    ({"budget_min": {"amount": 30_000_000, "currency": "USD"}}, "budget_max"),
    ({"budget_max": {"amount": 30_000_000, "currency": "EUR"}}, "budget_max"),
    ({"budget_min": {"amount": 1, "currency": "XYZ"}}, "budget_min.currency"),
    ({"trl_min": 0}, "trl_min"),
    ({"trl_max": 10}, "trl_max"),
    ({"trl_min": "5"}, "trl_min"),
    ({"trl_min": 7, "trl_max": 3}, "trl_max"),
    ({"deadline": days(-1)}, "deadline"),
    ({"deadline": days(0)}, "deadline"),
    ({"deadline": days(4000)}, "deadline"),
    ({"deadline": 1_900_000_000}, "deadline"),
    ({"deadline": "next week"}, "deadline"),
    ({"feedback_by": days(10)}, "feedback_by"),
    ({"title": "x" * 201}, "title"),
    ({"problem": "too short"}, "problem"),
    ({"background": "x" * 20_001}, "background"),
    ({"must_have": ["x" * 301]}, "must_have.0"),
    ({"must_have": [f"requirement {i}" for i in range(21)]}, "must_have"),
    ({"ipc_codes": ["B01D 69/12", "ZZ99"]}, "ipc_codes.1"),
    ({"cooperation": ["barter"]}, "cooperation.0"),
    ({"visibility": "secret"}, "visibility"),
    ({"territories": ["Atlantis"]}, "territories.0"),
    ({"language": "fr"}, "language"),
    ({"seeker": "someone else"}, "seeker"),
]


async def test_bad_needs_name_the_field_and_create_nothing() -> None:
    seeker = await actor_of((await a_verified_enterprise())[0])
    wrong = []
    for overrides, field in BAD:
        try:
            await service.create_need(seeker, parse(NeedIn, need_data(**overrides)))
        except ValidationFailed as refused:
            if field not in refused.fields:
                wrong.append((overrides, field, refused.fields))
        else:
            wrong.append((overrides, field, "accepted"))
    assert not wrong, wrong
    assert await Need.all().count() == 0


async def test_an_edit_is_checked_against_the_need_it_makes() -> None:
    seeker, need = await _need_in("draft")
    low = {"amount": 30_000_000, "currency": "USD"}
    with pytest.raises(ValidationFailed) as refused:
        await service.update_need(
            seeker, str(need.id), NeedPatch.model_validate({"budget_min": low})
        )
    assert "budget_max" in refused.value.fields
    edited = await service.update_need(
        seeker, str(need.id), NeedPatch.model_validate({"budget_max": None, "budget_min": low})
    )
    assert (edited.budget_min, edited.budget_max, edited.budget_currency) == (
        30_000_000,
        None,
        "USD",
    )
    assert edited.version == need.version + 1
    await Need.filter(id=need.id).update(state="published")
    with pytest.raises(Conflict):
        await service.update_need(seeker, str(need.id), NeedPatch(title="A new title"))


async def test_a_deadline_only_moves_later_and_never_past_the_feedback_date() -> None:
    seeker, need = await _need_in("published")
    for deadline in (
        need.deadline,
        need.deadline - timedelta(days=1),
        need.feedback_by + timedelta(days=1),
    ):
        with pytest.raises(ValidationFailed) as refused:
            await service.extend_deadline(seeker, str(need.id), deadline)
        assert "deadline" in refused.value.fields
    assert (await Need.get(id=need.id)).deadline == need.deadline
    moved = await service.extend_deadline(seeker, str(need.id), need.feedback_by)
    assert moved.deadline == need.feedback_by
    event = await OutboxEvent.get(event_type=states.EXTENDED)
    assert event.payload["previous_deadline"] == need.deadline.isoformat()


async def test_the_sweep_closes_only_published_needs_past_their_deadline() -> None:
    _, due = await _need_in("published")
    _, today = await _need_in("published")
    _, draft = await _need_in("draft")
    await Need.filter(id__in=[due.id, draft.id]).update(deadline=TODAY - timedelta(days=1))
    await Need.filter(id=today.id).update(deadline=TODAY)
    assert await service.expire_due() == 1
    assert await service.expire_due() == 0
    states_now = dict(await Need.all().values_list("id", "state"))
    assert (states_now[due.id], states_now[today.id], states_now[draft.id]) == (
        "closed",
        "published",
        "draft",
    )
    assert await service.expire_due(TODAY + timedelta(days=1)) == 1


# --- who sees what ----------------------------------------------------------------------------


async def test_an_anonymous_need_names_its_seeker_to_the_seeker_and_admins_only() -> None:
    seeker_user, org = await a_verified_enterprise(organization={"name": "Secretive Steel AG"})
    need = await a_published_need(seeker_user, visibility="anonymous")
    colleague = await actor_of(seeker_user)
    stranger = await actor_of((await a_verified_institute())[0])
    for insider in (colleague, await _admin()):
        assert service.public_view(need, insider)["seeker"]["name"] == org.name
    for outsider in (stranger, Actor.anonymous()):
        view = service.public_view(need, outsider)
        assert view["seeker"] is None and view["anonymous"]
        assert "created_by_id" not in view and "rejection_reason" not in view
        assert "Secretive" not in repr(view) and str(org.id) not in repr(view)
    # Neither a search for its name nor its profile leads to it.
    found, total = await service.list_needs(stranger, q="Secretive")
    assert (found, total) == ([], 0)
    assert await service.published_by(org.id) == []
    found, _ = await service.list_needs(stranger, q="membrane salt")
    assert [n.id for n in found] == [need.id]


async def test_confidential_details_stay_with_the_seeker() -> None:
    seeker_user, _ = await a_verified_enterprise()
    need = await a_published_need(seeker_user, visibility="after_confidentiality")
    outsider = service.public_view(need, Actor.anonymous())
    assert outsider["details_hidden"] and outsider["seeker"] is not None
    assert (outsider["must_have"], outsider["background"], outsider["budget_max"]) == ([], "", None)
    inside = service.public_view(need, await actor_of(seeker_user))
    assert not inside["details_hidden"] and inside["must_have"]
    found, _ = await service.list_needs(Actor.anonymous(), q="Jiangsu")
    assert found == []  # the background is searched by nobody


async def test_the_public_list_filters_by_state_and_cooperation() -> None:
    licence = await a_published_need(cooperation=["license"])
    research = await a_published_need(cooperation=["sponsored_research"])
    await a_draft_need()
    anyone = Actor.anonymous()
    found, total = await service.list_needs(anyone)
    assert total == 2 and {n.id for n in found} == {licence.id, research.id}
    found, _ = await service.list_needs(anyone, cooperation="sponsored_research")
    assert [n.id for n in found] == [research.id]
    assert await service.list_needs(anyone, state="draft") == ([], 0)
    with pytest.raises(ValidationFailed):
        await service.list_needs(anyone, cooperation="barter")
    owner = await actor_of(await User.get(id=licence.created_by_id))
    mine, total = await service.list_needs(owner, mine=True)
    assert total == 1 and mine[0].id == licence.id
