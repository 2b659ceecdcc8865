import asyncio
from datetime import timedelta

import pytest

from market import audit
from market.accounts import service, states
from market.accounts.models import (
    ApiToken,
    Membership,
    Organization,
    Session,
    User,
    Verification,
)
from market.accounts.schemas import LoginIn, RegisterIn, TokenIn
from market.actor import Actor
from market.clock import utcnow
from market.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from market.outbox import OutboxEvent
from market.transitions import allowed_actions
from market.validation import parse
from tests.builders import PASSWORD, a_user, actor_of, an_admin, registration


async def test_registration_creates_user_organisation_owner_audit_and_event() -> None:
    user, org = await a_user(email="Ada@Example.ORG")
    assert user.email == "ada@example.org"
    assert org.verification == Verification.PENDING
    actor = await actor_of(user)
    assert actor.organization is not None and actor.organization.id == org.id
    assert actor.role == "owner"
    actions = await audit.AuditEntry.filter(object_id=str(org.id)).values_list("action", flat=True)
    assert actions == ["organization.registered"]
    assert await OutboxEvent.filter(event_type="organization.registered").count() == 1


@pytest.mark.parametrize("spelling", ["ada@example.org", "ADA@EXAMPLE.ORG", "Ada@example.Org"])
async def test_an_email_in_any_letter_case_is_refused_and_nothing_is_created(spelling) -> None:
    await a_user(email="ada@example.org")
    with pytest.raises(ValidationFailed) as refused:
        await a_user(email=spelling)
    assert "email" in refused.value.fields
    assert await User.all().count() == 1
    assert await Organization.all().count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "aaaaaaaaaaaaaa"}, "password"),
        ({"name": "x" * 121}, "name"),
        ({"organization": {"name": "n" * 201}}, "organization.name"),
        ({"organization": {"country": "XX"}}, "organization.country"),
        ({"organization": {"kind": "platform"}}, "organization.kind"),
        ({"organization": {"website": "javascript:alert(1)"}}, "organization.website"),
    ],
)
async def test_bad_registrations_name_the_field_and_create_nothing(overrides, field) -> None:
    with pytest.raises(ValidationFailed) as refused:
        data = parse(RegisterIn, registration(**overrides))
        await service.register(data)
    assert field in refused.value.fields
    assert await User.all().count() == 0
    assert await Organization.all().count() == 0
    assert await audit.AuditEntry.all().count() == 0


async def test_concurrent_registrations_with_one_address_let_exactly_one_through() -> None:
    data = RegisterIn.model_validate(registration(email="race@example.org"))
    results = await asyncio.gather(
        *(service.register(data) for _ in range(5)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, ValidationFailed) for r in results if isinstance(r, Exception))
    assert await User.filter(email="race@example.org").count() == 1
    assert await Organization.all().count() == 1


async def test_wrong_password_and_unknown_email_get_the_same_message() -> None:
    await a_user(email="ada@example.org")
    with pytest.raises(NotAuthenticated) as wrong:
        await service.authenticate(LoginIn(email="ada@example.org", password="nope-nope-nope"))
    with pytest.raises(NotAuthenticated) as unknown:
        await service.authenticate(LoginIn(email="bob@example.org", password="nope-nope-nope"))
    assert wrong.value.message == unknown.value.message == service.BAD_LOGIN
    user = await service.authenticate(LoginIn(email="ADA@example.org", password=PASSWORD))
    assert user.email == "ada@example.org"


async def test_logins_are_throttled_per_account_even_with_the_right_password(settings) -> None:
    await a_user(email="ada@example.org")
    for _ in range(settings.login_max_failures_per_account):
        with pytest.raises(NotAuthenticated):
            await service.authenticate(LoginIn(email="ada@example.org", password="wrong-guess-1"))
    with pytest.raises(TooManyRequests) as throttled:
        await service.authenticate(LoginIn(email="ada@example.org", password=PASSWORD))
    assert throttled.value.retry_after


async def test_logins_are_throttled_per_ip_across_accounts(settings) -> None:
    for i in range(settings.login_max_failures_per_ip):
        with pytest.raises(NotAuthenticated):
            await service.authenticate(
                LoginIn(email=f"guess{i}@example.org", password="wrong-guess-1"), ip="203.0.113.9"
            )
    await a_user(email="ada@example.org")
    with pytest.raises(TooManyRequests):
        await service.authenticate(
            LoginIn(email="ada@example.org", password=PASSWORD), ip="203.0.113.9"
        )
    user = await service.authenticate(
        LoginIn(email="ada@example.org", password=PASSWORD), ip="203.0.113.10"
    )
    assert user.email == "ada@example.org"


async def test_sessions_are_server_side_and_logout_revokes_them() -> None:
    user, _ = await a_user()
    token = await service.start_session(user)
    assert await Session.filter(token_hash=token).count() == 0  # only the hash is stored
    assert (await service.actor_from_session(token)).user.id == user.id
    await service.end_session(token)
    assert await service.actor_from_session(token) is None


async def test_deactivation_ends_sessions_and_tokens() -> None:
    user, _ = await a_user()
    admin = await actor_of(await an_admin())
    token = await service.start_session(user)
    _, raw = await service.create_api_token(await actor_of(user), TokenIn(name="ci"))
    await service.deactivate_user(admin, str(user.id))
    assert await service.actor_from_session(token) is None
    assert await service.actor_from_api_token(raw) is None
    with pytest.raises(NotAuthenticated):
        await service.authenticate(LoginIn(email=user.email, password=PASSWORD))


async def test_only_admins_deactivate() -> None:
    user, _ = await a_user()
    other, _ = await a_user()
    with pytest.raises(Forbidden):
        await service.deactivate_user(await actor_of(user), str(other.id))
    assert (await User.get(id=other.id)).is_active


async def test_api_tokens_are_hashed_at_rest_shown_once_and_revocable() -> None:
    user, _ = await a_user()
    actor = await actor_of(user)
    token, raw = await service.create_api_token(actor, TokenIn(name="scouting tool"))
    stored = await ApiToken.get(id=token.id)
    assert raw not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    resolved = await service.actor_from_api_token(raw)
    assert resolved is not None and resolved.user.id == user.id and resolved.via_token
    assert [t.id for t in await service.list_api_tokens(actor)] == [token.id]
    stranger = await actor_of((await a_user())[0])
    with pytest.raises(NotFound):
        await service.revoke_api_token(stranger, str(token.id))
    await service.revoke_api_token(actor, str(token.id))
    assert await service.actor_from_api_token(raw) is None


# --- the verification table, walked in full -------------------------------------------------

ALL_STATES = [v.value for v in Verification]
ALL_ACTIONS = sorted({action for (_, action) in states.VERIFICATION})


async def _org_in(state: str) -> tuple[Actor, Actor, Organization]:
    user, org = await a_user()
    await Organization.filter(id=org.id).update(verification=state)
    owner = await actor_of(user)
    admin = await actor_of(await User.filter(email="admin@example.org").first() or await an_admin())
    return owner, admin, await Organization.get(id=org.id)


async def _act(action: str, actor: Actor, org: Organization) -> Organization:
    if action == "verify":
        return await service.verify_organization(actor, str(org.id))
    if action == "reject":
        return await service.reject_organization(actor, str(org.id), "Documents missing")
    return await service.resubmit_organization(actor)


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", ALL_ACTIONS)
async def test_every_pair_of_the_verification_table(state: str, action: str) -> None:
    owner, admin, org = await _org_in(state)
    rule = states.VERIFICATION.get((state, action))
    actor = admin if action in ("verify", "reject") else owner
    if rule is None:
        with pytest.raises(Conflict) as refused:
            await _act(action, actor, org)
        assert refused.value.state == state
        assert (await Organization.get(id=org.id)).verification == state
        return
    moved = await _act(action, actor, org)
    assert moved.verification == rule.to
    entry = await audit.AuditEntry.filter(action=f"organization.{action}").first()
    assert entry.state_before["verification"] == state
    assert entry.state_after["verification"] == rule.to
    assert await OutboxEvent.filter(event_type=f"organization.{rule.to}").count() >= 1


@pytest.mark.parametrize("action", ["verify", "reject"])
async def test_members_cannot_verify_or_reject(action: str) -> None:
    owner, _, org = await _org_in("pending")
    with pytest.raises(Forbidden):
        await _act(action, owner, org)
    assert (await Organization.get(id=org.id)).verification == "pending"


async def test_buttons_come_from_the_same_table() -> None:
    assert allowed_actions(states.VERIFICATION, "pending", {"admin"}) == ["verify", "reject"]
    assert allowed_actions(states.VERIFICATION, "rejected", {"owner"}) == ["resubmit"]


async def test_rejection_needs_a_reason_and_keeps_it() -> None:
    _, admin, org = await _org_in("pending")
    with pytest.raises(ValidationFailed):
        await service.reject_organization(admin, str(org.id), " ")
    moved = await service.reject_organization(admin, str(org.id), "No registration certificate")
    assert moved.rejection_reason == "No registration certificate"


async def test_concurrent_verifications_have_exactly_one_winner() -> None:
    _, admin, org = await _org_in("pending")
    results = await asyncio.gather(
        *[service.verify_organization(admin, str(org.id)) for _ in range(6)],
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Organization)]
    losers = [r for r in results if not isinstance(r, Organization)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) and r.state == "verified" for r in losers), losers
    assert (await Organization.get(id=org.id)).verification == "verified"
    assert await audit.AuditEntry.filter(action="organization.verify").count() == 1
    assert await OutboxEvent.filter(event_type="organization.verified").count() == 1


@pytest.mark.parametrize("state", ["pending", "rejected"])
async def test_unverified_organisations_are_refused_with_the_reason(state: str) -> None:
    owner, _, org = await _org_in(state)
    await Organization.filter(id=org.id).update(rejection_reason="No certificate")
    owner = await actor_of(owner.user)
    with pytest.raises(Forbidden) as refused:
        service.require_verified(owner, "publish listings")
    assert "publish listings" in refused.value.message
    if state == "rejected":
        assert "No certificate" in refused.value.message
    else:
        assert "not verified" in refused.value.message


async def test_members_of_unverified_organisations_can_still_edit_their_profile() -> None:
    from market.accounts.schemas import ProfileIn

    owner, _, _ = await _org_in("pending")
    user = await service.update_profile(owner, ProfileIn(name="Dr. Ada", locale="zh"))
    assert (user.name, user.locale) == ("Dr. Ada", "zh")


async def test_unknown_or_malformed_ids_are_not_found() -> None:
    _, admin, _ = await _org_in("pending")
    with pytest.raises(NotFound):
        await service.verify_organization(admin, "not-a-uuid")
    with pytest.raises(NotFound):
        await service.verify_organization(admin, "00000000-0000-0000-0000-000000000000")


async def test_a_session_reads_as_its_actor_with_the_unread_count(database_kind) -> None:
    """One statement reads the session, the user, the organisation and the badge's count, on
    PostgreSQL and on SQLite (`market dev`); what it builds is what the ORM would have."""
    from market import notify

    user, org = await a_user()
    token = await service.start_session(user)
    for n in range(3):
        await notify.notify(user, f"Note {n}", "body", dedup_key=f"note-{n}")
    await notify.Notification.filter(dedup_key="note-0").update(read_at=utcnow())

    reading = await service.read_session(token, ip="203.0.113.5")
    assert reading is not None
    expected = await service.actor_for(user, ip="203.0.113.5")
    assert reading.actor.user.id == user.id and reading.actor.user.email == user.email
    assert reading.actor.organization.id == org.id
    assert reading.actor.organization.kind == expected.organization.kind
    assert reading.actor.organization.verification == expected.organization.verification
    assert reading.actor.role == expected.role and reading.actor.ip == "203.0.113.5"
    assert reading.unread == 2

    # A second organisation, chosen for this session: the reading acts for it.
    _, other = await a_user()
    await Membership.create(user=user, organization=other, role="member")
    await Session.filter(user_id=user.id).update(organization_id=other.id)
    switched = await service.read_session(token)
    assert switched is not None and switched.actor.organization.id == other.id
    assert switched.actor.role == "member"

    # Expired: the session is there and unrevoked, and still reads as nobody.
    await Session.filter(user_id=user.id).update(expires_at=utcnow() - timedelta(seconds=1))
    assert await service.read_session(token) is None
    assert await service.read_session("not-a-token") is None
