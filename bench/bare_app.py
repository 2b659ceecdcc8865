"""Bare Starlette apps: the baselines our pages are measured against.

`app` (for `bench/http_pages.py`): no middleware, no database, no templates, no cookies:
whatever our app costs on top of its two handlers is the price of our own code and libraries,
not of Starlette and uvicorn.

`pages_app()` (for `bench/pages.py`, a uvicorn factory): the same main pages as plain handlers,
each reading the rows its page shows with hand-written asyncpg queries and rendering them with
one small Jinja2 template. Every page reads what ours reads for the logged-in visitor the
benchmark sends: the session's user, organisation and unread count first, then the page's own
rows (the listing page its media and grants, and counts the visit as ours does; the contract
page its signatures, documents and payments). No ORM, no middleware, no CSRF, no
translations: the raw stack our pages are built on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import asyncpg
import httpx
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

# About the size of our rendered home page (~2.5 KB) so both responses cost the same to send.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Technology licensing marketplace · bare</title>
  <link rel="stylesheet" href="/static/css/site.css">
</head>
<body>
  <a class="skip-link" href="#main">Skip to main content</a>
  <header class="site-header">
    <div class="container header-inner">
      <a class="brand" href="/">bare</a>
      <nav class="site-nav" aria-label="Main">
        <ul>
          <li><a href="/" aria-current="page">Home</a></li>
          <li><a href="/login">Log in</a></li>
          <li><a href="/register">Register</a></li>
        </ul>
      </nav>
      <nav class="language-nav" aria-label="Language">
        <ul>
          <li><a href="/language/en" lang="en" hreflang="en" aria-current="true">English</a></li>
          <li><a href="/language/zh" lang="zh" hreflang="zh">中文</a></li>
        </ul>
      </nav>
    </div>
  </header>

  <main id="main" class="container" tabindex="-1">
<section class="hero" aria-labelledby="hero-title">
  <h1 id="hero-title">Put research to work</h1>
  <p class="lead">A static page that stands in for a rendered one: same markup, no template
  engine, no translations, no CSRF token and no database behind it.</p>
  <p class="actions">
    <a class="button button-primary" href="/register">Register your organisation</a>
    <a class="button button-secondary" href="/login">Log in</a>
  </p>
</section>

<div class="cards">
  <section class="card" aria-labelledby="for-institutes">
    <h2 id="for-institutes">For research institutes</h2>
    <p>List your patents, software, know-how and materials, and reach enterprises looking
    for exactly what your laboratories have developed.</p>
  </section>
  <section class="card" aria-labelledby="for-enterprises">
    <h2 id="for-enterprises">For enterprises</h2>
    <p>Discover technology that is ready to license, make offers and agree terms with the
    institute directly.</p>
  </section>
  <section class="card" aria-labelledby="for-trust">
    <h2 id="for-trust">Verified and supervised</h2>
    <p>Administrators verify every organisation before it can trade and approve each trade,
    so you always know who is on the other side.</p>
  </section>
</div>
  </main>

  <footer class="site-footer">
    <div class="container">
      <p>bare: a baseline for benchmarks, nothing more.</p>
    </div>
  </footer>
</body>
</html>
"""


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def home(request: Request) -> Response:
    return HTMLResponse(PAGE)


app = Starlette(routes=[Route("/", home), Route("/healthz", healthz)])


# --------------------------------------------------------------------------------------------
# The main pages, bare


_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %} · bare</title>
<link rel="stylesheet" href="/static/css/site.css"></head>
<body><header class="site-header"><nav><ul>
<li><a href="/listings">Listings</a></li><li><a href="/search">Search</a></li>
{%- if user %}<li><a href="/dashboard">{{ user.name }}</a></li>
<li><a href="/notifications">Notifications {{ user.unread }}</a></li>{% endif %}
</ul></nav></header>
<main id="main" class="container">{% block main %}{% endblock %}</main></body></html>
"""

_CARD = """{% macro card(l) -%}
<article class="listing-card"><h2><a href="/listings/{{ l.id }}">{{ l.title }}</a></h2>
<p class="meta">{{ l.kind }} · TRL {{ l.trl }} · {{ l.org_name }} ({{ l.org_country }})</p>
<p>{{ l.summary }}</p>
<ul class="tags">{% for k in l.keywords %}<li>{{ k }}</li>{% endfor %}</ul></article>
{%- endmacro %}"""

_TEMPLATES = {
    "layout.html": _LAYOUT,
    "card.html": _CARD,
    "listing.html": """{% extends "layout.html" %}{% block title %}{{ l.title }}{% endblock %}
{% block main %}<article><h1>{{ l.title }}</h1>
<p class="meta">{{ l.kind }} · TRL {{ l.trl }} · {{ l.state }}</p>
<p class="lead">{{ l.summary }}</p><div class="description">{{ l.description }}</div>
<dl class="details">
<dt>Institute</dt><dd>{{ l.org_name }} ({{ l.org_country }}, {{ l.org_region }})</dd>
<dt>Patents</dt><dd>{{ l.patent_numbers|join(", ") }}</dd>
<dt>IPC</dt><dd>{{ l.ipc_codes|join(", ") }}</dd>
<dt>Keywords</dt><dd>{{ l.keywords|join(", ") }}</dd>
<dt>Inventors</dt><dd>{{ l.inventors|join(", ") }}</dd>
<dt>Licences</dt><dd>{{ l.license_types|join(", ") }}</dd>
<dt>Territories</dt><dd>{{ l.territories|join(", ") }}</dd>
<dt>Fields of use</dt><dd>{{ l.fields_of_use|join(", ") }}</dd>
<dt>Price</dt><dd>{{ l.price_model }} {{ l.asking_amount or "" }} {{ l.asking_currency or "" }}</dd>
<dt>Contact</dt><dd>{{ l.contact_name }} &lt;{{ l.contact_email }}&gt;</dd>
<dt>Published</dt><dd>{{ l.published_at }}</dd></dl>
<ul>{% for m in media %}<li><a href="/media/{{ m.id }}">{{ m.original_name }}</a></li>
{% endfor %}</ul>
<ul>{% for g in grants %}<li>{{ g.license_type }} {{ g.territories|join(", ") }}
{{ g.fields_of_use|join(", ") }} {{ g.grantee_name }}</li>{% endfor %}</ul>
</article>{% endblock %}""",
    "listings.html": """{% extends "layout.html" %}{% from "card.html" import card %}
{% block title %}Listings{% endblock %}{% block main %}<h1>Listings ({{ total }})</h1>
{% for l in listings %}{{ card(l) }}{% endfor %}{% endblock %}""",
    "search.html": """{% extends "layout.html" %}{% block title %}Search{% endblock %}
{% block main %}<form method="get" action="/search"><input name="q" value="{{ q }}"></form>
<p>{{ result.estimatedTotalHits }} results</p>
{% for name, counts in (result.facetDistribution or {}).items() %}
<fieldset><legend>{{ name }}</legend>
{% for value, n in counts.items() %}
<label><input type="checkbox" name="{{ name }}" value="{{ value }}">
{{ value }} ({{ n }})</label>{% endfor %}</fieldset>{% endfor %}
{% for hit in result.hits %}<article><h2><a href="/listings/{{ hit.id }}">{{ hit.title }}</a></h2>
<p>{{ (hit._formatted or {}).get("summary", hit.summary) }}</p></article>{% endfor %}
{% endblock %}""",
    "offers.html": """{% extends "layout.html" %}{% block title %}Offers{% endblock %}
{% block main %}<h1>Offers</h1><table>{% for o in offers %}
<tr><td><a href="/offers/{{ o.id }}">{{ o.title }}</a></td>
<td>{{ o.buyer_name }}</td><td>{{ o.seller_name }}</td><td>{{ o.state }}</td>
<td>{{ o.license_type }}</td>
<td>{{ o.upfront_amount }} {{ o.currency }}</td><td>{{ o.royalty_percent }}</td>
<td>{{ o.expires_at }}</td></tr>{% endfor %}
</table>{% for state, n in counts %}<span>{{ state }}: {{ n }}</span>{% endfor %}{% endblock %}""",
    "contract.html": """{% extends "layout.html" %}{% block title %}{{ c.reference }}{% endblock %}
{% block main %}<h1>{{ c.reference }}: {{ c.title }}</h1>
<p>{{ c.state }} · {{ c.license_type }} · {{ c.amount_due }} {{ c.currency }}</p>
<dl><dt>Licensor</dt><dd>{{ c.seller_name }}</dd><dt>Licensee</dt><dd>{{ c.buyer_name }}</dd></dl>
<pre>{{ c.snapshot }}</pre><ul>{% for s in signatures %}
<li>{{ s.side }}: {{ s.full_name }} {{ s.signed_at }}</li>{% endfor %}</ul>
<ul>{% for d in documents %}<li>{{ d.number }} {{ d.kind }} {{ d.sha256 }} {{ d.created_at }}</li>
{% endfor %}</ul><ul>{% for p in payments %}<li>{{ p.item }} {{ p.state }} {{ p.amount }}
{{ p.currency }} {{ p.method }}</li>{% endfor %}</ul>
{% endblock %}""",
    "need.html": """{% extends "layout.html" %}{% block title %}{{ n.title }}{% endblock %}
{% block main %}<h1>{{ n.title }}</h1>
<p class="meta">{{ n.org_name }} ({{ n.org_country }}) · {{ n.state }} · {{ n.visibility }}</p>
{% if is_seeker %}<p><a href="/needs/{{ n.id }}/edit">Edit</a>
<a href="/needs/{{ n.id }}/proposals">{{ proposal_count }} proposals received</a></p>{% endif %}
{% if own %}<p><a href="/proposals/{{ own.id }}">Your proposal</a></p>{% endif %}
<p class="lead">{{ n.problem }}</p><p>{{ n.background }}</p>
<h3>Must have</h3><ul>{% for r in n.must_have %}<li>{{ r }}</li>{% endfor %}</ul>
<h3>Nice to have</h3><ul>{% for r in n.nice_to_have %}<li>{{ r }}</li>{% endfor %}</ul>
<p>{{ n.out_of_scope }}</p>
<dl class="details"><dt>Seeker</dt><dd>{{ n.org_name }}</dd>
<dt>TRL</dt><dd>{{ n.trl_min }} to {{ n.trl_max }}</dd>
<dt>Cooperation</dt><dd>{{ n.cooperation|join(", ") }}</dd>
<dt>Territories</dt><dd>{{ n.territories|join(", ") }}</dd>
<dt>Budget</dt><dd>{{ n.budget_min }} to {{ n.budget_max }} {{ n.budget_currency or "" }}</dd>
<dt>Deadline</dt><dd>{{ n.deadline }}</dd><dt>Feedback by</dt><dd>{{ n.feedback_by }}</dd>
<dt>IPC</dt><dd>{{ n.ipc_codes|join(", ") }}</dd>
<dt>Keywords</dt><dd>{{ n.keywords|join(", ") }}</dd>
<dt>Published</dt><dd>{{ n.published_at }}</dd></dl>
<dl class="questions">{% for q in questions %}<dt>{{ q.body }}</dt>
<dd>{{ q.answer or "Waiting for the seeker's answer" }}</dd>{% endfor %}</dl>
<ul class="matches">{% for m in matches %}<li>{{ m.score }}
<a href="/listings/{{ m.listing_id }}">{{ m.title }}</a> {{ m.org_name }}
<ul>{% for r in m.reasons %}<li>{{ r.kind }}: {{ (r.terms or r.codes or r.territories or [])
|join(", ") }}</li>{% endfor %}</ul></li>{% endfor %}</ul>
{% endblock %}""",
    "event.html": """{% extends "layout.html" %}{% block title %}{{ e.name }}{% endblock %}
{% block main %}<h1>{{ e.name }}</h1>
<p class="meta">Organised by {% if e.org_kind != "platform" %}<a href="/organizations/
{{- e.org_slug }}">{{ e.org_name }}</a>{% else %}{{ e.org_name }}{% endif %} · {{ e.state }}</p>
<dl class="details"><dt>Dates</dt><dd>{{ e.starts_on }} – {{ e.ends_on }}</dd>
<dt>Time zone</dt><dd>{{ e.timezone }}</dd>
<dt>Booking</dt><dd>{{ e.booking_opens_at|in_zone(e.timezone) }} –
{{ e.booking_closes_at|in_zone(e.timezone) }}</dd>
<dt>Meetings</dt><dd>{{ e.meeting_minutes }} minutes each</dd>
<dt>Agenda</dt><dd>{{ e.agenda }}</dd></dl><p class="lead">{{ e.description }}</p>
<h2>Meeting blocks</h2><form method="get" action="/events/{{ e.id }}"><select name="tz">
<option value="">Only the event's ({{ e.timezone }})</option>{% for z in zones %}
<option value="{{ z }}">{{ z }}</option>{% endfor %}</select></form>
<table>{% for b in blocks %}<tr><td>{{ b.starts_at|in_zone(e.timezone) }} –
{{ (b.ends_at|in_zone(e.timezone))[11:] }}</td><td>{{ b.mode }}</td><td>{{ b.tables or "—" }}</td>
</tr>{% endfor %}</table>
<h2>Meetings</h2><p>{% if e.participant_id %}<a href="/events/{{ e.id }}/meetings">My meetings</a>
<a href="/events/{{ e.id }}/requests">Meeting requests</a>
<a href="/events/{{ e.id }}/join">My availability</a>{% else %}
<a href="/events/{{ e.id }}/join">Take part in the meetings</a>{% endif %}
<a href="/events/{{ e.id }}/participants">Participants</a></p>
<h2>The hall</h2><p><a href="/events/{{ e.id }}/hall">Visit {{ e.booth_total }} booths</a></p>
<ul>{% for p in pavilions %}<li><a href="/events/{{ e.id }}/hall?pavilion={{ p.id }}">
{{- p.name }}</a> · {{ p.booths }} booths</li>{% endfor %}</ul>
{% if e.booth_id %}<p><a href="/booths/{{ e.booth_id }}">Your organisation's booth</a>
· {{ e.booth_state }}</p>{% endif %}
{% endblock %}""",
    "dashboard.html": """{% extends "layout.html" %}{% block title %}Dashboard{% endblock %}
{% block main %}<h1>{{ user.name }}</h1>
<p>{{ user.org_name }} · {{ user.role }} · {{ unread }} unread</p>
<ul>{% for c in cards %}<li><a href="{{ c.link }}">{{ c.title }}</a></li>{% endfor %}</ul>
<ul>{% for n in notifications %}
<li><a href="{{ n.link }}">{{ n.subject }}</a> {{ n.created_at }}</li>{% endfor %}</ul>
{% endblock %}""",
}

_LISTING = """
SELECT l.*, o.name AS org_name, o.country AS org_country, o.region AS org_region
FROM listing l JOIN organization o ON o.id = l.institute_id
WHERE l.id = $1 AND l.state = 'published'"""
_LISTINGS = """
SELECT l.id, l.title, l.summary, l.kind, l.trl, l.keywords, o.name AS org_name,
       o.country AS org_country
FROM listing l JOIN organization o ON o.id = l.institute_id
WHERE l.state = 'published' ORDER BY l.published_at DESC, l.id LIMIT 20 OFFSET $1"""
_SESSION_USER = """
SELECT u.id, u.name, m.role, m.organization_id AS org_id, o.name AS org_name,
       (SELECT count(*) FROM notification n WHERE n.user_id = u.id AND n.read_at IS NULL)
           AS unread
FROM session s JOIN "user" u ON u.id = s.user_id
LEFT JOIN membership m ON m.user_id = u.id LEFT JOIN organization o ON o.id = m.organization_id
WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.is_active"""
_OFFERS = """
SELECT f.id, f.state, f.license_type, f.expires_at, l.title, b.name AS buyer_name,
       s.name AS seller_name, t.upfront_amount, t.currency, t.royalty_percent
FROM offer f JOIN listing l ON l.id = f.listing_id
JOIN organization b ON b.id = f.buyer_id JOIN organization s ON s.id = f.seller_id
LEFT JOIN offer_terms t ON t.offer_id = f.id AND t.number = f.terms_number
WHERE f.buyer_id = $1 OR f.seller_id = $1 ORDER BY f.updated_at DESC LIMIT 20"""
# The dashboard's "needs your action" cards for a member of an organisation, the rows our
# dashboard reads (listings/actions.py, docking/actions.py, contracts/offers/actions.py,
# contracts/agreements/actions.py): returned listings and needs, offers to answer, contracts
# to sign and to pay.
_CARDS = (
    (
        "/listings/{}/edit",
        "SELECT l.id, l.title FROM listing l WHERE l.institute_id = $1 AND l.state = 'rejected'"
        " ORDER BY l.updated_at DESC LIMIT 10",
    ),
    (
        "/needs/{}/edit",
        "SELECT n.id, n.title FROM need n WHERE n.seeker_id = $1 AND n.state = 'rejected'"
        " ORDER BY n.updated_at DESC LIMIT 10",
    ),
    (
        "/offers/{}",
        "SELECT o.id, l.title FROM offer o JOIN listing l ON l.id = o.listing_id"
        " WHERE (o.state = 'open' AND o.seller_id = $1) OR (o.state = 'countered'"
        " AND o.buyer_id = $1) ORDER BY o.expires_at LIMIT 10",
    ),
    (
        "/contracts/{}",
        "SELECT c.id, l.title FROM contract c JOIN listing l ON l.id = c.listing_id"
        " WHERE (c.seller_id = $1 OR c.buyer_id = $1) AND c.state = 'awaiting_signatures'"
        " AND NOT EXISTS (SELECT 1 FROM contract_signature g WHERE g.contract_id = c.id"
        " AND g.organization_id = $1) ORDER BY c.signing_opened_at LIMIT 10",
    ),
    (
        "/contracts/{}",
        "SELECT c.id, l.title FROM contract c JOIN listing l ON l.id = c.listing_id"
        " WHERE c.buyer_id = $1 AND c.state = 'awaiting_payment' ORDER BY c.signed_at LIMIT 10",
    ),
)
_MEDIA = """
SELECT id, kind, original_name FROM listing_media
WHERE listing_id = $1 AND NOT confidential ORDER BY created_at, id"""
_GRANTS = """
SELECT g.license_type, g.territories, g.fields_of_use, o.name AS grantee_name
FROM listing_grant g JOIN organization o ON o.id = g.grantee_id
WHERE g.listing_id = $1 ORDER BY g.created_at"""
_CONTRACT = """
SELECT c.*, l.title, b.name AS buyer_name, s.name AS seller_name
FROM contract c JOIN listing l ON l.id = c.listing_id
JOIN organization b ON b.id = c.buyer_id JOIN organization s ON s.id = c.seller_id
WHERE c.id = $1 AND (c.buyer_id = $2 OR c.seller_id = $2)"""

# The need page as the seeking enterprise sees its own published need (docking/routes.py
# `show`): the need with its seeker and whether the reader's organisation accepted its clause,
# the reader's organisation's proposal and the number of proposals, every question (the seeker
# sees all), and the matches its seeker has not set aside, with each listing and institute.
_NEED = """
SELECT n.*, o.name AS org_name, o.slug AS org_slug, o.country AS org_country, o.logo_name,
       EXISTS (SELECT 1 FROM need_clause_acceptance a
               WHERE a.need_id = n.id AND a.organization_id = $1) AS clause_accepted,
       (SELECT p.id FROM proposal p WHERE p.need_id = n.id AND p.proposer_id = $2) AS own_id,
       (SELECT count(*) FROM proposal c WHERE c.need_id = n.id) AS proposal_count
FROM need n JOIN organization o ON o.id = n.seeker_id
WHERE n.id = $3 AND (n.state IN ('published', 'closed', 'awarded') OR n.seeker_id = $4)"""
_QUESTIONS = """
SELECT id, body, answer, answered_at, created_at, asked_by_id FROM need_question
WHERE need_id = $1 {seen} ORDER BY created_at, id LIMIT 100"""
_MATCHES = """
SELECT m.score, m.reasons, m.listing_id, l.title, o.name AS org_name
FROM need_match m JOIN listing l ON l.id = m.listing_id
JOIN organization o ON o.id = l.institute_id
WHERE m.need_id = $1 AND l.state = 'published' AND NOT m.dismissed_by_seeker
ORDER BY m.score DESC, m.created_at LIMIT 50"""

# The event page as a participant that exhibits sees it (hall/routes.py `show_event`): the
# event with its organiser, the reader's organisation's booth and the reader's participation,
# and the number of approved booths; the pavilions, each with its approved booths; the blocks.
_EVENT = """
SELECT e.*, o.name AS org_name, o.slug AS org_slug, o.kind AS org_kind,
       b.id AS booth_id, b.state AS booth_state, p.id AS participant_id,
       (SELECT count(*) FROM hall_booth c WHERE c.event_id = e.id AND c.state = 'approved')
           AS booth_total
FROM hall_event e JOIN organization o ON o.id = e.organiser_id
LEFT JOIN hall_booth b ON b.event_id = e.id AND b.organization_id = $1
LEFT JOIN hall_participant p ON p.event_id = e.id AND p.user_id = $2
WHERE e.id = $3 AND (e.state IN ('published', 'booking_open', 'running', 'closed')
                     OR e.organiser_id = $4)"""
_PAVILIONS = """
SELECT p.id, p.name, (SELECT count(*) FROM hall_booth b WHERE b.event_id = $1
                      AND b.pavilion_id = p.id AND b.state = 'approved') AS booths
FROM hall_pavilion p WHERE p.event_id = $2 ORDER BY p.position, p.name"""
_BLOCKS = """
SELECT starts_at, ends_at, mode, tables FROM hall_block WHERE event_id = $1 ORDER BY starts_at"""


def _in_zone(moment: datetime | None, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if moment else ""


def pages_app() -> Starlette:
    """The bare main pages (uvicorn factory); reads BARE_DATABASE_URL, and for the search page
    BARE_MEILI_URL, BARE_MEILI_KEY, BARE_MEILI_INDEX and BARE_SEARCH_BODY (the JSON body our
    search sends Meilisearch for the benchmark's query)."""
    env = jinja2.Environment(loader=jinja2.DictLoader(_TEMPLATES), autoescape=True)
    env.filters["in_zone"] = _in_zone
    all_zones = sorted(available_timezones())
    state: dict[str, Any] = {}
    search_url = (
        f"{os.environ.get('BARE_MEILI_URL', '')}/indexes/"
        f"{os.environ.get('BARE_MEILI_INDEX', 'listings')}/search"
    )
    search_body = json.loads(os.environ.get("BARE_SEARCH_BODY") or "{}")

    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(
            os.environ["BARE_DATABASE_URL"], min_size=1, max_size=10, init=init
        )
        state["http"] = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {os.environ.get('BARE_MEILI_KEY', '')}"},
            trust_env=False,
        )
        yield
        await state["http"].aclose()
        await state["pool"].close()

    def page(name: str, status: int = 200, **context: Any) -> Response:
        return HTMLResponse(env.get_template(name).render(context), status_code=status)

    async def user_of(request: Request, conn: asyncpg.Connection) -> asyncpg.Record | None:
        token = request.cookies.get("tm_session", "")
        return await conn.fetchrow(_SESSION_USER, hashlib.sha256(token.encode()).hexdigest())

    async def listing(request: Request) -> Response:
        listing_id = request.path_params["listing_id"]
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            row = await conn.fetchrow(_LISTING, listing_id)
            if row is None:
                return PlainTextResponse("not found", 404)
            # The visit, counted as our page counts it.
            await conn.execute("INSERT INTO listing_view (listing_id) VALUES ($1)", listing_id)
            media = await conn.fetch(_MEDIA, listing_id)
            grants = await conn.fetch(_GRANTS, listing_id)
        return page("listing.html", l=row, user=user, media=media, grants=grants)

    async def listings(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            rows = await conn.fetch(_LISTINGS, 0)
            total = await conn.fetchval("SELECT count(*) FROM listing WHERE state = 'published'")
        return page("listings.html", listings=rows, total=total, user=user)

    async def search(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
        answer = await state["http"].post(search_url, json=search_body)
        answer.raise_for_status()
        return page(
            "search.html", result=answer.json(), q=request.query_params.get("q", ""), user=user
        )

    async def offers(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            if user is None:
                return PlainTextResponse("log in", 401)
            rows = await conn.fetch(_OFFERS, user["org_id"])
            counts = await conn.fetch(
                "SELECT state, count(*) FROM offer WHERE buyer_id = $1 OR seller_id = $1"
                " GROUP BY state ORDER BY state",
                user["org_id"],
            )
        return page("offers.html", offers=rows, counts=counts, user=user)

    async def contract(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            if user is None:
                return PlainTextResponse("log in", 401)
            row = await conn.fetchrow(_CONTRACT, request.path_params["contract_id"], user["org_id"])
            if row is None:
                return PlainTextResponse("not found", 404)
            signatures = await conn.fetch(
                "SELECT side, full_name, signed_at FROM contract_signature WHERE contract_id = $1"
                " ORDER BY signed_at",
                row["id"],
            )
            documents = await conn.fetch(
                "SELECT number, kind, sha256, created_at FROM contract_document"
                " WHERE contract_id = $1 ORDER BY number",
                row["id"],
            )
            payments = await conn.fetch(
                "SELECT item, state, amount, currency, method FROM payment WHERE contract_id = $1"
                " ORDER BY created_at",
                row["id"],
            )
        return page(
            "contract.html",
            c=row,
            signatures=signatures,
            documents=documents,
            payments=payments,
            user=user,
        )

    async def need(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            org = user["org_id"] if user else None
            row = await conn.fetchrow(_NEED, org, org, request.path_params["need_id"], org)
            if row is None:
                return PlainTextResponse("not found", 404)
            is_seeker = org is not None and row["seeker_id"] == org
            if is_seeker:
                questions = await conn.fetch(_QUESTIONS.format(seen=""), row["id"])
            else:
                seen = "AND (answered_at IS NOT NULL OR asked_by_id = $2)"
                questions = await conn.fetch(
                    _QUESTIONS.format(seen=seen), row["id"], user["id"] if user else None
                )
            matches = await conn.fetch(_MATCHES, row["id"]) if is_seeker else []
        return page(
            "need.html",
            n=row,
            user=user,
            is_seeker=is_seeker,
            own={"id": row["own_id"]} if row["own_id"] else None,
            proposal_count=row["proposal_count"],
            questions=questions,
            matches=matches,
        )

    async def event(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            org, uid = (user["org_id"], user["id"]) if user else (None, None)
            row = await conn.fetchrow(_EVENT, org, uid, request.path_params["event_id"], org)
            if row is None:
                return PlainTextResponse("not found", 404)
            pavilions = await conn.fetch(_PAVILIONS, row["id"], row["id"])
            blocks = await conn.fetch(_BLOCKS, row["id"])
        return page(
            "event.html", e=row, user=user, pavilions=pavilions, blocks=blocks, zones=all_zones
        )

    async def dashboard(request: Request) -> Response:
        async with state["pool"].acquire() as conn:
            user = await user_of(request, conn)
            if user is None:
                return PlainTextResponse("log in", 401)
            cards = [
                {"link": link.format(row["id"]), "title": row["title"]}
                for link, sql in _CARDS
                for row in await conn.fetch(sql, user["org_id"])
            ]
            notifications = await conn.fetch(
                "SELECT subject, link, created_at FROM notification WHERE user_id = $1"
                " ORDER BY created_at DESC LIMIT 10",
                user["id"],
            )
        return page(
            "dashboard.html",
            user=user,
            cards=cards,
            notifications=notifications,
            unread=user["unread"],
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/listings/{listing_id:uuid}", listing),
            Route("/listings", listings),
            Route("/search", search),
            Route("/offers", offers),
            Route("/contracts/{contract_id:uuid}", contract),
            Route("/needs/{need_id:uuid}", need),
            Route("/events/{event_id:uuid}", event),
            Route("/dashboard", dashboard),
        ],
        lifespan=lifespan,
    )
