"""Agreement documents: the right template for each licence type, every term in the PDF a real
renderer (WeasyPrint) makes, Chinese text in it, user text escaped, a hash that is stable for the
same terms and changes with any of them, and a signature page that records every signer.

WeasyPrint takes about half a second a document, so each PDF is rendered once per module."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pypdf import PdfReader

from contracts.agreements.documents import (
    AgreementData,
    MilestoneLine,
    Party,
    SignatureLine,
    document_sha256,
    pdf_text,
    render_agreement,
    render_signed,
    template_for,
    to_pdf,
)

HOSTILE = '<script>alert("pwned")</script>'
LICENSOR_CN = "清华大学能源研究院"
TITLE_CN = "固态锂电池电解质"

TERMS = AgreementData(
    reference="TM-2026-3F2A9C",
    version=2,
    date=date(2026, 3, 1),
    licensor=Party(name=LICENSOR_CN, country="CN", region="北京", kind="institute"),
    licensee=Party(name="Voltwerk " + HOSTILE, country="DE", region="Bavaria", kind="enterprise"),
    listing_title=f"{TITLE_CN}: sulfide solid electrolyte",
    patent_numbers=("CN112345678A", "EP3456789B1"),
    ipc_codes=("H01M 10/052", "H01M"),
    license_type="exclusive",
    territories=("CN", "DE"),
    fields_of_use=("electric vehicles", "grid storage"),
    term_months=36,
    currency="EUR",
    upfront_amount=5_000_000,
    royalty_percent=Decimal("3.500"),
    milestones=(
        MilestoneLine("First commercial sale", 1_000_000),
        MilestoneLine("Cumulative sales above 100000 units", 2_500_000),
    ),
    conditions=f"Technical support: 20 days.\n\n{HOSTILE} & </div><img src=x onerror=alert(1)>",
    offer_id="8b0e4c1a-offer",
)

# What the PDF of TERMS must say, whatever its licence type.
EXPECTED = (
    TERMS.reference,
    LICENSOR_CN,
    "Voltwerk " + HOSTILE,
    TITLE_CN,
    "sulfide solid electrolyte",
    "CN112345678A",
    "EP3456789B1",
    "H01M 10/052",
    "Secondary cells",  # the title of H01M 10/00 from listings/data
    "China (CN)",
    "Germany (DE)",
    "electric vehicles",
    "grid storage",
    "36 months",
    "50,000.00 EUR",
    "3.5%",
    "First commercial sale",
    "10,000.00 EUR",
    "Cumulative sales above 100000 units",
    "25,000.00 EUR",
    "85,000.00 EUR",  # upfront fee plus milestones
)

FAMILIES = {
    "exclusive": "Exclusive Patent Licence Agreement",
    "non_exclusive": "Non-Exclusive Patent Licence Agreement",
    "assignment": "Patent Assignment Agreement",
}


def squash(text: str) -> str:
    """Text without whitespace: the PDF wraps lines wherever the layout needs to."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def pdfs() -> dict[str, bytes]:
    """One PDF per template."""
    return {
        kind: to_pdf(render_agreement(dataclasses.replace(TERMS, license_type=kind)))
        for kind in FAMILIES
    }


def test_each_licence_type_picks_its_template() -> None:
    assert template_for("exclusive") == "documents/exclusive_licence.html"
    assert template_for("sole") == "documents/exclusive_licence.html"
    assert template_for("non_exclusive") == "documents/non_exclusive_licence.html"
    assert template_for("option") == "documents/non_exclusive_licence.html"
    assert template_for("assignment") == "documents/assignment.html"
    with pytest.raises(ValueError, match="cross_licence"):
        template_for("cross_licence")

    titles = {
        "exclusive": "Exclusive Patent Licence Agreement",
        "sole": "Sole Patent Licence Agreement",
        "non_exclusive": "Non-Exclusive Patent Licence Agreement",
        "option": "Option Agreement",
        "assignment": "Patent Assignment Agreement",
    }
    for kind, title in titles.items():
        html = render_agreement(dataclasses.replace(TERMS, license_type=kind))
        assert f"<h1>{title}</h1>" in html, kind
        assert html.startswith("<!DOCTYPE html>")
        assert "size: A4" in html and "counter(pages)" in html
        assert "not legal advice" in html
    assert "Assignor" in render_agreement(dataclasses.replace(TERMS, license_type="assignment"))
    assert "Assignor" not in render_agreement(TERMS)


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_the_pdf_states_every_term(pdfs: dict[str, bytes], kind: str) -> None:
    text = squash(pdf_text(pdfs[kind]))
    assert squash(FAMILIES[kind]) in text
    missing = [value for value in EXPECTED if squash(value) not in text]
    assert not missing, f"{kind}: the PDF lacks {missing}"

    # The reference and the page number are in the footer of every page.
    pages = PdfReader(io.BytesIO(pdfs[kind])).pages
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert squash(f"{TERMS.reference} · version 2") in squash(page.extract_text())
        assert squash(f"Page {number} of {len(pages)}") in squash(page.extract_text())


def test_chinese_names_are_drawn_with_a_cjk_font(pdfs: dict[str, bytes]) -> None:
    runs: list[tuple[str, str]] = []

    def visit(text, cm, tm, font, size) -> None:
        runs.append((text, str(font.get("/BaseFont", "")) if font else ""))

    for page in PdfReader(io.BytesIO(pdfs["exclusive"])).pages:
        page.extract_text(visitor_text=visit)
    fonts = {font for text, font in runs if "清华" in text or "固态" in text}
    assert fonts, "the Chinese name and title are missing from the PDF"
    # DejaVu has no CJK glyphs: drawn with it, the text would be empty boxes.
    assert all("DejaVu" not in font for font in fonts), (
        f"Chinese drawn with {fonts}; install a CJK font (apt-get install fonts-wqy-microhei)"
    )


def test_user_text_is_escaped_in_html_and_literal_in_the_pdf(pdfs: dict[str, bytes]) -> None:
    html = render_agreement(TERMS)
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "&lt;/div&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # Two paragraphs, the ampersand escaped.
    assert "<p>Technical support: 20 days.</p>" in html
    assert "&amp; &lt;/div&gt;" in html

    text = squash(pdf_text(pdfs["exclusive"]))
    assert squash(HOSTILE + " & </div><img src=x onerror=alert(1)>") in text


def test_terms_read_naturally() -> None:
    world = dataclasses.replace(
        TERMS,
        territories=("WORLD",),
        fields_of_use=("all",),
        currency="JPY",
        upfront_amount=5_000_000,
        royalty_percent=None,
        milestones=(),
        conditions="",
        term_months=1,
    )
    html = render_agreement(world)
    assert "“Territory” means worldwide." in html
    assert "“Field” means all fields of use." in html
    assert "5,000,000 JPY" in html
    assert "1 month from the Effective Date" in html
    assert "WORLD" not in html


def test_the_hash_is_stable_and_follows_every_term() -> None:
    html = render_agreement(TERMS)
    again = render_agreement(dataclasses.replace(TERMS))
    assert again == html
    assert document_sha256(html) == document_sha256(again)
    assert document_sha256(html) == hashlib.sha256(html.encode("utf-8")).hexdigest()
    assert document_sha256(html + " ") != document_sha256(html)

    changes = {
        "reference": "TM-2026-000000",
        "version": 3,
        "date": date(2026, 3, 2),
        "licensor": dataclasses.replace(TERMS.licensor, name="清华大学"),
        "licensee": dataclasses.replace(TERMS.licensee, region="Saxony"),
        "listing_title": "Another title",
        "patent_numbers": ("CN112345678A",),
        "ipc_codes": ("H01M 10/052",),
        "license_type": "sole",
        "territories": ("CN",),
        "fields_of_use": ("electric vehicles",),
        "term_months": 48,
        "currency": "USD",
        "upfront_amount": 5_000_001,
        "royalty_percent": Decimal("3.75"),
        "milestones": TERMS.milestones[:1],
        "conditions": "Technical support: 21 days.",
        "offer_id": "another-offer",
    }
    assert set(changes) == {field.name for field in dataclasses.fields(AgreementData)}
    base = document_sha256(html)
    for name, value in changes.items():
        changed = render_agreement(dataclasses.replace(TERMS, **{name: value}))
        assert document_sha256(changed) != base, f"changing {name} left the hash as it was"
    # A change inside one milestone, and each party's kind and country, count too.
    for variant in (
        dataclasses.replace(TERMS, milestones=(MilestoneLine("First commercial sale", 1),)),
        dataclasses.replace(TERMS, licensee=dataclasses.replace(TERMS.licensee, country="AT")),
        dataclasses.replace(TERMS, licensor=dataclasses.replace(TERMS.licensor, kind="enterprise")),
    ):
        assert document_sha256(render_agreement(variant)) != base


def test_the_signed_document_records_every_signature() -> None:
    agreement = render_agreement(TERMS)
    seen = document_sha256(agreement)
    signatures = [
        SignatureLine(
            side="licensor",
            organization=LICENSOR_CN,
            full_name="王小明",
            email="wang@energy.example.cn",
            # Beijing time is converted to UTC.
            signed_at=datetime(2026, 3, 2, 16, 30, 5, tzinfo=timezone(timedelta(hours=8))),
            ip="203.0.113.5",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            document_sha256=seen,
        ),
        SignatureLine(
            side="licensee",
            organization="Voltwerk " + HOSTILE,
            full_name="Anna Schmidt",
            email="anna@voltwerk.example",
            signed_at=datetime(2026, 3, 3, 9, 15, 0, tzinfo=UTC),
            ip="2001:db8::17",
            user_agent="Mozilla/5.0 " + HOSTILE,
            document_sha256="0" * 64,  # saw something else: the page says so
        ),
    ]
    signed = render_signed(TERMS, agreement, signatures)

    # The agreement as signed, unchanged, then the signature page.
    body, _, _ = agreement.rpartition("</body>")
    assert signed.startswith(body)
    assert signed.rstrip().endswith("</html>")
    assert "<script" not in signed
    assert signed.count("matches the document above") == 1
    assert signed.count("does NOT match the document above") == 1

    text = squash(pdf_text(to_pdf(signed)))
    for line in signatures:
        for value in (
            line.side.capitalize(),
            line.organization,
            line.full_name,
            line.email,
            line.ip,
            line.user_agent,
            line.document_sha256,
        ):
            assert squash(value) in text, value
    assert squash("2026-03-02 08:30:05 UTC") in text
    assert squash("2026-03-03 09:15:00 UTC") in text
    assert seen in text
    assert squash(TERMS.reference) in text

    with pytest.raises(ValueError):
        render_signed(TERMS, "<p>not an agreement</p>", signatures)


def test_the_renderer_fetches_nothing(caplog: pytest.LogCaptureFixture) -> None:
    html = (
        "<!DOCTYPE html><html><body><p>local</p>"
        '<img src="file:///etc/hostname"><img src="http://127.0.0.1:9/x.png">'
        "</body></html>"
    )
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = to_pdf(html)
    assert pdf.startswith(b"%PDF-")
    assert "local" in pdf_text(pdf)
    refused = [r.getMessage() for r in caplog.records if "disallowed protocol" in r.getMessage()]
    assert len(refused) == 2, [r.getMessage() for r in caplog.records]
