"""Render every page template with a realistic fake context; no database, no server."""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime
from types import SimpleNamespace as NS

import jinja2
import pytest
from babel.support import NullTranslations
from jinja2.ext import _make_new_gettext, _make_new_ngettext

import market.web
from market.i18n import LANGUAGES, translations
from tests.html import Page

HOSTILE = "<script>alert(1)</script>"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ORG_ID = "0b7f3c3e-2a55-4a0e-9d8e-1f1d1e2a3b4c"


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    environment = market.web._env
    if environment.undefined is jinja2.StrictUndefined:
        environment.undefined = jinja2.ChainableUndefined
    return environment


def organization(**overrides) -> NS:
    fields = {
        "id": ORG_ID,
        "name": "Institute " + HOSTILE,
        "kind": "institute",
        "country": "DE",
        "region": "Bavaria " + HOSTILE,
        "website": "javascript:alert(1)//" + HOSTILE,
        "verification": "pending",
        "rejection_reason": "",
        "created_at": NOW,
    }
    return NS(**{**fields, **overrides})


def make_actor(kind: str = "member", org: NS | None = None) -> NS:
    if kind == "anonymous":
        return NS(user=None, organization=None, role=None, is_authenticated=False, is_admin=False)
    user = NS(name="Ada " + HOSTILE, email="ada@example.org", locale="en")
    return NS(
        user=user,
        organization=org or organization(),
        role="member" if kind == "member" else "owner",
        is_authenticated=True,
        is_admin=kind == "admin",
    )


def base_context(actor: NS | None = None, lang: str = "en", **extra) -> dict:
    trans = translations(lang) if lang != "en" else NullTranslations()
    context = {
        "actor": actor or make_actor("anonymous"),
        "lang": lang,
        "languages": LANGUAGES,
        "csrf_token": "tok",
        "gettext": _make_new_gettext(trans.gettext),
        "ngettext": _make_new_ngettext(trans.ngettext),
        "errors": {},
        "values": {},
        "message": "",
        "notice": "",
        "query": lambda **kw: urllib.parse.urlencode(
            {k: v for k, v in kw.items() if v not in (None, "")}
        ),
        "request": NS(url=NS(path="/")),
    }
    context.update(extra)
    return context


def render(env: jinja2.Environment, name: str, **context) -> str:
    return env.get_template(name).render(base_context(**context))


def check_page(html: str) -> Page:
    """Checks every page must pass."""
    page = Page(html)
    assert html.startswith("<!doctype html>")
    assert '<main id="main"' in html
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert " style=" not in html
    for form in page.forms:
        if form["method"] == "post":
            assert {"type": "hidden", "name": "csrf_token", "value": "tok"} in form["inputs"], form
    for control in page.controls:
        if control.get("id") and control.get("type") != "hidden":
            assert control["id"] in page.label_for, f"no <label for> for {control}"
            assert "." not in control["id"]
    for target in page.label_for:
        assert target in page.ids, f"label for missing id {target}"
    for ref in re.findall(r'aria-describedby="([^"]+)"', html):
        for part in ref.split():
            assert part in page.ids
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    assert not duplicates
    return page


def assert_escaped(html: str) -> None:
    assert "&lt;script&gt;" in html
    assert "<script>alert" not in html


# --- base ------------------------------------------------------------------------------


ADMIN_LINKS = ("/admin/organizations", "/admin/audit")


@pytest.mark.parametrize("kind", ["anonymous", "member", "owner", "admin"])
def test_navigation_fits_role(env, kind):
    html = render(env, "home.html", actor=make_actor(kind))
    page = check_page(html)
    for link in ADMIN_LINKS:
        assert (link in page.links) is (kind == "admin")
    if kind == "anonymous":
        assert {"/login", "/register"} <= set(page.links)
        assert "/dashboard" not in page.links
        assert 'action="/logout"' not in html
    else:
        assert {"/dashboard", "/account", "/organization", "/account/tokens"} <= set(page.links)
        assert "/login" not in page.links
        assert 'action="/logout"' in html
    if kind == "anonymous":
        assert {"/language/en", "/language/zh"} <= set(page.links)
    else:  # a logged-in user's switch is stored: a form, never a link
        assert 'action="/language"' in html and "/language/zh" not in page.links


def test_flash_messages_are_escaped_regions(env):
    html = render(env, "home.html", notice="Saved " + HOSTILE, message="Wrong " + HOSTILE)
    check_page(html)
    assert_escaped(html)
    assert 'role="status">Saved &lt;script&gt;' in html
    assert 'role="alert">Wrong &lt;script&gt;' in html
    quiet = render(env, "home.html")
    assert 'role="status"' not in quiet and 'role="alert"' not in quiet


def test_current_page_is_marked(env):
    html = render(env, "accounts/login.html", request=NS(url=NS(path="/login")))
    assert '<a href="/login" aria-current="page">' in html


# --- accounts ----------------------------------------------------------------------------


def test_register_refills_values_and_shows_errors(env):
    values = {
        "email": "x@example.org" + HOSTILE,
        "password": "secret-password",
        "name": HOSTILE,
        "organization": {"name": HOSTILE, "kind": "enterprise", "country": "FR", "region": ""},
    }
    errors = {"organization.country": "Choose " + HOSTILE, "email": "Bad address."}
    html = render(
        env,
        "accounts/register.html",
        values=values,
        errors=errors,
        countries={"FR": "France", "DE": "Germany"},
        message="Please correct the marked fields.",
    )
    page = check_page(html)
    assert_escaped(html)
    assert "secret-password" not in html
    assert 'action="/register"' in html
    assert 'id="organization-country"' in html
    assert 'name="organization.country"' in html
    assert '<option value="FR" selected>' in html
    assert '<option value="enterprise" selected>' in html
    assert '<option value="">' in html
    assert 'aria-describedby="organization-country-error"' in html
    assert 'id="organization-country-error"' in html
    assert 'aria-invalid="true"' in html
    assert {c["name"] for c in page.controls} >= {
        "email",
        "password",
        "name",
        "organization.name",
        "organization.kind",
        "organization.country",
        "organization.region",
        "organization.website",
    }


def test_register_empty_values(env):
    html = render(env, "accounts/register.html", countries={"FR": "France"})
    check_page(html)
    assert "aria-invalid" not in html
    assert " selected" not in html


def test_login(env):
    html = render(env, "accounts/login.html", next="/offers?a=1&b=2", values={"email": HOSTILE})
    page = check_page(html)
    assert_escaped(html)
    assert page.forms[-1]["action"] == "/login?next=/offers%3Fa%3D1%26b%3D2"
    assert "/register" in page.links


@pytest.mark.parametrize("state", ["pending", "rejected", "verified"])
def test_dashboard(env, state):
    org = organization(verification=state, rejection_reason="Unclear " + HOSTILE)
    notes = [NS(subject="Offer " + HOSTILE, body="Body " + HOSTILE, created_at=NOW)]
    html = render(
        env, "accounts/dashboard.html", actor=make_actor("owner", org), notifications=notes
    )
    page = check_page(html)
    assert_escaped(html)
    assert "Ada &lt;script&gt;" in html
    assert ("administrator must verify" in html) is (state == "pending")
    assert ("Unclear &lt;script&gt;" in html) is (state == "rejected")
    if state == "rejected":
        assert "/organization" in page.links
    assert '<time datetime="2025-03-01T09:30:00+00:00">' in html


def test_dashboard_without_notifications(env):
    html = render(env, "accounts/dashboard.html", actor=make_actor("member"), notifications=[])
    check_page(html)
    assert "No unread notifications." in html and "Nothing waits for you." in html


def test_profile(env):
    html = render(
        env,
        "accounts/profile.html",
        actor=make_actor("member"),
        values={"name": HOSTILE, "locale": "zh"},
        errors={"name": "Too long " + HOSTILE},
    )
    check_page(html)
    assert_escaped(html)
    assert 'action="/account"' in html
    assert '<option value="zh" selected>中文</option>' in html


@pytest.mark.parametrize("role", ["owner", "member"])
@pytest.mark.parametrize("state", ["pending", "rejected"])
def test_organization(env, role, state):
    org = organization(verification=state, rejection_reason="Reason " + HOSTILE)
    values = {"name": org.name, "country": "DE", "region": org.region, "website": org.website}
    html = render(
        env,
        "accounts/organization.html",
        actor=make_actor(role, org),
        organization=org,
        values=values,
        countries={"DE": "Germany", "FR": "France"},
        # What market/accounts/roles.py gives each role (the route asks it).
        can_edit=role == "owner",
    )
    page = check_page(html)
    assert_escaped(html)
    actions = [f.get("action") for f in page.forms]
    assert ("/organization" in actions) is (role == "owner")
    assert ("/organization/resubmit" in actions) is (role == "owner" and state == "rejected")
    if role == "owner":
        assert '<option value="DE" selected>Germany</option>' in html
    else:
        assert "Germany" in html
    assert 'href="javascript' not in html


def test_organization_missing(env):
    html = render(env, "accounts/organization.html", actor=make_actor("member"), organization=None)
    check_page(html)
    assert "does not belong to an organisation" in html


def test_tokens(env):
    tokens = [
        NS(id="t1", name=HOSTILE, prefix="tm_abc", created_at=NOW, last_used_at=None),
        NS(id="t2", name="ci", prefix="tm_def", created_at=NOW, last_used_at=NOW),
    ]
    html = render(
        env,
        "accounts/tokens.html",
        actor=make_actor("member"),
        tokens=tokens,
        new_token="tm_secret_" + HOSTILE,
    )
    page = check_page(html)
    assert_escaped(html)
    assert '<code class="token">tm_secret_&lt;script&gt;' in html
    assert "will not be shown again" in html
    actions = [f.get("action") for f in page.forms]
    assert {"/account/tokens", "/account/tokens/t1/revoke", "/account/tokens/t2/revoke"} <= set(
        actions
    )
    assert '<th scope="col">' in html


def test_tokens_without_new_token(env):
    html = render(
        env, "accounts/tokens.html", actor=make_actor("member"), tokens=[], new_token=None
    )
    check_page(html)
    assert "not be shown again" not in html


# --- admin -------------------------------------------------------------------------------


def test_admin_organizations(env):
    orgs = [
        organization(registration_number="91330200" + HOSTILE),
        organization(id="b2", verification="rejected", rejection_reason="No " + HOSTILE),
        organization(id="c3", verification="verified"),
    ]
    proof = NS(id="d1", original_name="licence " + HOSTILE + ".pdf")
    applicants = [
        NS(organization=o, documents=[proof], email_domain="x.example", domain_matches=False)
        for o in orgs
    ]
    html = render(
        env,
        "admin/organizations.html",
        actor=make_actor("admin"),
        applicants=applicants,
        total=120,
        state="",
        states=("pending", "rejected", "verified"),
        page=2,
    )
    page = check_page(html)
    assert_escaped(html)
    actions = [f.get("action") for f in page.forms]
    assert f"/admin/organizations/{ORG_ID}/verify" in actions
    assert f"/admin/organizations/{ORG_ID}/reject" in actions
    assert "/admin/organizations/b2/verify" in actions
    assert "/admin/organizations/b2/reject" not in actions
    assert "/admin/organizations/c3/verify" not in actions
    assert "/admin/organizations/c3/reject" in actions
    for form in page.forms:
        if form.get("action", "").endswith("/reject"):
            reason = [i for i in form["inputs"] if i.get("name") == "reason"]
            assert reason and "required" in reason[0]
    assert 'href="javascript' not in html
    assert "/organization/documents/d1" in page.links and "not the website" in html
    assert {"?state=pending", "?state=rejected", "?state=verified"} <= set(page.links)
    assert "?state=&page=1" in page.links and "?state=&page=3" in page.links


def test_admin_organizations_empty(env):
    html = render(
        env,
        "admin/organizations.html",
        actor=make_actor("admin"),
        applicants=[],
        total=0,
        state="pending",
        states=("pending", "rejected", "verified"),
        page=1,
    )
    check_page(html)
    assert "No organisations in this state." in html


def test_admin_audit(env):
    entries = [
        NS(
            created_at=NOW,
            actor_email="admin@example.org",
            action="organization.rejected",
            object_type="organization",
            object_id=HOSTILE,
            state_before={"verification": "pending", "name": HOSTILE},
            state_after=None,
            ip="203.0.113.9",
            organization_id=ORG_ID,
        )
    ]
    filters = {"action": HOSTILE, "object_type": "", "object_id": "", "actor_email": ""}
    html = render(
        env,
        "admin/audit.html",
        actor=make_actor("admin"),
        entries=entries,
        total=120,
        filters=filters,
        page=2,
        per_page=50,
    )
    page = check_page(html)
    assert_escaped(html)
    assert "<script" not in html
    get_forms = [f for f in page.forms if f["method"] == "get"]
    assert {i["name"] for i in get_forms[0]["inputs"]} == {
        "action",
        "object_type",
        "object_id",
        "actor_email",
    }
    action = urllib.parse.quote_plus(HOSTILE)
    assert f"?action={action}&page=1" in page.links
    assert f"?action={action}&page=3" in page.links


def test_admin_audit_empty(env):
    filters = dict.fromkeys(("action", "object_type", "object_id", "actor_email"), "")
    html = render(
        env,
        "admin/audit.html",
        actor=make_actor("admin"),
        entries=[],
        total=0,
        filters=filters,
        page=1,
        per_page=50,
    )
    check_page(html)
    assert "No entries match" in html


# --- errors and language ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 409, 422, 429, 500, 400])
def test_error_page(env, status):
    html = render(env, "error.html", status=status, message="Nope " + HOSTILE)
    page = check_page(html)
    assert_escaped(html)
    assert "/" in page.links
    assert str(status) in html


def test_chinese_catalogue():
    zh = translations("zh")
    assert zh.gettext("Log in") == "登录"
    assert zh.gettext("Register") == "注册"
    assert zh.gettext("Organisation") == "机构"


@pytest.mark.parametrize(
    "name",
    [
        "home.html",
        "accounts/login.html",
        "accounts/register.html",
        "accounts/dashboard.html",
        "error.html",
    ],
)
def test_chinese_pages_render(env, name):
    html = render(
        env,
        name,
        lang="zh",
        actor=make_actor("owner"),
        countries={"CN": "China"},
        notifications=[],
        status=404,
        message="",
    )
    check_page(html)
    assert '<html lang="zh">' in html
    assert "登录" in html or "退出" in html


# --- macro modules ---------------------------------------------------------------------------


def _organizations_page(env: jinja2.Environment, lang: str = "en") -> str:
    return render(
        env,
        "admin/organizations.html",
        lang=lang,
        actor=make_actor("admin"),
        applicants=[
            NS(organization=o, documents=[], email_domain="", domain_matches=None)
            for o in (organization(), organization(id="c3", verification="verified"))
        ],
        total=2,
        state="",
        states=("pending", "rejected", "verified"),
        page=1,
        countries={"DE": "Germany " + HOSTILE},
        values={"reason": "typed " + HOSTILE},
    )


def test_macro_modules_are_built_once(env, monkeypatch):
    """Components are imported without context, so Jinja keeps each macro module: a render
    after the first builds none (an import `with context` rebuilt them all on every render)."""
    built: list[str] = []
    make_module = jinja2.Template.make_module

    def spy(self, *args, **kwargs):
        built.append(self.name)
        return make_module(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "make_module", spy)
    env.cache.clear()  # the first render below loads and builds everything afresh
    _organizations_page(env)
    assert {"components/forms.html", "components/ui.html"} <= set(built)
    built.clear()
    _organizations_page(env)
    _organizations_page(env, lang="zh")
    assert built == []


def test_macros_take_the_page_being_rendered(env):
    """A kept macro module still shows each render's own language, CSRF token, request path,
    countries and values, escaped."""
    chinese = _organizations_page(env, lang="zh")
    english = _organizations_page(env)
    # ui.verification_badge and ui.country_name, from the cached ui module.
    assert "待审核" in chinese and "Pending verification" not in chinese
    assert "Pending verification" in english and "待审核" not in english
    assert "Germany &lt;script&gt;" in english
    check_page(english)  # every POST form carries this render's CSRF token ("tok")
    other = render(
        env,
        "accounts/login.html",
        csrf_token="other-token",
        request=NS(url=NS(path="/login")),
        values={"email": HOSTILE},
    )
    assert 'name="csrf_token" value="other-token"' in other
    assert '<a href="/login" aria-current="page">' in other
    assert_escaped(other)
