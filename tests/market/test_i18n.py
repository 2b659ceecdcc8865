"""The words our Python code shows on pages (flash notices, refusals, field errors) come in the
page's language, and every one `make messages` extracts has a Chinese translation."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

from babel.messages.pofile import read_po

from market.accounts.models import Organization
from market.config import ROOT
from market.i18n import Msg, localize, translations
from tests.builders import a_user, an_admin, registration
from tests.market.accounts.test_pages import csrf_of, form_of, page_login


def keywords() -> list[str]:
    """The extra keywords `make messages` extracts with, as the Makefile names them."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^MESSAGE_KEYWORDS := ((?:.*\\\n)*.*)$", text, re.M)
    assert found, "the Makefile names no MESSAGE_KEYWORDS"
    return found.group(1).replace("\\\n", " ").split()


def test_every_message_make_messages_extracts_has_a_chinese_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", *keywords(), "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as handle:
        template = read_po(handle)
    with (ROOT / "market/locale/zh/LC_MESSAGES/messages.po").open("rb") as handle:
        chinese = read_po(handle, locale="zh")
    missing = []
    for message in template:
        if not message.id:
            continue
        translated = chinese.get(message.id, message.context)
        strings = translated.string if translated else None
        if isinstance(strings, tuple):
            strings = all(strings)
        if not strings or translated.fuzzy:
            missing.append(message.id)
    assert not missing, f"{len(missing)} messages without a Chinese translation: {missing[:10]}"
    # The refusals and notices are among them, whole (an f-string would have been left out).
    ids = {m.id for m in template}
    assert "%(name)s is verified." in ids and "No such listing." in ids
    assert "This field is required." in ids


def test_a_msg_is_english_for_the_api_and_its_own_words_for_a_page() -> None:
    message = Msg("Welcome to %(name)s.", name="<b>Acme</b>")
    assert message == "Welcome to <b>Acme</b>." and message.params == {"name": "<b>Acme</b>"}
    chinese = localize(message, translations("zh"))
    assert chinese == "欢迎加入 <b>Acme</b>。"
    # A plain string is found by its text; one the catalogue lacks stays as it is.
    assert localize("Log in first.", translations("zh")) == "请先登录。"
    assert localize("Unheard of.", translations("zh")) == "Unheard of."


async def test_a_notice_with_a_name_in_it_reaches_the_next_page_translated_and_escaped(
    client,
) -> None:
    _, org = await a_user(organization={"name": "<script>alert(1)</script> Optics"})
    await an_admin()
    await page_login(client, "admin@example.org")
    client.cookies.set("tm_lang", "zh")
    queue = await client.get("/admin/organizations")
    verified = await client.post(
        f"/admin/organizations/{org.id}/verify", data={"csrf_token": csrf_of(queue.text)}
    )
    assert verified.status_code == 303
    page = await client.get(verified.headers["location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Optics 已通过认证。" in page.text
    assert "<script>alert(1)" not in page.text
    assert (await Organization.get(id=org.id)).is_verified


async def test_a_refused_form_names_each_field_in_the_page_language(client) -> None:
    client.cookies.set("tm_lang", "zh")
    page = await client.get("/register")
    data = form_of(registration(email="zh@example.org"))
    del data["name"]
    data["password"] = "x" * 5000
    response = await client.post("/register", data={**data, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert "此项为必填。" in response.text  # the missing name
    assert "请更正标出的字段。" in response.text
    assert "This field is required." not in response.text
    # What the user typed comes back, in a page in their language.
    assert 'value="zh@example.org"' in response.text and 'lang="zh"' in response.text


async def test_a_refusal_page_is_in_the_page_language(client) -> None:
    nowhere = f"/listings/{uuid.uuid4()}"
    client.cookies.set("tm_lang", "en")
    english = await client.get(nowhere)
    assert english.status_code == 404 and "No such listing." in english.text
    client.cookies.set("tm_lang", "zh")
    chinese = await client.get(nowhere)
    assert chinese.status_code == 404 and "没有这项成果。" in chinese.text


# Pages that import, extend and call macros, with texts in `_()`, `{% trans %}`, with and
# without values to put in.
COMPILED_PAGES = ("accounts/login.html", "accounts/register.html", "error.html", "home.html")


def test_a_page_compiled_for_its_language_renders_what_translating_at_render_time_did() -> None:
    """`page.html@zh` (what `web.render` asks for) has its constant texts translated once,
    when compiled; what it renders is what the page translated on every render gave."""
    from market.web import _env
    from tests.market.test_templates import base_context

    for name, lang in [(n, lang) for n in COMPILED_PAGES for lang in ("en", "zh")]:
        context = base_context(
            lang=lang, status=404, message="Gone <b>", countries={"DE": "Germany"}
        )
        compiled = _env.get_template(f"{name}@{lang}").render(context)
        assert compiled == _env.get_template(name).render(context), (name, lang)
    login = _env.get_template("accounts/login.html@zh")
    assert login.name == "accounts/login.html@zh"
    # What it imports and extends is the same language's.
    assert _env.join_path("base.html", "accounts/login.html@zh") == "base.html@zh"
    assert _env.join_path("base.html", "accounts/login.html") == "base.html"
    source = _env.compile(
        _env.loader.get_source(_env, "accounts/login.html")[0],  # type: ignore[union-attr]
        name="accounts/login.html@zh",
        raw=True,
    )
    title = translations("zh").gettext("Log in")
    assert title in source and "'Log in'" not in source
