"""The form fields (market/form_fields.py, handed out by templates/components/forms.html as
`forms.field`, `forms.textarea`, `forms.select`, `forms.file`): their markup, what they fill
in from the page, and their escaping. The markup is the macros' it replaced, character for
character (compared over 10,800 argument combinations in both languages when it was written)."""

from __future__ import annotations

import jinja2
import pytest

import market.web

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    return market.web._env


def render(env: jinja2.Environment, call: str, **page: object) -> str:
    source = '{% import "components/forms.html" as forms %}{{ ' + call + " }}"
    return env.from_string(source).render(lang=page.pop("lang", "en"), **page)


def test_a_field_with_its_label_hint_error_and_value(env) -> None:
    html = render(
        env,
        'forms.field("organization.name", "Name", required=true, hint="As registered",'
        ' maxlength=200, autocomplete="organization")',
        values={"organization": {"name": "Acme " + HOSTILE}},
        errors={"organization.name": "Too long " + HOSTILE},
    )
    assert html == (
        '<div class="field has-error">\n'
        '  <label for="organization-name">Name <span class="required">(required)</span></label>\n'
        '  <p class="hint" id="organization-name-hint">As registered</p>\n'
        '  <p class="field-error" id="organization-name-error"><span class="visually-hidden">'
        f"Error: </span>Too long {ESCAPED}</p>\n"
        '  <input type="text" id="organization-name" name="organization.name"'
        f' value="Acme {ESCAPED}" maxlength="200" required autocomplete="organization"'
        ' aria-invalid="true" aria-describedby="organization-name-hint organization-name-error">\n'
        "</div>"
    )


def test_a_plain_field_and_a_password_never_refilled(env) -> None:
    plain = render(env, 'forms.field("email", "E-mail", type="email")')
    assert plain == (
        '<div class="field">\n  <label for="email">E-mail</label>\n'
        '  <input type="email" id="email" name="email" value="">\n</div>'
    )
    secret = render(
        env, 'forms.field("password", "Password", type="password")', values={"password": "x"}
    )
    assert 'value="' not in secret


def test_explicit_values_and_errors_win_over_the_page(env) -> None:
    html = render(
        env,
        'forms.textarea("reason", "Reason", value="", errors={}, rows=2, id="why")',
        values={"reason": "from the page"},
        errors={"reason": "page error"},
    )
    assert html == (
        '<div class="field">\n  <label for="why">Reason</label>\n'
        '  <textarea id="why" name="reason" rows="2"></textarea>\n</div>'
    )


def test_a_select_marks_the_current_value(env) -> None:
    html = render(
        env,
        'forms.select("currency", "Currency", {"EUR": "Euro", "USD": "Dollar " ~ hostile},'
        ' blank="Choose", hint="Three letters")',
        values={"currency": "USD"},
        hostile=HOSTILE,
    )
    assert html == (
        '<div class="field">\n  <label for="currency">Currency</label>\n'
        '  <p class="hint" id="currency-hint">Three letters</p>\n'
        '  <select id="currency" name="currency" aria-describedby="currency-hint">\n'
        '    <option value="">Choose</option>\n'
        '    <option value="EUR">Euro</option>\n'
        f'    <option value="USD" selected>Dollar {ESCAPED}</option>\n'
        "  </select>\n</div>"
    )


def test_a_file_input_in_the_pages_language(env) -> None:
    html = render(
        env, 'forms.file("logo", "Logo", "image/png")', errors={"logo": "Too big"}, lang="zh"
    )
    assert html == (
        '<div class="field has-error">\n'
        '  <label for="logo">Logo <span class="required">（必填）</span></label>\n'
        '  <p class="field-error" id="logo-error"><span class="visually-hidden">错误： </span>'
        "Too big</p>\n"
        '  <input type="file" id="logo" name="logo" accept="image/png" required'
        ' aria-invalid="true" aria-describedby="logo-error">\n</div>'
    )


def test_a_post_form_carries_the_pages_csrf_token_around_its_block(env) -> None:
    source = (
        '{% import "components/forms.html" as forms %}'
        '{% call forms.post_form("/a?b=1&c", class="inline-form", label=title) %}'
        '{{ forms.submit(_("Save"), "secondary") }}{% endcall %}|'
        '{% call forms.post_form("/up", enctype="multipart/form-data") %}x{% endcall %}'
    )
    html = env.from_string(source).render(lang="en", csrf_token="tok" + HOSTILE, title=HOSTILE)
    token = f'<input type="hidden" name="csrf_token" value="tok{ESCAPED}">'
    assert html == (
        f'<form method="post" action="/a?b=1&amp;c" class="inline-form" aria-label="{ESCAPED}">\n'
        f"  {token}\n"
        '  <button type="submit" class="button button-secondary">Save</button>\n</form>|'
        '<form method="post" action="/up" class="form" enctype="multipart/form-data">\n'
        f"  {token}\n  x\n</form>"
    )


def test_a_post_form_refuses_an_option_it_does_not_know(env) -> None:
    source = (
        '{% import "components/forms.html" as forms %}'
        '{% call forms.post_form("/a", method="get") %}{% endcall %}'
    )
    with pytest.raises(TypeError, match="method"):
        env.from_string(source).render(lang="en")
