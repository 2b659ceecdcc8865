from market.accounts.models import ApiToken, Organization, User
from market.audit import AuditEntry
from tests.builders import PASSWORD, a_mailed_link, a_user, an_admin, log_in, registration

HOSTILE = "<script>alert('x')</script>"


async def test_register_confirm_login_me_logout_through_the_api(client, settings, mailbox) -> None:
    response = await client.post("/api/v1/auth/register", json=registration(email="a@example.org"))
    assert response.status_code == 202, response.text
    assert response.json()["email"] == "a@example.org"
    assert "user" not in response.json()  # nothing that would differ for a known address

    login = await client.post(
        "/api/v1/auth/login", json={"email": "A@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    me = (await client.get("/api/v1/me")).json()
    assert me["user"]["email"] == "a@example.org" and me["csrf_token"]
    assert me["user"]["email_verified"] is False
    assert me["organization"]["verification"] == "pending"

    token = await a_mailed_link(settings, mailbox, "a@example.org", "confirm-email")
    confirmed = await client.post(
        "/api/v1/auth/verify-email",
        json={"token": token},
        headers={"X-CSRF-Token": me["csrf_token"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["user"]["email_verified"] is True
    assert (await client.get("/api/v1/me")).json()["user"]["email_verified"] is True

    refused = await client.post("/api/v1/auth/logout")  # cookie-authenticated: CSRF needed
    assert refused.status_code == 403
    out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]})
    assert out.status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_validation_errors_use_the_error_shape_and_name_fields(client) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "nope", "password": "x", "organization": {"kind": "platform"}},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {"email", "name", "organization.kind", "organization.country"} <= set(error["fields"])
    assert await User.all().count() == 0


async def test_wrong_types_and_non_json_are_refused_cleanly(client) -> None:
    wrong_type = await client.post("/api/v1/auth/register", json=["not", "an", "object"])
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["fields"]["body"]
    form_post = await client.post(
        "/api/v1/auth/register", content="email=x", headers={"content-type": "text/plain"}
    )
    assert form_post.status_code == 422
    huge = await client.post(
        "/api/v1/auth/register",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    # Too large is its own answer (issue 15): 413, naming the body.
    assert huge.status_code == 413 and huge.json()["error"]["fields"]["body"]
    assert await User.all().count() == 0


async def test_registering_a_known_address_answers_as_for_a_new_one(
    client, settings, mailbox
) -> None:
    known, _ = await a_user(email="dup@example.org")
    again = await client.post("/api/v1/auth/register", json=registration(email="DUP@example.org"))
    fresh = await client.post("/api/v1/auth/register", json=registration(email="new@example.org"))
    assert again.status_code == fresh.status_code == 202
    assert again.json()["message"] == fresh.json()["message"]
    assert await User.filter(email="dup@example.org").count() == 1
    assert await Organization.filter(memberships__user_id=known.id).count() == 1

    # The owner of the address hears of it, with what to do instead; the new one gets a link.
    await a_mailed_link(settings, mailbox, "new@example.org", "confirm-email")
    [told] = mailbox.to("dup@example.org")
    text = told.get_body(preferencelist=("plain",)).get_content()
    assert "already has one" in text and "/password-reset" in text
    assert "/confirm-email/" not in text


async def test_hostile_text_is_stored_as_typed_and_returned_as_data(client) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json=registration(email="h@example.org", name=HOSTILE, organization={"region": HOSTILE}),
    )
    assert response.status_code == 202
    assert (await User.get(email="h@example.org")).name == HOSTILE
    assert response.headers["content-type"].startswith("application/json")


async def test_login_failures_are_generic_then_throttled(client, settings) -> None:
    await a_user(email="t@example.org")
    messages = set()
    for email in ["t@example.org", "unknown@example.org"]:
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert response.status_code == 401
        messages.add(response.json()["error"]["message"])
    assert len(messages) == 1
    for _ in range(settings.login_max_failures_per_account):
        await client.post(
            "/api/v1/auth/login", json={"email": "t@example.org", "password": "wrong password"}
        )
    throttled = await client.post(
        "/api/v1/auth/login", json={"email": "t@example.org", "password": PASSWORD}
    )
    assert throttled.status_code == 429 and throttled.headers["retry-after"]


async def test_personal_tokens_work_without_csrf_and_are_shown_once(client) -> None:
    user, _ = await a_user(email="tok@example.org")
    csrf = await log_in(client, "tok@example.org")
    created = await client.post(
        "/api/v1/tokens", json={"name": "portfolio sync"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201
    raw = created.json()["token"]
    listed = (await client.get("/api/v1/tokens")).json()["items"]
    assert raw not in str(listed) and listed[0]["name"] == "portfolio sync"

    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {raw}"}
    me = await client.get("/api/v1/me", headers=bearer)
    assert me.json()["user"]["email"] == "tok@example.org"
    changed = await client.patch("/api/v1/me", json={"name": "Renamed"}, headers=bearer)
    assert changed.status_code == 200 and changed.json()["user"]["name"] == "Renamed"
    bogus = await client.get("/api/v1/me", headers={"Authorization": "Bearer tm_forged"})
    assert bogus.status_code == 401
    assert await ApiToken.filter(user=user).count() == 1


async def test_admin_verifies_through_the_api_and_members_cannot(client) -> None:
    _, org = await a_user(email="member@example.org")
    await an_admin("admin@example.org")
    csrf = await log_in(client, "member@example.org")
    refused = await client.post(
        f"/api/v1/admin/organizations/{org.id}/verify", headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    listing = await client.get("/api/v1/admin/organizations?state=pending")
    assert listing.status_code == 403

    client.cookies.clear()
    csrf = await log_in(client, "admin@example.org")
    pending = (await client.get("/api/v1/admin/organizations?state=pending")).json()
    assert [o["id"] for o in pending["items"]] == [str(org.id)] and pending["total"] == 1
    reject = await client.post(
        f"/api/v1/admin/organizations/{org.id}/reject", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert reject.status_code == 422 and "reason" in reject.json()["error"]["fields"]
    ok = await client.post(
        f"/api/v1/admin/organizations/{org.id}/verify", headers={"X-CSRF-Token": csrf}
    )
    assert ok.json()["organization"]["verification"] == "verified"
    again = await client.post(
        f"/api/v1/admin/organizations/{org.id}/verify", headers={"X-CSRF-Token": csrf}
    )
    assert again.status_code == 409
    assert again.json()["error"]["state"] == "verified"
    trail = (await client.get("/api/v1/admin/audit?action=organization.verify")).json()
    assert trail["total"] == 1 and trail["items"][0]["object_id"] == str(org.id)
    assert (await Organization.get(id=org.id)).verification == "verified"


async def test_admin_deactivates_a_user_whose_session_then_ends(app, client) -> None:
    import httpx

    victim, _ = await a_user(email="victim@example.org")
    await an_admin("admin@example.org")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await log_in(other, "victim@example.org")
        assert (await other.get("/api/v1/me")).status_code == 200
        csrf = await log_in(client, "admin@example.org")
        done = await client.post(
            f"/api/v1/admin/users/{victim.id}/deactivate", headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 200
        assert (await other.get("/api/v1/me")).status_code == 401
    assert await AuditEntry.filter(action="user.deactivated").count() == 1


async def test_unknown_api_paths_answer_json_404(client) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_document_lists_the_contract(client) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/admin/organizations/{org_id}/verify",
    ]:
        assert path in doc["paths"], path
    register = doc["paths"]["/api/v1/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RegisterIn"
    )
    assert "RegisterIn" in doc["components"]["schemas"]
