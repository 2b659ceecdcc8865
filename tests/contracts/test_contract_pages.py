"""The contract pages end to end: real PostgreSQL, a real arq worker, the ASGI app through
httpx, no mocks. The parties read and sign through the forms a person would use; the
administrator decides from the approval queue."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from contracts.agreements.models import Contract, ContractDocument, Signature
from market.accounts.models import Organization, User
from market.accounts.passwords import hash_password
from market.audit import AuditEntry
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_contract,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    an_accepted_offer,
    an_admin,
    run_worker,
    signatories,
)
from tests.html import Page
from tests.listings.test_pages import (
    QueryCounter,
    assert_well_formed,
    control_value,
    csrf_of,
    field_error,
    page_login,
)

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
DOCUMENT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'"


async def a_hostile_contract(state: str) -> Contract:
    """A contract whose listing title and buyer's name are markup."""
    seller, _ = await a_verified_institute()
    listing = await a_published_listing(seller, title="Membranes " + HOSTILE)
    buyer, _ = await a_verified_enterprise(organization={"name": "Buyer " + HOSTILE})
    offer = await an_accepted_offer(listing, buyer)
    return await a_contract(state, offer=offer)


async def email_of(actor: Any) -> str:
    return actor.user.email


async def a_plain_member(org_id: Any) -> User:
    """A member (not an owner) of the organisation, who can log in."""
    user = await a_colleague(await Organization.get(id=org_id))
    await User.filter(id=user.id).update(password_hash=await hash_password(PASSWORD))
    return user


async def snapshot(contract_id: Any) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "contract": await Contract.filter(id=contract_id).values(),
        "documents": await ContractDocument.filter(contract_id=contract_id).values_list(
            "number", "sha256"
        ),
        "signatures": await Signature.filter(contract_id=contract_id).values_list(
            "side", "full_name", "document_sha256"
        ),
        "audit": await AuditEntry.filter(object_id=str(contract_id)).count(),
    }


def sign_form_of(html: str) -> dict[str, Any] | None:
    forms = [f for f in Page(html).forms if f.get("action", "").endswith("/sign")]
    return forms[0] if forms else None


async def sign_through_the_page(
    client: httpx.AsyncClient, contract_id: Any, full_name: str, **overrides: str
) -> httpx.Response:
    html = (await client.get(f"/contracts/{contract_id}")).text
    data = {
        "csrf_token": csrf_of(html),
        "full_name": full_name,
        "confirm": "yes",
        "document_sha256": control_value(html, "document_sha256"),
    }
    data.update(overrides)
    return await client.post(f"/contracts/{contract_id}/sign", data={**data})


# --- reading -----------------------------------------------------------------------------------


async def test_a_party_sees_its_contract_with_the_preview_and_the_pdf(client) -> None:
    contract = await a_hostile_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    await page_login(client, await email_of(seller))

    response = await client.get(f"/contracts/{contract.id}")
    assert response.status_code == 200
    html = response.text
    assert_well_formed(html)
    assert HOSTILE not in html and ESCAPED in html
    assert contract.reference in html
    assert contract.document_sha256 in html
    assert f'href="/offers/{contract.offer_id}"' in html
    page = Page(html)
    assert f"/contracts/{contract.id}/document.pdf" in page.links
    assert f"/contracts/{contract.id}/document.pdf?version=1" in page.links
    [frame] = re.findall(r"<iframe[^>]*>", html)
    assert re.search(r"\ssandbox[\s>]", frame), frame  # no allow-* tokens: nothing may run
    assert f'src="/contracts/{contract.id}/document.html?version=1"' in frame
    # The owner may sign: the form names the exact version shown, and asks for both.
    form = sign_form_of(html)
    assert form is not None
    inputs = {i["name"]: i for i in form["inputs"]}
    assert inputs["document_sha256"]["type"] == "hidden"
    assert inputs["document_sha256"]["value"] == contract.document_sha256
    assert inputs["confirm"]["type"] == "checkbox" and "required" in inputs["confirm"]
    assert "required" in inputs["full_name"]
    assert any(f.get("action", "").endswith("/cancel") for f in page.forms)

    preview = await client.get(f"/contracts/{contract.id}/document.html?version=1")
    assert preview.status_code == 200
    assert preview.headers["content-type"].startswith("text/html")
    assert preview.headers["content-security-policy"].startswith(DOCUMENT_CSP)
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    doc = await ContractDocument.get(contract_id=contract.id, number=1)
    assert preview.text == doc.html

    pdf = await client.get(f"/contracts/{contract.id}/document.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert f"{contract.reference}-v1.pdf" in pdf.headers["content-disposition"]
    assert pdf.content == bytes(doc.pdf) and pdf.content.startswith(b"%PDF")

    listing = await client.get("/contracts")
    assert listing.status_code == 200
    assert_well_formed(listing.text)
    assert f'href="/contracts/{contract.id}"' in listing.text
    assert HOSTILE not in listing.text
    assert re.search(r"Awaiting signatures <span class=\"count\">\(1\)</span>", listing.text)


async def test_a_stranger_gets_404_as_for_a_contract_that_does_not_exist(client) -> None:
    contract = await a_contract("pending_approval")
    stranger, _ = await a_verified_enterprise()
    await page_login(client, stranger.email)
    for cid in (contract.id, uuid.uuid4()):
        for path in ("", "/document.html", "/document.pdf", "/document.pdf?version=1"):
            response = await client.get(f"/contracts/{cid}{path}")
            assert response.status_code == 404, (cid, path)
            assert contract.reference not in response.text
    listing = await client.get("/contracts")
    assert listing.status_code == 200 and contract.reference not in listing.text
    # Logged out, the pages send to the login page; no document leaks either way.
    client.cookies.clear()
    response = await client.get(f"/contracts/{contract.id}/document.html")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_the_offer_page_links_its_contract(client) -> None:
    contract = await a_contract("pending_approval")
    _, buyer = await signatories(contract)
    await page_login(client, await email_of(buyer))
    html = (await client.get(f"/offers/{contract.offer_id}")).text
    assert f'href="/contracts/{contract.id}"' in html


# --- the administrators' queue ------------------------------------------------------------------


async def test_the_admin_approves_from_the_queue(client, settings, redis_client) -> None:
    contract = await a_hostile_contract("pending_approval")
    await page_login(client, (await an_admin()).email)

    queue = await client.get("/admin/contracts")
    assert queue.status_code == 200
    html = queue.text
    assert_well_formed(html)
    assert HOSTILE not in html and ESCAPED in html
    assert contract.reference in html
    assert f"/contracts/{contract.id}/document.pdf" in Page(html).links
    assert "Every version of the offer's terms" in html  # the offer's versions table
    assert "Version 1" in html
    assert "badge-rights-" in html  # the listing's rights availability
    assert 'href="/admin/contracts"' in html  # in the administrators' navigation

    # Without the form's token nothing happens.
    before = await snapshot(contract.id)
    response = await client.post(f"/admin/contracts/{contract.id}/approve", data={})
    assert response.status_code == 403
    assert await snapshot(contract.id) == before

    response = await client.post(
        f"/admin/contracts/{contract.id}/approve", data={"csrf_token": csrf_of(html)}
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/contracts"
    assert (await Contract.get(id=contract.id)).state == "approved"
    await run_worker(settings)  # opens signing
    assert (await Contract.get(id=contract.id)).state == "awaiting_signatures"

    # Approving again is refused with the state it is in now, on the queue page.
    response = await client.post(
        f"/admin/contracts/{contract.id}/approve", data={"csrf_token": csrf_of(html)}
    )
    assert response.status_code == 409
    assert "awaiting_signatures" in response.text or "Awaiting signatures" in response.text


async def test_rejecting_needs_a_reason_and_the_parties_read_it(client) -> None:
    contract = await a_contract("pending_approval")
    await page_login(client, (await an_admin()).email)
    token = csrf_of((await client.get("/admin/contracts")).text)
    before = await snapshot(contract.id)

    for reason in ("", "  ", "no"):
        response = await client.post(
            f"/admin/contracts/{contract.id}/reject", data={"csrf_token": token, "reason": reason}
        )
        assert response.status_code == 422, reason
        assert field_error(response.text, f"reject-reason-{contract.id}")
        assert_well_formed(response.text)
        assert await snapshot(contract.id) == before

    response = await client.post(
        f"/admin/contracts/{contract.id}/reject",
        data={"csrf_token": token, "reason": "Sanctions " + HOSTILE},
    )
    assert response.status_code == 303
    rejected = await Contract.get(id=contract.id)
    assert rejected.state == "rejected" and rejected.reason == "Sanctions " + HOSTILE

    seller, _ = await signatories(contract)
    await page_login(client, await email_of(seller))
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert "Sanctions " + ESCAPED in html and HOSTILE not in html
    assert sign_form_of(html) is None


async def test_changes_asked_for_from_the_contract_page_make_a_new_version(
    client, settings, redis_client
) -> None:
    contract = await a_contract("pending_approval")
    await page_login(client, (await an_admin()).email)
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert_well_formed(html)
    token = csrf_of(html)
    path = f"/admin/contracts/{contract.id}/request-changes"

    response = await client.post(path, data={"csrf_token": token, "origin": "contract"})
    assert response.status_code == 422
    assert field_error(response.text, f"request-changes-reason-{contract.id}")
    assert contract.reference in response.text  # the contract page, shown again

    response = await client.post(
        path,
        data={"csrf_token": token, "origin": "contract", "reason": "Name the governing law."},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/contracts/{contract.id}"
    assert (await Contract.get(id=contract.id)).state == "drafted"
    await run_worker(settings)  # version 2, submitted again

    current = await Contract.get(id=contract.id)
    assert current.state == "pending_approval" and current.document_number == 2
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert "Name the governing law." in html
    assert contract.document_sha256 in html and current.document_sha256 in html
    assert f'src="/contracts/{contract.id}/document.html?version=2"' in html
    old = await client.get(f"/contracts/{contract.id}/document.pdf?version=1")
    assert (
        old.status_code == 200
        and f"{contract.reference}-v1.pdf" in old.headers["content-disposition"]
    )


async def test_the_queue_is_for_administrators(client) -> None:
    contract = await a_contract("pending_approval")
    seller, _ = await signatories(contract)
    await page_login(client, await email_of(seller))
    assert (await client.get("/admin/contracts")).status_code == 403
    html = (await client.get(f"/contracts/{contract.id}")).text
    before = await snapshot(contract.id)
    response = await client.post(
        f"/admin/contracts/{contract.id}/approve", data={"csrf_token": csrf_of(html)}
    )
    assert response.status_code == 403
    assert await snapshot(contract.id) == before


# --- signing -----------------------------------------------------------------------------------


async def test_both_sides_sign_through_the_form_and_the_worker_finishes(
    client, settings, redis_client
) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, buyer = await signatories(contract)

    await page_login(client, await email_of(seller))
    response = await sign_through_the_page(client, contract.id, "Li " + HOSTILE)
    assert response.status_code == 303, response.text
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert "Li " + ESCAPED in html and HOSTILE not in html
    assert "Your organisation has signed" in html
    assert sign_form_of(html) is None
    [signature] = await Signature.filter(contract_id=contract.id)
    assert signature.side == "seller" and signature.document_sha256 == contract.document_sha256

    # Signing twice is refused, shown on the page, and changes nothing.
    before = await snapshot(contract.id)
    response = await client.post(
        f"/contracts/{contract.id}/sign",
        data={
            "csrf_token": csrf_of(html),
            "full_name": "Li Wei",
            "confirm": "yes",
            "document_sha256": contract.document_sha256,
        },
    )
    assert response.status_code == 409
    assert "signed this contract already" in response.text
    assert await snapshot(contract.id) == before

    await page_login(client, await email_of(buyer))
    response = await sign_through_the_page(client, contract.id, "Anna Schmidt")
    assert response.status_code == 303, response.text
    assert (await Contract.get(id=contract.id)).state == "signed"
    await run_worker(settings)  # the signed document, then payment is asked for

    done = await Contract.get(id=contract.id)
    assert done.state == "awaiting_payment" and done.signed_number == 2
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert_well_formed(html)
    assert "Download the signed PDF" in html and "Anna Schmidt" in html
    pdf = await client.get(f"/contracts/{contract.id}/document.pdf")
    assert f"{done.reference}-signed.pdf" in pdf.headers["content-disposition"]
    assert pdf.content.startswith(b"%PDF")


async def test_signing_refusals_show_on_the_page_and_change_nothing(client) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    await page_login(client, await email_of(seller))
    before = await snapshot(contract.id)

    # The box not ticked, the name missing: both fields say so.
    response = await sign_through_the_page(client, contract.id, "", confirm="")
    assert response.status_code == 422
    assert field_error(response.text, "confirm") and field_error(response.text, "full_name")
    assert_well_formed(response.text)
    # Not a hash at all.
    response = await sign_through_the_page(client, contract.id, "Li Wei", document_sha256="abc")
    assert response.status_code == 422
    # A well-formed hash of another document: the one read is not the one to sign.
    response = await sign_through_the_page(client, contract.id, "Li Wei", document_sha256="0" * 64)
    assert response.status_code == 409
    assert "document changed" in response.text
    assert control_value(response.text, "full_name") == "Li Wei"  # what was typed stays
    assert await snapshot(contract.id) == before


async def test_a_plain_member_cannot_sign(client) -> None:
    contract = await a_contract("awaiting_signatures")
    member = await a_plain_member(contract.seller_id)
    await page_login(client, member.email)
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert sign_form_of(html) is None
    assert "Waiting for a member who may sign" in html
    before = await snapshot(contract.id)
    response = await client.post(
        f"/contracts/{contract.id}/sign",
        data={
            "csrf_token": csrf_of(html),
            "full_name": "Plain Member",
            "confirm": "yes",
            "document_sha256": contract.document_sha256,
        },
    )
    assert response.status_code == 403
    assert "Only members who may sign for" in response.text
    assert await snapshot(contract.id) == before


async def test_a_party_cancels_from_the_page(client) -> None:
    contract = await a_contract("awaiting_signatures")
    _, buyer = await signatories(contract)
    await page_login(client, await email_of(buyer))
    html = (await client.get(f"/contracts/{contract.id}")).text
    response = await client.post(
        f"/contracts/{contract.id}/cancel",
        data={"csrf_token": csrf_of(html), "reason": "Budget " + HOSTILE},
    )
    assert response.status_code == 303
    assert (await Contract.get(id=contract.id)).state == "cancelled"
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert "Budget " + ESCAPED in html and HOSTILE not in html
    assert sign_form_of(html) is None
    assert not any(f.get("action", "").endswith("/cancel") for f in Page(html).forms)
    # And once more: the state table refuses, the page says so.
    response = await client.post(
        f"/contracts/{contract.id}/cancel", data={"csrf_token": csrf_of(html)}
    )
    assert response.status_code == 409


# --- cost ----------------------------------------------------------------------------------------


async def test_contract_pages_make_a_fixed_number_of_queries(client, monkeypatch) -> None:
    admin = await an_admin()
    first = await a_contract("pending_approval")
    seller, _ = await signatories(first)
    counter = QueryCounter(monkeypatch)

    async def costs() -> tuple[int, int]:
        await page_login(client, admin.email)
        queue = await counter.during(client.get("/admin/contracts"))
        await page_login(client, await email_of(seller))
        mine = await counter.during(client.get("/contracts"))
        return queue, mine

    one = await costs()
    for _ in range(3):
        # More contracts of the same institute, on other listings and with other buyers.
        listing = await a_published_listing(seller.user)
        await a_contract("pending_approval", offer=await an_accepted_offer(listing))
    assert await Contract.all().count() == 4
    assert await costs() == one
