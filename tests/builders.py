"""Builders: small functions that make a valid object; overrides for what a test cares about."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from contracts.offers.models import Offer, OfferTerms
from market.accounts import service
from market.accounts.models import Organization, User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.actor import Actor
from market.audit import AuditEntry
from market.clock import utcnow
from market.notify import Notification

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def registration(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    org = {
        "name": f"Institute of Applied Optics {n}",
        "kind": "institute",
        "country": "CN",
        "region": "Guangdong",
        "website": "https://optics.example.org",
    }
    org.update(overrides.pop("organization", {}))
    data = {
        "email": f"person{n}@example.org",
        "password": PASSWORD,
        "name": f"Person {n}",
        "organization": org,
    }
    data.update(overrides)
    return data


async def a_user(confirmed: bool = True, **overrides: Any) -> tuple[User, Organization]:
    """A registered user and their organisation; `confirmed=False`: the address waits for the
    mailed link, as after the public registration."""
    return await service.register(
        RegisterIn.model_validate(registration(**overrides)), confirmed=confirmed
    )


async def an_admin(email: str = "admin@example.org") -> User:
    """The platform administrator with this address, made the first time it is asked for."""
    existing = await User.get_or_none(email=email)
    return existing or await service.create_admin(email, PASSWORD, "Admin")


async def actor_of(user: User, ip: str = "198.51.100.1") -> Actor:
    return await service.actor_for(user, ip=ip)


async def a_verified_institute(**overrides: Any) -> tuple[User, Organization]:
    user, org = await a_user(**overrides)
    admin = await an_admin()
    org = await service.verify_organization(await actor_of(admin), str(org.id))
    return user, org


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log the client in through the API; returns the CSRF token for later writes."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    me = await client.get("/api/v1/me")
    return me.json()["csrf_token"]


def organization_in(**overrides: Any) -> OrganizationIn:
    return OrganizationIn.model_validate(registration(organization=overrides)["organization"])


def listing_data(**overrides: Any) -> dict[str, Any]:
    """A complete listing, ready to submit."""
    data: dict[str, Any] = {
        "title": "Graphene oxide membrane for brackish water desalination",
        "summary": "A crosslinked graphene oxide membrane that keeps its salt rejection at "
        "high flux; proven in a 200-hour pilot.",
        "description": "## Advantages\n\n- 30% higher flux\n- stable at pH 2-11",
        "kind": "patent",
        "patent_numbers": ["CN 112345678 A"],
        "ipc_codes": ["B01D 69/12", "C02F 1/44"],
        "trl": 5,
        "keywords": ["membrane", "desalination"],
        "inventors": ["Li Wei", "Zhang Min"],
        "license_types": ["exclusive", "non_exclusive"],
        "territories": ["WORLD"],
        "fields_of_use": ["all"],
        "price_model": "negotiable",
        "asking_price": {"amount": 15_000_000, "currency": "USD"},
        "language": "en",
    }
    data.update(overrides)
    return data


async def a_draft_listing(institute_user: User | None = None, **overrides: Any):
    """A draft of a verified institute (made if not given)."""
    from listings import service as listings
    from listings.schemas import ListingIn

    if institute_user is None:
        institute_user, _ = await a_verified_institute()
    actor = await actor_of(institute_user)
    return await listings.create_listing(actor, ListingIn.model_validate(listing_data(**overrides)))


async def a_published_listing(institute_user: User | None = None, **overrides: Any):
    from listings import service as listings

    draft = await a_draft_listing(institute_user, **overrides)
    owner = await actor_of(await User.get(id=draft.created_by_id))
    await listings.submit_listing(owner, str(draft.id))
    admin = await an_admin()
    return await listings.approve_listing(await actor_of(admin), str(draft.id))


def need_data(**overrides: Any) -> dict[str, Any]:
    """A complete technology need, ready to submit, as the API takes it."""
    from datetime import timedelta

    today = utcnow().date()
    data: dict[str, Any] = {
        "title": "A membrane that keeps its salt rejection at high flux",
        "problem": "Our brackish water plant loses salt rejection when the flux rises; we need "
        "a membrane that holds 98% rejection at 40 litres per square metre and hour.",
        "background": "Two plants in Jiangsu, 20,000 cubic metres a day each.",
        "must_have": ["98% salt rejection at 40 LMH", "Stable from pH 2 to 11"],
        "nice_to_have": ["Tolerates chlorine cleaning"],
        "out_of_scope": "Thermal desalination.",
        "trl_min": 4,
        "trl_max": 7,
        "ipc_codes": ["B01D 69/12", "C02F 1/44"],
        "keywords": ["membrane", "desalination"],
        "budget_min": {"amount": 5_000_000, "currency": "USD"},
        "budget_max": {"amount": 20_000_000, "currency": "USD"},
        "cooperation": ["license", "joint_development"],
        "territories": ["CN", "DE"],
        "deadline": (today + timedelta(days=30)).isoformat(),
        "feedback_by": (today + timedelta(days=45)).isoformat(),
        "visibility": "public",
        "language": "en",
    }
    data.update(overrides)
    return data


async def a_draft_need(seeker_user: User | None = None, **overrides: Any):
    """A draft need of a verified enterprise (made if not given); `overrides` are its fields."""
    from docking import service as needs
    from docking.schemas import NeedIn

    if seeker_user is None:
        seeker_user, _ = await a_verified_enterprise()
    actor = await actor_of(seeker_user)
    return await needs.create_need(actor, NeedIn.model_validate(need_data(**overrides)))


async def a_published_need(seeker_user: User | None = None, **overrides: Any):
    """A need submitted by its enterprise and approved by the administrator."""
    from docking import service as needs

    draft = await a_draft_need(seeker_user, **overrides)
    seeker = await actor_of(await User.get(id=draft.created_by_id))
    await needs.submit_need(seeker, str(draft.id))
    admin = await an_admin()
    return await needs.approve_need(await actor_of(admin), str(draft.id))


def proposal_data(need: Any, listing_ids: list[str], **overrides: Any) -> dict[str, Any]:
    """A complete proposal to `need`, answering each of its must-haves, as the API takes it."""
    data: dict[str, Any] = {
        "summary": "Our crosslinked graphene oxide membrane holds 98.5% rejection at 45 LMH "
        "in a 200-hour pilot.",
        "requirements": [
            {"requirement": r, "how": f"Pilot data: {r.lower()}."} for r in need.must_have
        ],
        "trl": 5,
        "listing_ids": listing_ids,
    }
    data.update(overrides)
    return data


async def a_proposal(
    need: Any = None, institute_user: User | None = None, listing: Any = None, **overrides: Any
):
    """A new proposal of a verified institute (made if not given) to a published need (made
    if not given), attaching a published listing of its own (made if not given)."""
    from docking import proposals
    from docking.schemas import ProposalIn

    if need is None:
        need = await a_published_need()
    if institute_user is None:
        institute_user, _ = await a_verified_institute()
    if listing is None:
        listing = await a_published_listing(institute_user)
    actor = await actor_of(institute_user)
    data = ProposalIn.model_validate(proposal_data(need, [str(listing.id)], **overrides))
    return await proposals.make_proposal(actor, str(need.id), data)


async def run_worker(settings: Any) -> int:
    """Run a real arq worker in burst mode on the test queue; returns the jobs it completed."""
    from workers.settings import make_worker

    worker = make_worker(settings, manage_db=False, burst=True, poll_delay=0.05, cron_jobs=[])
    try:
        await worker.main()
        return worker.jobs_complete
    finally:
        await worker.close()


async def a_verified_enterprise(**overrides: Any) -> tuple[User, Organization]:
    """A member of a verified enterprise: a buyer."""
    org = {"name": f"Enterprise {next(_seq)} Ltd", "kind": "enterprise", "country": "DE"}
    org.update(overrides.pop("organization", {}))
    return await a_verified_institute(organization=org, **overrides)


def offer_terms(**overrides: Any) -> dict[str, Any]:
    """Complete terms of an offer or counter-offer, as the API takes them."""
    from datetime import UTC, datetime, timedelta

    data: dict[str, Any] = {
        "license_type": "non_exclusive",
        "territories": ["WORLD"],
        "fields_of_use": ["all"],
        "term_months": 60,
        "upfront_fee": {"amount": 5_000_000, "currency": "USD"},
        "royalty_percent": "3.5",
        "milestones": [
            {
                "description": "First commercial sale",
                "amount": {"amount": 1_000_000, "currency": "USD"},
            }
        ],
        "conditions": "Technical support for six months.",
        "expires_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
    }
    data.update(overrides)
    return data


async def an_offer(listing: Any = None, buyer: User | None = None, **overrides: Any):
    """An open offer by a verified enterprise (made if not given) on a published listing."""
    from contracts.offers import service as offers
    from contracts.offers.schemas import OfferIn

    if listing is None:
        listing = await a_published_listing()
    if buyer is None:
        buyer, _ = await a_verified_enterprise()
    actor = await actor_of(buyer)
    return await offers.make_offer(
        actor, str(listing.id), OfferIn.model_validate(offer_terms(**overrides))
    )


async def an_enquiry(
    listing: Any = None, buyer: User | None = None, body: str = "Does it work at 80 °C?"
):
    """An open enquiry by a verified enterprise (made if not given) on a published listing."""
    from listings import enquiries
    from listings.schemas import EnquiryIn

    if listing is None:
        listing = await a_published_listing()
    if buyer is None:
        buyer, _ = await a_verified_enterprise()
    return await enquiries.ask(
        await actor_of(buyer), str(listing.id), EnquiryIn.model_validate({"body": body})
    )


async def run_crons(settings: Any, *names: str) -> int:
    """Run the worker's own cron jobs of these names (`expire_offers`, ...) once, now, in a real
    arq worker in burst mode, with the jobs they lead to; returns the jobs it completed."""
    from dataclasses import replace

    from workers.settings import make_worker, worker_settings

    wanted = {f"cron:{name}" for name in names}
    crons = [
        replace(job, run_at_startup=True, next_run=None)
        for job in worker_settings(settings, manage_db=False)["cron_jobs"]
        if job.name in wanted
    ]
    assert {job.name for job in crons} == wanted, f"no such cron jobs: {wanted}"
    worker = make_worker(settings, manage_db=False, burst=True, poll_delay=0.05, cron_jobs=crons)
    try:
        await worker.main()
        return worker.jobs_complete
    finally:
        await worker.close()


async def a_colleague(
    org: Organization,
    *,
    active: bool = True,
    role: str = "member",
    can_sign: bool = False,
    password: str | None = None,
    **overrides: Any,
) -> User:
    """Another member of an existing organisation, with this role and signing right; one that
    can log in when given a password."""
    from market.accounts.models import Membership
    from market.accounts.passwords import hash_password

    n = next(_seq)
    user = await User.create(
        email=overrides.pop("email", f"colleague{n}@example.org"),
        name=overrides.pop("name", f"Colleague {n}"),
        # Without a password: cannot log in (most tests act through the services).
        password_hash=await hash_password(password) if password else "!",
        is_active=active,
        email_verified_at=overrides.pop("email_verified_at", utcnow()),
        **overrides,
    )
    await Membership.create(user=user, organization=org, role=role, can_sign=can_sign)
    return user


class Parties:
    """Both sides of a negotiation with colleagues (one of them deactivated), a stranger and a
    published listing of the institute."""

    def __init__(self, **people: Any) -> None:
        self.listing = people.pop("listing")
        self.people: dict[str, User] = people
        for name, user in people.items():
            setattr(self, name, user)

    def names(self, users: Any) -> set[str]:
        """The names (seller, buyer_mate, ...) of these users."""
        ids = {str(u.id) if isinstance(u, User) else str(u) for u in users}
        return {name for name, user in self.people.items() if str(user.id) in ids}

    def by_email(self, addresses: Any) -> list[str]:
        names = {user.email: name for name, user in self.people.items()}
        return sorted(names.get(a, a) for a in addresses)


async def the_parties() -> Parties:
    seller, institute = await a_verified_institute()
    buyer, enterprise = await a_verified_enterprise()
    stranger, _ = await a_verified_enterprise()
    return Parties(
        seller=seller,
        seller_mate=await a_colleague(institute),
        seller_gone=await a_colleague(institute, active=False),
        buyer=buyer,
        buyer_mate=await a_colleague(enterprise),
        stranger=stranger,
        admin=await an_admin(),
        listing=await a_published_listing(seller),
    )


async def an_accepted_offer(listing: Any = None, buyer: User | None = None, **overrides: Any):
    """An offer the listing's institute accepted (its first terms); `overrides` are terms."""
    from contracts.offers import service as offers

    offer = await an_offer(listing, buyer, **overrides)
    from listings.models import Listing

    owner = await User.get(id=(await Listing.get(id=offer.listing_id)).created_by_id)
    return await offers.accept_offer(await actor_of(owner), str(offer.id))


async def signatories(contract: Any) -> tuple[Actor, Actor]:
    """The owners of the institute and of the buyer: who may sign a contract (the users who
    registered each organisation)."""
    from market.accounts.models import MemberRole, Membership

    found = []
    for org_id in (contract.seller_id, contract.buyer_id):
        owner = (
            await Membership.filter(organization_id=org_id, role=MemberRole.OWNER)
            .order_by("created_at")
            .select_related("user")
            .first()
        )
        found.append(await actor_of(owner.user))
    return found[0], found[1]


async def a_contract(state: str = "pending_approval", offer: Any = None, **overrides: Any):
    """A contract of an accepted offer (made if not given; `overrides` are its terms), walked
    through the use cases to `state`: drafted (changes asked for, new version not yet drawn),
    pending_approval, approved, awaiting_signatures, signed, awaiting_payment, rejected or
    cancelled."""
    from contracts.agreements import service as agreements
    from contracts.agreements.models import Contract

    if offer is None:
        offer = await an_accepted_offer(**overrides)
    contract = await agreements.generate_contract(str(offer.id))
    assert contract is not None
    admin = await actor_of(await an_admin())
    cid = str(contract.id)
    if state == "pending_approval":
        return await Contract.get(id=cid)
    if state == "drafted":
        return await agreements.request_changes(admin, cid, "Name the governing law.")
    if state == "rejected":
        return await agreements.reject_contract(admin, cid, "The licensee is under sanctions.")
    if state == "cancelled":
        seller, _ = await signatories(contract)
        return await agreements.cancel_contract(seller, cid, "We changed our minds.")
    await agreements.approve_contract(admin, cid)
    if state == "approved":
        return await Contract.get(id=cid)
    await agreements.open_signing(cid)
    if state == "awaiting_signatures":
        return await Contract.get(id=cid)
    seller, buyer = await signatories(contract)
    current = await Contract.get(id=cid)
    for actor in (seller, buyer):
        await agreements.sign_contract(
            actor, cid, actor.user.name, current.document_sha256, user_agent="pytest"
        )
    if state == "signed":
        return await Contract.get(id=cid)
    await agreements.finalize_signed(cid)
    assert state == "awaiting_payment", f"no builder path to {state}"
    return await Contract.get(id=cid)


# --- many rows at once: what the query-count tests list -------------------------------------


async def copies(row: Any, n: int, each: Any = None) -> list[Any]:
    """`n` more rows like `row`, written in one INSERT: a list of 50 costs one statement, not
    50 use cases. Every column is copied but the primary key (a fresh one) and the unique text
    columns (suffixed); `each(i)` returns what else must differ for the i-th copy (a one-to-one
    key, a unique pair, a title to find it by)."""
    model = type(row)
    meta = row._meta
    columns = [name for name in meta.fields_db_projection if name != meta.pk_attr]
    made = []
    for i in range(1, n + 1):
        data = {name: getattr(row, name) for name in columns}
        for name in columns:
            field = meta.fields_map[name]
            if field.unique and isinstance(data[name], str):
                suffix = f"~{next(_seq)}"
                limit = getattr(field, "max_length", None) or len(data[name]) + len(suffix)
                data[name] = data[name][: limit - len(suffix)] + suffix
        data.update(each(i) if each else {})
        made.append(model(**data))
    await model.bulk_create(made)
    return made


async def needs_like(need: Any, n: int) -> list[Any]:
    """`n` more needs like `need` (same seeker, state and visibility), each its own title."""
    return await copies(need, n, lambda i: {"title": f"{need.title} (copy {i})"})


async def proposals_like(proposal: Any, n: int, *, to: str = "need") -> list[Any]:
    """`n` more proposals like `proposal`: to the same need from `n` new institutes
    (`to="need"`), or from the same institute to `n` new needs like its need (`to="proposer"`)."""
    from docking.models import Need

    if to == "need":
        orgs = await organizations(n, kind="institute", verification="verified")
        return await copies(proposal, n, lambda i: {"proposer_id": orgs[i - 1].id})
    needs = await needs_like(await Need.get(id=proposal.need_id), n)
    return await copies(proposal, n, lambda i: {"need_id": needs[i - 1].id})


async def listings_like(listing: Any, n: int) -> list[Any]:
    """`n` more listings like `listing` (same institute and state), each its own title."""
    return await copies(listing, n, lambda i: {"title": f"{listing.title} (copy {i})"})


async def offers_like(offer: Any, n: int) -> list[Any]:
    """`n` more offers like `offer` (same listing, parties and state), each with its own copy
    of every version of the terms, as pages read them."""
    made = await copies(offer, n)
    versions = await OfferTerms.filter(offer_id=offer.id)
    for version in versions:
        await copies(version, n, lambda i: {"offer_id": made[i - 1].id})
    return made


async def enquiries_like(enquiry: Any, n: int) -> list[Any]:
    """`n` more enquiries like `enquiry` (same listing, sides and state), each with a copy of
    its first message."""
    from listings.models import EnquiryMessage

    made = await copies(enquiry, n)
    first = await EnquiryMessage.filter(enquiry_id=enquiry.id).first()
    if first is not None:
        await copies(first, n, lambda i: {"enquiry_id": made[i - 1].id})
    return made


async def contracts_like(contract: Any, n: int) -> list[Any]:
    """`n` more contracts like `contract` (same parties, listing and state; no documents),
    each of its own copy of the offer (one contract per offer)."""
    offers = await offers_like(await Offer.get(id=contract.offer_id), n)
    return await copies(contract, n, lambda i: {"offer_id": offers[i - 1].id})


async def payments_like(payment: Any, n: int) -> list[Any]:
    """`n` more payments like `payment`, of the same contract (each its own milestone item)."""
    return await copies(payment, n, lambda i: {"item": f"milestone-{i}"})


async def notifications_for(user: User, n: int) -> list[Any]:
    """`n` unread notifications of `user`, each its own subject."""
    made = [
        Notification(
            user_id=user.id,
            subject=f"Notice {k}",
            body=f"Something happened ({k}).",
            link=f"http://testserver/offers?notice={k}",
            dedup_key=f"test:notice:{k}",
        )
        for k in (next(_seq) for _ in range(n))
    ]
    await Notification.bulk_create(made)
    return made


async def organizations(n: int, **overrides: Any) -> list[Organization]:
    """`n` organisations awaiting verification (nobody belongs to them)."""
    made = []
    for _ in range(n):
        k = next(_seq)
        data = {**registration()["organization"], "name": f"Laboratory {k}", **overrides}
        made.append(Organization(**data))
    await Organization.bulk_create(made)
    return made


async def audit_entries(n: int, **overrides: Any) -> list[Any]:
    """`n` audit entries, each about its own object (`object_id` finds it)."""
    made = [
        AuditEntry(
            action="test.noted",
            object_type="thing",
            object_id=f"thing-{next(_seq):08d}",
            **overrides,
        )
        for _ in range(n)
    ]
    await AuditEntry.bulk_create(made)
    return made


async def a_mailed_link(settings: Any, mailbox: Any, address: str, path: str) -> str:
    """Run the worker, then the token of the newest link to `/<path>/<token>` mailed to the
    address (an invitation, a password reset) through the test SMTP server."""
    import re

    await run_worker(settings)
    pattern = re.compile(rf"https?://\S+/{path}/([A-Za-z0-9_-]+)")
    for mail in reversed(mailbox.to(address)):
        found = pattern.search(mail.get_body(preferencelist=("plain",)).get_content())
        if found:
            return found.group(1)
    raise AssertionError(f"no /{path}/ link reached {address}; mail went to {mailbox.recipients}")
