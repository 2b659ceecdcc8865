"""The need pages end to end: the form gives bad input back, escaped, with each field's error,
and saves good input; an anonymous need's page names no seeker to a visitor."""

from __future__ import annotations

from typing import Any

from docking.models import Need
from tests.builders import a_published_need, a_verified_enterprise, need_data
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login

SECRET = "Secretive Steel AG"


def need_form(**overrides: Any) -> dict[str, Any]:
    """need_data() as the HTML form sends it."""
    data = need_data()
    form: dict[str, Any] = {
        "title": data["title"],
        "problem": data["problem"],
        "background": data["background"],
        "must_have": "\n".join(data["must_have"]),
        "nice_to_have": "\n".join(data["nice_to_have"]),
        "out_of_scope": data["out_of_scope"],
        "trl_min": "4",
        "trl_max": "7",
        "ipc_codes": "B01D 69/12, C02F 1/44",
        "keywords": "membrane; desalination",
        "cooperation": data["cooperation"],
        "territories": "CN, DE",
        "budget_min.amount": "50,000.00",
        "budget_max.amount": "200000",
        "budget_currency": "USD",
        "deadline": data["deadline"],
        "feedback_by": data["feedback_by"],
        "visibility": "anonymous",
        "language": "en",
    }
    form.update(overrides)
    return form


async def test_the_form_gives_bad_input_back_escaped_then_saves_good_input(client) -> None:
    await a_verified_enterprise(email="buyer@example.org")
    await page_login(client, "buyer@example.org")
    token = csrf_of((await client.get("/needs/new")).text)
    bad = need_form(
        title=HOSTILE,
        trl_min="7",
        trl_max="3",
        **{"budget_min.amount": "-5"},
        deadline="2001-01-01",
        must_have=f"{HOSTILE}\n" + "x" * 301,
        csrf_token=token,
    )
    response = await client.post("/needs/new", data=bad)
    assert response.status_code == 422
    html = response.text
    assert HOSTILE not in html and ESCAPED in html
    for control in ("trl_max", "budget_min-amount", "deadline", "must_have"):
        assert f'id="{control}-error"' in html, control
    assert 'value="7" selected' in html and "2001-01-01" in html
    assert await Need.all().count() == 0

    saved = await client.post("/needs/new", data=need_form(csrf_token=token))
    assert saved.status_code == 303, saved.text
    need = await Need.get()
    assert saved.headers["location"] == f"/needs/{need.id}"
    assert (need.budget_min, need.budget_max, need.budget_currency) == (
        5_000_000,
        20_000_000,
        "USD",
    )
    assert (need.cooperation, need.territories) == (["license", "joint_development"], ["CN", "DE"])
    page = (await client.get(f"/needs/{need.id}")).text
    assert "anonymous" in page and 'action="/needs/' in page


async def test_an_anonymous_need_page_names_its_seeker_only_to_the_seeker(client) -> None:
    owner, _ = await a_verified_enterprise(
        email="secret@example.org", organization={"name": SECRET}
    )
    need = await a_published_need(owner, visibility="anonymous")
    for path in (f"/needs/{need.id}", "/needs", "/needs?q=membrane"):
        visitor = await client.get(path)
        assert visitor.status_code == 200 and need.title in visitor.text, path
        assert SECRET not in visitor.text, path
    await page_login(client, "secret@example.org")
    own = (await client.get(f"/needs/{need.id}")).text
    assert SECRET in own and "sees it without your organisation" in own
