"""The form fields of templates/components/forms.html, written in Python.

`forms.field`, `forms.textarea`, `forms.select` and `forms.file` were macros that called seven
smaller macros each (its id, error, label, messages, value, attributes); a Jinja macro call
costs several times a Python one, and the fields were a fifth of a listing page's render and
of a need page's (issue 16). forms.html now hands these out under the same names, with the
same arguments and the same markup, so no page changes. Every value is escaped as `{{ }}`
escapes it; a field's value and error default to the page's `values` and `errors` (read from
the page being rendered, as `page_vars` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup, escape

from market.i18n import N_
from market.rendering import page_variable, translate

_REQUIRED = N_("(required)")
_ERROR = N_("Error:")


def csrf() -> Markup:
    """The hidden input with the page's CSRF token."""
    return Markup(
        f'<input type="hidden" name="csrf_token" value="{escape(page_variable("csrf_token"))}">'
    )


_FORM_OPTIONS = ("class", "label", "enctype")


def post_form(action: Any, *options: Any, caller: Callable[[], str], **named: Any) -> Markup:
    """A POST form that always carries the CSRF token, around what its call block renders:

        {% call forms.post_form("/account", class="inline-form") %} ...fields... {% endcall %}

    Its options, `class` (a Python keyword, hence taken by name), `label` and `enctype` (file
    uploads pass "multipart/form-data")."""
    given = {**dict(zip(_FORM_OPTIONS, options, strict=False)), **named}
    unknown = set(given) - set(_FORM_OPTIONS)
    if unknown:
        raise TypeError(f"post_form() got unexpected options {sorted(unknown)}")
    enctype, label = given.get("enctype"), given.get("label")
    shape = escape(given.get("class", "form"))
    parts = [f'<form method="post" action="{escape(action)}" class="{shape}"']
    if enctype:
        parts.append(f' enctype="{escape(enctype)}"')
    if label:
        parts.append(f' aria-label="{escape(label)}"')
    parts.append(f">\n  {csrf()}\n  {caller()}\n</form>")
    return Markup("".join(parts))


def submit(label: Any, kind: Any = "primary") -> Markup:
    return Markup(
        f'<button type="submit" class="button button-{escape(kind)}">{escape(label)}</button>'
    )


def _id(name: str, id: Any) -> Markup:
    return escape(id if id else name.replace(".", "-"))


def _lookup(name: str) -> Markup:
    found = page_variable("values")
    found = found if isinstance(found, Mapping) else {}
    for part in name.split("."):
        found = found[part] if isinstance(found, Mapping) and part in found else None
    return Markup("") if found is None else escape(found)


def _value(name: str, value: Any) -> Markup:
    return _lookup(name) if value is None else escape(value)


def _error(name: str, errors: Any) -> Markup:
    found = errors if isinstance(errors, Mapping) else page_variable("errors")
    found = found if isinstance(found, Mapping) else {}
    return escape(found.get(name) or "")


def _opening(fid: Markup, label: Any, required: Any, error: Markup, hint: Any) -> str:
    """The field's <div>, its label, and its hint and error paragraphs."""
    parts = [
        f'<div class="field{" has-error" if error else ""}">\n  <label for="{fid}">{escape(label)}'
    ]
    if required:
        parts.append(f' <span class="required">{translate(_REQUIRED)}</span>')
    parts.append("</label>")
    if hint:
        parts.append(f'\n  <p class="hint" id="{fid}-hint">{escape(hint)}</p>')
    if error:
        parts.append(
            f'\n  <p class="field-error" id="{fid}-error"><span class="visually-hidden">'
            f"{translate(_ERROR)} </span>{error}</p>"
        )
    return "".join(parts)


def _attributes(fid: Markup, required: Any, autocomplete: Any, error: Markup, hint: Any) -> str:
    """`required`, `autocomplete` and the ARIA attributes that tie the control to its hint and
    error."""
    parts = []
    if required:
        parts.append(" required")
    if autocomplete:
        parts.append(f' autocomplete="{escape(autocomplete)}"')
    if error:
        parts.append(' aria-invalid="true"')
    if hint and error:
        parts.append(f' aria-describedby="{fid}-hint {fid}-error"')
    elif error:
        parts.append(f' aria-describedby="{fid}-error"')
    elif hint:
        parts.append(f' aria-describedby="{fid}-hint"')
    return "".join(parts)


def field(
    name: str,
    label: Any,
    value: Any = None,
    type: str = "text",
    errors: Any = None,
    required: Any = False,
    autocomplete: Any = None,
    maxlength: Any = None,
    hint: Any = None,
    id: Any = None,
) -> Markup:
    """A text-like <input>. Passwords are never re-filled."""
    fid, error = _id(name, id), _error(name, errors)
    shown = f' value="{_value(name, value)}"' if type != "password" else ""
    limit = f' maxlength="{escape(maxlength)}"' if maxlength else ""
    return Markup(
        f"{_opening(fid, label, required, error, hint)}\n"
        f'  <input type="{escape(type)}" id="{fid}" name="{escape(name)}"{shown}{limit}'
        f"{_attributes(fid, required, autocomplete, error, hint)}>\n</div>"
    )


def file(
    name: str,
    label: Any,
    accept: Any,
    errors: Any = None,
    required: Any = True,
    hint: Any = None,
    id: Any = None,
) -> Markup:
    """A file <input>; `accept` helps the browser's picker (the server checks the bytes anyway).
    Never re-filled: a browser cannot be given a file back."""
    fid, error = _id(name, id), _error(name, errors)
    return Markup(
        f"{_opening(fid, label, required, error, hint)}\n"
        f'  <input type="file" id="{fid}" name="{escape(name)}" accept="{escape(accept)}"'
        f"{_attributes(fid, required, None, error, hint)}>\n</div>"
    )


def select(
    name: str,
    label: Any,
    options: Mapping[Any, Any],
    value: Any = None,
    errors: Any = None,
    required: Any = False,
    blank: Any = None,
    autocomplete: Any = None,
    hint: Any = None,
    id: Any = None,
) -> Markup:
    """`options` maps the submitted value to the label shown; `blank` adds an empty first
    option."""
    fid, error = _id(name, id), _error(name, errors)
    current = str(_value(name, value))
    parts = [
        _opening(fid, label, required, error, hint),
        f'\n  <select id="{fid}" name="{escape(name)}"'
        f"{_attributes(fid, required, autocomplete, error, hint)}>",
    ]
    if blank is not None:
        parts.append(f'\n    <option value="">{escape(blank)}</option>')
    for key, text in options.items():
        chosen = " selected" if str(key) == current else ""
        parts.append(f'\n    <option value="{escape(key)}"{chosen}>{escape(text)}</option>')
    parts.append("\n  </select>\n</div>")
    return Markup("".join(parts))


def textarea(
    name: str,
    label: Any,
    value: Any = None,
    errors: Any = None,
    required: Any = False,
    maxlength: Any = None,
    rows: Any = 4,
    hint: Any = None,
    id: Any = None,
) -> Markup:
    fid, error = _id(name, id), _error(name, errors)
    limit = f' maxlength="{escape(maxlength)}"' if maxlength else ""
    return Markup(
        f"{_opening(fid, label, required, error, hint)}\n"
        f'  <textarea id="{fid}" name="{escape(name)}" rows="{escape(rows)}"{limit}'
        f"{_attributes(fid, required, None, error, hint)}>{_value(name, value)}</textarea>\n"
        "</div>"
    )
