"""The portfolio import: files of real records, CSV with broken rows, the page, the worker,
the command line and the demo seed, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from listings import importer, service
from listings.importer import ImportOptions, RawRow
from listings.models import ImportState, Listing, ListingImport, ListingState
from listings.schemas import ListingIn
from market import outbox, web
from market.app.seed import seed_demo
from market.audit import AuditEntry
from market.config import ROOT
from market.outbox import OutboxEvent
from tests.builders import a_user, a_verified_institute, actor_of, log_in, run_worker
from tests.market.test_templates import (
    HOSTILE,
    NOW,
    assert_escaped,
    check_page,
    make_actor,
    organization,
)
from tests.market.test_templates import render as render_template

SAMPLE = ROOT / "listings" / "data" / "sample_records.jsonl"
SAMPLE_BYTES = SAMPLE.read_bytes()
RECORDS = [json.loads(line) for line in SAMPLE_BYTES.decode().splitlines() if line.strip()]
UNTITLED = {r["id"] for r in RECORDS if not r["title"].strip()}


def first(source: str, **match) -> dict:
    return next(
        r for r in RECORDS if r["source"] == source and all(r.get(k) == v for k, v in match.items())
    )


async def run_file(actor, data: bytes, options: ImportOptions | None = None, **kwargs):
    """Store the bytes as an upload would and run the import in this process."""
    name = uuid.uuid4().hex
    (importer.imports_dir() / name).write_bytes(data)
    imp = await importer.create_import(
        actor,
        filename="portfolio.jsonl",
        stored_name=name,
        options=options or ImportOptions(),
        via="cli",
    )
    return await importer.run_import(imp.id, **kwargs)


# --- the sample of real records ----------------------------------------------------------


async def test_the_sample_imports_with_a_report_for_every_refused_row(settings) -> None:
    user, org = await a_verified_institute()
    imp = await run_file(await actor_of(user), SAMPLE_BYTES)

    assert imp.state == ImportState.DONE and imp.finished_at is not None and not imp.error
    assert imp.total == imp.processed == len(RECORDS) >= 300
    assert imp.created + imp.skipped + imp.refused == imp.total
    assert imp.skipped == 0 and imp.refused == len(UNTITLED) > 0
    refused = [e for e in imp.report if e["outcome"] == "refused"]
    assert {e["ref"] for e in refused} == UNTITLED
    assert all("no title" in e["errors"]["title"] for e in refused)
    assert await Listing.filter(institute_id=org.id).count() == imp.created
    assert (
        await Listing.filter(institute_id=org.id, state=ListingState.DRAFT).count() == imp.created
    )
    created_entries = AuditEntry.filter(action="listing.created", organization_id=org.id)
    assert await created_entries.count() == imp.created
    # Codes outside the IPC scheme (CPC Y-tags) are dropped, and the row says so.
    dropped = [e for e in imp.report if "ipc_codes" in e.get("warnings", {})]
    assert dropped and all(e["outcome"] == "created" for e in dropped)
    assert not (importer.imports_dir() / imp.stored_name).exists()

    nvidia = first("patentsview_nvidia", kind="B2")
    listing = await Listing.get(source_ref=nvidia["id"])
    assert listing.kind == "patent" and listing.language == "en"
    assert listing.patent_numbers == [f"US {nvidia['patent_number']} B2"]
    assert listing.inventors == nvidia["inventors"] and listing.title == nvidia["title"]
    application = first("google_patents_public_data_membranes", kind="A1")
    assert (await Listing.get(source_ref=application["id"])).kind == "patent_application"
    nasa = first("nasa_t2_patent_portfolio")
    listing = await Listing.get(source_ref=nasa["id"])
    assert listing.kind == "patent" and listing.patent_numbers == []
    assert f"Case number: {nasa['patent_number']}" in listing.description
    software = await Listing.get(source_ref=first("nasa_t2_software_catalog")["id"])
    assert software.kind == "software"
    long = next(r for r in RECORDS if len(r["abstract"]) > 3000 and r["title"])
    listing = await Listing.get(source_ref=long["id"])
    assert len(listing.summary) <= 3000 and long["abstract"].startswith(listing.summary.rstrip("…"))
    assert long["abstract"] in listing.description
    numbered = next(r for r in RECORDS if r.get("publication_number"))
    listing = await Listing.get(source_ref=numbered["id"])
    assert listing.language == "zh" and listing.patent_numbers[0].startswith("CN ")
    long_title = next(r for r in RECORDS if len(r["title"]) > 200)
    listing = await Listing.get(source_ref=long_title["id"])
    assert len(listing.title) <= 200 and listing.description.startswith(long_title["title"])


async def test_importing_the_same_file_again_skips_every_row(settings) -> None:
    user, org = await a_verified_institute()
    actor = await actor_of(user)
    first_run = await run_file(actor, SAMPLE_BYTES)
    again = await run_file(actor, SAMPLE_BYTES)
    assert again.state == ImportState.DONE
    assert (again.created, again.skipped, again.refused) == (0, first_run.created, len(UNTITLED))
    assert await Listing.filter(institute_id=org.id).count() == first_run.created
    # Another institute importing the same records gets its own listings.
    other, _ = await a_verified_institute()
    assert (await run_file(await actor_of(other), SAMPLE_BYTES)).created == first_run.created


async def test_submit_with_defaults_submits_complete_rows_and_leaves_the_rest_drafts(
    settings,
) -> None:
    user, org = await a_verified_institute()
    options = ImportOptions(
        submit=True, trl=4, license_types=["non_exclusive"], price_model="negotiable"
    )
    imp = await run_file(await actor_of(user), SAMPLE_BYTES, options)
    submitted = await Listing.filter(institute_id=org.id, state=ListingState.SUBMITTED)
    drafts = await Listing.filter(institute_id=org.id, state=ListingState.DRAFT)
    assert len(submitted) + len(drafts) == imp.created and len(submitted) > 200
    assert all(
        s.trl == 4 and s.license_types == ["non_exclusive"] and s.price_model == "negotiable"
        for s in submitted
    )
    assert all(s.version == 2 for s in submitted)
    # NASA's portfolio carries case numbers, not patent numbers: those stay drafts, and say why.
    nasa = await Listing.get(source_ref=first("nasa_t2_patent_portfolio")["id"])
    assert nasa.state == ListingState.DRAFT
    left = [e for e in imp.report if e["outcome"] == "draft"]
    assert len(left) == len(drafts)
    assert all("Left as a draft" in e["warnings"]["patent_numbers"] for e in left)
    assert await AuditEntry.filter(action="listing.submit").count() == len(submitted)


async def test_bulk_rows_are_the_rows_the_service_writes(settings) -> None:
    user, org = await a_verified_institute()
    actor = await actor_of(user)
    fields = {
        "title": "Solid-state battery separator",
        "summary": "A ceramic separator that stops dendrites at high current density.",
        "kind": "patent",
        "patent_numbers": ["CN 112345678 A"],
        "ipc_codes": ["H01M 10/052"],
        "trl": 5,
        "license_types": ["exclusive"],
        "asking_price": {"amount": 5_000_000, "currency": "CNY"},
        "source_ref": "bulk-1",
    }
    await importer.import_rows(actor, [RawRow(1, fields, "api")], ImportOptions(submit=True))
    del fields["source_ref"]
    by_service = await service.create_listing(actor, ListingIn(**fields), source_ref="svc-1")
    await service.submit_listing(actor, str(by_service.id))

    skip = {"id", "source_ref", "created_at", "updated_at"}
    bulk = (await Listing.filter(source_ref="bulk-1").values())[0]
    canonical = (await Listing.filter(source_ref="svc-1").values())[0]
    assert {k: v for k, v in bulk.items() if k not in skip} == {
        k: v for k, v in canonical.items() if k not in skip
    }

    async def trail(listing_id) -> list[tuple]:
        entries = await AuditEntry.filter(object_id=str(listing_id)).order_by("id")
        return [
            (e.action, e.actor_id, e.actor_email, e.organization_id, e.ip)
            + (e.object_type, e.state_before, e.state_after)
            for e in entries
        ]

    bulk_trail = await trail(bulk["id"])
    service_trail = await trail(canonical["id"])
    assert [t[0] for t in bulk_trail] == ["listing.created", "listing.submit"]
    assert bulk_trail == service_trail


# --- CSV and broken files -----------------------------------------------------------------

CSV = (
    "title,summary,kind,trl,license_types,patent_numbers,keywords,source_ref\r\n"
    'Graphene membrane,"A membrane that keeps salt out, at high flux.",patent,5,'
    "exclusive;non_exclusive,CN 112345678 A,membrane;water,csv-1\r\n"
    "Bad readiness,A summary long enough to pass.,software,ten,,,,csv-2\r\n"
    "<script>alert(1)</script> detector,A summary long enough to pass.,software,3,,,,csv-3\r\n"
    "Unknown licence,A summary long enough to pass.,software,3,perpetual,,,csv-4\r\n"
    "Too few,columns\r\n"
    "\r\n"
    "Field robot,A summary without a reference of its own.,know_how,,,,,\r\n"
)
BAD_BYTES_ROW = b"Bad \xff\xfe bytes,A summary long enough to pass.,software,3,,,,csv-5\r\n"


async def test_a_csv_refuses_broken_rows_with_reasons_and_creates_the_good_ones(
    settings,
) -> None:
    user, org = await a_verified_institute()
    imp = await run_file(await actor_of(user), CSV.encode() + BAD_BYTES_ROW)
    assert imp.state == ImportState.DONE
    assert (imp.total, imp.created, imp.skipped, imp.refused) == (7, 3, 0, 4)
    by_row = {e["row"]: e for e in imp.report}
    assert by_row[3]["errors"] == {"trl": "Enter a whole number (a valid integer)."}
    assert "license_types.0" in by_row[5]["errors"]
    assert by_row[6]["errors"] == {"row": "The row has 2 columns; the header has 8."}
    assert "UTF-8" in by_row[9]["errors"]["row"]
    assert {e["outcome"] for e in imp.report} == {"refused"}
    titles = set(await Listing.filter(institute_id=org.id).values_list("title", flat=True))
    # Markup is stored as typed (pages escape it), not refused.
    assert titles == {"Graphene membrane", "<script>alert(1)</script> detector", "Field robot"}
    good = await Listing.get(source_ref="csv-1")
    assert good.license_types == ["exclusive", "non_exclusive"] and good.trl == 5
    assert good.keywords == ["membrane", "water"]
    robot = await Listing.get(title="Field robot")
    assert robot.source_ref.startswith("auto:")
    again = await run_file(await actor_of(user), CSV.encode())
    assert (again.created, again.skipped) == (0, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (random.Random(7).randbytes(20_000), "not a text file"),
        (bytes(range(128, 256)) * 100, "not UTF-8 text"),
        (b"", "empty"),
        (b"Dear colleague,\nplease find our patents below.\n", "header"),
        (b'[{"title": "x"}]', "JSON Lines"),
        (b"title;summary\n\n", "no rows"),
    ],
)
async def test_a_file_that_is_not_importable_is_refused_as_a_whole(
    settings, data: bytes, reason: str
) -> None:
    user, org = await a_verified_institute()
    imp = await run_file(await actor_of(user), data)
    assert imp.state == ImportState.FAILED and reason in imp.error
    assert imp.created == 0 and await Listing.filter(institute_id=org.id).count() == 0


def test_jsonl_lines_that_are_not_objects_are_refused_one_by_one() -> None:
    text = b'{"id": "A1", "title": "T", "abstract": "x"}\n{"id": \nnull\n[1]\n\n{"summary": 5}\n'
    rows = importer.parse_file(text)
    assert [r.row for r in rows] == [1, 2, 3, 4, 6]
    assert rows[1].problem.startswith("Not valid JSON")
    assert rows[2].problem == rows[3].problem == "The line is not a JSON object."
    assert rows[0].shape == "record" and rows[4].shape == "api"
    refused = importer.prepare(rows[4], ImportOptions())
    assert refused.listing is None and "title" in refused.errors and "summary" in refused.errors


def test_mapping_of_records() -> None:
    options = ImportOptions()
    record = {
        "id": "KPPZH-X",
        "title": "一种装置",
        "abstract": "本发明涉及一种装置。" * 400,
        "claims": "1.一种装置。",
        "keywords": "连杆；螺纹, 基础",
        "cpc_codes": ["G06F1/28", "Y02D10/00"],
        "publication_number": "CN116746024B",
        "language": "zh",
    }
    prepared = importer.prepare(RawRow(1, record, "record"), options)
    listing = prepared.listing
    assert listing is not None
    assert listing.kind == "patent" and listing.patent_numbers == ["CN 116746024 B"]
    assert listing.keywords == ["连杆", "螺纹", "基础"] and listing.ipc_codes == ["G06F 1/28"]
    assert len(listing.summary) <= 3000 and listing.summary.endswith("。")
    assert "权利要求" in listing.description and record["abstract"] in listing.description
    assert set(prepared.warnings) == {"summary", "ipc_codes"} and "Y02D10/00" in str(
        prepared.warnings
    )
    assert importer.prepare(RawRow(2, {**record, "title": ["x"]}, "record"), options).errors == {
        "title": "Expected text."
    }
    assert importer.shorten("word " * 100, 50).endswith("…")
    assert len(importer.shorten("word " * 100, 50)) <= 50
    assert importer.shorten("字" * 100, 50) == "字" * 49 + "…"


# --- crashes, retries and failing batches --------------------------------------------------


async def test_a_crashed_import_resumes_without_duplicates(settings, monkeypatch) -> None:
    monkeypatch.setattr(importer, "BATCH_SIZE", 50)
    user, org = await a_verified_institute()

    class Crash(Exception):
        """Raised on purpose to abort the work half-way."""

    def crash_after_two_batches(imp: ListingImport) -> None:
        if imp.processed >= 100:
            raise Crash

    with pytest.raises(Crash):
        await run_file(await actor_of(user), SAMPLE_BYTES, on_progress=crash_after_two_batches)
    imp = await ListingImport.get(institute_id=org.id)
    assert imp.state == ImportState.RUNNING and imp.processed == 100
    assert await Listing.filter(institute_id=org.id).count() == imp.created

    done = await importer.run_import(imp.id)
    assert done.state == ImportState.DONE and done.processed == done.total == len(RECORDS)
    assert (done.created, done.skipped) == (len(RECORDS) - len(UNTITLED), 0)
    assert done.refused == len(UNTITLED)
    refs = await Listing.filter(institute_id=org.id).values_list("source_ref", flat=True)
    assert len(refs) == len(set(refs)) == done.created
    # A finished import is left alone when its job runs again.
    assert (await importer.run_import(imp.id)).finished_at == done.finished_at


async def test_a_failing_batch_is_redone_row_by_row(settings, monkeypatch) -> None:
    user, org = await a_verified_institute()
    lines = [json.dumps(r) for r in RECORDS[:6]]

    async def broken_bulk(*args, **kwargs):
        raise RuntimeError("bulk insert failed")

    real_create = service.create_listing

    async def create(actor, data, *, source_ref=None):
        if source_ref == RECORDS[2]["id"]:
            raise RuntimeError("this row breaks")
        return await real_create(actor, data, source_ref=source_ref)

    monkeypatch.setattr(Listing, "bulk_create", broken_bulk)
    monkeypatch.setattr(service, "create_listing", create)
    imp = await run_file(await actor_of(user), "\n".join(lines).encode())
    assert (imp.total, imp.created, imp.refused) == (6, 5, 1)
    assert [e for e in imp.report if e["outcome"] == "refused"] == [
        {
            "row": 3,
            "ref": RECORDS[2]["id"],
            "outcome": "refused",
            "errors": {"row": "The row could not be saved (RuntimeError)."},
        }
    ]
    assert await Listing.filter(institute_id=org.id).count() == 5


# --- the page and the worker ---------------------------------------------------------------


async def test_a_member_uploads_and_a_real_worker_runs_the_import(
    client, settings, redis_client
) -> None:
    user, org = await a_verified_institute()
    token = await log_in(client, user.email)
    page = await client.get("/listings/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text

    response = await client.post(
        "/listings/import",
        data={
            "csrf_token": token,
            "trl": "5",
            "license_types": ["non_exclusive", "option"],
            "price_model": "royalty",
            "submit_listings": "1",
        },
        files={"file": ("portfolio.txt", SAMPLE_BYTES, "application/octet-stream")},
    )
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    imp = await ListingImport.get(institute_id=org.id)
    assert url == f"/listings/import/{imp.id}" and imp.state == ImportState.QUEUED
    assert imp.options["submit"] is True and imp.options["license_types"] == [
        "non_exclusive",
        "option",
    ]
    assert (settings.var_dir / "imports" / imp.stored_name).exists()
    event = await OutboxEvent.get(event_type=importer.EVENT)
    assert event.payload == {"import_id": str(imp.id)} and event.enqueued_at is not None

    waiting = await client.get(url)
    assert waiting.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in waiting.text
    assert "<progress" in waiting.text and "portfolio.txt" in waiting.text

    assert await run_worker(settings) >= 2  # the event, then the import job it enqueued
    imp = await ListingImport.get(id=imp.id)
    assert imp.state == ImportState.DONE and imp.processed == imp.total == len(RECORDS)
    assert imp.created + imp.skipped + imp.refused == imp.total
    assert (await OutboxEvent.get(id=event.id)).processed_at is not None
    assert await Listing.filter(institute_id=org.id, state=ListingState.SUBMITTED).count() > 200

    done = await client.get(url)
    assert done.status_code == 200 and 'http-equiv="refresh"' not in done.text
    assert "Finished" in done.text and f"<dd>{imp.created}</dd>" in done.text
    pages = [done.text]
    for n in range(2, len(imp.report) // 100 + 2):
        pages.append((await client.get(f"{url}?page={n}")).text)
    assert all(ref in "".join(pages) for ref in UNTITLED)
    listing = await client.get("/listings/import")
    assert f'href="/listings/import/{imp.id}"' in listing.text

    # The event handled again (arq may) enqueues nothing new: the import is done.
    await OutboxEvent.filter(id=event.id).update(processed_at=None)
    assert await outbox.process(str(event.id)) == "processed"
    assert await run_worker(settings) == 0


async def test_an_import_whose_job_was_lost_is_enqueued_again_once(settings, redis_client) -> None:
    user, org = await a_verified_institute()
    actor = await actor_of(user)
    name = uuid.uuid4().hex
    (importer.imports_dir() / name).write_bytes(CSV.encode())
    imp = await importer.create_import(
        actor, filename="a.csv", stored_name=name, options=ImportOptions(), via="web"
    )
    # Redis restarted after the event was handled: the job is gone, the import still queued.
    await OutboxEvent.filter(event_type=importer.EVENT).update(processed_at=NOW)
    redis_client.delete(settings.queue_name)
    assert await importer.requeue_stalled() == 0  # too recent to call stalled
    later = datetime.now(UTC) + importer.STALLED_AFTER + timedelta(minutes=1)
    assert await importer.requeue_stalled(later) == 1
    assert await importer.requeue_stalled(later) == 0  # the job is queued: arq refuses a second
    assert await run_worker(settings) == 1
    assert (await ListingImport.get(id=imp.id)).state == ImportState.DONE
    assert await Listing.filter(institute_id=org.id).count() == 3


async def test_the_status_page_is_for_the_institute_and_administrators(client, settings) -> None:
    user, org = await a_verified_institute()
    imp = await run_file(await actor_of(user), CSV.encode())
    url = f"/listings/import/{imp.id}"

    anonymous = await client.get(url)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    stranger, _ = await a_verified_institute()
    await log_in(client, stranger.email)
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"/listings/import/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/listings/import/not-an-id")).status_code == 404
    client.cookies.clear()
    await log_in(client, "admin@example.org")
    seen = await client.get(url)
    assert seen.status_code == 200 and "The row has 2 columns" in seen.text
    client.cookies.clear()
    await log_in(client, user.email)
    assert (await client.get(url)).status_code == 200


async def test_who_may_not_import_is_told_why(client, settings) -> None:
    # An institute waiting for verification imports drafts (tests/market/accounts/
    # test_onboarding.py), but may not submit them for review yet.
    pending, _ = await a_user()
    token = await log_in(client, pending.email)
    page = await client.get("/listings/import")
    assert page.status_code == 200 and "not verified yet" in page.text
    assert 'name="submit_listings"' not in page.text
    posted = await client.post(
        "/listings/import",
        data={"csrf_token": token, "submit_listings": "1"},
        files={"file": ("a.jsonl", SAMPLE_BYTES[:2000], "application/json")},
    )
    assert posted.status_code == 422 and "not verified yet" in posted.text
    buyer, _ = await a_verified_institute(organization={"kind": "enterprise"})
    client.cookies.clear()
    await log_in(client, buyer.email)
    page = await client.get("/listings/import")
    assert page.status_code == 403 and "research institute" in page.text
    assert await ListingImport.all().count() == 0


async def test_uploads_that_cannot_be_imported_are_refused_at_once(
    client, settings, monkeypatch
) -> None:
    user, _ = await a_verified_institute()
    token = await log_in(client, user.email)
    stored = settings.var_dir / "imports"
    before = set(stored.iterdir()) if stored.exists() else set()

    garbage = await client.post(
        "/listings/import",
        data={"csrf_token": token},
        files={"file": ("data.csv", random.Random(1).randbytes(5000), "text/csv")},
    )
    assert garbage.status_code == 422 and "CSV or JSON Lines" in garbage.text
    no_file = await client.post("/listings/import", data={"csrf_token": token}, files={})
    assert no_file.status_code == 422
    bad_option = await client.post(
        "/listings/import",
        data={"csrf_token": token, "license_types": "perpetual", "trl": "12"},
        files={"file": ("a.jsonl", SAMPLE_BYTES[:3000], "application/json")},
    )
    assert bad_option.status_code == 422
    assert 'id="license_types-error"' in bad_option.text and 'id="trl-error"' in bad_option.text
    assert 'value="perpetual"' not in bad_option.text  # only offered choices are shown
    forged = await client.post(
        "/listings/import",
        data={"csrf_token": "forged"},
        files={"file": ("a.jsonl", SAMPLE_BYTES[:3000], "application/json")},
    )
    assert forged.status_code == 403

    monkeypatch.setattr(importer, "MAX_UPLOAD_BYTES", 10_000)
    too_big = await client.post(
        "/listings/import",
        data={"csrf_token": token},
        files={"file": ("big.jsonl", SAMPLE_BYTES, "application/json")},
    )
    assert too_big.status_code == 413 and "larger than" in too_big.text
    just_over = await client.post(
        "/listings/import",
        data={"csrf_token": token},
        files={"file": ("big.jsonl", SAMPLE_BYTES[:12_000], "application/json")},
    )
    assert just_over.status_code == 413
    assert await ListingImport.all().count() == 0
    assert (set(stored.iterdir()) if stored.exists() else set()) == before


# --- command line ---------------------------------------------------------------------------


def run_market(*args: str) -> subprocess.CompletedProcess:
    # The session fixture put DATABASE_URL, MARKET_VAR_DIR ... of the test run in os.environ.
    return subprocess.run(
        [sys.executable, "-m", "market", *args],
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_imports_and_sums_up(settings, tmp_path: Path) -> None:
    user, org = await a_verified_institute()
    chosen = [RECORDS[0], RECORDS[1], next(r for r in RECORDS if r["id"] in UNTITLED)]
    path = tmp_path / "three.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in chosen) + "\n")

    done = await asyncio.to_thread(
        run_market, "import", "listings", str(path), "--institute", str(org.id), "--trl", "5"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "3 rows: 2 created, 0 skipped, 1 refused"
    assert lines[1].startswith(f"  row 3 ({chosen[2]['id']}): title: The record has no title")
    assert await Listing.filter(institute_id=org.id, trl=5).count() == 2

    again = await asyncio.to_thread(
        run_market, "import", "listings", str(path), "--institute", str(org.id), "--submit"
    )
    assert again.returncode == 0
    assert again.stdout.splitlines()[:2] == [
        "3 rows: 0 created, 2 skipped, 1 refused",
        "0 submitted for review, 0 left as drafts",
    ]

    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(random.Random(3).randbytes(3000))
    for args, reason in [
        ((str(garbage), "--institute", str(org.id)), "CSV or JSON Lines"),
        ((str(path), "--institute", str(uuid.uuid4())), "No organisation has the id"),
        ((str(tmp_path / "missing.csv"), "--institute", str(org.id)), "Cannot read"),
        ((str(path), "--institute", str(org.id), "--license-type", "perpetual"), "license_types"),
    ]:
        refused = await asyncio.to_thread(run_market, "import", "listings", *args)
        assert refused.returncode == 1, refused
        assert len(refused.stderr.strip().splitlines()) == 1
        assert refused.stderr.startswith("market: ") and reason in refused.stderr
    _, pending = await a_user()
    unverified = await asyncio.to_thread(
        run_market, "import", "listings", str(path), "--institute", str(pending.id)
    )
    assert unverified.returncode == 1 and "not verified" in unverified.stderr


# --- demo seed -----------------------------------------------------------------------------


async def test_the_demo_seed_publishes_the_sample_across_institutes_once(
    settings, redis_client
) -> None:
    assert await seed_demo("demo-password-2026", match=False) is True
    published = await Listing.filter(state=ListingState.PUBLISHED).values_list(
        "institute_id", flat=True
    )
    assert len(published) >= 200 and len(set(published)) == 3
    assert await OutboxEvent.filter(event_type="listing.published").count() == len(published)
    assert await AuditEntry.filter(action="listing.approve").count() == len(published)
    total = await Listing.all().count()
    assert await seed_demo("demo-password-2026", match=False) is False
    assert await Listing.all().count() == total


# --- templates ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env():
    return web._env


def _import(**overrides) -> NS:
    fields = {
        "id": "5f0c",
        "filename": "portfolio " + HOSTILE,
        "state": "done",
        "total": 10,
        "processed": 10,
        "created": 7,
        "skipped": 1,
        "refused": 2,
        "options": {"submit": True, "trl": 4, "license_types": ["exclusive"]},
        "error": "",
        "created_at": NOW,
        "finished_at": NOW,
    }
    return NS(**{**fields, **overrides})


def test_the_status_page_escapes_and_refreshes_only_while_running(env) -> None:
    report = [
        {"row": 3, "ref": HOSTILE, "outcome": "refused", "errors": {"title": "No " + HOSTILE}},
        {
            "row": 4,
            "ref": "US1",
            "outcome": "created",
            "warnings": {"ipc_codes": "Dropped", "keywords.2": "Long"},
        },
    ]
    context = {
        "actor": make_actor("member"),
        "lines": importer.report_lines(report),
        "report_total": 2,
        "report_limit": 10_000,
        "warned": 1,
        "page": 1,
        "per_page": 100,
    }
    html = render_template(
        env, "listings/import_status.html", imp=_import(), running=False, **context
    )
    check_page(html)
    assert_escaped(html)
    assert 'http-equiv="refresh"' not in html and 'rowspan="2"' in html
    running = render_template(
        env,
        "listings/import_status.html",
        imp=_import(state="running", processed=4, finished_at=None),
        running=True,
        **{**context, "lines": []},
    )
    check_page(running)
    assert '<meta http-equiv="refresh" content="2">' in running
    assert 'max="10" value="4"' in running
    failed = render_template(
        env,
        "listings/import_status.html",
        imp=_import(state="failed", error="Not UTF-8 " + HOSTILE),
        running=False,
        **{**context, "lines": []},
    )
    check_page(failed)
    assert "Not UTF-8 &lt;script&gt;" in failed


def test_the_upload_form_keeps_what_was_chosen(env) -> None:
    html = render_template(
        env,
        "listings/import.html",
        actor=make_actor("member", organization(verification="verified")),
        imports=[_import(), _import(id="77", state="queued")],
        license_types=("exclusive", "sole", "non_exclusive", "assignment", "option"),
        price_models=("fixed", "negotiable", "royalty", "offers"),
        trl_levels=list(range(1, 10)),
        max_mib=50,
        values={
            "submit": True,
            "trl": "5",
            "license_types": ["sole"],
            "price_model": "royalty",
            "territories": HOSTILE,
        },
        errors={"file": "Too big " + HOSTILE},
    )
    page = check_page(html)
    assert_escaped(html)
    post = [
        f for f in page.forms if f["method"] == "post" and f.get("action") == "/listings/import"
    ]
    assert post and post[0]["enctype"] == "multipart/form-data"
    assert 'id="license_types-sole" name="license_types" value="sole" checked' in html
    assert '<option value="5" selected>' in html and '<option value="royalty" selected>' in html
    assert 'name="submit_listings" value="1" checked' in html
    assert "/listings/import/77" in page.links
