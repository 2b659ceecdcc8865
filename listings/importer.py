"""Portfolio import: many listings from one CSV or JSONL file, validated row by row.

Three ways in, one runner:

- the upload page stores the file under `var/imports/<random name>`, and in ONE transaction
  writes a `ListingImport` row (queued), its audit entry and the outbox event
  `listing_import.requested`. The event's handler only enqueues the arq job
  `run_listing_import` (job id `listing_import:<id>`, so arq refuses a duplicate), and the job
  calls `run_import`. The import does not run inside the handler because outbox handlers run
  inside the transaction that marks the event processed: progress written there would stay
  invisible until the very end, one bad row would roll back every other one, and on SQLite
  (a single connection) the runner's own transactions would wait for that one forever.
- `market import listings FILE --institute ID` runs `import_file` in-process.
- `market seed --demo` calls `import_rows` inside its own transaction (`publisher=` publishes).

`run_import` is safe to run any number of times: a finished import is left alone; any other
is resumed from `processed`, which is committed in the same transaction as the rows it counts
(and `source_ref`, unique per institute, makes a re-run skip what exists anyway). Rows are
written ~200 to a transaction with bulk inserts that produce exactly the rows
`service.create_listing` / `submit_listing` write (listing + audit entries); a batch that fails
unexpectedly is redone row by row through those services, so one bad row never loses the others.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal
from uuid import UUID, uuid4

from arq.connections import RedisSettings, create_pool
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from tortoise.exceptions import IntegrityError

from listings import ipc, service, states
from listings.models import ImportState, Listing, ListingImport, ListingState
from listings.schemas import (
    LIST_FIELDS,
    LicenseType,
    ListingIn,
    PriceModel,
    Territory,
    submission_problems,
)
from market import audit, outbox
from market.accounts import roles
from market.accounts.models import MemberRole, Membership, Organization, OrganizationKind, User
from market.accounts.roles import Permission
from market.accounts.service import require_admin, require_may_draft
from market.actor import Actor
from market.audit import AuditEntry
from market.clock import utcnow
from market.config import get_settings
from market.db import current_unit_of_work, unit_of_work
from market.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from market.outbox import OutboxEvent
from market.transitions import events_of
from market.validation import field_errors, object_id
from market.validation import parse as parse_schema

log = logging.getLogger(__name__)

EVENT = "listing_import.requested"
# A row submitted (and approved, for the seed) announces where the table took it.
EVENTS = outbox.declare(EVENT, *events_of(states.LIFECYCLE))
JOB_NAME = "run_listing_import"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
BATCH_SIZE = 200
# The report keeps every refused or warned row up to this many; the counts stay exact.
REPORT_LIMIT = 10_000
# The job may run long; arq's default of five minutes would cut a big file short.
RUN_TIMEOUT = 3600
MAX_ATTEMPTS = 8
STALLED_AFTER = timedelta(minutes=15)
SNIFF_BYTES = 64 * 1024

TITLE_MAX = 200
SUMMARY_MAX = 3000
DESCRIPTION_MAX = 50_000
MAX_IPC_CODES = 40
MAX_KEYWORDS = 40
MAX_INVENTORS = 60
KEYWORD_MAX = 60
REF_MAX = 120

CSV_COLUMNS = (
    "title",
    "summary",
    "description",
    "kind",
    "patent_numbers",
    "ipc_codes",
    "trl",
    "keywords",
    "inventors",
    "license_types",
    "territories",
    "fields_of_use",
    "price_model",
    "asking_amount",
    "asking_currency",
    "language",
    "contact_name",
    "contact_email",
    "source_ref",
)
LIST_COLUMNS = frozenset(LIST_FIELDS)
BAD_TEXT = "The row is not valid UTF-8 text; save the file as UTF-8."
_SURROGATE = re.compile("[\udc80-\udcff]")
_KEYWORD_SPLIT = re.compile(r"\s*[;,，；、|\n]\s*")
_PUBLICATION = re.compile(r"^([A-Z]{2})\s*-?\s*([0-9]{4,}[0-9/.,\-]*)\s*-?\s*([A-Z][0-9]?)?$")


class ImportRefused(ValidationFailed):
    """The whole file (or the request for an import) is refused, with the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message, fields={"file": message})


class TooLarge(ImportRefused):
    status = 413

    def __init__(self) -> None:
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        super().__init__(f"The file is larger than {limit} MiB; split it into smaller files.")


class ImportOptions(BaseModel):
    """What the person importing chose; the defaults fill what a row leaves out."""

    model_config = ConfigDict(extra="forbid")

    submit: bool = False
    trl: StrictInt | None = Field(default=None, ge=1, le=9)
    license_types: list[LicenseType] = Field(default_factory=list, max_length=5)
    price_model: PriceModel | None = None
    territories: list[Territory] = Field(default_factory=list, max_length=250)


# --- permission ---------------------------------------------------------------------------


def require_importer(actor: Actor, *, submit: bool = False) -> None:
    """Members of a research institute import listings as drafts at once, while their
    institute waits for verification too; submitting them for review waits for it."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None or actor.organization.kind != OrganizationKind.INSTITUTE:
        raise Forbidden("Only members of a research institute can import listings.")
    roles.require(actor, Permission.LIST)
    require_may_draft(actor, "import listings")
    if submit and not actor.organization.is_verified:
        raise ValidationFailed(
            "Your institute is not verified yet: import the listings as drafts (leave “submit "
            "for review” unticked) and send them once an administrator has verified it.",
            fields={"submit": "Only once your institute is verified."},
        )


# --- reading a file -----------------------------------------------------------------------


@dataclass
class RawRow:
    """One row as read: its fields, or why it could not be read."""

    row: int
    fields: dict[str, Any] | None
    shape: Literal["csv", "api", "record"]
    problem: str = ""


def _decode(data: bytes) -> str:
    if not data.strip():
        raise ImportRefused("The file is empty.")
    head = data[:SNIFF_BYTES]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportRefused(
            "This is not a text file (it holds binary data). "
            "Upload CSV or JSON Lines saved as UTF-8."
        )
    sample = head.decode("utf-8", errors="replace")
    odd = sample.count("\ufffd") + sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    if odd > max(8, len(sample) // 50):
        raise ImportRefused(
            "The file is not UTF-8 text. Upload CSV or JSON Lines saved as UTF-8 "
            "(in a spreadsheet: Save as “CSV UTF-8”)."
        )
    # Stray bad bytes further on only refuse their own rows.
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def detect_format(text: str) -> Literal["csv", "jsonl"]:
    """By content, not by name: JSON Lines start with `{`, anything else must be CSV."""
    first = text.lstrip()[:1]
    if first == "{":
        return "jsonl"
    if first == "[":
        raise ImportRefused(
            "This is a JSON array; upload JSON Lines instead: one JSON object per line."
        )
    return "csv"


def _csv_dialect(first_line: str) -> str:
    if "," in first_line:
        return ","
    if "\t" in first_line:
        return "\t"
    if ";" in first_line:
        return ";"
    return ","


def _csv_header(cells: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    if unknown or "title" not in names:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5]) or "(no title column)"
        raise ImportRefused(
            "The first line must be a header naming the columns, with at least title, "
            f"summary and kind; not known: {shown}. The columns are: {', '.join(CSV_COLUMNS)}."
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ImportRefused(f"The header names a column twice: {', '.join(repeated)}.")
    return names


def _csv_rows(text: str) -> Iterator[RawRow]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_dialect(first_line))
    header: list[str] | None = None
    while header is None:
        try:
            cells = next(reader)
        except StopIteration:
            raise ImportRefused("The file is empty.") from None
        except csv.Error as exc:
            raise ImportRefused(f"The header cannot be read as CSV: {exc}.") from None
        if any(cell.strip() for cell in cells):
            if any(_SURROGATE.search(cell) for cell in cells):
                raise ImportRefused("The header is not valid UTF-8 text.")
            header = _csv_header(cells)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(start, None, "csv", f"The row cannot be read as CSV: {exc}.")
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield RawRow(
                start,
                None,
                "csv",
                f"The row has {len(cells)} columns; the header has {len(header)}.",
            )
        elif any(_SURROGATE.search(cell) for cell in cells):
            yield RawRow(start, None, "csv", BAD_TEXT)
        else:
            yield RawRow(start, dict(zip(header, cells, strict=True)), "csv")


def _jsonl_rows(text: str) -> Iterator[RawRow]:
    # Not splitlines(): it would also split at U+2028, which JSON allows inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if _SURROGATE.search(line):
            yield RawRow(number, None, "record", BAD_TEXT)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(number, None, "record", f"Not valid JSON: {exc.msg} (column {exc.colno}).")
            continue
        except (ValueError, RecursionError):
            yield RawRow(number, None, "record", "Not valid JSON.")
            continue
        if not isinstance(obj, dict):
            yield RawRow(number, None, "record", "The line is not a JSON object.")
            continue
        # Our API's shape has a summary; patent records (id, title, abstract ...) do not.
        yield RawRow(number, obj, "api" if "summary" in obj else "record")


def parse_file(data: bytes) -> list[RawRow]:
    """Every row of a CSV or JSONL file; ImportRefused when the file as a whole is unusable."""
    text = _decode(data)
    rows = list(_jsonl_rows(text) if detect_format(text) == "jsonl" else _csv_rows(text))
    if not rows:
        raise ImportRefused("The file has no rows to import.")
    return rows


def check_head(head: bytes) -> None:
    """Refuse at once a file whose first bytes already show it cannot be imported."""
    text = _decode(head)
    if detect_format(text) == "csv":
        first = text.lstrip("\r\n").split("\n", 1)[0]
        try:
            cells = next(csv.reader([first], delimiter=_csv_dialect(first)))
        except (csv.Error, StopIteration):
            raise ImportRefused("The header cannot be read as CSV.") from None
        _csv_header(cells)


# --- mapping a row to a listing -----------------------------------------------------------


class _BadField(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _BadField(key, "Expected text.")
    return str(value).strip()


def _strings(record: dict[str, Any], key: str, split: re.Pattern[str] | None = None) -> list[str]:
    value = record.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = split.split(value) if split else [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = value
    else:
        raise _BadField(key, "Expected a list of texts.")
    return [p.strip() for p in parts if p and p.strip()]


def shorten(text: str, limit: int) -> str:
    """Cut to at most `limit` characters at a sentence end, else a word end (adding …)."""
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)|[。！？；]", window) if m.end() <= limit]
    if ends and ends[-1] >= limit // 2:
        return text[: ends[-1]].rstrip()
    space = window.rfind(" ", 0, limit)
    if space >= limit // 2:
        return text[:space].rstrip(" ,;:-") + "…"
    return text[: limit - 1] + "…"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _listing_kind(record: dict[str, Any], warnings: dict[str, str]) -> str:
    record_type = _text(record, "record_type")
    code = _text(record, "kind").upper()
    if record_type == "granted_patent":
        return "patent"
    if record_type == "patent_publication":
        # A, A1, A2 ... are published applications; B, C, E, U ... granted rights.
        return "patent_application" if code.startswith("A") else "patent"
    if record_type == "tech_transfer_listing":
        return "patent"
    if record_type == "software_listing":
        return "software"
    if record_type:
        warnings["kind"] = f"Unknown record type {record_type[:40]!r}: imported as “other”."
        return "other"
    match = _PUBLICATION.match(_text(record, "publication_number").upper())
    if match and match.group(3) and not match.group(3).startswith("A"):
        return "patent"
    # A patent document whose grant we cannot tell: claim no more than an application.
    return "patent_application"


def _patent_numbers(record: dict[str, Any]) -> list[str]:
    if _text(record, "record_type") in {"granted_patent", "patent_publication"}:
        office, number = _text(record, "office").upper(), _text(record, "patent_number")
        if office and number:
            return [" ".join(p for p in (office, number, _text(record, "kind").upper()) if p)]
    publication = _text(record, "publication_number").upper()
    if publication:
        match = _PUBLICATION.match(publication)
        return [" ".join(p for p in match.groups() if p)] if match else [publication]
    return []


def _ipc_codes(record: dict[str, Any], warnings: dict[str, str]) -> list[str]:
    known: list[str] = []
    dropped: list[str] = []
    for raw in _strings(record, "ipc_codes") + _strings(record, "cpc_codes"):
        try:
            known.append(ipc.parse(raw).code)
        except ipc.IpcError:
            dropped.append(raw)
    known, dropped = _unique(known), _unique(dropped)
    notes = []
    if dropped:
        shown = ", ".join(dropped[:10]) + (
            f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
        )
        notes.append(f"Dropped codes the IPC scheme does not know: {shown}.")
    if len(known) > MAX_IPC_CODES:
        notes.append(f"Kept the first {MAX_IPC_CODES} of {len(known)} IPC codes.")
        known = known[:MAX_IPC_CODES]
    if notes:
        warnings["ipc_codes"] = " ".join(notes)
    return known


def _keywords(record: dict[str, Any], warnings: dict[str, str]) -> list[str]:
    words = _strings(record, "keywords", _KEYWORD_SPLIT)
    category = _text(record, "category")
    if category:
        words.append(category)
    words = _unique(words)
    notes = []
    long = [w for w in words if len(w) > KEYWORD_MAX]
    if long:
        words = [w for w in words if len(w) <= KEYWORD_MAX]
        notes.append(f"Dropped {len(long)} keyword(s) longer than {KEYWORD_MAX} characters.")
    if len(words) > MAX_KEYWORDS:
        notes.append(f"Kept the first {MAX_KEYWORDS} of {len(words)} keywords.")
        words = words[:MAX_KEYWORDS]
    if notes:
        warnings["keywords"] = " ".join(notes)
    return words


def map_record(record: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, str]]:
    """A patent / technology-transfer record (../shared/data keys) -> listing fields, its
    source_ref and warnings. Raises _BadField for a key of the wrong type."""
    warnings: dict[str, str] = {}
    title = _text(record, "title")
    abstract = _text(record, "abstract")
    language = _text(record, "language") or "en"
    zh = language == "zh"
    extra: list[str] = []
    if len(title) > TITLE_MAX:
        extra.append(title)
        title = shorten(title, TITLE_MAX)
        warnings["title"] = (
            f"The title is longer than {TITLE_MAX} characters: shortened at a word boundary; "
            "the full title opens the description."
        )
    summary = abstract
    if len(abstract) > SUMMARY_MAX:
        summary = shorten(abstract, SUMMARY_MAX)
        extra.append(abstract)
        warnings["summary"] = (
            f"The abstract is longer than {SUMMARY_MAX} characters: the summary is shortened "
            "at a sentence or word boundary; the full abstract is in the description."
        )
    claims = _text(record, "claims")
    if claims:
        extra.append(("权利要求\n\n" if zh else "Claims\n\n") + claims)
    details = []
    if _text(record, "record_type") in {"tech_transfer_listing", "software_listing"}:
        if case := _text(record, "patent_number"):
            details.append(f"Case number: {case}")
    if release := _text(record, "release_type"):
        details.append(f"Release: {release}")
    if link := _text(record, "link"):
        details.append(f"Link: {link}")
    if details:
        extra.append("\n".join(details))
    description = "\n\n".join(extra)
    if len(description) > DESCRIPTION_MAX:
        description = shorten(description, DESCRIPTION_MAX)
        warnings["description"] = f"Shortened to {DESCRIPTION_MAX} characters."
    inventors = _unique(_strings(record, "inventors"))
    if len(inventors) > MAX_INVENTORS:
        warnings["inventors"] = f"Kept the first {MAX_INVENTORS} of {len(inventors)} inventors."
        inventors = inventors[:MAX_INVENTORS]
    data: dict[str, Any] = {
        "title": title,
        "summary": summary,
        "description": description,
        "kind": _listing_kind(record, warnings),
        "patent_numbers": _patent_numbers(record),
        "ipc_codes": _ipc_codes(record, warnings),
        "inventors": inventors,
        "keywords": _keywords(record, warnings),
        "language": language,
    }
    return data, _text(record, "id"), warnings


def map_fields(fields: dict[str, Any], shape: str) -> tuple[dict[str, Any], str]:
    """A row in our API's field names (CSV cells or a JSON object) -> listing fields, ref."""
    data: dict[str, Any] = {}
    for key, value in fields.items():
        if shape == "csv":
            value = value.strip()
            if value == "":
                continue
            if key in LIST_COLUMNS:
                value = [part.strip() for part in value.split(";") if part.strip()]
            elif key in {"trl", "asking_amount"} and re.fullmatch(r"[+-]?\d{1,15}", value):
                value = int(value)
        data[key] = value
    ref = data.pop("source_ref", None)
    if ref is not None and not isinstance(ref, str | int):
        raise _BadField("source_ref", "Expected text.")
    if "asking_amount" in data or "asking_currency" in data:
        data["asking_price"] = {
            "amount": data.pop("asking_amount", None),
            "currency": data.pop("asking_currency", None),
        }
    return data, "" if ref is None else str(ref).strip()


def _apply_defaults(data: dict[str, Any], options: ImportOptions) -> None:
    if data.get("trl") in (None, "") and options.trl is not None:
        data["trl"] = options.trl
    if not data.get("license_types") and options.license_types:
        data["license_types"] = list(options.license_types)
    if not data.get("price_model") and options.price_model:
        data["price_model"] = options.price_model
    if not data.get("territories") and options.territories:
        data["territories"] = list(options.territories)


def _unstorable(value: Any) -> str:
    """Why PostgreSQL could not store this text, or ""."""
    if isinstance(value, str):
        if "\x00" in value:
            return "The row contains a NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "The row contains text that is not valid Unicode."
        return ""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if problem := _unstorable(item):
                return problem
    return ""


def auto_ref(listing: ListingIn) -> str:
    """A row without a source_ref is known by its content, so a re-upload skips it."""
    digest = hashlib.sha256(f"{listing.kind}\n{listing.title}\n{listing.summary}".encode())
    return "auto:" + digest.hexdigest()[:40]


@dataclass
class Prepared:
    row: int
    ref: str
    listing: ListingIn | None
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    submit: bool = False


def prepare(raw: RawRow, options: ImportOptions) -> Prepared:
    """Map and validate one row; never raises."""
    if raw.fields is None:
        return Prepared(raw.row, "", None, errors={"row": raw.problem})
    warnings: dict[str, str] = {}
    try:
        if raw.shape == "record":
            data, ref, warnings = map_record(raw.fields)
        else:
            data, ref = map_fields(raw.fields, raw.shape)
    except _BadField as exc:
        return Prepared(raw.row, "", None, errors={exc.name: exc.message})
    except Exception as exc:  # a shape nobody foresaw must refuse its row, not the import
        log.exception("import row %s could not be mapped", raw.row)
        return Prepared(
            raw.row, "", None, errors={"row": f"Unreadable row ({type(exc).__name__})."}
        )
    ref = ref[:200]
    errors: dict[str, str] = {}
    if raw.shape == "record" and not data["title"]:
        errors["title"] = "The record has no title; a listing needs one and none is invented."
    if len(ref) > REF_MAX:
        errors["source_ref"] = f"At most {REF_MAX} characters."
    _apply_defaults(data, options)
    listing: ListingIn | None = None
    try:
        listing = ListingIn.model_validate(data)
    except ValidationError as exc:
        for name, message in field_errors(exc).items():
            errors.setdefault(name, message)
    if listing is not None and not errors:
        if problem := _unstorable(listing.model_dump(mode="json")) or _unstorable(ref):
            errors["row"] = problem
    if errors:
        return Prepared(raw.row, ref, None, errors=errors, warnings=warnings)
    assert listing is not None
    prepared = Prepared(raw.row, ref or auto_ref(listing), listing, warnings=warnings)
    if options.submit:
        problems = submission_problems(listing.model_dump(mode="json"))
        if problems:
            for name, why in problems.items():
                warnings[name] = f"Left as a draft: {why}"
        else:
            prepared.submit = True
    return prepared


# --- writing ------------------------------------------------------------------------------


@dataclass
class Tally:
    processed: int = 0
    created: int = 0
    skipped: int = 0
    refused: int = 0
    report: list[dict[str, Any]] = field(default_factory=list)
    report_changed: bool = False

    @classmethod
    def of(cls, imp: ListingImport) -> Tally:
        return cls(imp.processed, imp.created, imp.skipped, imp.refused, list(imp.report or []))

    def copy(self) -> Tally:
        return Tally(
            self.processed, self.created, self.skipped, self.refused, list(self.report), False
        )

    def note(self, entry: dict[str, Any]) -> None:
        if len(self.report) < REPORT_LIMIT:
            self.report.append(entry)
            self.report_changed = True

    def refuse(self, prepared: Prepared, errors: dict[str, str] | None = None) -> None:
        self.refused += 1
        self.note(
            {
                "row": prepared.row,
                "ref": prepared.ref,
                "outcome": "refused",
                "errors": errors or prepared.errors,
            }
        )

    def create(self, prepared: Prepared, outcome: str) -> None:
        self.created += 1
        if prepared.warnings:
            self.note(
                {
                    "row": prepared.row,
                    "ref": prepared.ref,
                    "outcome": outcome,
                    "warnings": prepared.warnings,
                }
            )


def _outcome(prepared: Prepared, options_submit: bool, publish: bool) -> str:
    if publish:
        return "published" if prepared.submit else "draft"
    if prepared.submit:
        return "submitted"
    return "draft" if options_submit else "created"


def _audit_entry(
    actor: Actor,
    action: str,
    listing_id: UUID,
    organization_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """The row audit.record writes, unsaved, for a bulk insert."""
    return AuditEntry(
        actor_id=actor.user_id,
        actor_email=actor.user.email if actor.user else "",
        organization_id=str(organization_id),
        action=action,
        object_type="listing",
        object_id=str(listing_id),
        state_before=before,
        state_after=after,
        ip=actor.ip[:64],
    )


async def _emit_many(event_type: str, payloads: list[dict[str, Any]]) -> None:
    """outbox.emit for many events: one insert, one relay call after commit."""
    uow = current_unit_of_work()
    events = [OutboxEvent(id=uuid4(), event_type=event_type, payload=p) for p in payloads]
    await OutboxEvent.bulk_create(events)
    ids = [event.id for event in events]

    async def relay_after_commit() -> None:
        relay = outbox.get_relay()
        if relay is not None:
            await relay.enqueue(ids)

    uow.after_commit.append(relay_after_commit)


async def _write_batch(
    actor: Actor,
    batch: list[Prepared],
    tally: Tally,
    *,
    submit_requested: bool,
    publisher: Actor | None = None,
) -> None:
    """Bulk equivalent of create_listing (+ submit_listing, + approve_listing for the seed):
    the same listing row, the same audit entries, the same outbox events."""
    institute_id = actor.organization_id
    refs = [p.ref for p in batch if p.listing is not None]
    existing = set(
        await Listing.filter(institute_id=institute_id, source_ref__in=refs).values_list(
            "source_ref", flat=True
        )
        if refs
        else []
    )
    now = utcnow()
    listings: list[Listing] = []
    entries: list[AuditEntry] = []
    announced: dict[str, list[dict[str, Any]]] = {}
    for p in batch:
        tally.processed += 1
        if p.listing is None:
            tally.refuse(p)
            continue
        if p.ref in existing:
            tally.skipped += 1
            continue
        existing.add(p.ref)
        listing = Listing(
            id=uuid4(),
            institute_id=institute_id,
            created_by_id=actor.user_id,
            source_ref=p.ref,
            created_at=now,
            updated_at=now,
            **service.to_columns(p.listing.model_dump(mode="json")),
        )
        entries.append(
            _audit_entry(
                actor,
                "listing.created",
                listing.id,
                institute_id,
                after={"state": ListingState.DRAFT.value, "title": listing.title},
            )
        )
        walked = service.LISTING.walk(listing, _steps(actor, p.submit, publisher))
        for step in walked:
            listing.state = ListingState(step.rule.to)
            listing.version += 1
            entries.append(
                _audit_entry(
                    step.actor,
                    f"listing.{step.action}",
                    listing.id,
                    institute_id,
                    before={"state": step.before},
                    after={"state": step.rule.to},
                )
            )
        if listing.state == ListingState.PUBLISHED:
            listing.published_at = now
        if walked and walked[-1].rule.event:
            # Made at once, a row announces where it ended (the handlers read the database).
            announced.setdefault(walked[-1].rule.event, []).append(
                {"listing_id": str(listing.id), "version": listing.version}
            )
        listings.append(listing)
        tally.create(p, _outcome(p, submit_requested, publisher is not None))
    if listings:
        await Listing.bulk_create(listings)
    if entries:
        await AuditEntry.bulk_create(entries)
    for event_type, payloads in announced.items():
        await _emit_many(event_type, payloads)


async def _write_row(
    actor: Actor,
    p: Prepared,
    tally: Tally,
    *,
    submit_requested: bool,
    publisher: Actor | None = None,
) -> None:
    """One row through the services themselves: the slow, canonical path."""
    tally.processed += 1
    if p.listing is None:
        tally.refuse(p)
        return
    if await Listing.filter(institute_id=actor.organization_id, source_ref=p.ref).exists():
        tally.skipped += 1
        return
    listing = await service.create_listing(actor, p.listing, source_ref=p.ref)
    if p.submit:
        await service.submit_listing(actor, str(listing.id))
        if publisher is not None:
            await service.approve_listing(publisher, str(listing.id))
    tally.create(p, _outcome(p, submit_requested, publisher is not None))


def _in_unit_of_work() -> bool:
    try:
        current_unit_of_work()
    except RuntimeError:
        return False
    return True


Progress = Callable[[Tally], Any]


async def _commit(
    actor: Actor,
    batch: list[Prepared],
    tally: Tally,
    *,
    submit_requested: bool,
    import_id: UUID | None,
    publisher: Actor | None = None,
) -> Tally:
    """Write one batch and its progress in one transaction; on an unexpected failure redo it
    row by row, each row in its own transaction, so one bad row loses nothing else."""
    nested = _in_unit_of_work()
    trial = tally.copy()
    try:
        async with unit_of_work():
            await _write_batch(
                actor, batch, trial, submit_requested=submit_requested, publisher=publisher
            )
            await _save_progress(import_id, trial)
        return trial
    except Exception:
        if nested:  # inside someone else's transaction (the seed): theirs to handle
            raise
        log.warning("an import batch failed; redoing it row by row", exc_info=True)
    for p in batch:
        trial = tally.copy()
        try:
            async with unit_of_work():
                await _write_row(
                    actor, p, trial, submit_requested=submit_requested, publisher=publisher
                )
                await _save_progress(import_id, trial)
            tally = trial
            continue
        except IntegrityError:  # created meanwhile by someone else: it exists, so skip it
            tally = tally.copy()
            tally.processed += 1
            tally.skipped += 1
        except DomainError as exc:
            tally = tally.copy()
            tally.processed += 1
            tally.refuse(p, {**exc.fields} or {"row": exc.message})
        except Exception as exc:
            log.exception("import row %s could not be saved", p.row)
            tally = tally.copy()
            tally.processed += 1
            tally.refuse(p, {"row": f"The row could not be saved ({type(exc).__name__})."})
        async with unit_of_work():
            await _save_progress(import_id, tally)
    return tally


async def _save_progress(import_id: UUID | None, tally: Tally) -> None:
    if import_id is None:
        return
    changes: dict[str, Any] = {
        "processed": tally.processed,
        "created": tally.created,
        "skipped": tally.skipped,
        "refused": tally.refused,
    }
    if tally.report_changed:
        changes["report"] = tally.report
    await ListingImport.filter(id=import_id).update(**changes)


def _steps(actor: Actor, submit: bool, publisher: Actor | None) -> list[tuple[str, Actor]]:
    """What a new row goes through: submitted by the importing member, approved by the
    publisher (an administrator; the demo seed)."""
    steps = [("submit", actor)] if submit else []
    if submit and publisher is not None:
        steps.append(("approve", publisher))
    return steps


def _check_lifecycle(actor: Actor, options: ImportOptions, publisher: Actor | None) -> None:
    """Writing a row straight into `submitted` / `published` is only what the state table
    allows these actors step by step: refused for the whole import, before any row."""
    if publisher is not None:
        require_admin(publisher)
    probe = Listing(institute_id=actor.organization_id, state=ListingState.DRAFT)
    service.LISTING.walk(probe, _steps(actor, options.submit or publisher is not None, publisher))


async def import_rows(
    actor: Actor,
    rows: list[RawRow],
    options: ImportOptions,
    *,
    publisher: Actor | None = None,
    tally: Tally | None = None,
    import_id: UUID | None = None,
    on_progress: Progress | None = None,
) -> Tally:
    """Import parsed rows for the actor's institute, continuing after `tally.processed`.

    With `publisher` (an administrator; the demo seed), complete rows are published at once,
    as submit + approve would; incomplete ones stay drafts."""
    require_importer(actor, submit=options.submit or publisher is not None)
    _check_lifecycle(actor, options, publisher)
    if publisher is not None:
        options = options.model_copy(update={"submit": True})
    tally = tally or Tally()
    for start in range(tally.processed, len(rows), BATCH_SIZE):
        batch = [prepare(raw, options) for raw in rows[start : start + BATCH_SIZE]]
        tally = await _commit(
            actor,
            batch,
            tally,
            submit_requested=options.submit,
            import_id=import_id,
            publisher=publisher,
        )
        if on_progress is not None:
            on_progress(tally)
    return tally


# --- the import record and its runner -----------------------------------------------------


def imports_dir(var_dir: Path | None = None) -> Path:
    path = (var_dir or get_settings().var_dir) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store(source: BinaryIO, var_dir: Path | None) -> tuple[str, int]:
    """Copy into var/imports under a random name (nothing a user typed reaches the disk)."""
    name = secrets.token_hex(16)
    target = imports_dir(var_dir) / name
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, length=1024 * 1024)
    return name, target.stat().st_size


def _remove(name: str, var_dir: Path | None = None) -> None:
    (imports_dir(var_dir) / name).unlink(missing_ok=True)


def parse_options(raw: dict[str, Any]) -> ImportOptions:
    """Validate the options; errors are named by field (`license_types`, not `...0`)."""
    try:
        return parse_schema(ImportOptions, raw)
    except ValidationFailed as exc:
        fields: dict[str, str] = {}
        for name, message in exc.fields.items():
            fields.setdefault(name.split(".", 1)[0], message)
        raise ValidationFailed(exc.message, fields=fields) from None


async def create_import(
    actor: Actor,
    *,
    filename: str,
    stored_name: str,
    options: ImportOptions,
    via: Literal["web", "cli"],
) -> ListingImport:
    """The import row, its audit entry and (for the page) the event that starts the worker."""
    require_importer(actor, submit=options.submit)
    async with unit_of_work():
        imp = await ListingImport.create(
            institute_id=actor.organization_id,
            created_by_id=actor.user_id,
            filename=filename[:255],
            stored_name=stored_name,
            options={**options.model_dump(mode="json"), "via": via, "ip": actor.ip[:64]},
        )
        await audit.record(
            actor,
            "listing_import.requested",
            "listing_import",
            imp.id,
            after={"filename": imp.filename, **options.model_dump(mode="json")},
        )
        if via == "web":
            await outbox.emit(EVENT, {"import_id": str(imp.id)})
    return imp


async def upload_import(
    actor: Actor,
    *,
    filename: str,
    source: BinaryIO,
    options: ImportOptions,
    var_dir: Path | None = None,
) -> ListingImport:
    """The upload page's use case: store the file, refuse it at once if it is plainly not
    importable, then queue the import for the worker."""
    require_importer(actor, submit=options.submit)
    filename = Path(filename.replace("\\", "/")).name.strip()
    if not filename:
        raise ImportRefused("Choose a file to import.")
    stored, size = await asyncio.to_thread(_store, source, var_dir)
    try:
        if size > MAX_UPLOAD_BYTES:
            raise TooLarge()
        if size == 0:
            raise ImportRefused("The file is empty.")
        path = imports_dir(var_dir) / stored
        with path.open("rb") as handle:
            check_head(handle.read(SNIFF_BYTES))
        return await create_import(
            actor, filename=filename, stored_name=stored, options=options, via="web"
        )
    except BaseException:
        _remove(stored, var_dir)
        raise


async def import_actor(imp: ListingImport) -> Actor:
    """Who the import acts as: the person who started it, in its institute, still allowed."""
    institute = await Organization.get(id=imp.institute_id)  # type: ignore[attr-defined]
    user_id = imp.created_by_id  # type: ignore[attr-defined]
    user = await User.get_or_none(id=user_id) if user_id else None
    if user is None or not user.is_active:
        raise ImportRefused("The account that started the import is gone or deactivated.")
    membership = await Membership.get_or_none(user_id=user.id, organization_id=institute.id)
    if membership is None:
        raise ImportRefused(f"{user.email} is no longer a member of {institute.name}.")
    actor = Actor(
        user=user,
        organization=institute,
        role=membership.role,
        ip=str((imp.options or {}).get("ip") or "import"),
    )
    require_importer(actor)
    return actor


async def _finish(imp_id: UUID, state: ImportState, error: str = "") -> None:
    await ListingImport.filter(id=imp_id).update(
        state=state, error=error[:2000], finished_at=utcnow()
    )


async def mark_failed(import_id: str | UUID, error: str) -> None:
    """For the job's last attempt: leave the reason visible instead of `running` for ever."""
    await ListingImport.filter(id=import_id, state__not=ImportState.DONE).update(
        state=ImportState.FAILED, error=error[:2000], finished_at=utcnow()
    )


async def run_import(
    import_id: str | UUID,
    *,
    var_dir: Path | None = None,
    on_progress: Callable[[ListingImport], Any] | None = None,
) -> ListingImport:
    """Run (or resume) one import; a finished one is returned untouched."""
    imp = await ListingImport.get_or_none(id=object_id(str(import_id), "import"))
    if imp is None:
        raise NotFound("No such import.")
    path = imports_dir(var_dir) / imp.stored_name
    if imp.state == ImportState.DONE or (imp.state == ImportState.FAILED and not path.exists()):
        return imp
    await ListingImport.filter(id=imp.id).update(state=ImportState.RUNNING, error="")
    try:
        actor = await import_actor(imp)
        stored = {k: v for k, v in (imp.options or {}).items() if k in ImportOptions.model_fields}
        options = ImportOptions.model_validate(stored)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ImportRefused("The uploaded file is no longer there; upload it again.") from None
        rows = await asyncio.to_thread(parse_file, data)
    except (DomainError, ValidationError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        await _finish(imp.id, ImportState.FAILED, message)
        _remove(imp.stored_name, var_dir)
        return await ListingImport.get(id=imp.id)
    await ListingImport.filter(id=imp.id).update(total=len(rows))
    imp = await ListingImport.get(id=imp.id)

    def progress(tally: Tally) -> None:
        imp.processed, imp.created = tally.processed, tally.created
        imp.skipped, imp.refused = tally.skipped, tally.refused
        if on_progress is not None:
            on_progress(imp)

    progress(Tally.of(imp))
    await import_rows(
        actor, rows, options, tally=Tally.of(imp), import_id=imp.id, on_progress=progress
    )
    await _finish(imp.id, ImportState.DONE)
    _remove(imp.stored_name, var_dir)
    return await ListingImport.get(id=imp.id)


async def import_file(
    path: Path,
    institute_id: str,
    options: ImportOptions,
    *,
    var_dir: Path | None = None,
    on_progress: Callable[[ListingImport], Any] | None = None,
) -> ListingImport:
    """The command line's use case: act as the verified institute's first owner."""
    try:
        org = await Organization.get_or_none(id=object_id(institute_id, "institute"))
    except NotFound:
        org = None
    if org is None:
        raise NotFound(f"No organisation has the id {institute_id!r}.")
    if org.kind != OrganizationKind.INSTITUTE:
        raise Forbidden(f"{org.name} is not a research institute.")
    if not org.is_verified:
        raise Forbidden(f"{org.name} is not verified; only verified institutes import listings.")
    owner = (
        await Membership.filter(organization_id=org.id, role=MemberRole.OWNER)
        .select_related("user")
        .order_by("created_at")
        .first()
    )
    if owner is None or not owner.user.is_active:
        raise Forbidden(f"{org.name} has no active owner to act for.")
    actor = Actor(user=owner.user, organization=org, role=MemberRole.OWNER, ip="cli")
    try:
        with path.open("rb") as handle:
            check_head(handle.read(SNIFF_BYTES))
            handle.seek(0)
            stored, _ = await asyncio.to_thread(_store, handle, var_dir)
    except OSError as exc:
        raise ImportRefused(f"Cannot read {path}: {exc.strerror or exc}.") from None
    imp = await create_import(
        actor, filename=path.name, stored_name=stored, options=options, via="cli"
    )
    return await run_import(imp.id, var_dir=var_dir, on_progress=on_progress)


# --- the worker's side --------------------------------------------------------------------


def job_id(import_id: str | UUID) -> str:
    return f"listing_import:{import_id}"


async def enqueue_run(import_id: str | UUID) -> bool:
    """Enqueue the job once: arq refuses a second job with the same id while the first is
    queued, running or its result is kept. Raises when Redis cannot be reached."""
    relay = outbox.get_relay()
    settings = get_settings()
    redis_url = relay.redis_url if relay else settings.redis_url
    queue = relay.queue_name if relay else settings.queue_name
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
    try:
        job = await pool.enqueue_job(JOB_NAME, str(import_id), _job_id=job_id(import_id))
        return job is not None
    finally:
        await pool.aclose()


async def start_requested_import(event: OutboxEvent) -> None:
    """Hand the import to its own job (see the module's docstring for why not run it here).
    Enqueueing before this transaction commits is harmless: the import row is already
    committed, and a second enqueue of the same job id is refused."""
    import_id = event.payload["import_id"]
    imp = await ListingImport.get_or_none(id=import_id)
    if imp is None or imp.state == ImportState.DONE:
        return
    await enqueue_run(import_id)


async def requeue_stalled(now: datetime | None = None) -> int:
    """For a cron: enqueue again page imports left queued or running for a while (a Redis
    restart loses its queue). A job still alive keeps its id, so arq refuses the duplicate."""
    cutoff = (now or utcnow()) - STALLED_AFTER
    rows = await ListingImport.filter(
        state__in=[ImportState.QUEUED, ImportState.RUNNING], created_at__lt=cutoff
    ).values("id", "options")
    count = 0
    for row in rows:
        if (row["options"] or {}).get("via") == "web" and await enqueue_run(row["id"]):
            count += 1
    return count


# --- reading imports ----------------------------------------------------------------------


async def get_import(actor: Actor, import_id: str | UUID) -> ListingImport:
    """Members of the institute and administrators see an import; to others it is not there."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    imp = await ListingImport.get_or_none(id=object_id(str(import_id), "import"))
    if imp is None or not (
        actor.is_admin or actor.organization_id == str(imp.institute_id)  # type: ignore[attr-defined]
    ):
        raise NotFound("No such import.")
    return imp


async def recent_imports(actor: Actor, limit: int = 10) -> list[ListingImport]:
    if actor.organization is None:
        return []
    return (
        await ListingImport.filter(institute_id=actor.organization_id)
        .order_by("-created_at")
        .limit(limit)
    )


def report_lines(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (row, field) for the report table."""
    lines = []
    for entry in entries:
        reasons = entry.get("errors") or entry.get("warnings") or {}
        for index, (name, reason) in enumerate(reasons.items()):
            lines.append(
                {
                    "row": entry.get("row"),
                    "ref": entry.get("ref") or "",
                    "outcome": entry.get("outcome", ""),
                    "field": name,
                    "reason": reason,
                    "first": index == 0,
                    "span": len(reasons),
                }
            )
    return lines
