"""What every upload shares (market/files.py): the bytes decide the type, limits are named."""

from __future__ import annotations

import pytest

from market import files
from market.errors import ValidationFailed
from tests.files import WEBP, pdf_bytes, png_bytes


def test_sniff_needs_the_whole_webp_signature() -> None:
    assert files.sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert files.sniff(WEBP) == "image/webp"
    assert files.sniff(b"") is None


def test_an_upload_is_refused_naming_its_field() -> None:
    accepts = dict(accepts=(files.PNG,), limit=1024, accepts_text="PNG images", field="logo")
    assert files.accepted(png_bytes(), **accepts) == files.PNG
    for data, status in ((pdf_bytes(), 422), (b"", 422), (png_bytes() + b"\0" * 1024, 413)):
        with pytest.raises(ValidationFailed) as refused:
            files.accepted(data, **accepts)
        assert refused.value.status == status and "logo" in refused.value.fields
    assert files.size_text(512 * 1024) == "512 KiB" and files.size_text(10 << 20) == "10 MiB"
