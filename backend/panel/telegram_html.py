"""A lesson text as Telegram will show it, for the panel's preview: safe HTML of Telegram's formatting only.

The bot sends lesson texts as Telegram HTML (bot/formatting.py parses it into entities: b/strong, i/em,
u/ins, s/strike/del, a href, code, pre, blockquote, tg-spoiler; other tags are dropped, their text kept).
Here the same text is sanitized: every character is escaped, then only those tags are written back, without
attributes other than a link's address (http, https, tg or mailto), and every tag is closed.
"""

from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from markupsafe import Markup

# Telegram's tag -> the tag the preview writes (spoilers become a styled <span>).
ALLOWED = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "span",
    "a": "a",
}
LINK_SCHEMES = frozenset({"http", "https", "tg", "mailto"})


def _safe_href(href: str | None) -> str | None:
    if not href:
        return None
    scheme = urlsplit(href.strip()).scheme.lower()
    return href.strip() if scheme in LINK_SCHEMES else None


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[tuple[str, str]] = []  # (Telegram's tag, the written tag; "" when none was)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "br":
            self.out.append("\n")
            return
        if tag == "span" and values.get("class") == "tg-spoiler":
            tag = "tg-spoiler"
        written = ALLOWED.get(tag, "")
        if tag == "a":
            href = _safe_href(values.get("href"))
            if href is None:
                written = ""  # Telegram shows a link without an address as plain text
            else:
                link = f'<a href="{escape(href)}" rel="noopener noreferrer nofollow" target="_blank">'
                self.out.append(link)
        elif tag == "tg-spoiler":
            self.out.append('<span class="tg-spoiler">')
        elif written:
            self.out.append(f"<{written}>")
        self.open.append((tag, written))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            name = self.open[index][0]
            if name == tag or (tag == "span" and name == "tg-spoiler"):
                # Closing an outer tag closes the ones opened inside it too.
                for _, written in reversed(self.open[index:]):
                    if written:
                        self.out.append(f"</{written}>")
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data, quote=False))

    def result(self) -> str:
        self.close()
        for _, written in reversed(self.open):
            if written:
                self.out.append(f"</{written}>")
        return "".join(self.out)


def preview_html(text: str) -> Markup:
    """Safe HTML for a Telegram-HTML text: only Telegram's formatting tags, every other character escaped."""
    sanitizer = _Sanitizer()
    sanitizer.feed(text)
    # Markup: what is left is markup the sanitizer wrote itself, around escaped text.
    return Markup(sanitizer.result())  # noqa: S704
