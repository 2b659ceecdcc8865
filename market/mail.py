"""E-mail in its recipient's language: rendered from templates/emails, sent through SMTP.

Every word of a mail goes through gettext (`_()` and `ngettext` in the templates), and a mail
is rendered in one language: the recipient's stored `User.locale` (`locale_of` is the one
place that decides it). The worker that renders most mail has no request and so no page
language, so nothing here reads one: `environment(locale)` is a Jinja environment per
language with that language's catalogue installed, and every render names its locale.

A template writes its `subject` and `body` blocks (`render_message`); `layout.txt` and
`layout.html` put the greeting, the link back and the footer around a body (`render_mail`);
`mail_to` does both for one recipient and sends the mail. Mail goes through SMTP when
`SMTP_HOST` is set, to the log otherwise (development).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from typing import Any

import jinja2
from babel import Locale

from market import i18n
from market.accounts.models import User
from market.config import ROOT, get_settings

log = logging.getLogger(__name__)

SUBJECT_MAX = 200


def locale_of(user: User | None) -> str:
    """The language of a mail to this user: the one stored on the account. An address with no
    account yet (an invitation to someone new) gets English: the worker that mails it knows no
    language of theirs, and an invitation stores none."""
    if user is not None and user.locale in i18n.LANGUAGES:
        return user.locale
    return i18n.DEFAULT


@cache
def environment(locale: str) -> jinja2.Environment:
    """The mail templates with `locale`'s catalogue installed, built once per language."""
    if locale not in i18n.LANGUAGES:
        raise ValueError(f"no such language: {locale!r}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates" / "emails"),
        extensions=["jinja2.ext.i18n"],
        # Plain text goes out as written; HTML escapes every value, so no user text becomes
        # markup.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        # A missing value is a bug in the handler, not a blank in a stranger's inbox.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    catalogue = i18n.translations(locale)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    territories = Locale.parse(locale).territories
    env.filters["country"] = lambda code: territories.get(str(code), str(code))
    # Words a handler passes untranslated (a label's msgid, a system's reason), said here.
    env.filters["translated"] = catalogue.gettext
    env.globals["lang"] = locale
    return env


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str | None = None


def one_line(text: str) -> str:
    """A subject is one header line: user text in it must not add lines (or headers)."""
    return " ".join(text.split())[:SUBJECT_MAX]


def render_message(name: str, *, locale: str, **context: Any) -> tuple[str, str]:
    """The subject and plain-text body of `templates/emails/<name>.txt` in `locale`, whose
    `subject` and `body` blocks write them."""
    template = environment(locale).get_template(f"{name}.txt")
    ctx = template.new_context(context)
    subject = "".join(template.blocks["subject"](ctx))
    body = "".join(template.blocks["body"](ctx))
    return one_line(subject), body.strip() + "\n"


def render_mail(
    subject: str, body: str, *, locale: str, link: str = "", name: str = "", **extra: Any
) -> Mail:
    """Wrap a text in the e-mail layout, in `locale`: a greeting, the link back, a footer;
    plain text and an HTML alternative (every value escaped)."""
    env = environment(locale)
    context = {
        "subject": one_line(subject),
        "body": body.strip(),
        "paragraphs": [p.strip() for p in body.strip().split("\n\n") if p.strip()],
        "link": link,
        "name": name,
        "base_url": get_settings().base_url.rstrip("/"),
        **extra,
    }
    text = env.get_template("layout.txt").render(context)
    html = env.get_template("layout.html").render(context)
    return Mail(subject=context["subject"], text=text, html=html)


def compose(template: str, *, locale: str, link: str = "", name: str = "", **context: Any) -> Mail:
    """`templates/emails/<template>.txt` in the layout, in `locale`; `name` is whom the
    greeting greets."""
    subject, body = render_message(template, locale=locale, link=link, **context)
    return render_mail(subject, body, locale=locale, link=link, name=name)


async def mail_to(recipient: User | str, template: str, *, link: str = "", **context: Any) -> None:
    """Send `template` to a user, or to an address, in the language of its account (English
    for an address with none: `locale_of`)."""
    if isinstance(recipient, User):
        user: User | None = recipient
        address = recipient.email
    else:
        address = recipient
        user = await User.get_or_none(email=recipient.strip().lower())
    mail = compose(
        template, locale=locale_of(user), link=link, name=user.name if user else "", **context
    )
    await send_mail(address, mail.subject, mail.text, html=mail.html)


async def send_mail(
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    unsubscribe: str = "",
) -> None:
    """Send a plain-text e-mail (with an optional HTML alternative) through SMTP, or write it
    to the log when no SMTP host is configured. `unsubscribe` is an address that stops this
    kind of mail with one POST (RFC 8058): mail clients offer it as a button."""
    settings = get_settings()
    if not settings.smtp_host:
        log.info("mail to %s: %s\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")

    def deliver() -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_user:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)

    await asyncio.to_thread(deliver)
