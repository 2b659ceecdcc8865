"""Agreement documents: the licence or assignment the two sides sign, as HTML and as PDF.

The HTML is the document of record. It is rendered only from an `AgreementData` (no clock, no
database), so the same terms always give the same bytes and therefore the same SHA-256, which is
what each signer sees and what their signature line quotes. The PDF is made from that HTML by
WeasyPrint; it is CPU-bound and synchronous, so async callers run `to_pdf` in a thread.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

import jinja2
from babel import Locale
from babel.dates import format_date
from markupsafe import Markup

from listings import ipc
from market.config import ROOT
from market.money import Money

WORLD = "WORLD"
ALL_FIELDS = "all"


@dataclass(frozen=True)
class Party:
    name: str
    country: str  # ISO 3166 code
    region: str = ""
    kind: str = ""  # institute | enterprise


@dataclass(frozen=True)
class MilestoneLine:
    description: str
    amount: int  # minor units, in AgreementData.currency


@dataclass(frozen=True)
class AgreementData:
    reference: str  # e.g. "TM-2026-3F2A9C", shown on every page
    version: int  # 1, 2, ... after changes are requested
    date: date  # date of the draft (UTC)
    licensor: Party  # the institute (seller)
    licensee: Party  # the buyer
    listing_title: str
    patent_numbers: tuple[str, ...]
    ipc_codes: tuple[str, ...]
    license_type: str  # exclusive | sole | non_exclusive | option | assignment
    territories: tuple[str, ...]  # "WORLD" or ISO country codes
    fields_of_use: tuple[str, ...]  # "all" or free text
    term_months: int
    currency: str
    upfront_amount: int  # minor units
    royalty_percent: Decimal | None
    milestones: tuple[MilestoneLine, ...]
    conditions: str
    offer_id: str


@dataclass(frozen=True)
class SignatureLine:
    side: str  # licensor | licensee (or institute | enterprise)
    organization: str
    full_name: str
    email: str
    signed_at: datetime
    ip: str
    user_agent: str
    document_sha256: str  # the hash of the agreement HTML this signer was shown


_TEMPLATES = {
    "exclusive": "documents/exclusive_licence.html",
    "sole": "documents/exclusive_licence.html",
    "non_exclusive": "documents/non_exclusive_licence.html",
    "option": "documents/non_exclusive_licence.html",
    "assignment": "documents/assignment.html",
}


def template_for(license_type: str) -> str:
    """The template that writes an agreement of this licence type."""
    try:
        return _TEMPLATES[license_type]
    except KeyError:
        raise ValueError(f"No agreement template for licence type {license_type!r}.") from None


# --- formatting ----------------------------------------------------------------------------


@cache
def _english() -> Locale:
    return Locale.parse("en_GB")


def country_name(code: str) -> str:
    code = (code or "").strip().upper()
    if not code:
        return ""
    name = _english().territories.get(code)
    return f"{name} ({code})" if name else code


def territories_text(codes: Sequence[str]) -> str:
    if not codes or WORLD in codes:
        return "worldwide"
    return "; ".join(country_name(code) for code in codes)


def fields_text(fields: Sequence[str]) -> str:
    if not fields or ALL_FIELDS in (f.strip().lower() for f in fields):
        return "all fields of use"
    return "; ".join(fields)


def money(amount: int, currency: str) -> str:
    return Money(amount=amount, currency=currency).format()


def percent(value: Decimal) -> str:
    # 5.000 -> "5", 2.500 -> "2.5"; never "5E+0".
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def months(count: int) -> str:
    text = f"{count} month" + ("" if count == 1 else "s")
    if count >= 12 and count % 12 == 0:
        years = count // 12
        text += f" ({years} year" + ("" if years == 1 else "s") + ")"
    return text


def long_date(value: date) -> str:
    return format_date(value, format="long", locale=_english())


def utc_time(value: datetime) -> str:
    # A naive time is already UTC (that is how the service stores it).
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def place(party: Party) -> str:
    return ", ".join(part for part in (party.region.strip(), country_name(party.country)) if part)


_KINDS = {"institute": "a research institute", "enterprise": "an enterprise"}


def kind_text(kind: str) -> str:
    return _KINDS.get(kind, "an organisation")


def paragraphs(text: str) -> Markup:
    """Free text as escaped paragraphs: a blank line starts a new one, a newline breaks a line."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    html = [
        Markup("<p>{}</p>").format(Markup("<br>\n").join(block.split("\n")))
        for block in blocks
        if block
    ]
    return Markup("\n").join(html)


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(ROOT / "templates"),
    # Names, titles and conditions are user text: every value is escaped.
    autoescape=True,
    # A missing value is a bug in this module, not a blank in a contract.
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
    keep_trailing_newline=True,
)
_env.filters.update(
    country=country_name,
    territories=territories_text,
    fields=fields_text,
    percent=percent,
    months=months,
    long_date=long_date,
    utc=utc_time,
    place=place,
    kind=kind_text,
    paragraphs=paragraphs,
)
_env.globals.update(money=money, ipc_title=ipc.title)


# --- documents -----------------------------------------------------------------------------


def render_agreement(data: AgreementData) -> str:
    """The whole agreement as one standalone HTML document (inline CSS, A4 print layout)."""
    template = _env.get_template(template_for(data.license_type))
    total = data.upfront_amount + sum(m.amount for m in data.milestones)
    return template.render(d=data, total=total)


def document_sha256(html: str) -> str:
    """Hex SHA-256 of the exact UTF-8 bytes of a document."""
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def render_signed(
    data: AgreementData, agreement_html: str, signatures: Sequence[SignatureLine]
) -> str:
    """The agreement exactly as signed, followed by a page that records every signature."""
    head, marker, tail = agreement_html.rpartition("</body>")
    if not marker:
        raise ValueError("The agreement HTML has no </body>; it is not a rendered agreement.")
    page = _env.get_template("documents/signatures.html").render(
        d=data, signatures=list(signatures), agreement_sha256=document_sha256(agreement_html)
    )
    return head + page + marker + tail


def to_pdf(html: str) -> bytes:
    """Render a document to PDF with WeasyPrint. Slow and synchronous: run it in a thread."""
    import weasyprint  # imported here: it loads pango, which the web process rarely needs
    from weasyprint.urls import URLFetcher

    # Agreements are self-contained: no scheme is allowed, so nothing in a document (user text
    # included) can make the renderer read a file or call a server.
    fetcher = URLFetcher(allowed_protocols=frozenset())
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()


def pdf_text(pdf: bytes) -> str:
    """The text of every page of a PDF, pages separated by form feeds."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return "\f".join(page.extract_text() or "" for page in reader.pages)


def render_receipt(**context: object) -> str:
    """A payment receipt (documents/receipt.html) as standalone HTML for `to_pdf`."""
    return _env.get_template("documents/receipt.html").render(**context)
