"""What every page and API endpoint shares: who is asking, CSRF, input and rendering."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote, urlencode

import jinja2
import orjson
from babel.support import NullTranslations
from jinja2 import nodes
from jinja2.nodes import EvalContext
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from market import form_fields, i18n, limits, rendering
from market.accounts import service as accounts
from market.actor import Actor
from market.config import ROOT, Settings
from market.errors import (
    DomainError,
    Forbidden,
    NotAuthenticated,
    ValidationFailed,
    validation_error,
)
from market.i18n import N_  # noqa: F401  (rooms mark their labels with web.N_)
from market.notify import unread_count

SESSION_COOKIE = "tm_session"
ANON_COOKIE = "tm_anon"
LANG_COOKIE = "tm_lang"
FLASH_COOKIE = "tm_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = limits.MAX_BODY


_rendering = rendering.current


class _PageTemplate(jinja2.Template):
    """A template whose render makes its variables the `page_vars` of the macros it calls, and
    its `lang` the language of every `_()`, `gettext`, `ngettext` and `{% trans %}` in it.

    Components are imported without context, so Jinja builds each macro module once and keeps
    it (an import `with context` rebuilds the module, every macro in it and its own imports, on
    every render: a third of a listing page's CPU). Their macros take their subject as
    arguments and read the few per-page values they share (the CSRF token, the form's errors
    and values, the request, the room's formatting helpers) from `page_vars`, which is the dict
    this render was given."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        variables = dict(*args, **kwargs)
        lang = variables.get("lang") or i18n.DEFAULT
        token = _rendering.set(rendering.Rendering(variables, i18n.translations(lang)))
        try:
            return super().render(variables)
        finally:
            _rendering.reset(token)

    def _get_default_module(self, ctx: jinja2.runtime.Context | None = None) -> Any:
        # Every `{% import %}` asks this, and Jinja first works out which of the importer's
        # globals this template lacks (a set difference over a ChainMap, per import, per
        # render). When the importer's globals are as many as the environment's, they are
        # the environment's, which this template has too: the module built once is the answer.
        if (
            ctx is not None
            and self._module is not None
            and len(ctx.globals_keys) == len(self.environment.globals)
        ):
            return self._module
        return super()._get_default_module(ctx)


class _PageVars:
    """`page_vars.name`: the variable `name` of the page being rendered, None if it has none."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return rendering.page_variable(name)


# Jinja's newstyle gettext, reading the page's catalogue directly: every `_()` used to go
# through four nested Context.call()s (alias, context lookup, newstyle wrapper, catalogue), a
# tenth of a listing index's render.
@jinja2.pass_eval_context
def _gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
    text = rendering.translate(message)
    if not variables and "%" not in text:
        # Nothing to put in: `Markup % {}` would still walk the text to escape an empty dict,
        # on every label of every row.
        return Markup(text) if eval_ctx.autoescape else text
    return (Markup(text) if eval_ctx.autoescape else text) % variables


@jinja2.pass_eval_context
def _ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    text = _rendering.get().translations.ngettext(singular, plural, num)
    return (Markup(text) if eval_ctx.autoescape else text) % variables


def _code(value: Any) -> str:
    """A coded value as its tables key it: an enum's value, anything else as text."""
    return value.value if isinstance(value, Enum) else str(value)


class Labels:
    """The words a page shows for a coded value (a listing's kind, a licence type), translated
    into the page's language: `{{ labels.kind(listing.kind) }}`.

    A plain function where a macro of `{% if %}` branches stood: a table row called four of
    those, and a Jinja macro call costs several times a Python one (issue 16). The texts are
    marked with `N_` so `make messages` still extracts them; a value with no text shows as
    itself."""

    __slots__ = ("_texts",)

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    def __call__(self, value: Any) -> str:
        key = _code(value)
        text = self._texts.get(key)
        return key if text is None else rendering.translate(text)

    def text(self, value: Any) -> str:
        """The words untranslated (the catalogue's msgid), for a render in a language other
        than the page's: an e-mail translates them into its recipient's (market/mail.py)."""
        key = _code(value)
        return self._texts.get(key, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def badge(self, family: str) -> Callable[[Any], Markup]:
        """`<span class="badge badge-{family}-{value}">{label}</span>`, the state badge of a
        family of things (offer, contract, payment), as a function of the value."""

        def badge(value: Any) -> Markup:
            key = _code(value)
            # f-strings and escape(): Markup.format runs string.Formatter, ten times slower.
            return Markup(
                f'<span class="badge badge-{family}-{escape(key)}">{escape(self(value))}</span>'
            )

        return badge


_NEVER = N_("never")


def time_tag(value: Any) -> Markup:
    """`<time>` of a moment, to the minute, with its zone's name; "never" for none. A function
    where `ui.datetime`'s macro stood: an inbox row called it, and a macro call costs several
    times a Python one (issue 16)."""
    if not value:
        return Markup(rendering.translate(_NEVER))
    zone = f" {escape(value.tzname())}" if value.tzinfo else ""
    return Markup(
        f'<time datetime="{escape(value.isoformat())}">'
        f"{escape(value.strftime('%Y-%m-%d %H:%M'))}{zone}</time>"
    )


# --- the site's links ------------------------------------------------------------------------

_NAV_ANYONE = (
    ("/listings", N_("Listings")),
    ("/needs", N_("Needs")),
    ("/events", N_("Events")),
    ("/search", N_("Search")),
)
_UNREAD = N_("unread")
_NAV_ADMIN = (
    ("/admin/organizations", N_("Verify organisations")),
    ("/admin/listings", N_("Moderate listings")),
    ("/admin/needs", N_("Moderate needs")),
    ("/admin/organisers", N_("Event organisers")),
    ("/admin/contracts", N_("Approve contracts")),
    ("/admin/payments", N_("Payments")),
    ("/admin/ledger", N_("Ledger")),
    ("/admin/audit", N_("Audit trail")),
)


def _nav_links(signed_in: bool, kind: str | None, admin: bool) -> list[tuple[str, str]]:
    """The header's links (path, English label) for a kind of visitor: `kind` is the
    organisation's kind, None without one."""
    links = list(_NAV_ANYONE)
    if not signed_in:
        return [*links, ("/", N_("Home")), ("/login", N_("Log in")), ("/register", N_("Register"))]
    links.append(("/dashboard", N_("Dashboard")))
    if kind is not None:
        links += [
            ("/enquiries", N_("Enquiries")),
            ("/offers", N_("Offers")),
            ("/contracts", N_("Contracts")),
        ]
    links.append(("/notifications", N_("Notifications")))
    if kind == "institute":
        links += [
            ("/listings/mine", N_("My listings")),
            ("/proposals", N_("My proposals")),
            ("/listings/import", N_("Import listings")),
        ]
    elif kind == "enterprise":
        links.append(("/needs/mine", N_("My needs")))
    links.append(("/saved-searches", N_("Saved searches")))
    if kind in ("institute", "enterprise"):
        links.append(("/matches", N_("Matches")))
    links += [("/account", N_("Account")), ("/organization", N_("Organisation"))]
    if kind is not None:
        links.append(("/organization/members", N_("Members")))
    links.append(("/account/tokens", N_("API tokens")))
    if admin:
        links += _NAV_ADMIN
    return links


@functools.lru_cache(maxsize=64)
def _nav_items(
    signed_in: bool, kind: str | None, admin: bool, lang: str
) -> tuple[tuple[str, str, str], ...]:
    """Each link as (path, its item, the item when it is the current page), escaped and in
    `lang`, made once per kind of visitor and language."""
    catalogue = i18n.translations(lang)
    items = []
    for href, label in _nav_links(signed_in, kind, admin):
        text = escape(catalogue.gettext(label))
        items.append(
            (
                href,
                f'\n          <li><a href="{href}">{text}</a></li>',
                f'\n          <li><a href="{href}" aria-current="page">{text}</a></li>',
            )
        )
    return tuple(items)


def site_nav(actor: Actor, lang: str, here: str, unread: int) -> Markup:
    """The header's links for this actor in `lang`, the current page (`here`) marked, the
    unread notifications counted on theirs."""
    organization = actor.organization
    kind = None if organization is None else str(organization.kind)
    parts = []
    for href, item, current in _nav_items(actor.is_authenticated, kind, actor.is_admin, lang):
        shown = current if href == here else item
        if unread and href == "/notifications":
            hidden = escape(i18n.translations(lang).gettext(_UNREAD))
            badge = (
                f' <span class="badge badge-count">{int(unread)}'
                f'<span class="visually-hidden"> {hidden}</span></span></a>'
            )
            shown = shown.replace("</a>", badge)
        parts.append(shown)
    return Markup("".join(parts))


def template_global(name: str, value: Any) -> None:
    """Offer `value` to every template as `name`; a domain registers its labels this way when
    its pages are imported, before anything renders."""
    if name in _env.globals and _env.globals[name] is not value:
        raise ValueError(f"template global {name!r} is taken")
    _env.globals[name] = value


class _Loader(jinja2.FileSystemLoader):
    """`page.html@zh` is `page.html` (see `_Environment`)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        return super().get_source(environment, template.partition("@")[0])


class _Translated(NodeTransformer):
    """Every `_("constant")` and `{% trans %}constant{% endtrans %}` of a template, in one
    language, as the constant markup `_()` would return; anything with values to put in (or a
    `%` the values would act on) stays a call."""

    def __init__(self, translations: NullTranslations) -> None:
        self.translations = translations

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        node = self.generic_visit(node)
        if (
            isinstance(node.node, nodes.Name)
            and node.node.name in {"_", "gettext"}
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            text = self.translations.gettext(node.args[0].value)
            if "%" not in text:
                return nodes.MarkSafe(nodes.Const(text, lineno=node.lineno), lineno=node.lineno)
        return node


class _Environment(jinja2.Environment):
    """Pages render as `name@lang`: the template `name` compiled for one language, its
    constant texts translated once when compiled rather than by a `_()` call on every render
    (two to three microseconds each, fifty on a contract page). What it imports, includes or
    extends is taken in the same language. A name without `@` (tests, mails) translates at
    render time, as before."""

    def join_path(self, template: str, parent: str) -> str:
        _, at, lang = parent.partition("@")
        return f"{template}@{lang}" if at and "@" not in template else template

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        lang = name.partition("@")[2] if name else ""
        if lang:
            tree = _Translated(i18n.translations(lang)).visit(tree)
        return tree


_env = _Environment(
    loader=_Loader(ROOT / "templates"),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
    undefined=jinja2.ChainableUndefined,
    # Templates ship with the code; checking their files on every render costs page time.
    auto_reload=False,
)
_env.template_class = _PageTemplate
_env.install_null_translations(newstyle=True)
_env.globals.update(
    _=_gettext,
    gettext=_gettext,
    ngettext=_ngettext,
    page_vars=_PageVars(),
    site_nav=site_nav,
    form_fields=form_fields,
    time_tag=time_tag,
)
templates = Jinja2Templates(env=_env)


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def get_actor(request: Request) -> Actor:
    """Resolve (once per request) the session cookie or bearer token into an Actor."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    ip = client_ip(request)
    actor: Actor | None = None
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        actor = await accounts.actor_from_api_token(auth[7:].strip(), ip=ip)
    elif token := request.cookies.get(SESSION_COOKIE):
        reading = await accounts.read_session(token, ip=ip)
        if reading is not None:
            actor = reading.actor
            # Read with the session, in the same statement; the badge shows it as it was
            # when the request began.
            request.state.unread = reading.unread
    request.state.actor = actor or Actor.anonymous(ip)
    return request.state.actor


# --- CSRF --------------------------------------------------------------------------------


def _csrf_basis(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return "s:" + token
    anon = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon", None)
    if anon is None:
        anon = secrets.token_urlsafe(24)
        request.state.new_anon = anon
    return "a:" + anon


def csrf_token(request: Request) -> str:
    key = settings_of(request).require_secret_key().encode()
    return hmac.new(key, _csrf_basis(request).encode(), hashlib.sha256).hexdigest()


def _csrf_ok(request: Request, presented: str | None) -> bool:
    if not presented:
        return False
    # compare_digest takes str only when it is ASCII; a token with any other character is
    # simply wrong, so both sides go in as bytes (surrogatepass: any str can be encoded).
    given = presented.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(given, csrf_token(request).encode())


def check_form_csrf(request: Request, form: FormData) -> None:
    if not _csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        raise Forbidden("The form expired or did not come from this site. Please try again.")


def check_api_csrf(request: Request) -> None:
    """Cookie-authenticated API writes need the header; bearer tokens are not ambient."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if request.cookies.get(SESSION_COOKIE) and not _csrf_ok(
        request, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden("Missing or wrong X-CSRF-Token header.")


# --- input -------------------------------------------------------------------------------


async def read_json(request: Request) -> Any:
    """The JSON body: 413 past MAX_BODY (while it streams), 422 for anything but JSON nested
    at most limits.MAX_JSON_DEPTH deep."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await limits.read_body(request, MAX_BODY)
    if not body:
        return {}
    # Cross-site forms cannot send this content type without a CORS preflight.
    if content_type != "application/json":
        raise ValidationFailed(
            "Send JSON with Content-Type: application/json.", fields={"body": "Not JSON."}
        )
    return limits.parse_json(body)


async def read_form(request: Request) -> FormData:
    """The form (urlencoded or multipart without files), 413 past MAX_BODY while it streams,
    CSRF-checked."""
    form = await limits.limited(request, MAX_BODY).form(max_files=0, max_fields=200)
    check_form_csrf(request, form)
    return form


_VALUE_AND_GROUP = "This field was sent both as a value and as a group of fields."


def nest(form: FormData, *, drop: tuple[str, ...] = (CSRF_FIELD,)) -> dict[str, Any]:
    """Turn `organization.name` style form fields into the nested dict the schemas take.

    A field cannot be both a value and a group (`organization=x` with `organization.name=y`,
    in either order): 422 naming it."""
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in drop or not isinstance(value, str):
            continue
        *parents, leaf = key.split(".")
        if len(parents) >= limits.MAX_JSON_DEPTH:
            raise validation_error(key, "This field name is nested too deeply.")
        target = data
        for depth, part in enumerate(parents):
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise validation_error(".".join(parents[: depth + 1]), _VALUE_AND_GROUP)
        if isinstance(target.get(leaf), dict):
            raise validation_error(key, _VALUE_AND_GROUP)
        target[leaf] = value
    return data


def page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1")
    # isascii: str.isdigit() also takes digits like "²" that int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100_000:
        raise ValidationFailed("Page must be a positive whole number.", fields={name: "Invalid."})
    return int(raw)


# --- output ------------------------------------------------------------------------------


def language(request: Request, actor: Actor | None) -> str:
    """The page's language: the browser's choice (the cookie the switch and logging in set:
    logging in and every switch while logged in write `User.locale` there too, so pages and
    mails agree), else the user's stored one, else what the browser accepts."""
    explicit = request.cookies.get(LANG_COOKIE) or (
        actor.user.locale if actor and actor.user else None
    )
    return i18n.negotiate(explicit, request.headers.get("accept-language", ""))


def local_path(target: str, default: str) -> str:
    """`target` if it is a path on this site, else `default`: an open redirect would make our
    pages a phishing tool."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def remember_language(response: Response, lang: str) -> None:
    """Set the page language of this browser (market.security marks it Secure under https)."""
    if lang in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")


def _finish(request: Request, response: Response) -> Response:
    new_anon = getattr(request.state, "new_anon", None)
    if new_anon and not request.cookies.get(SESSION_COOKIE):
        response.set_cookie(
            ANON_COOKIE,
            new_anon,
            httponly=True,
            samesite="lax",
            secure=settings_of(request).secure_cookies,
            max_age=60 * 60 * 24 * 30,
        )
    return response


async def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    actor = await get_actor(request)
    lang = language(request, actor)
    ctx: dict[str, Any] = {
        "actor": actor,
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "csrf_token": csrf_token(request),
        "unread_notifications": await _unread(request, actor),
        "errors": {},
        "values": {},
        "message": "",
        "notice": _flash(request),
        "query": lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")}),
    }
    ctx.update(context or {})
    _no_settings(ctx)
    _localize(ctx, lang)
    if ctx["lang"] in i18n.LANGUAGES:
        template = f"{template}@{ctx['lang']}"  # its texts translated when compiled
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE)
    return _finish(request, response)


async def _unread(request: Request, actor: Actor) -> int:
    """The navigation's unread badge: read with the session (see `get_actor`), else one COUNT
    on an index, for logged-in users only."""
    known = getattr(request.state, "unread", None)
    if known is not None:
        return int(known)
    return await unread_count(actor.user) if actor.user else 0


def _localize(context: dict[str, Any], lang: str) -> None:
    """The words our Python code says on a page (the flash notice, a refusal's message, a form's
    field errors) in the page's language; templates translate their own."""
    catalogue = i18n.translations(lang)
    for name in ("notice", "message"):
        context[name] = i18n.localize(context[name], catalogue)
    errors = context["errors"]
    if errors:
        context["errors"] = {field: i18n.localize(why, catalogue) for field, why in errors.items()}


def _flash(request: Request) -> str:
    raw = unquote(request.cookies.get(FLASH_COOKIE, ""))[:1000]
    if raw.startswith('{"m":'):
        try:
            saved = orjson.loads(raw)
            return i18n.Msg(str(saved["m"]), **{k: str(v) for k, v in saved["p"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return ""
    return raw[:500]


def _no_settings(context: dict[str, Any]) -> None:
    """Templates get the values they show, never the Settings object: it holds the secret key,
    the Stripe key and the SMTP password, one template mistake away from a page."""
    for name, value in context.items():
        if isinstance(value, Settings):
            raise TypeError(f"pass the settings a template needs, not Settings (as {name!r})")


async def render_form(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    error: DomainError | None = None,
) -> Response:
    """A page whose form may come back refused: the error's field messages, its message and
    its status (with Retry-After when it says when to try again)."""
    if error is not None:
        context = {**context, "errors": error.fields, "message": error.message}
        status = error.status
    response = await render(request, template, context, status=status)
    if error is not None and error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def require_login(request: Request) -> Actor:
    """The logged-in actor of a page that needs one; anyone else is sent to log in."""
    actor = await get_actor(request)
    if not actor.is_authenticated:
        raise NotAuthenticated("Log in first.")
    return actor


async def render_error(
    request: Request, exc: DomainError, template: str, context: dict
) -> Response:
    """Show the form again with what the user typed and why it was refused."""
    return await render(
        request,
        template,
        {**context, "errors": exc.fields, "message": exc.message},
        status=exc.status,
    )


def redirect(url: str, notice: str = "") -> RedirectResponse:
    """Redirect after a POST; the notice rides in a cookie, so no link can forge one (marked
    Secure under https by market.security, as every cookie is)."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        text = str(notice)
        if isinstance(notice, i18n.Msg) and notice.params:
            # The page it leads to may be in another language: keep what it takes to translate.
            values = {name: str(value)[:200] for name, value in notice.params.items()}
            text = orjson.dumps({"m": notice.msgid, "p": values}).decode()
        response.set_cookie(FLASH_COOKIE, quote(text), max_age=60, httponly=True, samesite="lax")
    return response


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse, encoded with orjson: the same compact UTF-8 output, several
    times faster on the large answers search gives."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_response(data: Any, status: int = 200) -> JSONResponse:
    return FastJSONResponse(data, status_code=status)


def error_json(exc: DomainError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return JSONResponse(exc.as_json(), status_code=exc.status, headers=headers)


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status)


def page_size(request: Request, default: int = 20, maximum: int = 100) -> int:
    raw = request.query_params.get("per_page", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationFailed(
            f"per_page must be a whole number from 1 to {maximum}.", fields={"per_page": "Invalid."}
        )
    return int(raw)
