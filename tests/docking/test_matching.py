"""Matching both ways against a real Meilisearch and a real worker: a published need finds the
listings that fit it and a published listing the open needs, with reasons a person can read
(words, IPC overlap, TRL, rights), across Chinese and English; stored once per pair, told
once, dismissed per side, seen only by the two sides, an anonymous seeker never named."""

from __future__ import annotations

from contracts.offers.models import Grant
from docking import matching
from docking.models import Match
from listings import search
from market.accounts.models import User
from market.notify import Notification
from tests.builders import (
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    log_in,
    run_worker,
)

ENGLISH_LISTING = {
    "title": "Lithium-ion battery with a ceramic coated separator",
    "summary": "A ceramic coated separator keeps lithium-ion battery cells safe at high "
    "temperature; proven in pouch cells.",
    "description": "The separator withstands 200 degrees.",
    "keywords": ["battery", "separator", "ceramic"],
    "ipc_codes": ["H01M 50/449"],
    "trl": 6,
}
CHINESE_NEED = {
    "title": "需要耐高温的锂离子电池隔膜",
    "problem": "我们的锂离子电池在高温下隔膜收缩，需要一种陶瓷涂层隔膜，提高电池安全性。",
    "keywords": ["锂离子", "电池", "陶瓷"],
    "ipc_codes": ["H01M 50/40"],
    "trl_min": 5,
    "trl_max": 8,
    "language": "zh",
}


def reason(match: Match, kind: str) -> dict:
    return next(r for r in match.reasons if r["kind"] == kind)


async def test_a_chinese_need_finds_an_english_listing_with_reasons(indexes, redis_client) -> None:
    listing = await a_published_listing(**ENGLISH_LISTING)
    other = await a_published_listing(
        title="Baseball bat with a vibration damping handle",
        summary="A handle that damps the sting of a mishit.",
        keywords=["baseball", "bat"],
        ipc_codes=["A63B 59/50"],
        trl=9,
    )
    await run_worker(indexes)  # the listings are searchable
    need = await a_published_need(**CHINESE_NEED)
    await run_worker(indexes)

    found = await Match.filter(need_id=need.id).order_by("-score")
    assert [m.listing_id for m in found][:1] == [listing.id]
    assert other.id not in {m.listing_id for m in found if m.score >= matching.STRONG}
    best = found[0]
    words = reason(best, "words")["terms"]
    assert {"lithium-ion", "battery", "ceramic"} <= {w.lower() for w in words} | {
        w for w in words
    }, words
    assert reason(best, "ipc") == {"kind": "ipc", "level": "class", "codes": ["H01"]} or (
        reason(best, "ipc")["level"] == "subclass" and reason(best, "ipc")["codes"] == ["H01M"]
    )
    assert reason(best, "trl")["inside"] is True
    assert reason(best, "rights")["status"] == "available"
    # Read in Chinese, the reasons are Chinese; the highlight escapes and marks.
    texts = [r["text"] for r in matching.explain(best.reasons, "zh")]
    assert all(texts) and any("IPC" in t for t in texts)


async def test_an_english_listing_published_later_finds_the_chinese_need(
    indexes, redis_client
) -> None:
    need = await a_published_need(**CHINESE_NEED)
    await run_worker(indexes)
    assert await Match.filter(need_id=need.id).count() == 0
    listing = await a_published_listing(**ENGLISH_LISTING)
    await run_worker(indexes)
    match = await Match.get(need_id=need.id, listing_id=listing.id)
    assert match.score >= matching.STRONG
    assert reason(match, "words")["terms"]


async def test_ipc_levels_and_trl_inside_and_outside() -> None:
    need = await a_published_need(ipc_codes=["B01D 69/12"], trl_min=4, trl_max=6)
    asking = matching.need_side(need)

    def side(codes: list[str]) -> matching.Side:
        return matching._side("x", [], "", codes)

    assert matching.ipc_reason(asking, side(["B01D 71/02"]))["level"] == "subclass"
    assert matching.ipc_reason(asking, side(["B01J 20/00"]))["level"] == "class"
    assert matching.ipc_reason(asking, side(["B65D 1/00"]))["level"] == "section"
    assert matching.ipc_reason(asking, side(["H01M 4/00"]))["level"] == "none"
    assert matching.trl_reason(need, 5)["inside"] is True
    outside = matching.trl_reason(need, 8)
    assert outside["inside"] is False and outside["off"] == 2
    assert "outside" in matching.explain([outside], "en")[0]["text"]


async def test_an_exclusive_grant_already_made_lowers_the_match_and_says_so(
    indexes, redis_client
) -> None:
    listing = await a_published_listing(territories=["WORLD"])
    need = await a_published_need(territories=["CN"])
    await run_worker(indexes)
    before = await Match.get(need_id=need.id, listing_id=listing.id)
    assert reason(before, "rights")["status"] == "available"

    buyer, buyer_org = await a_verified_enterprise()
    await Grant.create(
        listing_id=listing.id,
        grantee_id=buyer_org.id,
        license_type="exclusive",
        territories=["CN", "JP"],
        fields_of_use=["all"],
    )
    again = await matching.match_need(need.id, indexes)
    after = next(m for m in again if m.listing_id == listing.id)
    rights = reason(after, "rights")
    assert rights["status"] == "taken" and rights["grants"][0]["license_type"] == "exclusive"
    assert after.score < before.score
    text = matching.explain([rights], "en")[0]["text"]
    assert "granted exclusively" in text and "exclusive" in text
    # Re-running updated the pair: still one row.
    assert await Match.filter(need_id=need.id, listing_id=listing.id).count() == 1


async def test_running_again_neither_duplicates_nor_tells_twice(
    indexes, redis_client, mailbox
) -> None:
    listing = await a_published_listing()
    need = await a_published_need()
    await run_worker(indexes)
    match = await Match.get(need_id=need.id, listing_id=listing.id)
    assert match.score >= matching.STRONG and match.notified_at is not None
    seeker = await User.get(id=need.created_by_id)
    institute = await User.get(id=listing.created_by_id)
    told = await Notification.filter(dedup_key__startswith=f"match:{match.id}:").count()
    assert told == 2
    for _ in range(2):
        await matching.match_need(need.id, indexes)
        await matching.match_listing(listing.id, indexes)
    await run_worker(indexes)
    assert await Match.filter(need_id=need.id).count() == 1
    assert await Notification.filter(dedup_key__startswith=f"match:{match.id}:").count() == 2

    def told_of_matches(address: str) -> list[str]:
        return [str(m["Subject"]) for m in mailbox.to(address) if "fits your" in str(m["Subject"])]

    assert len(told_of_matches(seeker.email)) == 1
    assert len(told_of_matches(institute.email)) == 1


async def test_an_anonymous_seeker_is_never_named_to_the_institute(
    indexes, redis_client, mailbox, client
) -> None:
    secret = "Hidden Hydro Holdings"
    owner, _ = await a_verified_enterprise(organization={"name": secret})
    listing = await a_published_listing()
    need = await a_published_need(owner, visibility="anonymous")
    await run_worker(indexes)
    institute = await User.get(id=listing.created_by_id)
    mails = [
        m.get_body(preferencelist=("plain",)).get_content()
        for m in mailbox.to(institute.email)
        if "fits your" in str(m["Subject"])
    ]
    assert len(mails) == 1 and secret not in mails[0] and "anonymously" in mails[0]
    await log_in(client, institute.email)
    answer = await client.get(f"/api/v1/listings/{listing.id}/matches")
    assert answer.status_code == 200 and secret not in answer.text
    assert answer.json()["items"][0]["need"] == {"id": str(need.id), "title": need.title}
    page = await client.get(f"/listings/{listing.id}/matches")
    at = page.text.find(secret)
    assert at < 0, page.text[max(0, at - 600) : at + 100]
    assert page.status_code == 200 and f"/needs/{need.id}" in page.text
    async with search.Meili(indexes) as meili:
        doc = await meili.call("GET", f"/indexes/{indexes.meili_needs_index}/documents/{need.id}")
    assert secret not in str(doc) and doc["seeker_id"] == ""


async def test_each_side_sees_and_dismisses_its_own_and_strangers_get_404(
    indexes, redis_client, client
) -> None:
    listing = await a_published_listing(title="Graphene <script>alert(1)</script> membrane")
    need = await a_published_need()
    await run_worker(indexes)
    match = await Match.get(need_id=need.id, listing_id=listing.id)
    seeker = await User.get(id=need.created_by_id)
    institute = await User.get(id=listing.created_by_id)
    stranger, _ = await a_verified_institute()

    await log_in(client, stranger.email)
    assert (await client.get(f"/api/v1/needs/{need.id}/matches")).status_code == 404
    assert (await client.get(f"/api/v1/listings/{listing.id}/matches")).status_code == 404
    me = await client.get("/api/v1/me")
    csrf = me.json()["csrf_token"]
    refused = await client.post(
        f"/api/v1/matches/{match.id}/dismiss", headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 404
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})

    csrf = await log_in(client, seeker.email)
    answer = (await client.get(f"/api/v1/needs/{need.id}/matches")).json()
    item = answer["items"][0]
    assert item["listing"]["id"] == str(listing.id) and item["score"] == match.score
    assert {r["kind"] for r in item["reasons"]} >= {"words", "trl", "rights"}
    words = next(r for r in item["reasons"] if r["kind"] == "words")
    assert "<script>" not in words["highlight"] and "&lt;script&gt;" in words["highlight"]
    assert "<mark>" in words["highlight"]
    page = await client.get(f"/needs/{need.id}")
    assert "<script>alert(1)" not in page.text and "why this match" in page.text.lower()
    done = await client.post(f"/api/v1/matches/{match.id}/dismiss", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["dismissed_by_seeker"] is True
    assert (await client.get(f"/api/v1/needs/{need.id}/matches")).json()["items"] == []
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})

    # The institute still sees it until it dismisses it too.
    await log_in(client, institute.email)
    items = (await client.get(f"/api/v1/listings/{listing.id}/matches")).json()["items"]
    assert [i["need"]["id"] for i in items] == [str(need.id)]
    dashboard = await client.get("/matches")
    assert dashboard.status_code == 200 and f"/needs/{need.id}" in dashboard.text


async def test_an_english_need_finds_a_chinese_listing(indexes, redis_client) -> None:
    listing = await a_published_listing(
        title="一种反渗透复合膜及其制备方法",
        summary="本发明提供一种聚酰胺反渗透复合膜，脱盐率高，适用于海水淡化和废水处理。",
        description="",
        keywords=["反渗透", "复合膜", "海水淡化"],
        ipc_codes=["B01D 69/12"],
        language="zh",
        trl=5,
    )
    await run_worker(indexes)
    need = await a_published_need(
        title="Reverse osmosis membrane for seawater desalination",
        problem="We need a polyamide membrane with high salt rejection for desalination.",
        keywords=["reverse osmosis", "desalination", "polyamide"],
    )
    await run_worker(indexes)
    match = await Match.get(need_id=need.id, listing_id=listing.id)
    terms = reason(match, "words")["terms"]
    assert {"反渗透", "海水淡化", "聚酰胺"} & set(terms), terms
    assert reason(match, "ipc")["level"] == "subclass"
    # The seeker reads the Chinese title with the Chinese words that matched marked.
    marked = matching.highlight(listing.title, terms)
    assert "<mark>反渗透</mark>" in marked
