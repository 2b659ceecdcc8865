"""Gettext for pages: English source strings, catalogues per language under market/locale."""

from __future__ import annotations

import io
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

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


def N_(message: str) -> str:
    """Marks a message for extraction (`make messages`); it is translated where it is shown."""
    return message


class Msg(str):
    """A message in English that keeps its catalogue id and values, so a page can show it in the
    reader's language (`localize`) while logs and the JSON API keep the English text.

    `raise Conflict(Msg("%(title)s is already published.", title=...))`: the msgid is what
    `make messages` extracts (Msg is one of its keywords); a plain string literal given to an
    error or a redirect is extracted too (those are keywords as well) and found by its text."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Msg:
        # A coded value shows as its value, as it did in the f-string this replaced.
        params = {k: v.value if isinstance(v, Enum) else v for k, v in params.items()}
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params
        return self


def localize(text: Any, catalogue: NullTranslations) -> Any:
    """`text` in the catalogue's language: a Msg by its msgid with its values put back in, a
    plain string by itself (English stays as it is when the catalogue has no entry)."""
    if isinstance(text, Msg):
        translated = catalogue.gettext(text.msgid)
        return translated % text.params if text.params else translated
    if isinstance(text, str) and text:
        return catalogue.gettext(text)
    return text
