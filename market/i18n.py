"""Gettext for pages: English source strings, catalogues per language under market/locale."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"


@cache
def translations(lang: str) -> NullTranslations:
    """Compile the .po catalogue in memory, so no binary .mo file is committed."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def negotiate(explicit: str | None, accept_language: str) -> str:
    if explicit in LANGUAGES:
        return explicit  # type: ignore[return-value]
    for part in accept_language.split(","):
        tag = part.split(";", 1)[0].strip().lower()
        base = tag.split("-", 1)[0]
        if base in LANGUAGES:
            return base
    return DEFAULT
