"""Unit tests of bot/formatting.py: Telegram HTML to text + entities, and splitting at Telegram's limit."""

from aiogram.types import MessageEntity

from bot.formatting import MESSAGE_LIMIT, parse_html, split_message, utf16_len


def _entities(entities: list[MessageEntity]) -> list[dict]:
    return [e.model_dump(exclude_none=True) for e in entities]


def _slice(text: str, entity: MessageEntity) -> str:
    """The text an entity covers (offsets are in UTF-16 code units)."""
    raw = text.encode("utf-16-le")
    return raw[2 * entity.offset : 2 * (entity.offset + entity.length)].decode("utf-16-le")


# parse_html ---------------------------------------------------------------------------------------------


def test_utf16_len_counts_astral_characters_twice():
    assert utf16_len("abc") == 3
    assert utf16_len("🚀") == 2
    assert utf16_len("é") == 1
    assert utf16_len("👍🏽") == 4


def test_parse_plain_text():
    assert parse_html("just text") == ("just text", [])


def test_entity_offsets_are_utf16_after_emoji():
    text, entities = parse_html("🚀🚀 <b>go</b> <i>on ⛵</i>")

    assert text == "🚀🚀 go on ⛵"
    assert _entities(entities) == [
        {"type": "bold", "offset": 5, "length": 2},
        {"type": "italic", "offset": 8, "length": 4},
    ]
    assert [_slice(text, e) for e in entities] == ["go", "on ⛵"]


def test_character_references_are_decoded_and_counted_once():
    text, entities = parse_html("&lt;tag&gt; &amp; <b>&quot;x&quot;</b>")

    assert text == '<tag> & "x"'
    assert _entities(entities) == [{"type": "bold", "offset": 8, "length": 3}]


def test_nested_and_overlapping_tags():
    text, entities = parse_html("<b>bold <i>both</i></b> <u><s>us</s></u>")

    assert text == "bold both us"
    assert _entities(entities[:2]) == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 5, "length": 4},
    ]
    assert sorted(e.type for e in entities[2:]) == ["strikethrough", "underline"]
    assert all((e.offset, e.length) == (10, 2) for e in entities[2:])


def test_tag_synonyms():
    _, entities = parse_html("<strong>a</strong><em>b</em><ins>c</ins><del>d</del><strike>e</strike>")

    assert [e.type for e in entities] == ["bold", "italic", "underline", "strikethrough", "strikethrough"]


def test_links_spoilers_code_and_quotes():
    text, entities = parse_html(
        '<a href="https://example.com/?a=1&amp;b=2">site</a> <span class="tg-spoiler">s1</span> '
        "<tg-spoiler>s2</tg-spoiler> <code>c</code> <blockquote>q</blockquote> "
        "<blockquote expandable>long</blockquote>"
    )

    assert text == "site s1 s2 c q long"
    assert _entities(entities) == [
        {"type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/?a=1&b=2"},
        {"type": "spoiler", "offset": 5, "length": 2},
        {"type": "spoiler", "offset": 8, "length": 2},
        {"type": "code", "offset": 11, "length": 1},
        {"type": "blockquote", "offset": 13, "length": 1},
        {"type": "expandable_blockquote", "offset": 15, "length": 4},
    ]


def test_pre_with_a_language_is_one_entity():
    text, entities = parse_html('<pre><code class="language-python">x = 1\ny = 2</code></pre>')

    assert text == "x = 1\ny = 2"
    assert _entities(entities) == [{"type": "pre", "offset": 0, "length": 11, "language": "python"}]


def test_pre_with_plain_code_inside_is_one_entity():
    _, entities = parse_html("<pre><code>x</code></pre>")

    assert _entities(entities) == [{"type": "pre", "offset": 0, "length": 1}]


def test_unknown_tags_are_dropped_but_their_text_kept():
    text, entities = parse_html("<p>one</p><div>two <b>three</b></div><span>four</span>")

    assert text == "onetwo threefour"
    assert _entities(entities) == [{"type": "bold", "offset": 7, "length": 5}]


def test_link_without_href_and_empty_tags_make_no_entity():
    text, entities = parse_html("<a>no link</a> <b></b>x")

    assert text == "no link x"
    assert entities == []


def test_line_breaks_and_newlines_are_kept():
    text, _ = parse_html("a<br>b<br/>c\nd\n\ne")

    assert text == "a\nb\nc\nd\n\ne"


def test_a_lone_less_than_sign_is_text():
    assert parse_html("1 < 2 and 3 > 2") == ("1 < 2 and 3 > 2", [])


# split_message ------------------------------------------------------------------------------------------


def test_short_text_is_one_part_unchanged():
    text, entities = parse_html("<b>short</b> text")

    assert split_message(text, entities) == [(text, entities)]


def test_text_of_exactly_the_limit_is_one_part():
    text = "x" * MESSAGE_LIMIT

    assert split_message(text, []) == [(text, [])]


def test_empty_or_blank_text_has_no_parts():
    assert split_message("", []) == []
    assert split_message(" \n\n \t", []) == []


def test_split_prefers_paragraph_boundaries():
    first, second, third = "a" * 30, "b" * 30, "c" * 30
    text = f"{first}\n{second}\n\n{third}"

    parts = split_message(text, [], limit=70)

    assert [part for part, _ in parts] == [f"{first}\n{second}", third]


def test_split_at_a_line_then_at_a_space_then_anywhere():
    assert [p for p, _ in split_message("a" * 30 + "\n" + "b" * 30, [], limit=40)] == ["a" * 30, "b" * 30]
    assert [p for p, _ in split_message("a" * 30 + " " + "b" * 30, [], limit=40)] == ["a" * 30, "b" * 30]
    assert [p for p, _ in split_message("a" * 100, [], limit=40)] == ["a" * 40, "a" * 40, "a" * 20]


def test_a_separator_too_early_is_not_used():
    # Cutting at the space would make a 5-character part: a full part is better.
    text = "a" * 5 + " " + "b" * 60

    parts = [p for p, _ in split_message(text, [], limit=40)]

    assert parts == [text[:40], text[40:]]


def test_parts_fit_in_utf16_units_and_never_cut_an_emoji():
    text = "🚀" * 5000

    parts = [p for p, _ in split_message(text, [])]

    assert "".join(parts) == text
    assert [utf16_len(p) for p in parts] == [4096, 4096, 1808]


def test_long_real_text_parts_fit_the_limit():
    text, entities = parse_html(("Word 🚤 <b>bold</b> and <i>italic</i>. " * 40 + "\n") * 20)

    parts = split_message(text, entities)

    assert len(parts) >= 3
    assert all(utf16_len(part) <= MESSAGE_LIMIT for part, _ in parts)
    for part, part_entities in parts:
        for entity in part_entities:
            assert entity.offset >= 0
            assert entity.offset + entity.length <= utf16_len(part)
            assert _slice(part, entity) in ("bold", "italic")


def test_entity_across_a_cut_is_clipped_into_both_parts():
    text, entities = parse_html("intro " + "<b>" + "x" * 30 + "\n\n" + "y" * 30 + "</b> outro")

    parts = split_message(text, entities, limit=45)

    assert [p for p, _ in parts] == ["intro " + "x" * 30, "y" * 30 + " outro"]
    assert _entities(parts[0][1]) == [{"type": "bold", "offset": 6, "length": 30}]
    assert _entities(parts[1][1]) == [{"type": "bold", "offset": 0, "length": 30}]


def test_entity_clipping_keeps_link_urls_and_languages():
    text, entities = parse_html(
        '<a href="https://e.x">'
        + "l" * 30
        + " "
        + "m" * 30
        + '</a><pre><code class="language-go">'
        + "g" * 10
        + "</code></pre>"
    )

    parts = split_message(text, entities, limit=40)

    assert _entities(parts[0][1]) == [{"type": "text_link", "offset": 0, "length": 30, "url": "https://e.x"}]
    assert _entities(parts[1][1]) == [
        {"type": "text_link", "offset": 0, "length": 30, "url": "https://e.x"},
        {"type": "pre", "offset": 30, "length": 10, "language": "go"},
    ]


def test_whitespace_around_parts_is_trimmed_and_offsets_follow():
    text, entities = parse_html("  \n" + "a" * 30 + "\n\n   <b>" + "b" * 10 + "</b>  \n\n  ")

    parts = split_message(text, entities, limit=40)

    assert [p for p, _ in parts] == ["a" * 30, "b" * 10]
    assert parts[0][1] == []
    assert _entities(parts[1][1]) == [{"type": "bold", "offset": 0, "length": 10}]


def test_entity_only_on_trimmed_whitespace_is_dropped():
    text, entities = parse_html("a" * 30 + "<b>\n\n</b>" + "b" * 30)

    parts = split_message(text, entities, limit=40)

    assert [p for p, _ in parts] == ["a" * 30, "b" * 30]
    assert all(part_entities == [] for _, part_entities in parts)


def test_offsets_after_emoji_in_a_later_part():
    text, entities = parse_html("🚀" * 25 + "\n\n" + "🚀 <b>go</b>")

    parts = split_message(text, entities, limit=55)

    assert parts[0][0] == "🚀" * 25
    assert parts[1][0] == "🚀 go"
    assert _entities(parts[1][1]) == [{"type": "bold", "offset": 3, "length": 2}]
