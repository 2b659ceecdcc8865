import re

import httpx

from market.accounts.models import Organization, User
from tests.builders import PASSWORD, a_mailed_link, a_user, an_admin, registration

HOSTILE = '<script>alert("x")</script>'


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def form_of(data: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(form_of(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


async def page_login(client: httpx.AsyncClient, email: str, password: str = PASSWORD):
    token = csrf_of((await client.get("/login")).text)
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_register_confirm_the_address_then_log_in_to_the_dashboard(
    client, settings, mailbox
) -> None:
    page = await client.get("/register")
    assert page.status_code == 200 and 'name="organization.registration_number"' in page.text
    data = form_of(
        registration(
            email="form@example.org",
            name="Form Person",
            organization={"registration_number": "91330200mA2h8x1k2q"},
        )
    )
    response = await client.post("/register", data={**data, "csrf_token": csrf_of(page.text)})
    # Not logged in: the same answer a known address gets, and the mail says which it was.
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "tm_session" not in response.headers.get("set-cookie", "")
    user = await User.get(email="form@example.org")
    assert not user.email_verified
    org = await Organization.get(memberships__user_id=user.id)
    assert org.registration_number == "91330200MA2H8X1K2Q"

    # Logged in before confirming: the account looks after its own profile, nothing more.
    await page_login(client, "form@example.org")
    dashboard = await client.get("/dashboard")
    assert "Confirm your e-mail address" in dashboard.text
    csrf = {"X-CSRF-Token": (await client.get("/api/v1/me")).json()["csrf_token"]}
    profile = {"name": "Form Institute", "country": "CN", "about": "Optics."}
    refused = await client.patch("/api/v1/organization", json=profile, headers=csrf)
    assert refused.status_code == 403 and "Confirm your e-mail address first" in refused.text
    assert (await Organization.get(id=org.id)).about == ""
    again = await client.post(
        "/account/confirm-email", data={"csrf_token": csrf_of(dashboard.text)}
    )
    assert again.status_code == 303

    token = await a_mailed_link(settings, mailbox, "form@example.org", "confirm-email")
    assert len(mailbox.to("form@example.org")) == 2  # the first link and the one asked again
    confirm = await client.get(f"/confirm-email/{token}")
    assert confirm.status_code == 200 and not (await User.get(id=user.id)).email_verified
    done = await client.post(f"/confirm-email/{token}", data={"csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    assert (await User.get(id=user.id)).email_verified
    dashboard = await client.get("/dashboard")
    assert "Form Person" in dashboard.text and "Confirm your e-mail address" not in dashboard.text
    changed = await client.patch("/api/v1/organization", json=profile, headers=csrf)
    assert changed.status_code == 200, changed.text

    used = await client.get(f"/confirm-email/{token}")
    assert used.status_code == 409 and "has been used already" in used.text
    forged = await client.get("/confirm-email/not-a-token")
    assert forged.status_code == 404 and "is not valid" in forged.text


async def test_a_missing_csrf_token_creates_nothing(client) -> None:
    await client.get("/register")
    data = form_of(registration(email="csrf@example.org"))
    response = await client.post("/register", data=data)
    assert response.status_code == 403
    assert await User.all().count() == 0


async def test_a_bad_form_comes_back_with_input_messages_and_escaped_text(client) -> None:
    page = await client.get("/register")
    data = form_of(
        registration(
            email="bad-address", password="short", name=HOSTILE, organization={"country": "XX"}
        )
    )
    response = await client.post("/register", data={**data, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    html = response.text
    assert "&lt;script&gt;alert(" in html and HOSTILE not in html
    assert 'value="bad-address"' in html
    assert "short" not in re.findall(r'name="password"[^>]*', html)[0]
    assert 'aria-invalid="true"' in html
    assert await User.all().count() == 0 and await Organization.all().count() == 0


async def test_weak_password_is_reported_on_its_field(client) -> None:
    page = await client.get("/register")
    data = form_of(registration(password="password123"))
    response = await client.post("/register", data={**data, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert "too easy to guess" in response.text
    assert await User.all().count() == 0


async def test_login_form_generic_error_then_success(client) -> None:
    await a_user(email="login@example.org")
    wrong = await page_login(client, "login@example.org", "wrong password!")
    assert wrong.status_code == 401 and "Wrong e-mail or password" in wrong.text
    assert 'value="login@example.org"' in wrong.text
    ok = await page_login(client, "login@example.org")
    assert ok.status_code == 303
    assert (await client.get("/dashboard")).status_code == 200


async def test_login_redirects_only_to_local_paths(client) -> None:
    await a_user(email="nx@example.org")
    token = csrf_of((await client.get("/login")).text)
    response = await client.post(
        "/login?next=//evil.example/phish",
        data={"email": "nx@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["location"] == "/dashboard"


async def test_pages_for_members_need_a_login(client) -> None:
    for path in ["/dashboard", "/account", "/organization", "/account/tokens"]:
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_navigation_fits_the_role(client) -> None:
    anonymous = (await client.get("/")).text
    assert 'href="/login"' in anonymous and 'href="/admin/audit"' not in anonymous
    await a_user(email="member@example.org")
    await page_login(client, "member@example.org")
    member = (await client.get("/")).text
    assert 'href="/dashboard"' in member and 'href="/admin/organizations"' not in member
    assert (await client.get("/admin/organizations")).status_code == 403
    assert (await client.get("/admin/audit")).status_code == 403
    client.cookies.clear()
    await an_admin("admin@example.org")
    await page_login(client, "admin@example.org")
    admin = (await client.get("/")).text
    assert 'href="/admin/organizations"' in admin and 'href="/admin/audit"' in admin


async def test_admin_verifies_from_the_queue_and_finds_it_in_the_audit_trail(client) -> None:
    _, org = await a_user(organization={"name": HOSTILE})
    await an_admin("admin@example.org")
    await page_login(client, "admin@example.org")
    queue = await client.get("/admin/organizations")
    assert "&lt;script&gt;" in queue.text and HOSTILE not in queue.text
    verify = await client.post(
        f"/admin/organizations/{org.id}/verify", data={"csrf_token": csrf_of(queue.text)}
    )
    assert verify.status_code == 303
    assert (await Organization.get(id=org.id)).verification == "verified"
    trail = await client.get("/admin/audit", params={"action": "organization.verify"})
    assert str(org.id) in trail.text
    other = await client.get("/admin/audit", params={"action": "user.deactivated"})
    assert str(org.id) not in other.text


async def test_profile_and_organisation_forms_keep_input_on_error(client) -> None:
    await a_user(email="owner@example.org")
    await page_login(client, "owner@example.org")
    page = await client.get("/organization")
    token = csrf_of(page.text)
    bad = await client.post(
        "/organization",
        data={"name": "Renamed Lab", "country": "QQ", "website": "ftp://x", "csrf_token": token},
    )
    assert bad.status_code == 422 and 'value="Renamed Lab"' in bad.text
    good = await client.post(
        "/organization", data={"name": "Renamed Lab", "country": "DE", "csrf_token": token}
    )
    assert good.status_code == 303
    assert await Organization.filter(name="Renamed Lab", country="DE").exists()


async def test_token_page_shows_a_new_token_once(client) -> None:
    await a_user(email="tok@example.org")
    await page_login(client, "tok@example.org")
    page = await client.get("/account/tokens")
    created = await client.post(
        "/account/tokens", data={"name": "sync", "csrf_token": csrf_of(page.text)}
    )
    raw = re.search(r"(tm_[A-Za-z0-9_\-]{20,})", created.text).group(1)
    again = await client.get("/account/tokens")
    assert raw not in again.text and "sync" in again.text


async def test_notices_come_once_from_our_redirects_never_from_the_url(client) -> None:
    forged = await client.get("/", params={"notice": "Send your password to evil.example"})
    assert "evil.example" not in forged.text
    await a_user(email="flash@example.org")
    await page_login(client, "flash@example.org")
    page = await client.get("/account")
    saved = await client.post(
        "/account", data={"name": "New Name", "locale": "en", "csrf_token": csrf_of(page.text)}
    )
    assert saved.status_code == 303
    assert "Your profile is saved." in (await client.get("/account")).text
    assert "Your profile is saved." not in (await client.get("/account")).text
