"""E-mail in its recipient's language: every mail template rendered in English and Chinese
(with nothing of its English left in the Chinese one, and every string of it in the Chinese
catalogue), and mail through a real SMTP server in each recipient's stored language."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.util import pathmatch

from market import mail
from market.accounts import members, recovery
from market.accounts.models import User
from market.accounts.schemas import InvitationIn
from market.config import ROOT
from market.i18n import LOCALE_DIR
from market.notify import Notification
from tests.builders import (
    a_colleague,
    a_published_listing,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_offer,
    run_worker,
)

HOSTILE = "<script>alert(1)</script>"
EMAILS = ROOT / "templates" / "emails"
# Every mail a handler sends: the templates but the layout and the shared macros (`_*.txt`).
TEMPLATES = sorted(p.stem for p in EMAILS.glob("*.txt") if not p.name.startswith(("_", "layout")))
CJK = re.compile(r"[\u4e00-\u9fff]")
# Three English words in a row: a sentence a template wrote without `_()`.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}\b")


def template_strings(path: Path) -> list[str | tuple[str, ...]]:
    """The msgids of one mail template, extracted as `make messages` extracts them."""
    with (ROOT / "babel.cfg").open() as cfg:
        methods, options = parse_mapping_cfg(cfg)
    relative = path.relative_to(ROOT).as_posix()
    pattern, method = next((p, m) for p, m in methods if pathmatch(p, relative))
    found = extract_from_file(method, str(path), options=options.get(pattern, {}))
    return [message for _line, message, _comments, _context in found]


def english_phrases(message: str | tuple[str, ...]) -> set[str]:
    """The runs of two words or more of an English msgid, between its placeholders: none of
    them may be left in a Chinese mail."""
    texts = message if isinstance(message, tuple) else (message,)
    pieces = (p for text in texts for p in re.split(r"%\(\w+\)s|%%", text))
    return {p.strip() for p in pieces if len(re.findall(r"[A-Za-z]{2,}", p)) >= 2}


# User text in Chinese, so any English left in a Chinese mail is the template's.
def context(full: bool) -> dict[str, Any]:
    """A value for every variable of every mail template: `full` takes each optional branch
    (a message, a reason, a royalty...), else the plain one."""
    seller = NS(name="清华大学")
    buyer = NS(name="华为技术有限公司")
    org = NS(
        name="清华大学",
        kind="institute",
        country="CN",
        proposed_name="清华大学深圳研究院" if full else None,
        proposed_country="DE" if full else None,
    )
    return {
        "org": org,
        "inviter": NS(name="张三") if full else None,
        "role": "admin" if full else "member",
        "expires": "2026-03-01 09:00",
        "minutes": 60,
        "approved": not full,
        "reason": "费用太低" if full else "",
        "contract": NS(reference="TM-2026-0001"),
        "listing": NS(title="石墨烯膜", institute="清华大学"),
        "seller": seller,
        "buyer": buyer,
        "license": "Exclusive licence",
        "by_org": buyer,
        "version": 2,
        "amount": "50,000.00 USD",
        "cancel_on": "2026-03-01",
        "listing_licensed": full,
        "side": "buyer" if full else "seller",
        "offer": NS(seller=seller, buyer=buyer),
        "terms": NS(
            number=2, territories=["WORLD", "CN"], fields_of_use=["all", "光学"], term_months=60
        ),
        "fee": "50,000.00 USD",
        "royalty": "3.5" if full else "",
        "milestones": ["首次商业销售：10,000.00 USD"] if full else [],
        "author": "李四",
        "message": "我们想获得许可" if full else "",
        "turn": "buyer",
        "payment": NS(reference="PAY-0001", item="upfront" if full else "milestone-2"),
        "refunded": "1,000.00 USD",
        "intent": "pi_123",
        "differences": {"amount": NS(expected=5000000, found=4000000)},
        "activated": full,
        "receipt": "http://testserver/payments/1/receipt.pdf",
        "hours": 48,
        "reset": "http://testserver/password-reset",
        # A need as docking.service.public_view shows it: an anonymous one names no seeker.
        "need": NS(title="耐高通量海水淡化膜", seeker=buyer if full else None),
        "deadline": "2026-04-01",
        "previous_deadline": "2026-03-01",
        # A proposal's stage, its decline and thread, and a need's public question.
        "proposer": seller,
        "stage": "declined" if full else "shortlisted",
        "note": "价格超出预算" if full else "",
        "question": "膜的寿命有多长？",
        "answer": "至少五年。",
        # A saved search's digest (alerts/service.py send_digest).
        "search_name": "膜技术",
        "kind": "needs" if full else "listings",
        "items": [{"title": "石墨烯膜", "link": "http://testserver/listings/1"}],
        "total": 21 if full else 1,
        "more": 1 if full else 0,
        "unsubscribe": "http://testserver/saved-searches/unsubscribe/abc.def",
        "score": 72,
        # A meeting at the exhibition hall (hall/meeting_events.py): each side's time.
        "meeting_event": "2031 科技交易会",
        "person": "李四",
        "person_org": "清华大学",
        "when": "2031-05-20 17:00 (Asia/Shanghai)" if full else "",
        "their_when": "2031-05-20 11:00 (Europe/Berlin)",
        "table": 2 if full else None,
        "video_url": "https://meet.example.org/abc",
        # The hall: a meeting's follow-up reminder, an organiser's reminder to book.
        "event_name": "2026 中国技术交易会",
        "other": "王五",
        # The hall (hall/events.py): an event's name.
    }


def english_left(name: str, zh: mail.Mail) -> set[str]:
    """The template's English phrases (its own, its macros' and the layout's) in its Chinese
    rendering."""
    used = [f"{name}.txt", "_offer.txt", "_contract.txt", "_need.txt", "_meeting.txt", "layout.txt"]
    messages = [m for file in used for m in template_strings(EMAILS / file)]
    return {
        phrase
        for message in messages
        for phrase in english_phrases(message)
        if phrase in zh.text or phrase in zh.subject
    }


def test_every_mail_is_written_in_chinese_for_a_chinese_reader() -> None:
    # One test for all templates (each a few milliseconds) saves a table cleaning per case.
    for name in TEMPLATES:
        for full, greeted in ((True, "王五"), (False, "")):
            case = f"{name} ({'every branch' if full else 'plain'})"
            values = context(full)
            zh = mail.compose(name, locale="zh", link="http://t/x", name=greeted, **values)
            en = mail.compose(name, locale="en", link="http://t/x", name=greeted, **values)
            zh_greeting = zh.text.splitlines()[0]

            assert CJK.search(zh.subject), (case, zh.subject)
            assert CJK.search(zh_greeting) and greeted in zh_greeting, (case, zh_greeting)
            assert "您的全部通知" in zh.text, case
            assert zh.html and '<html lang="zh">' in zh.html, case
            assert not english_left(name, zh), (case, english_left(name, zh), zh.text)
            assert not ENGLISH.search(zh.text + zh.subject + zh.html), (case, zh.text)

            assert en.subject != zh.subject, case
            assert en.text.splitlines()[0] == (f"Hello {greeted}," if full else "Hello,"), case
            assert "All your notifications" in en.text, case


def test_every_string_of_the_mail_templates_has_a_chinese_translation() -> None:
    with (LOCALE_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale="zh")
    untranslated = []
    for path in sorted(EMAILS.iterdir()):
        for message in template_strings(path):
            msgid = message[0] if isinstance(message, tuple) else message
            entry = catalogue.get(msgid)
            strings = [] if entry is None else entry.string
            strings = [strings] if isinstance(strings, str) else list(strings)
            if entry is None or entry.fuzzy or not all(strings):
                untranslated.append((path.name, msgid))
    assert not untranslated, "run `make messages` and translate: " + repr(untranslated)


def test_a_subject_stays_one_line() -> None:
    made = mail.render_mail("New offer\r\nBcc: everyone@example.org", "Body", locale="en")
    assert made.subject == "New offer Bcc: everyone@example.org"
    subject, body = mail.render_message(
        "offer_rejected",
        locale="zh",
        listing={"title": "Line one\nline two"},
        by_org={"name": "ACME"},
        reason="",
    )
    assert "\n" not in subject and subject.startswith("ACME 拒绝了“Line one line two”")
    assert body.endswith("该报价已关闭。\n")


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_the_html_alternative_escapes_and_the_text_does_not(locale: str) -> None:
    made = mail.render_mail(
        "Subject " + HOSTILE,
        f"First {HOSTILE}\nsame paragraph\n\nSecond",
        locale=locale,
        link="http://x/y?a=1&b=2",
        name="Ada " + HOSTILE,
    )
    assert HOSTILE in made.text and "http://x/y?a=1&b=2" in made.text
    assert made.html is not None
    assert HOSTILE not in made.html and "&lt;script&gt;" in made.html
    assert "<p>First &lt;script&gt;alert(1)&lt;/script&gt;<br>same paragraph</p>" in made.html
    assert "<p>Second</p>" in made.html
    assert '<a href="http://x/y?a=1&amp;b=2">' in made.html


def test_an_unknown_or_odd_language_is_english() -> None:
    assert mail.locale_of(None) == "en"
    assert mail.locale_of(User(locale="fr")) == "en"
    assert mail.locale_of(User(locale="zh")) == "zh"
    with pytest.raises(ValueError):
        mail.environment("fr")


# --- through the real SMTP server ------------------------------------------------------------


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


async def test_each_recipient_reads_the_mail_in_their_own_language(
    settings, mailbox, redis_client
) -> None:
    seller, institute = await a_verified_institute()
    await User.filter(id=seller.id).update(locale="zh")
    colleague = await a_colleague(institute)  # English, as every account starts
    listing = await a_published_listing(seller)
    buyer, enterprise = await a_verified_enterprise()
    elsewhere, _ = await a_user()
    await User.filter(id=elsewhere.id).update(locale="zh")
    await run_worker(settings)
    mailbox.messages.clear()

    await an_offer(listing, buyer)
    for user in (seller, colleague):
        await recovery.request_reset(user.email)
    owner = await actor_of(await User.get(id=seller.id))
    for address in (elsewhere.email, "newcomer@example.org"):
        await members.invite(owner, InvitationIn(email=address))
    await run_worker(settings)

    offer_zh, reset_zh = sorted(
        mailbox.to(seller.email), key=lambda m: "password-reset" in text_of(m)
    )
    assert offer_zh["Subject"] == f"{enterprise.name} 对“{listing.title}”提出了新报价"
    assert text_of(offer_zh).startswith(f"{seller.name}，您好：")
    assert "许可类型：普通许可" in text_of(offer_zh) and "地域范围：全球" in text_of(offer_zh)
    assert "轮到您了" in text_of(offer_zh) and "您的全部通知" in text_of(offer_zh)
    assert '<html lang="zh">' in html_of(offer_zh) and "在 techmarket 上查看" in html_of(offer_zh)
    # The notification in the app is in the same language.
    note = await Notification.get(user_id=seller.id, link__contains="/offers/")
    assert note.subject == offer_zh["Subject"] and note.body.strip() in text_of(offer_zh)
    assert reset_zh["Subject"] == "重置您的 techmarket 密码"
    assert "60 分钟内有效" in text_of(reset_zh)

    offer_en, reset_en = sorted(
        mailbox.to(colleague.email), key=lambda m: "password-reset" in text_of(m)
    )
    assert offer_en["Subject"] == f"New offer on “{listing.title}” from {enterprise.name}"
    assert text_of(offer_en).startswith(f"Hello {colleague.name},")
    assert "Licence: Non-exclusive licence" in text_of(offer_en)
    assert '<html lang="en">' in html_of(offer_en)
    assert reset_en["Subject"] == "Reset your techmarket password"
    assert not CJK.search(text_of(offer_en) + text_of(reset_en))

    # An invitation is in the language of the address's account; English with none.
    [invited_zh] = mailbox.to(elsewhere.email)
    assert invited_zh["Subject"] == f"加入 techmarket 上的 {institute.name}"
    assert f"{seller.name} 邀请您以成员身份加入" in text_of(invited_zh)
    [invited_new] = mailbox.to("newcomer@example.org")
    assert invited_new["Subject"] == f"Join {institute.name} on techmarket"
    assert text_of(invited_new).startswith("Hello,")
