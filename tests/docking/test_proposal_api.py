"""The proposals API end to end through the ASGI app: an institute proposes, the enterprise
reads its inbox by stage, moves the proposal, talks, and turns the finalist into an offer;
refusals answer 4xx JSON naming the field; a stranger gets 404; an anonymous seeker stays out
of every answer to the institute."""

from __future__ import annotations

from typing import Any

from contracts.offers.models import Offer
from docking.models import Proposal
from tests.builders import (
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    log_in,
    proposal_data,
)

SECRET = "Secretive Steel AG"
HOSTILE = "<script>alert(1)</script>"


async def _as(client, email: str) -> dict[str, str]:
    client.cookies.clear()
    return {"X-CSRF-Token": await log_in(client, email)}


async def _world() -> tuple[Any, Any]:
    seeker, _ = await a_verified_enterprise(
        email="seeker@example.org", organization={"name": SECRET}
    )
    institute, _ = await a_verified_institute(email="lab@example.org")
    need = await a_published_need(seeker, visibility="anonymous")
    listing = await a_published_listing(institute)
    await a_verified_institute(email="stranger@example.org")
    return need, listing


async def test_propose_review_talk_and_convert(client) -> None:
    need, listing = await _world()
    nid = str(need.id)
    lab = await _as(client, "lab@example.org")
    bad = proposal_data(need, [str(listing.id)], summary="short", trl=12)
    refused = await client.post(f"/api/v1/needs/{nid}/proposals", json=bad, headers=lab)
    assert refused.status_code == 422
    assert {"summary", "trl"} <= set(refused.json()["error"]["fields"])
    data = proposal_data(need, [str(listing.id)], summary=f"{HOSTILE} holds 98% at 45 LMH.")
    made = await client.post(f"/api/v1/needs/{nid}/proposals", json=data, headers=lab)
    assert made.status_code == 201, made.text
    proposal = made.json()["proposal"]
    pid = proposal["id"]
    assert proposal["stage"] == "new" and proposal["actions"] == ["withdraw"]
    assert proposal["need"]["seeker"] is None and SECRET not in made.text
    assert proposal["listings"] == [{"id": str(listing.id), "title": listing.title}]
    twice = await client.post(f"/api/v1/needs/{nid}/proposals", json=data, headers=lab)
    assert twice.status_code == 409 and "already" in twice.json()["error"]["message"]
    mine = (await client.get("/api/v1/proposals?mine=1")).json()
    assert [p["id"] for p in mine["items"]] == [pid] and SECRET not in str(mine)
    assert (await client.get(f"/api/v1/needs/{nid}/proposals")).status_code == 403

    seeker = await _as(client, "seeker@example.org")
    inbox = (await client.get(f"/api/v1/needs/{nid}/proposals?stage=new")).json()
    assert [p["id"] for p in inbox["items"]] == [pid] and inbox["stages"]["new"] == 1
    no_reason = await client.post(
        f"/api/v1/proposals/{pid}/stage", json={"stage": "declined"}, headers=seeker
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["error"]["fields"]
    unknown = await client.post(
        f"/api/v1/proposals/{pid}/stage", json={"stage": "converted"}, headers=seeker
    )
    assert unknown.status_code == 422 and "stage" in unknown.json()["error"]["fields"]
    early = await client.post(
        f"/api/v1/proposals/{pid}/offer", json={"listing_id": str(listing.id)}, headers=seeker
    )
    assert early.status_code == 409 and early.json()["error"]["state"] == "new"
    for stage in ("shortlisted", "finalist"):
        moved = await client.post(
            f"/api/v1/proposals/{pid}/stage", json={"stage": stage}, headers=seeker
        )
        assert moved.json()["proposal"]["stage"] == stage, moved.text
    said = await client.post(
        f"/api/v1/proposals/{pid}/messages", json={"body": "Any field data?"}, headers=seeker
    )
    assert said.status_code == 201
    empty = await client.post(
        f"/api/v1/proposals/{pid}/messages", json={"body": ""}, headers=seeker
    )
    assert empty.status_code == 422 and "body" in empty.json()["error"]["fields"]

    stranger = await _as(client, "stranger@example.org")
    for path in (f"/api/v1/proposals/{pid}",):
        assert (await client.get(path)).status_code == 404
    for path, body in (
        (f"/api/v1/proposals/{pid}/messages", {"body": "hi"}),
        (f"/api/v1/proposals/{pid}/stage", {"stage": "withdrawn"}),
        (f"/api/v1/proposals/{pid}/offer", {"listing_id": str(listing.id)}),
    ):
        assert (await client.post(path, json=body, headers=stranger)).status_code == 404, path

    await _as(client, "lab@example.org")
    seen = (await client.get(f"/api/v1/proposals/{pid}")).json()["proposal"]
    assert seen["messages"][0]["author"] is None and seen["messages"][0]["side"] == "seeker"
    assert SECRET not in str(seen)

    seeker = await _as(client, "seeker@example.org")
    over = await client.post(
        f"/api/v1/proposals/{pid}/offer",
        json={
            "listing_id": str(listing.id),
            "upfront_fee": {"amount": 99_000_000, "currency": "USD"},
        },
        headers=seeker,
    )
    assert over.status_code == 422 and "upfront_fee" in over.json()["error"]["fields"]
    offered = await client.post(
        f"/api/v1/proposals/{pid}/offer", json={"listing_id": str(listing.id)}, headers=seeker
    )
    assert offered.status_code == 201, offered.text
    assert offered.json()["offer"]["proposal_id"] == pid
    offer = await Offer.get(id=offered.json()["offer"]["id"])
    assert offer.proposal_id == (await Proposal.get(id=pid)).id  # type: ignore[attr-defined]
    assert (await client.get(f"/api/v1/proposals/{pid}")).json()["proposal"]["stage"] == (
        "converted"
    )


async def test_refusals_name_the_reason(client) -> None:
    need, listing = await _world()
    nid = str(need.id)
    other = await a_published_listing()
    lab = await _as(client, "lab@example.org")
    foreign = proposal_data(need, [str(other.id)])
    refused = await client.post(f"/api/v1/needs/{nid}/proposals", json=foreign, headers=lab)
    assert refused.status_code == 422 and "listing_ids" in refused.json()["error"]["fields"]
    seeker = await _as(client, "seeker@example.org")
    own = proposal_data(need, [str(listing.id)])
    refused = await client.post(f"/api/v1/needs/{nid}/proposals", json=own, headers=seeker)
    assert refused.status_code == 403 and "posted this need" in refused.json()["error"]["message"]
    assert await Proposal.all().count() == 0


async def test_public_questions_show_answered_to_everyone_escaped(client) -> None:
    need, _ = await _world()
    nid = str(need.id)
    lab = await _as(client, "lab@example.org")
    asked = await client.post(f"/api/v1/needs/{nid}/questions", json={"body": HOSTILE}, headers=lab)
    assert asked.status_code == 201, asked.text
    qid = asked.json()["question"]["id"]
    short = await client.post(f"/api/v1/needs/{nid}/questions", json={"body": "?"}, headers=lab)
    assert short.status_code == 422 and "body" in short.json()["error"]["fields"]
    nope = await client.post(
        f"/api/v1/needs/{nid}/questions/{qid}/answer", json={"answer": "Me"}, headers=lab
    )
    assert nope.status_code == 403
    client.cookies.clear()
    assert (await client.get(f"/api/v1/needs/{nid}/questions")).json()["items"] == []
    seeker = await _as(client, "seeker@example.org")
    answered = await client.post(
        f"/api/v1/needs/{nid}/questions/{qid}/answer", json={"answer": "Five years"}, headers=seeker
    )
    assert answered.status_code == 200, answered.text
    client.cookies.clear()
    items = (await client.get(f"/api/v1/needs/{nid}/questions")).json()["items"]
    assert [(q["body"], q["answer"]) for q in items] == [(HOSTILE, "Five years")]
    page = (await client.get(f"/needs/{nid}")).text
    assert HOSTILE not in page and "&lt;script&gt;" in page and "Five years" in page
    assert SECRET not in page
