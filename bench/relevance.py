"""Search quality: known-item recall@3 and MRR@10 of our search API against plain Meilisearch.

    .venv/bin/python bench/relevance.py [--queries 400] [--seed 7]
                                        [--pg postgres://postgres@127.0.0.1:5432/postgres]

Creates a temporary PostgreSQL database (dropped afterwards), a private Meilisearch and Redis,
applies the migrations and registers the demo's institutes (market/app/seed.py DEMO_ORGS), each
importing the sources the demo gives it (DEMO_PORTFOLIOS), published through the importer as
the demo seed does. The corpus is every record of ../shared/data/*.jsonl (about 15,000;
listings/data/sample_records.jsonl when that is missing). The Chinese abstracts of
`zh_patent_abstracts_keywords.jsonl` have no title: theirs is the abstract's first clause
("一种…"), the importer refusing untitled rows. Then `listings.search.reindex` builds our index,
and a second index, `plain`, gets the very same documents (listings.search.document), in the
same order, with Meilisearch's default settings.

Known-item queries, drawn with a fixed seed:

- English: two to four words of a record's title (short words and stop words left out), more
  when needed until at most 3 different texts have them all in their title (a known item is
  one the person can name; "separation membrane" names hundreds), each word of six letters or
  more misspelt with probability 1/2 (at least one misspelt), by a swap of two neighbouring
  letters, a dropped, doubled or replaced letter;
- Chinese: a technical term of a Chinese record: its longest keyphrase occurring in its title
  or abstract that at most 3 Chinese records contain (in title, abstract, claims or
  keyphrases: what the search sees); when it has none, its keyphrases, longest first, as many
  as it takes (up to four) for at most 3 records to contain them all.

A query is answered when the record's listing or a member of its patent family (the same
institute's listing with the same title and summary, which the search shows as one result) is
among the first 3 (recall@3); MRR@10 is the mean of 1/rank of the first such listing among the
first 10 (0 when none). Our figures come from
GET /api/v1/search of `market serve`, plain Meilisearch's from its /search with only `q`.

Exit status 0 when both figures were measured (whatever they are), 2 when a service did not
start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.http_pages import _start_http, start_market_services  # noqa: E402
from bench.search import DATA, SAMPLE  # noqa: E402
from bench.support import PG_ADMIN_URL, run_on_a_database  # noqa: E402
from market.app.processes import ServiceError  # noqa: E402

INDEX = "listings"
PLAIN = "plain"
GOAL_SHARE = 0.5  # of the way from plain Meilisearch's recall@3 to 1.0

STOP = set(
    """a an the and or of for to in on at by with from into onto via using use used method
    methods system systems apparatus device devices thereof therefor same such based having
    its their this that these those which as is are be being non""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*[A-Za-z]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_FIRST_CLAUSE = re.compile(r"(一种[^，,。；;：:]{2,40})")


# --------------------------------------------------------------------------------------------
# Corpus


def _files() -> list[Path]:
    files = sorted(DATA.glob("*.jsonl")) if DATA.is_dir() else []
    return files or [SAMPLE]


def zh_title(abstract: str) -> str:
    """The first "一种…" clause of a Chinese abstract, else its first clause."""
    match = _FIRST_CLAUSE.search(abstract)
    if match:
        return match.group(1)
    return re.split(r"[，,。；;]", abstract, maxsplit=1)[0][:40]


def load_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in _files():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if not isinstance(record, dict) or not record.get("id"):
                        continue
                    if record["id"] in seen:
                        continue
                    if not str(record.get("title") or "").strip():
                        abstract = str(record.get("abstract") or "")
                        if (record.get("language") or "en") != "zh" or not abstract:
                            continue
                        record["title"] = zh_title(abstract)
                    seen.add(record["id"])
                    records.append(record)
    return records


def _key(title: str, summary: str) -> tuple[str, str]:
    return (" ".join(title.lower().split()), " ".join(summary.lower().split()))


def _family(institute_id: Any, title: str, summary: str) -> str:
    """Which listings count as the record itself: its patent family as the search groups it
    (listings.search.family_key: one institute's listings with the same title and summary)."""
    text = " ".join(f"{title}\n{summary}".lower().split())
    return f"{institute_id}\n{text}"


# --------------------------------------------------------------------------------------------
# Queries


@dataclass
class KnownItem:
    language: str
    q: str
    record_id: str


def _misspell(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    how = rng.choice(("swap", "drop", "double", "replace"))
    if how == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "drop":
        return word[:i] + word[i + 1 :]
    if how == "double":
        return word[:i] + word[i] + word[i:]
    letters = "abcdefghijklmnopqrstuvwxyz".replace(word[i].lower(), "")
    return word[:i] + rng.choice(letters) + word[i + 1 :]


def _title_words(title: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(title) if len(w) >= 4 and w.lower() not in STOP]
    return list(dict.fromkeys(words))


def english_query(
    record: dict[str, Any], rng: random.Random, holders: dict[str, set[tuple[str, str]]]
) -> str | None:
    """Title words, enough of them to pick out at most 3 different texts (a person looking
    for a known item types what identifies it), at least one misspelt."""
    words = _title_words(record["title"])
    if len(words) < 2 or not any(len(w) >= 6 for w in words):
        return None
    order = list(range(len(words)))
    rng.shuffle(order)
    count = min(len(words), rng.choice((2, 3, 3, 4)))
    while True:
        picked = sorted(order[:count])
        texts = set.intersection(*(holders[words[i]] for i in picked))
        if len(texts) <= 3:
            break
        if count == len(words):
            return None
        count += 1
    chosen = [words[i] for i in picked]
    long = [i for i, w in enumerate(chosen) if len(w) >= 6]
    if not long:
        return None
    must = rng.choice(long)
    for i in long:
        if i == must or rng.random() < 0.5:
            chosen[i] = _misspell(chosen[i], rng)
    return " ".join(chosen)


def chinese_query(record: dict[str, Any], rng: random.Random, texts: list[str]) -> str | None:
    """Its longest Chinese keyphrase found in its text that at most 3 Chinese texts contain;
    else its keyphrases, longest first, as many as it takes (up to four)."""
    text = f"{record.get('title') or ''} {record.get('abstract') or ''}"
    terms = [
        k.strip()
        for k in record.get("keywords") or []
        if isinstance(k, str) and _HAN.search(k) and len(k.strip()) >= 2 and k.strip() in text
    ]
    terms = sorted(dict.fromkeys(terms), key=len, reverse=True)
    for term in terms:
        if sum(term in other for other in texts) <= 3:
            return term
    for count in range(2, min(len(terms), 4) + 1):
        chosen = terms[:count]
        if sum(all(t in other for t in chosen) for other in texts) <= 3:
            return " ".join(chosen)
    return None


def known_items(records: list[dict[str, Any]], per_language: int, seed: int) -> list[KnownItem]:
    rng = random.Random(seed)
    # Title word -> the texts (title, abstract) whose title has it.
    holders: dict[str, set[tuple[str, str]]] = {}
    for record in records:
        text = _key(record["title"], str(record.get("abstract") or ""))
        for word in _title_words(record["title"]):
            holders.setdefault(word, set()).add(text)
    # Everything of a Chinese record the search sees: a term in another record's claims or
    # keyphrases (which need not occur in its text) makes that record a candidate too.
    zh_texts = list(
        {
            " ".join(
                [
                    str(r.get("title") or ""),
                    str(r.get("abstract") or ""),
                    str(r.get("claims") or ""),
                    *[k for k in r.get("keywords") or [] if isinstance(k, str)],
                ]
            )
            for r in records
            if r.get("language") == "zh"
        }
    )
    items: list[KnownItem] = []
    for language in ("en", "zh"):
        pool = [r for r in records if (r.get("language") or "en") == language]
        rng.shuffle(pool)
        made = 0
        for record in pool:
            if made >= per_language:
                break
            if language == "en":
                q = english_query(record, rng, holders)
            else:
                q = chinese_query(record, rng, zh_texts)
            if q:
                items.append(KnownItem(language, q, record["id"]))
                made += 1
    return items


# --------------------------------------------------------------------------------------------
# Set-up


async def setup(records: list[dict[str, Any]], meili_url: str, meili_key: str) -> dict[str, Any]:
    """Institutes, every record as a published listing, our index and the plain one; returns
    {record id: listing id} and {listing id: (title, summary) key}."""
    from tortoise import connections

    from listings import importer, search
    from listings.models import Listing, ListingState
    from market.accounts import service
    from market.accounts.schemas import RegisterIn
    from market.app.seed import DEMO_ORGS, DEMO_PORTFOLIOS
    from market.config import get_settings
    from market.db import close_db, init_db

    settings = get_settings()
    await init_db(settings)
    try:
        admin = await service.create_admin(
            "bench-admin@example.org", "correct horse battery staple 42", "Bench Admin"
        )
        admin_actor = await service.actor_for(admin, ip="bench")
        actors = {}
        for email, name, org, _verified in DEMO_ORGS:
            user, organization = await service.register(
                RegisterIn(
                    email=email,
                    password="correct horse battery staple 42",
                    name=name,
                    organization=org,
                ),
                confirmed=True,
            )
            await service.verify_organization(admin_actor, str(organization.id))
            actors[email] = await service.actor_for(user, ip="bench")
        owner_of: dict[str, str] = {}
        for email, sources, _options in DEMO_PORTFOLIOS:
            for source in sources:
                owner_of[source] = email
        started = time.perf_counter()
        for email, _sources, options in DEMO_PORTFOLIOS:
            mine = [r for r in records if owner_of.get(r.get("source", "")) == email]
            rows = [
                importer.RawRow(row=i + 1, fields=r, shape="record") for i, r in enumerate(mine)
            ]
            tally = await importer.import_rows(actors[email], rows, options, publisher=admin_actor)
            print(
                f"  {email}: {tally.created} published of {len(rows)} records",
                file=sys.stderr,
                flush=True,
            )
        # Records without a patent number (most Chinese ones) are drafts the importer could not
        # submit; publish them as they are, as bench/search.py publishes with one UPDATE.
        conn = connections.get("default")
        await conn.execute_query(
            "UPDATE listing SET state = 'published', published_at = now(),"
            " trl = coalesce(trl, 4) WHERE state <> 'published'"
        )
        print(f"import took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

        started = time.perf_counter()
        result = await search.reindex(settings=settings)
        print(
            f"our index: {result['indexed']} listings in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

        # The plain index: the same documents, in the order reindex sent them (by id).
        started = time.perf_counter()
        async with search.Meili(settings, timeout=60) as meili:
            await meili.create_index(PLAIN)
            tasks = []
            last = None
            docs_all: list[dict[str, Any]] = []
            while True:
                page = (
                    Listing.filter(state=ListingState.PUBLISHED)
                    .order_by("id")
                    .limit(search.REINDEX_BATCH)
                    .prefetch_related("institute")
                )
                if last is not None:
                    page = page.filter(id__gt=last)
                items = await page
                if not items:
                    break
                last = items[-1].id
                docs = [search.document(item) for item in items]
                docs_all += docs
                tasks.append((await meili.add_documents(PLAIN, docs))["taskUid"])
            for task in tasks:
                await meili.wait(task, limit_s=1200)
        print(
            f"plain index built in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        rows = await Listing.filter(state=ListingState.PUBLISHED).values_list(
            "id", "source_ref", "title", "summary", "institute_id"
        )
    finally:
        await close_db()
    return {
        "docs": docs_all,
        "listing_of": {ref: str(lid) for lid, ref, _t, _s, _i in rows if ref},
        "text_of": {str(lid): _family(i, t, s) for lid, _r, t, s, i in rows},
    }


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Score:
    queries: int = 0
    found3: int = 0
    rr: float = 0.0
    latencies: list[float] | None = None

    def add(self, rank: int | None, seconds: float) -> None:
        self.queries += 1
        if rank is not None and rank <= 3:
            self.found3 += 1
        if rank is not None and rank <= 10:
            self.rr += 1 / rank
        if self.latencies is None:
            self.latencies = []
        self.latencies.append(seconds)

    @property
    def recall3(self) -> float:
        return self.found3 / self.queries if self.queries else float("nan")

    @property
    def mrr10(self) -> float:
        return self.rr / self.queries if self.queries else float("nan")

    def p50_ms(self) -> float:
        return statistics.median(self.latencies or [float("nan")]) * 1000


async def measure(
    items: list[KnownItem], world: dict[str, Any], api_url: str, meili_url: str, key: str
) -> tuple[dict[tuple[str, str], Score], list[str]]:
    text_of = world["text_of"]
    listing_of = world["listing_of"]
    scores = {(who, lang): Score() for who in ("plain", "ours") for lang in ("en", "zh")}
    misses: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for item in items:
            target = listing_of.get(item.record_id)
            if target is None:
                continue
            wanted = text_of[target]

            def rank_of(ids: list[str], wanted: str = wanted) -> int | None:
                for position, listing_id in enumerate(ids[:10], start=1):
                    if text_of.get(listing_id) == wanted:
                        return position
                return None

            t0 = time.perf_counter()
            response = await client.post(
                f"{meili_url}/indexes/{PLAIN}/search",
                json={"q": item.q, "limit": 10, "attributesToRetrieve": ["id"]},
                headers=headers,
            )
            response.raise_for_status()
            plain_rank = rank_of([h["id"] for h in response.json()["hits"]])
            scores[("plain", item.language)].add(plain_rank, time.perf_counter() - t0)

            t0 = time.perf_counter()
            response = await client.get(
                f"{api_url}/api/v1/search", params={"q": item.q, "per_page": 10}
            )
            response.raise_for_status()
            body = response.json()
            if body.get("degraded"):
                raise RuntimeError(f"degraded answer for {item.q!r}: {body.get('message')}")
            our_rank = rank_of([h["id"] for h in body["hits"]])
            scores[("ours", item.language)].add(our_rank, time.perf_counter() - t0)
            if our_rank is None or our_rank > 3:
                misses.append(
                    f"  {item.language} {item.q!r}: ours {our_rank or '-'}, plain"
                    f" {plain_rank or '-'} ({item.record_id})"
                )
    return scores, misses


def report(scores: dict[tuple[str, str], Score], listings: int) -> list[str]:
    lines = [
        "",
        f"{listings} published listings; known-item queries (see bench/relevance.py)",
        "",
        f"{'':<36} {'queries':>7} {'recall@3':>9} {'MRR@10':>8} {'p50 ms':>7}",
    ]
    for lang, name in (("en", "English (typos)"), ("zh", "Chinese (terms)")):
        for who, label in (("plain", "plain Meilisearch"), ("ours", "our API")):
            s = scores[(who, lang)]
            lines.append(
                f"{name + ', ' + label:<36} {s.queries:>7} {s.recall3:>9.3f}"
                f" {s.mrr10:>8.3f} {s.p50_ms():>7.1f}"
            )
    lines.append("")
    for lang in ("en", "zh"):
        plain, ours = scores[("plain", lang)], scores[("ours", lang)]
        goal = plain.recall3 + GOAL_SHARE * (1 - plain.recall3)
        verdict = "met" if ours.recall3 >= goal else "NOT met"
        lines.append(
            f"goal {lang}: recall@3 >= {goal:.3f} (halfway from plain {plain.recall3:.3f} to"
            f" 1.0): {verdict} ({ours.recall3:.3f})"
        )
    return lines


# --------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=400, help="known items per language")
    parser.add_argument("--seed", type=int, default=7, help="seed of the query draw")
    parser.add_argument("--misses", action="store_true", help="list the queries we miss")
    parser.add_argument("--dump", type=Path, help="write the documents and queries here (JSON)")
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    return parser.parse_args(argv)


def benchmark(args: argparse.Namespace, work: Path, database_url: str) -> int:
    records = load_records()
    items = known_items(records, args.queries, args.seed)
    print(f"{len(records)} records, {len(items)} known-item queries", file=sys.stderr, flush=True)
    with contextlib.ExitStack() as stack:
        try:
            services = start_market_services(stack, "relevance", work, database_url, INDEX)
        except ServiceError as exc:
            print(f"relevance: {exc}", file=sys.stderr)
            return 2
        world = asyncio.run(setup(records, services.meili.url, services.meili_key))
        if args.dump:
            args.dump.write_text(
                json.dumps({**world, "items": [i.__dict__ for i in items]}, ensure_ascii=False),
                encoding="utf-8",
            )
        try:
            web = stack.enter_context(
                _start_http(
                    "market",
                    lambda port: [
                        *services.market,
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--workers",
                        "1",
                    ],
                    services.env,
                    work,
                )
            )
        except ServiceError as exc:
            print(f"relevance: the server did not start: {exc}", file=sys.stderr)
            return 2
        scores, misses = asyncio.run(
            measure(items, world, web.url, services.meili.url, services.meili_key)
        )
        print("\n".join(report(scores, len(world["text_of"]))))
        if args.misses:
            print("\nqueries our API misses (rank > 3):")
            print("\n".join(misses))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    return run_on_a_database(
        "relevance",
        args.pg,
        lambda work, database_url: benchmark(args, work, database_url),
    )


if __name__ == "__main__":
    sys.exit(main())
