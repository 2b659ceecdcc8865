"""Signing binds an organisation: a login older than fifteen minutes, or an API token, signs
only with the password typed again; a wrong one is refused as a failed login would be, and
nothing is signed."""

from __future__ import annotations

from datetime import timedelta

from contracts.agreements.models import Signature
from market.accounts.models import Session, User
from market.clock import utcnow
from tests.builders import PASSWORD, a_contract, signatories
from tests.contracts.test_contract_api import bearer
from tests.contracts.test_contract_pages import sign_form_of, sign_through_the_page
from tests.listings.test_pages import page_login


async def test_an_old_login_signs_with_the_password_again(client) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    user = await User.get(id=seller.user.id)
    await page_login(client, user.email)

    # Just logged in: no password asked.
    fresh = (await client.get(f"/contracts/{contract.id}")).text
    form = sign_form_of(fresh)
    assert form is not None and "password" not in [i.get("name") for i in form["inputs"]]

    await Session.filter(user_id=user.id).update(created_at=utcnow() - timedelta(minutes=16))
    old = (await client.get(f"/contracts/{contract.id}")).text
    form = sign_form_of(old)
    assert form is not None and "password" in [i.get("name") for i in form["inputs"]]

    missing = await sign_through_the_page(client, contract.id, "Li Wei")
    assert missing.status_code == 422 and "Type your password again" in missing.text
    wrong = await sign_through_the_page(client, contract.id, "Li Wei", password="not it at all")
    assert wrong.status_code == 422 and "not your password" in wrong.text
    assert not await Signature.filter(contract_id=contract.id).exists()

    signed = await sign_through_the_page(client, contract.id, "Li Wei", password=PASSWORD)
    assert signed.status_code == 303
    assert await Signature.filter(contract_id=contract.id).count() == 1


async def test_an_api_token_signs_only_with_the_password(client) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    headers = await bearer(seller.user)
    path = f"/api/v1/contracts/{contract.id}/sign"
    body = {"full_name": "Li Wei", "document_sha256": contract.document_sha256}

    without = await client.post(path, json=body, headers=headers)
    assert without.status_code == 422 and "password" in without.json()["error"]["fields"]
    wrong = await client.post(path, json={**body, "password": "guess!"}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"]["password"] == (
        "That is not your password."
    )
    assert not await Signature.filter(contract_id=contract.id).exists()
    right = await client.post(path, json={**body, "password": PASSWORD}, headers=headers)
    assert right.status_code == 201, right.text


async def test_password_guesses_through_signing_meet_the_login_limit(client) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    headers = await bearer(seller.user)
    path = f"/api/v1/contracts/{contract.id}/sign"
    body = {"full_name": "Li Wei", "document_sha256": contract.document_sha256}
    answers = [
        (await client.post(path, json={**body, "password": f"guess {n}!"}, headers=headers))
        for n in range(7)
    ]
    assert [a.status_code for a in answers][:5] == [422] * 5
    assert answers[-1].status_code == 429  # the account's failed-login limit
