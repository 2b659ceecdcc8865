"""Verification documents: owners and admins give them, members and platform administrators see
them, anyone else gets the 404 of a document that does not exist; what the bytes are not is
refused naming the field, and nothing is stored. The administrators' queue shows them with the
registration number and the applicant's e-mail domain."""

from __future__ import annotations

import httpx

from market.accounts import documents
from market.accounts.models import Organization, VerificationDocument
from market.clock import utcnow
from market.errors import Conflict
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_user,
    a_verified_institute,
    actor_of,
    an_admin,
    log_in,
)
from tests.files import pdf_bytes, png_bytes
from tests.market.accounts.test_pages import HOSTILE, csrf_of

API = "/api/v1/organization/documents"


async def as_(client: httpx.AsyncClient, email: str) -> str:
    client.cookies.clear()
    return await log_in(client, email)


def stored(settings) -> set[str]:
    folder = settings.var_dir / "media" / "verification"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def test_only_members_and_administrators_see_a_document(client, settings) -> None:
    owner, org = await a_user()
    member = await a_colleague(org, password=PASSWORD, email_verified_at=utcnow())
    stranger, _ = await a_verified_institute()
    await an_admin()

    csrf = await as_(client, owner.email)
    sent = await client.post(
        API,
        files={"document": ("licence.pdf", pdf_bytes(), "text/plain")},
        headers={"X-CSRF-Token": csrf},
    )
    assert sent.status_code == 201, sent.text
    document = sent.json()["document"]
    assert document["content_type"] == "application/pdf" and document["name"] == "licence.pdf"
    download = f"/organization/documents/{document['id']}"

    csrf = await as_(client, member.email)
    assert [d["id"] for d in (await client.get(API)).json()["items"]] == [document["id"]]
    got = await client.get(download)
    assert got.status_code == 200 and got.content == pdf_bytes()
    assert got.headers["cache-control"] == "private, no-store"
    refused = await client.delete(f"{API}/{document['id']}", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403  # a member sees it, but only owners and admins remove

    csrf = await as_(client, stranger.email)
    assert (await client.get(download)).status_code == 404
    assert (await client.get(API)).json()["items"] == []
    gone = await client.delete(f"{API}/{document['id']}", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 404

    await as_(client, "admin@example.org")
    assert (await client.get(download)).status_code == 200
    assert await VerificationDocument.filter(organization_id=org.id).count() == 1


async def test_a_file_that_is_no_pdf_or_image_is_refused_on_its_field(client, settings) -> None:
    owner, org = await a_user()
    csrf = await as_(client, owner.email)
    before = stored(settings)
    disguised = await client.post(
        API,
        files={"document": ("licence.pdf", b"\x7fELF\x02\x01\x01" + b"\0" * 64, "application/pdf")},
        headers={"X-CSRF-Token": csrf},
    )
    assert disguised.status_code == 422 and "document" in disguised.json()["error"]["fields"]

    # The page shows its form again with the reason beside the field.
    page = await client.get("/organization")
    again = await client.post(
        "/organization/documents",
        files={"document": (HOSTILE + ".pdf", b"<html>" + HOSTILE.encode(), "application/pdf")},
        data={"csrf_token": csrf_of(page.text)},
    )
    assert again.status_code == 422 and 'id="document-error"' in again.text
    assert await VerificationDocument.all().count() == 0 and stored(settings) == before

    good = await client.post(
        "/organization/documents",
        files={"document": (HOSTILE + ".png", png_bytes(), "image/png")},
        data={"csrf_token": csrf_of(page.text)},
    )
    assert good.status_code == 303
    page = await client.get("/organization")
    assert "&lt;script&gt;" in page.text and HOSTILE not in page.text

    # Once verified, the documents the verification relied on stay.
    (kept,) = await documents.list_documents(await actor_of(owner))
    await Organization.filter(id=org.id).update(verification="verified")
    try:
        await documents.remove_document(await actor_of(owner), str(kept.id))
    except Conflict as exc:
        assert exc.state == "verified"
    else:
        raise AssertionError("a verified organisation's document was removed")


async def test_the_queue_shows_number_documents_and_email_domain(client) -> None:
    owner, org = await a_user(
        email="head@labmail.example.net",
        organization={"website": "https://www.optics.example.org/about"},
    )
    await Organization.filter(id=org.id).update(registration_number="91330200MA2" + HOSTILE)
    document = await documents.add_document(
        await actor_of(owner), filename="licence.pdf", content_type_hint="", data=pdf_bytes()
    )
    _, matching = await a_user()  # person<n>@example.org, website optics.example.org
    await an_admin()

    await as_(client, "admin@example.org")
    items = (await client.get("/api/v1/admin/organizations?state=pending")).json()["items"]
    by_id = {item["id"]: item for item in items}
    mine = by_id[str(org.id)]
    assert mine["registration_number"] == "91330200MA2" + HOSTILE
    (listed,) = mine["documents"]
    assert listed["id"] == str(document.id) and listed["name"] == "licence.pdf"
    assert listed["size"] == len(pdf_bytes()) and listed["content_type"] == "application/pdf"
    assert mine["email_domain"] == "labmail.example.net"
    assert mine["email_domain_matches_website"] is False
    assert by_id[str(matching.id)]["email_domain_matches_website"] is True

    page = await client.get("/admin/organizations?state=pending")
    assert f'href="/organization/documents/{document.id}"' in page.text
    assert "labmail.example.net" in page.text and "91330200MA2&lt;script&gt;" in page.text
