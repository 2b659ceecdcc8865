"""One HTML parser for the page tests: ids, label targets, controls, forms and links."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Collects forms (with their inputs), controls, labels, ids and links from rendered HTML.

    A form is its attributes plus `inputs`; `method` is lower-cased, "get" when the form has none.
    A control is its attributes plus `tag` (input, select or textarea).
    """

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.controls: list[dict] = []
        self.label_for: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self._form: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "form":
            self._form = {**a, "method": (a.get("method") or "get").lower(), "inputs": []}
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea"):
            self.controls.append({"tag": tag, **a})
            if self._form is not None:
                self._form["inputs"].append(a)
        elif tag == "label" and "for" in a:
            self.label_for.append(a["for"])
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
