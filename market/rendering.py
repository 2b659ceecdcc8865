"""The page being rendered: its variables and its language's catalogue, for the Python helpers
templates call (market/web.py sets it around every render; market/form_fields.py reads it)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, NamedTuple

from babel.support import NullTranslations

from market import i18n


class Rendering(NamedTuple):
    """The page being rendered: the variables it was given and the catalogue of its `lang`."""

    variables: Mapping[str, Any]
    translations: NullTranslations


_NOTHING = Rendering(MappingProxyType({}), i18n.translations(i18n.DEFAULT))
current: ContextVar[Rendering] = ContextVar("rendering", default=_NOTHING)


def page_variable(name: str) -> Any:
    """The variable `name` of the page being rendered, None if it has none."""
    return current.get().variables.get(name)


def translate(message: str) -> str:
    """`message` in the page's language."""
    return current.get().translations.gettext(message)
