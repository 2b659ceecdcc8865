"""The words pages show for a listing's coded values: Python functions where macros stood,
still in the page's language, still extracted for translators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import listings.routes  # noqa: F401  (offers `listing_labels` to the templates, as the app does)
from listings import labels
from listings.models import ListingState
from market.config import ROOT
from market.i18n import translations
from market.web import _env

PAGE = (
    '{% import "components/listing.html" as lx -%}\n'
    '{{ lx.kind_label("patent") }}|{{ lx.license_list(["sole", "exclusive"]) }}|'
    "{{ lx.license_list([]) }}\n|{{ lx.trl_label(None) }}|{{ lx.trl_label(4) }}|"
    '{{ lx.state_label(state) }}|{{ lx.kind_label("<b>") }}'
)


def render(lang: str) -> str:
    return _env.from_string(PAGE).render(lang=lang, state=ListingState.PUBLISHED)


def test_labels_follow_the_language_of_each_render() -> None:
    english = render("en")
    assert english.split("|") == [
        "Patent",
        "Sole licence, Exclusive licence",
        "—\n",
        "—",
        "TRL 4: validated in the laboratory",
        "Published",
        "&lt;b&gt;",  # an unknown value shows as itself, escaped
    ]
    zh = translations("zh")
    chinese = render("zh")  # the same kept module, another language
    assert chinese.startswith(zh.gettext("Patent") + "|")
    assert zh.gettext("Published") in chinese and "Published" not in chinese


@pytest.mark.parametrize(
    "table", [labels.KIND, labels.STATE, labels.LICENSE, labels.PRICE_MODEL, labels.TRL]
)
def test_every_label_has_a_chinese_translation(table: labels.Labels) -> None:
    zh = translations("zh")
    for value in table:
        english = table._texts[value]
        assert zh.gettext(english) != english, f"{value}: {english!r} is not translated"


def test_make_messages_still_extracts_the_labels(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    # What `make messages` runs.
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
    )
    text = pot.read_text()
    for english in ("Know-how", "Open to offers", "TRL 9: proven in operation"):
        assert f'msgid "{english}"' in text
    assert "listings/labels.py" in text
