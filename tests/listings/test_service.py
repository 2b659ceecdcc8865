"""Listing use cases against PostgreSQL: the whole lifecycle table, revisions, bad input."""

import asyncio

import pytest

from listings import service, states
from listings.models import Listing, ListingRevision, ListingState
from listings.schemas import ListingIn, ListingPatch
from market.accounts.models import Organization, User
from market.actor import Actor
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.outbox import OutboxEvent
from market.validation import parse
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    a_user,
    a_verified_institute,
    actor_of,
    an_admin,
    listing_data,
)

ALL_STATES = [s.value for s in ListingState]
ALL_ACTIONS = sorted({action for (_, action) in states.LIFECYCLE})
EVENTS = {"approve": "listing.published", "withdraw": "listing.withdrawn"}


async def _admin() -> Actor:
    admin = await User.filter(email="admin@example.org").first() or await an_admin()
    return await actor_of(admin)


async def _listing_in(state: str) -> tuple[Actor, Listing]:
    owner, _ = await a_verified_institute()
    listing = await a_draft_listing(owner)
    await Listing.filter(id=listing.id).update(state=state)
    return await actor_of(owner), await Listing.get(id=listing.id)


async def _do(action: str, actor: Actor, listing: Listing) -> Listing:
    lid = str(listing.id)
    match action:
        case "submit":
            return await service.submit_listing(actor, lid)
        case "approve":
            return await service.approve_listing(actor, lid)
        case "reject":
            return await service.reject_listing(actor, lid, "The abstract is missing figures")
        case "withdraw":
            return await service.withdraw_listing(actor, lid)
        case "license":
            return await service.license_listing(actor, lid)
    raise AssertionError(action)


def _actor_for(action: str, owner: Actor, admin: Actor) -> Actor:
    rule_roles = {r.who for (_, a), r in states.LIFECYCLE.items() if a == action}
    roles = set().union(*rule_roles)
    if "member" in roles:
        return owner
    if "admin" in roles:
        return admin
    return Actor.system()


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", ALL_ACTIONS)
async def test_every_pair_of_the_lifecycle_table(state: str, action: str) -> None:
    owner, listing = await _listing_in(state)
    actor = _actor_for(action, owner, await _admin())
    rule = states.LIFECYCLE.get((state, action))
    events_before = await OutboxEvent.all().count()
    if rule is None:
        with pytest.raises(Conflict) as refused:
            await _do(action, actor, listing)
        assert refused.value.state == state
        assert (await Listing.get(id=listing.id)).state == state
        assert await OutboxEvent.all().count() == events_before
        return
    moved = await _do(action, actor, listing)
    assert moved.state == rule.to
    assert moved.version == listing.version + 1
    entry = await AuditEntry.get(action=f"listing.{action}", object_id=str(listing.id))
    assert (entry.state_before, entry.state_after["state"]) == ({"state": state}, rule.to)
    event = await OutboxEvent.get(event_type=EVENTS.get(action, "listing.changed"))
    assert event.payload == {"listing_id": str(listing.id), "version": moved.version}


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_only_admins_moderate(action: str) -> None:
    owner, listing = await _listing_in("submitted")
    with pytest.raises(Forbidden):
        await _do(action, owner, listing)
    assert (await Listing.get(id=listing.id)).state == "submitted"


@pytest.mark.parametrize("action", ["submit", "withdraw"])
async def test_another_institute_cannot_move_a_listing(action: str) -> None:
    _, listing = await _listing_in("draft" if action == "submit" else "published")
    stranger = await actor_of((await a_verified_institute())[0])
    with pytest.raises(Forbidden):
        await _do(action, stranger, listing)


async def test_only_the_system_licenses() -> None:
    owner, listing = await _listing_in("published")
    for actor in (owner, await _admin()):
        with pytest.raises(Forbidden):
            await service.license_listing(actor, str(listing.id))


async def test_concurrent_approvals_have_exactly_one_winner() -> None:
    _, listing = await _listing_in("submitted")
    admin = await _admin()
    results = await asyncio.gather(
        *(service.approve_listing(admin, str(listing.id)) for _ in range(6)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Listing) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Listing))
    assert await OutboxEvent.filter(event_type="listing.published").count() == 1


async def test_only_verified_institutes_submit_and_only_institutes_create() -> None:
    pending_user, _ = await a_user()
    pending = await actor_of(pending_user)
    draft = await service.create_listing(pending, ListingIn(**listing_data()))  # drafts wait not
    with pytest.raises(Forbidden) as refused:
        await service.submit_listing(pending, str(draft.id))
    assert "not verified" in refused.value.message
    enterprise, _ = await a_verified_institute(organization={"kind": "enterprise"})
    with pytest.raises(Forbidden) as refused:
        await service.create_listing(await actor_of(enterprise), ListingIn(**listing_data()))
    assert "research institute" in refused.value.message

    owner, listing = await _listing_in("draft")
    await Organization.filter(id=owner.organization_id).update(verification="rejected")
    with pytest.raises(Forbidden):
        await service.submit_listing(await actor_of(owner.user), str(listing.id))


async def test_an_incomplete_draft_cannot_be_submitted_and_says_what_is_missing() -> None:
    owner, _ = await a_verified_institute()
    listing = await a_draft_listing(
        owner, trl=None, license_types=[], price_model="fixed", asking_price=None
    )
    with pytest.raises(ValidationFailed) as refused:
        await service.submit_listing(await actor_of(owner), str(listing.id))
    assert {"trl", "license_types", "asking_price"} <= set(refused.value.fields)
    assert (await Listing.get(id=listing.id)).state == "draft"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"summary": None}, "summary"),
        ({"trl": 0}, "trl"),
        ({"trl": 10}, "trl"),
        ({"trl": "5"}, "trl"),
        ({"ipc_codes": ["B01D 69/12", "XX99"]}, "ipc_codes.1"),
        ({"ipc_codes": ["Y10S 901/02"]}, "ipc_codes.0"),
        ({"asking_price": {"amount": -1, "currency": "USD"}}, "asking_price.amount"),
        ({"asking_price": {"amount": 10**13, "currency": "USD"}}, "asking_price.amount"),
        ({"asking_price": {"amount": 10.5, "currency": "USD"}}, "asking_price.amount"),
        ({"asking_price": {"amount": 100, "currency": "XYZ"}}, "asking_price.currency"),
        ({"license_types": ["forever"]}, "license_types.0"),
        ({"territories": ["Atlantis"]}, "territories.0"),
        ({"kind": "perpetual motion"}, "kind"),
        ({"patent_numbers": ["123"]}, "patent_numbers.0"),
        ({"description": "x" * 50_001}, "description"),
        ({"owner": "someone else"}, "owner"),
    ],
)
async def test_bad_listings_name_the_field_and_create_nothing(overrides, field) -> None:
    owner, _ = await a_verified_institute()
    with pytest.raises(ValidationFailed) as refused:
        await service.create_listing(
            await actor_of(owner), parse(ListingIn, listing_data(**overrides))
        )
    assert field in refused.value.fields, refused.value.fields
    assert await Listing.all().count() == 0


async def test_script_tags_are_stored_as_typed() -> None:
    hostile = "<script>alert('x')</script> membrane"
    listing = await a_draft_listing(title=hostile)
    assert (await Listing.get(id=listing.id)).title == hostile


async def test_ipc_codes_are_normalised() -> None:
    listing = await a_draft_listing(ipc_codes=["b01d69/12", "B01D 69/12", "C02F"])
    assert listing.ipc_codes == ["B01D 69/12", "C02F"]


# --- editing and revisions ----------------------------------------------------------------


async def test_drafts_are_edited_in_place_by_their_institute_only() -> None:
    owner, listing = await _listing_in("draft")
    edited, revision = await service.update_listing(
        owner, str(listing.id), ListingPatch(title="A better title")
    )
    assert revision is None and edited.title == "A better title"
    assert edited.version == listing.version + 1
    stranger = await actor_of((await a_verified_institute())[0])
    with pytest.raises(NotFound):  # a stranger cannot tell the draft exists
        await service.update_listing(stranger, str(listing.id), ListingPatch(title="Mine now"))
    admin = await _admin()
    with pytest.raises(Forbidden):
        await service.update_listing(admin, str(listing.id), ListingPatch(title="Admin edit"))
    assert (await Listing.get(id=listing.id)).title == "A better title"


@pytest.mark.parametrize("state", ["submitted", "licensed"])
async def test_listings_under_review_or_licensed_cannot_be_edited(state: str) -> None:
    owner, listing = await _listing_in(state)
    with pytest.raises(Conflict) as refused:
        await service.update_listing(owner, str(listing.id), ListingPatch(title="Too late"))
    assert refused.value.state == state


async def test_substance_edits_of_a_published_listing_wait_for_review() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    owner = await actor_of(owner_user)
    changed = await OutboxEvent.filter(event_type="listing.changed").count()
    visible, revision = await service.update_listing(
        owner,
        str(listing.id),
        ListingPatch(
            title="Revised title",
            keywords=["graphene"],
            asking_price={"amount": 99_000, "currency": "EUR"},
        ),
    )
    assert revision is not None
    assert visible.title == listing.title  # the published version stays as it is
    assert visible.keywords == ["graphene"]  # not substance: applied at once
    assert await OutboxEvent.filter(event_type="listing.changed").count() == changed + 1
    diff = dict((f, (old, new)) for f, old, new in service.revision_diff(visible, revision))
    assert diff["title"] == (listing.title, "Revised title")
    assert diff["asking_price"][1] == {"amount": 99_000, "currency": "EUR"}

    # A second edit before review extends the same pending revision.
    _, again = await service.update_listing(
        owner, str(listing.id), ListingPatch(summary="A new teaser for buyers.")
    )
    assert again.id == revision.id and set(again.changes) == {"title", "asking_price", "summary"}

    admin = await _admin()
    approved = await service.approve_revision(admin, str(revision.id))
    assert approved.title == "Revised title" and approved.asking_currency == "EUR"
    assert approved.state == "published"
    assert await OutboxEvent.filter(event_type="listing.changed").count() == changed + 2
    with pytest.raises(Conflict):
        await service.approve_revision(admin, str(revision.id))


async def test_a_rejected_revision_changes_nothing_and_keeps_the_reason() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    _, revision = await service.update_listing(
        await actor_of(owner_user), str(listing.id), ListingPatch(title="Overclaiming title")
    )
    admin = await _admin()
    with pytest.raises(ValidationFailed):
        await service.reject_revision(admin, str(revision.id), "")
    rejected = await service.reject_revision(admin, str(revision.id), "Claims not supported")
    assert rejected.state == "rejected" and rejected.reason == "Claims not supported"
    assert (await Listing.get(id=listing.id)).title == listing.title
    with pytest.raises(Forbidden):
        await service.approve_revision(await actor_of(owner_user), str(revision.id))


async def test_a_revision_of_a_withdrawn_listing_cannot_be_approved() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    owner = await actor_of(owner_user)
    _, revision = await service.update_listing(owner, str(listing.id), ListingPatch(title="New"))
    await service.withdraw_listing(owner, str(listing.id))
    with pytest.raises(Conflict) as refused:
        await service.approve_revision(await _admin(), str(revision.id))
    assert refused.value.state == "withdrawn"


async def test_empty_patch_is_refused() -> None:
    owner, listing = await _listing_in("draft")
    with pytest.raises(ValidationFailed):
        await service.update_listing(owner, str(listing.id), ListingPatch())


# --- reading ------------------------------------------------------------------------------


async def test_unpublished_listings_are_invisible_to_strangers() -> None:
    owner, listing = await _listing_in("draft")
    for actor in (Actor.anonymous(), await actor_of((await a_verified_institute())[0])):
        with pytest.raises(NotFound):
            await service.get_listing(actor, str(listing.id))
    assert (await service.get_listing(owner, str(listing.id))).id == listing.id
    assert (await service.get_listing(await _admin(), str(listing.id))).id == listing.id


async def test_public_views_are_counted_but_not_the_owners() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    await service.view_listing(Actor.anonymous(), str(listing.id))
    await service.view_listing(Actor.anonymous(), str(listing.id))
    await service.view_listing(await actor_of(owner_user), str(listing.id))
    # Views wait in listing_view until the worker's flush adds them (no lock per view).
    assert await service.flush_views() == 2
    assert (await Listing.get(id=listing.id)).view_count == 2


async def test_lists_and_counts() -> None:
    owner_user, _ = await a_verified_institute()
    await a_published_listing(owner_user)
    await a_draft_listing(owner_user)
    await a_published_listing()  # another institute's
    owner = await actor_of(owner_user)
    mine, total = await service.list_listings(owner, mine=True)
    assert total == 2
    public, total = await service.list_listings(Actor.anonymous())
    assert total == 2 and all(x.state == "published" for x in public)
    hidden, total = await service.list_listings(Actor.anonymous(), state="draft")
    assert total == 0
    counts = await service.state_counts(owner)
    assert counts["published"] == 1 and counts["draft"] == 1 and counts["rejected"] == 0
    queue, total = await service.moderation_queue(await _admin())
    assert total == 0
    assert await ListingRevision.all().count() == 0


async def test_sending_unchanged_fields_changes_nothing_and_proposes_nothing() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    owner = await actor_of(owner_user)
    events = await OutboxEvent.all().count()
    same = ListingPatch(title=listing.title, summary=listing.summary, trl=listing.trl)
    unchanged, revision = await service.update_listing(owner, str(listing.id), same)
    assert revision is None and unchanged.version == listing.version
    assert await OutboxEvent.all().count() == events
    assert await ListingRevision.all().count() == 0


async def test_a_stranger_editing_an_unpublished_listing_finds_nothing() -> None:
    _, listing = await _listing_in("draft")
    stranger = await actor_of((await a_verified_institute())[0])
    with pytest.raises(NotFound):
        await service.update_listing(stranger, str(listing.id), ListingPatch(title="Mine now"))


async def test_the_owner_sees_why_the_last_revision_was_refused() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    _, revision = await service.update_listing(
        await actor_of(owner_user), str(listing.id), ListingPatch(title="Best membrane ever")
    )
    await service.reject_revision(await _admin(), str(revision.id), "Superlatives")
    latest = await service.latest_revision(listing)
    assert latest.state == "rejected" and latest.reason == "Superlatives"
    assert await service.pending_revision(listing) is None
    entry = await AuditEntry.get(action="listing.revision_rejected")
    assert entry.organization_id == listing.institute_id


async def test_sending_the_pending_proposal_again_changes_nothing() -> None:
    owner_user, _ = await a_verified_institute()
    listing = await a_published_listing(owner_user)
    owner = await actor_of(owner_user)
    _, revision = await service.update_listing(owner, str(listing.id), ListingPatch(title="New"))
    proposals = await AuditEntry.filter(action="listing.revision_proposed").count()
    again, same = await service.update_listing(
        owner, str(listing.id), ListingPatch(title="New", summary=listing.summary)
    )
    assert same.id == revision.id and same.changes == {"title": "New"}
    assert again.version == listing.version
    assert await AuditEntry.filter(action="listing.revision_proposed").count() == proposals
