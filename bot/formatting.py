"""Turning lesson text (Telegram HTML) into messages within Telegram's 4096-character limit.

The HTML is parsed into plain text plus entities, split at paragraph or line boundaries, and each part
sent with its own entities, so formatting survives the split (cutting HTML would break tags).
"""

import itertools
from html.parser import HTMLParser

from aiogram.types import MessageEntity

MESSAGE_LIMIT = 4096

_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
    "a": "text_link",
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts offsets and limits in."""
    return len(text.encode("utf-16-le")) // 2


class _EntityParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.open: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[MessageEntity] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.handle_data("\n")
        elif tag in _TAG_ENTITIES or tag == "span":
            self.open.append((tag, self.length, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            name, start, attrs = self.open[index]
            if name != tag:
                continue
            del self.open[index]
            if tag == "code" and index > 0 and self.open[index - 1][0] == "pre":
                # <pre><code class="language-x"> is one pre entity with a language, as Telegram reads it.
                language = (attrs.get("class") or "").removeprefix("language-")
                if language:
                    self.open[index - 1][2]["language"] = language
                return
            kind = _TAG_ENTITIES.get(tag)
            if tag == "span" and attrs.get("class") == "tg-spoiler":
                kind = "spoiler"
            if tag == "blockquote" and "expandable" in attrs:
                kind = "expandable_blockquote"
            if kind and self.length > start:
                extra: dict[str, str | None] = {}
                if kind == "text_link":
                    if not attrs.get("href"):
                        return
                    extra["url"] = attrs["href"]
                elif kind == "pre" and attrs.get("language"):
                    extra["language"] = attrs["language"]
                self.entities.append(
                    MessageEntity(type=kind, offset=start, length=self.length - start, **extra)
                )
            return

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += utf16_len(data)


def parse_html(html: str) -> tuple[str, list[MessageEntity]]:
    """Plain text and entities (UTF-16 offsets) of a Telegram-HTML string; unknown tags are dropped."""
    parser = _EntityParser()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts), sorted(parser.entities, key=lambda e: (e.offset, -e.length))


def _cut_points(text: str, limit: int) -> list[int]:
    """Character indexes where to cut so that every part is at most `limit` UTF-16 units."""
    cuts, start = [], 0
    while utf16_len(text[start:]) > limit:
        end = start
        units = 0
        while end < len(text) and units + utf16_len(text[end]) <= limit:
            units += utf16_len(text[end])
            end += 1
        window = text[start:end]
        for separator in ("\n\n", "\n", " "):
            position = window.rfind(separator)
            if position > len(window) // 2:
                end = start + position + len(separator)
                break
        cuts.append(end)
        start = end
    return cuts


def split_message(
    text: str, entities: list[MessageEntity], limit: int = MESSAGE_LIMIT
) -> list[tuple[str, list[MessageEntity]]]:
    """Split text with entities into parts of at most `limit` UTF-16 units, clipping entities to each part."""
    bounds = [0, *_cut_points(text, limit), len(text)]
    parts = []
    for start, end in itertools.pairwise(bounds):
        # Telegram trims whitespace around a message, which would shift the entities: trim it here.
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end:
            continue
        offset_start, offset_end = utf16_len(text[:start]), utf16_len(text[:end])
        clipped = []
        for entity in entities:
            begin = max(entity.offset, offset_start)
            finish = min(entity.offset + entity.length, offset_end)
            if finish > begin:
                clipped.append(
                    entity.model_copy(update={"offset": begin - offset_start, "length": finish - begin})
                )
        parts.append((text[start:end], clipped))
    return parts
