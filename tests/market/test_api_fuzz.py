"""Generated requests against the whole JSON API, from its own OpenAPI document, as every role.

Schemathesis draws requests from `/api/v1/openapi.json` (valid ones and, for every operation,
ones the document says are invalid) and sends them to the app in this process, with the real
PostgreSQL, Redis, Meilisearch and localstripe behind it. Every answer must be no 5xx, a status
code the document names, the content type it names, the headers it names and a body that
matches its schema; a request the document calls invalid must be refused.

Path parameters are drawn from the ids of a small world made first (a published and a draft
listing, an open offer, a contract awaiting payment with a bank-transfer payment, a pending
revision, the enterprise's published and draft needs, a pending organisation, a spare token, a
verification document), so requests get past the 404 and reach the code behind it; a generated
id is still drawn now and then, for the 404.

The four roles (anonymous; a member of a verified institute, the seller; of a verified
enterprise, the buyer; a platform administrator, each with an API token) take turns on one
world, from the one who changes least to the one who changes most. Generation is derandomized:
every run sends the same requests, so a red run is a reproducible one; raise EXAMPLES to look
further.

The app and its database connections live on the test's event loop; Hypothesis drives
synchronous code, so it runs in a worker thread and each request it makes is carried back to
the loop (`LoopAdapter`) and sent through httpx's ASGI transport.

The number of requests each role sent is recorded on the test (`generated_requests`) and
summed up at the end of the run by `tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from requests.adapters import HTTPAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.requests import ManagedCookiesSession
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from alerts import service as alerts
from alerts.schemas import SavedSearchIn
from contracts.offers import service as offers
from contracts.offers.schemas import OfferIn
from contracts.payments import service as payments
from docking import questions
from docking.models import Match
from docking.schemas import QuestionIn
from hall import meetings as hall_meetings
from hall.meeting_schemas import RequestIn
from hall.models import MeetingBlock
from listings import service as listings
from listings.schemas import ListingPatch
from market.accounts import documents
from market.accounts import service as accounts
from market.accounts.models import Organization, User
from market.accounts.schemas import TokenIn
from tests.builders import (
    a_contract,
    a_draft_listing,
    a_draft_need,
    a_proposal,
    a_published_listing,
    a_published_need,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_accepted_offer,
    an_admin,
    an_enquiry,
    offer_terms,
    signatories,
)
from tests.files import pdf_bytes
from tests.hall.builders import a_booth, a_meeting, a_participant, a_pavilion, an_event, at
from tests.hall.deal_builders import a_past_event

BASE = "http://testserver"
# Examples per operation and generation mode, for each role: the whole run (four roles, 95
# operations, valid and invalid data: about 3,400 requests) takes three to four minutes on two
# busy cores.
EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ROLES = ("anonymous", "buyer", "seller", "admin")
# Each role calls from its own address, so one role's throttled logins do not lock out another.
ADDRESSES = {role: f"198.51.100.{20 + i}" for i, role in enumerate(ROLES)}


# --- the bridge from Hypothesis' thread to the app's event loop -------------------------------


class LoopAdapter(HTTPAdapter):
    """A requests adapter that sends each request to the ASGI app on the test's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.loop = loop
        self.client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body
        content = body.encode() if isinstance(body, str) else body
        call = self.client.request(
            request.method or "GET",
            request.url or "",
            headers=dict(request.headers),
            content=content,
        )
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=120)
        raw = HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=HTTPHeaderDict(answer.headers.multi_items()),
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


class LoopSession(ManagedCookiesSession):
    """Cookies the app sets are dropped between requests (schemathesis clears this kind)."""

    def __init__(self, adapter: LoopAdapter, headers: dict[str, str]) -> None:
        super().__init__()
        self.mount(BASE, adapter)
        self.headers.update(headers)


# --- the world the requests draw their ids from --------------------------------------------


@dataclass
class World:
    ids: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


async def a_world() -> World:
    seller, institute = await a_verified_institute()
    buyer, enterprise = await a_verified_enterprise()
    admin = await an_admin()
    published = await a_published_listing(seller)
    draft = await a_draft_listing(seller)
    open_offer = await an_offer_on(published, buyer)
    accepted = await an_accepted_offer(published, buyer)
    contract = await a_contract("awaiting_payment", offer=accepted)
    _, payer = await signatories(contract)
    started = await payments.start_payment(payer, str(contract.id), "bank_transfer")
    _, revision = await listings.update_listing(
        await actor_of(seller),
        str(published.id),
        ListingPatch(summary="A revised summary for review."),
    )
    # The accepted offer fixes the listing's facts; the summary still goes through review.
    assert revision is not None
    open_need = await a_published_need(buyer)
    draft_need = await a_draft_need(buyer)
    enquiry = await an_enquiry(published, buyer)
    proposal = await a_proposal(open_need, seller, published)
    question = await questions.ask(
        await actor_of(seller), str(open_need.id), QuestionIn(body="How long does it last?")
    )
    # A match as the worker would store it (matching runs with the worker, not here).
    match = await Match.create(
        need_id=open_need.id,
        listing_id=published.id,
        score=70,
        reasons=[{"kind": "words", "terms": ["membrane"]}],
    )
    spare, pending = await a_user()
    document = await documents.add_document(
        await actor_of(seller), filename="licence.pdf", content_type_hint="", data=pdf_bytes()
    )
    saved = await alerts.save_search(
        await actor_of(buyer),
        SavedSearchIn(name="Membranes", query="q=membrane", frequency="daily"),
    )
    # The hall: an event the administrators run, open for booking, with the institute's booth.
    platform = await Organization.get(memberships__user_id=admin.id)
    event = await an_event(platform)
    pavilion = await a_pavilion(event)
    booth = await a_booth(event, institute, pavilion=pavilion)
    blocks = [str(b.id) for b in await MeetingBlock.filter(event_id=event.id)]
    # The hall's meetings: the buyer and the seller met, a third party's request waits.
    met = await a_meeting(
        await a_participant(event, buyer), await a_participant(event, seller), starts_at=at(9)
    )
    waiting = await a_participant(event)
    asked = await hall_meetings.request_meeting(
        await actor_of(await waiting.user),
        str(event.id),
        RequestIn(guest_participant_id=(await met.request).guest_id),
    )
    # A meeting of the two, held yesterday, about the published listing (hall.outcomes).
    past_event = await a_past_event()
    meeting = await a_meeting(
        await a_participant(past_event, buyer),
        await a_participant(past_event, seller),
        listing_ids=[str(published.id)],
    )
    world = World()
    world.ids = {
        "listing_id": [str(published.id), str(draft.id)],
        "offer_id": [str(open_offer.id), str(accepted.id)],
        "contract_id": [str(contract.id)],
        "payment_id": [str(started.payment.id)],
        "revision_id": [str(revision.id)],
        "need_id": [str(open_need.id), str(draft_need.id)],
        "enquiry_id": [str(enquiry.id)],
        "proposal_id": [str(proposal.id)],
        "question_id": [str(question.id)],
        "org_id": [str(pending.id), str(institute.id), str(enterprise.id)],
        "user_id": [str(spare.id)],
        "document_id": [str(document.id)],
        "search_id": [str(saved.id)],
        "match_id": [str(match.id)],
        "event_id": [str(event.id), str(past_event.id)],
        "request_id": [str(met.request_id), str(asked.id)],
        "meeting_id": [str(met.id), str(meeting.id)],
        "block_id": blocks,
        "pavilion_id": [str(pavilion.id)],
        "booth_id": [str(booth.id)],
    }
    spare_tokens = []
    for role, user in (("seller", seller), ("buyer", buyer), ("admin", admin)):
        actor = await actor_of(user)
        _, world.tokens[role] = await accounts.create_api_token(actor, TokenIn(name="fuzz"))
        spare_token, _ = await accounts.create_api_token(actor, TokenIn(name="spare"))
        spare_tokens.append(str(spare_token.id))
    world.ids["token_id"] = spare_tokens
    return world


async def an_offer_on(listing: Any, buyer: User) -> Any:
    return await offers.make_offer(
        await actor_of(buyer), str(listing.id), OfferIn.model_validate(offer_terms())
    )


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    schema: Any
    session: LoopSession
    ids: dict[str, list[str]]
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def fuzz(run: Run) -> None:
    """Every operation, valid and invalid data, a bounded number of examples each."""
    for result in run.schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(run, operation, mode)
            except hypothesis.errors.Unsatisfiable:
                # Nothing about the operation can be invalid (no parameters, no body).
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:
                # Every operation's failures, reported together at the end.
                run.failures.append(f"{operation.label} ({mode.value}): {exc}")


def _fuzz_operation(run: Run, operation: Any, mode: Any) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def one(case: Any, data: st.DataObject) -> None:
        for name, generated in (case.path_parameters or {}).items():
            known = run.ids.get(name, [])
            if known:
                case.path_parameters[name] = data.draw(st.sampled_from([*known, *known, generated]))
        response = case.call(session=run.session)
        run.sent += 1
        run.statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    one()


async def test_generated_requests_as_every_role(
    app: Any, tmp_root: Path, record_property: Callable[[str, object], None]
) -> None:
    # Hypothesis keeps caches beside the examples it would replay (database=None keeps none):
    # in this run's temporary directory, not in the work tree.
    set_hypothesis_home_dir(tmp_root / "hypothesis")
    # One world for the four runs: making it (a contract's documents are rendered) costs as
    # much as a run. The roles go from those who change least to the one who changes most.
    world = await a_world()
    failures: list[str] = []
    for role in ROLES:
        run = await _run_as(role, app, world)
        record_property(f"generated_requests[{role}]", run.sent)
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(run.statuses.items()))
        assert run.sent > 0, role
        # Every role gets past the guards somewhere: the seeded ids are used.
        assert role == "anonymous" or run.statuses[200] > 0, f"{role}: {statuses}"
        failures += [f"as {role}: {failure}" for failure in run.failures]
    assert not failures, "\n\n".join(failures)


async def _run_as(role: str, app: Any, world: World) -> Run:
    # An unhandled error answers 500 (as it would to a client) rather than raising here, so
    # schemathesis reports it with the request that caused it.
    transport = httpx.ASGITransport(
        app=app, client=(ADDRESSES[role], 40000), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
        schema.config.update(base_url=BASE)
        headers = {}
        if role != "anonymous":
            headers["Authorization"] = f"Bearer {world.tokens[role]}"
            # The role's own token is sent; generated credentials would replace it.
            schema.config.generation.update(with_security_parameters=False)
        session = LoopSession(LoopAdapter(asyncio.get_running_loop(), client), headers)
        run = Run(schema=schema, session=session, ids=world.ids)
        await asyncio.to_thread(fuzz, run)
    return run
