"""A deliberately tiny Markdown subset for listing descriptions, safe by construction.

Everything the user typed is HTML-escaped first; only then do a few patterns become tags:
paragraphs, `#` headings, `-`/`*` lists, **bold**, *italic*, `code` and [links](https://...)
to http(s) addresses only. Nothing else can produce markup, so hostile text stays text.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markupsafe import Markup

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$")
_ITEM = re.compile(r"^\s*[-*+]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
# Every pattern is bounded or stops at its own delimiter, so a hostile 50,000-character line
# costs linear time (no catastrophic backtracking).
# Runs on escaped text: `<`, `>` and quotes are entities already, so a URL cannot leave
# its attribute; the scheme test makes javascript:, data: and the like plain text.
_LINK = re.compile(r"\[([^\[\]\n]{1,300})\]\((https?://[^\s()]{1,2000})\)", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(?=\S)(.{1,200}?)(?<=\S)\*\*")
_ITALIC = re.compile(r"\*(?=\S)([^*]{1,500}?)(?<=\S)\*")

# A description sits under the page's h1 and its own h2, so `#` becomes h3.
HEADING_OFFSET = 2


def _emphasis(text: str) -> str:
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _ITALIC.sub(r"<em>\1</em>", text)


def _links_and_emphasis(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _LINK.finditer(text):
        out.append(_emphasis(text[pos : match.start()]))
        label, url = match.groups()
        out.append(f'<a href="{url}" rel="nofollow noopener">{_emphasis(label)}</a>')
        pos = match.end()
    out.append(_emphasis(text[pos:]))
    return "".join(out)


def _inline(escaped: str) -> str:
    """Code spans first, so nothing inside them is formatted."""
    parts = _CODE.split(escaped)
    return "".join(
        f"<code>{part}</code>" if i % 2 else _links_and_emphasis(part)
        for i, part in enumerate(parts)
    )


# A pure function of the text, shown on every view of a listing: each process keeps the
# recent ones rather than parsing the same description again (issue 16). Bounded, so hostile
# texts cannot grow it: 256 entries of at most 50,000 characters (and their HTML) each.
@lru_cache(maxsize=256)
def render(text: str | None) -> Markup:
    """Markdown subset -> safe HTML."""
    lines = html.escape(text or "", quote=True).replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(f"<p>{_inline(chr(10).join(paragraph))}</p>")
            paragraph.clear()
        if items:
            rendered = "".join(f"<li>{_inline(item)}</li>" for item in items)
            blocks.append(f"<ul>{rendered}</ul>")
            items.clear()

    for line in lines.split("\n"):
        if not line.strip():
            flush()
            continue
        if heading := _HEADING.match(line):
            flush()
            level = min(len(heading.group(1)) + HEADING_OFFSET, 6)
            text = heading.group(2).rstrip().rstrip("#").rstrip()
            blocks.append(f"<h{level}>{_inline(text)}</h{level}>")
        elif item := _ITEM.match(line):
            if paragraph:
                flush()
            items.append(item.group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()  # a wrapped list item
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    # Safe: every piece was escaped above before any tag was added.
    return Markup("\n".join(blocks))
