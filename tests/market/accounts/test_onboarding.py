"""A newcomer whose organisation waits for verification: the dashboard's checklist, marked
from the live state; drafting (by hand and by the portfolio import) at once; submitting
refused with a message that says why, on the page and in the API."""

from __future__ import annotations

from listings.models import ImportState, Listing, ListingImport, ListingState
from market.accounts.models import Organization, User
from tests.builders import (
    a_draft_listing,
    a_user,
    a_verified_institute,
    listing_data,
    log_in,
    need_data,
    run_worker,
)
from tests.files import pdf_bytes
from tests.listings.test_importer import SAMPLE_BYTES
from tests.market.accounts.test_pages import csrf_of, page_login


async def test_the_checklist_follows_the_live_state(client, settings) -> None:
    user, org = await a_user(
        confirmed=False,
        email="li@optics.example.org",
        organization={"registration_number": "91330200MA2H8X1K2Q"},
    )
    await page_login(client, user.email)
    page = (await client.get("/dashboard")).text
    assert "Getting your organisation verified" in page
    assert 'class="todo" data-step="confirm_email"' in page
    assert 'class="todo" data-step="document"' in page
    assert "91330200MA2H8X1K2Q" in page and "optics.example.org" in page
    assert settings.support_email in page and "2 working days" in page

    await User.filter(id=user.id).update(email_verified_at=org.created_at)
    client.cookies.clear()
    token = await log_in(client, user.email)
    uploaded = await client.post(
        "/api/v1/organization/documents",
        files={"document": ("licence.pdf", pdf_bytes(), "application/pdf")},
        headers={"X-CSRF-Token": token},
    )
    assert uploaded.status_code == 201, uploaded.text
    page = (await client.get("/dashboard")).text
    assert 'class="done" data-step="confirm_email"' in page
    assert 'class="done" data-step="document"' in page

    client.cookies.set("tm_lang", "zh")
    assert "让您的机构通过审核" in (await client.get("/dashboard")).text

    await Organization.filter(id=org.id).update(verification="verified")
    assert "Getting your organisation verified" not in (await client.get("/dashboard")).text


async def test_no_checklist_for_a_verified_organisation(client) -> None:
    user, _ = await a_verified_institute()
    await page_login(client, user.email)
    assert "Getting your organisation verified" not in (await client.get("/dashboard")).text


async def test_an_unverified_member_drafts_at_once_and_is_told_why_submitting_waits(
    client,
) -> None:
    user, org = await a_user()
    token = await log_in(client, user.email)
    csrf = {"X-CSRF-Token": token}
    made = await client.post("/api/v1/listings", json=listing_data(), headers=csrf)
    assert made.status_code == 201, made.text
    listing_id = made.json()["listing"]["id"]
    edited = await client.patch(
        f"/api/v1/listings/{listing_id}", json={"title": "A better title"}, headers=csrf
    )
    assert edited.status_code == 200, edited.text

    refused = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=csrf)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "not_verified" and "not verified your organisation" in error["message"]
    assert (await Listing.get(id=listing_id)).state == ListingState.DRAFT

    # The page: the draft is made by the form, and the refusal comes back on the draft's page.
    form = await client.get("/listings/new")
    assert form.status_code == 200
    page = await client.post(
        f"/listings/{listing_id}/submit",
        data={"csrf_token": csrf_of(form.text)},
        follow_redirects=True,
    )
    assert page.status_code == 200 and "not verified your organisation" in page.text
    assert str(page.url).endswith(f"/listings/{listing_id}")
    assert (await Listing.get(id=listing_id)).state == ListingState.DRAFT


async def test_an_unverified_enterprise_drafts_needs_and_waits_to_submit(client) -> None:
    user, _ = await a_user(organization={"kind": "enterprise"})
    token = await log_in(client, user.email)
    csrf = {"X-CSRF-Token": token}
    made = await client.post("/api/v1/needs", json=need_data(), headers=csrf)
    assert made.status_code == 201, made.text
    need_id = made.json()["need"]["id"]
    refused = await client.post(f"/api/v1/needs/{need_id}/submit", headers=csrf)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_verified"


async def test_an_unverified_institute_imports_its_portfolio_into_drafts(client, settings) -> None:
    user, org = await a_user()
    token = await log_in(client, user.email)
    page = await client.get("/listings/import")
    assert page.status_code == 200 and "not verified yet" in page.text
    posted = await client.post(
        "/listings/import",
        data={"csrf_token": token},
        files={"file": ("portfolio.jsonl", SAMPLE_BYTES[:20_000], "application/json")},
    )
    assert posted.status_code == 303, posted.text
    assert await run_worker(settings) >= 2
    imp = await ListingImport.get(institute_id=org.id)
    assert imp.state == ImportState.DONE and imp.created > 0
    listings = Listing.filter(institute_id=org.id)
    assert await listings.count() == imp.created
    assert await listings.filter(state=ListingState.DRAFT).count() == imp.created


async def test_an_unconfirmed_address_still_may_not_draft(client) -> None:
    user, _ = await a_user(confirmed=False)
    token = await log_in(client, user.email)
    refused = await client.post(
        "/api/v1/listings", json=listing_data(), headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403 and "Confirm your e-mail address" in refused.text
    assert await Listing.all().count() == 0


async def test_a_rejected_organisation_corrects_its_profile_before_drafting() -> None:
    user, org = await a_user()
    await Organization.filter(id=org.id).update(
        verification="rejected", rejection_reason="No certificate"
    )
    try:
        await a_draft_listing(user)
    except Exception as exc:  # the refusal names the reason
        assert "No certificate" in str(exc)
    else:
        raise AssertionError("a rejected organisation drafted")
