import re
from pathlib import Path

import pytest
from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import FluentParser, ast, visitor

from backend.services.exceptions import PromoCodeNotApplicable
from bot.app import COMMANDS, set_commands
from bot.i18n import LANGUAGES, LOCALES_DIR, language_for, translator
from bot.tests.bot_api_double import user
from bot.tests.helpers import send

BOT_DIR = Path(__file__).resolve().parents[1]
# t("key"), t.plain("key"), with the key as a literal.
LITERAL_KEY = re.compile(r"""\bt(?:\.plain)?\(\s*["']([a-z][a-z0-9-]*)["']""")
# Keys built at run time: f"command-{name}" and f"promo-{reason}" (see bot/app.py and handlers/payments.py).
DYNAMIC_KEYS = {
    "command-": [f"command-{name}" for name in COMMANDS],
    "promo-": [
        f"promo-{cls('X').reason.replace('_', '-')}"  # type: ignore[call-arg]
        for cls in PromoCodeNotApplicable.__subclasses__()
    ],
}


def _catalog(language: str) -> ast.Resource:
    return FluentParser().parse((LOCALES_DIR / language / "bot.ftl").read_text(encoding="utf-8"))


def _messages(language: str) -> dict[str, ast.Message]:
    return {entry.id.name: entry for entry in _catalog(language).body if isinstance(entry, ast.Message)}


class _Variables(visitor.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_VariableReference(self, node: ast.VariableReference) -> None:
        self.names.add(node.id.name)


def _variables(message: ast.Message) -> set[str]:
    found = _Variables()
    found.visit(message)
    return found.names


def _keys_used_in_code() -> set[str]:
    keys: set[str] = set()
    for path in BOT_DIR.rglob("*.py"):
        if "tests" in path.relative_to(BOT_DIR).parts:
            continue
        source = path.read_text(encoding="utf-8")
        keys.update(LITERAL_KEY.findall(source))
        for prefix, expanded in DYNAMIC_KEYS.items():
            if f'f"{prefix}{{' in source:
                keys.update(expanded)
    return keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_parses_without_errors(language):
    junk = [entry for entry in _catalog(language).body if isinstance(entry, ast.Junk)]

    assert junk == []


def test_both_catalogs_have_the_same_ids():
    assert set(_messages("en")) == set(_messages("ru"))


def test_every_id_used_in_the_code_is_in_both_catalogs():
    used = _keys_used_in_code()

    assert len(used) > 40
    assert "welcome" in used
    assert "promo-used-up" in used
    assert "command-paysupport" in used
    for language in LANGUAGES:
        assert used - set(_messages(language)) == set(), language


def test_translations_use_the_same_variables():
    english, russian = _messages("en"), _messages("ru")

    for key, message in english.items():
        assert _variables(message) == _variables(russian[key]), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_without_errors(language):
    bundle = FluentBundle([language], use_isolating=False)
    bundle.add_resource(FluentResource((LOCALES_DIR / language / "bot.ftl").read_text(encoding="utf-8")))

    for key, message in _messages(language).items():
        args = {name: 3 if name in {"count", "id", "page", "pages"} else "x" for name in _variables(message)}
        value, errors = bundle.format_pattern(bundle.get_message(key).value, args)
        assert errors == [], key
        assert value.strip(), key


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "1 урок:"),
        (3, "3 урока:"),
        (5, "5 уроков:"),
        (11, "11 уроков:"),
        (21, "21 урок:"),
        (22, "22 урока:"),
    ],
)
def test_russian_plural_forms(count, expected):
    t = translator("ru")

    assert t("course-lessons", count=count) == expected
    assert t("library-title", count=count) == f"📂 У вас {expected}"


def test_russian_plural_forms_in_the_payment_thanks():
    t = translator("ru")

    assert "ваш: 1 урок —" in t("payment-thanks-course", title="X", count=1)
    assert "ваш: 3 урока —" in t("payment-thanks-course", title="X", count=3)
    assert "ваш: 5 уроков —" in t("payment-thanks-course", title="X", count=5)


def test_english_plural_forms():
    t = translator("en")

    assert t("course-lessons", count=1) == "1 lesson:"
    assert t("course-lessons", count=2) == "2 lessons:"
    assert t("library-title", count=1) == "📂 You have 1 lesson:"


@pytest.mark.parametrize("language", LANGUAGES)
def test_request_and_purchase_numbers_are_not_grouped(language):
    t = translator(language)

    assert "12345" in t("support-created", id=12345)
    assert "12345" in t.plain("support-subject-payment", id=12345)
    assert "12345" in t.plain("support-answer", id=12345, answer="ok")
    assert "12345" in t.plain("paysupport-purchase-button", id=12345, title="X", amount=5)


def test_arguments_are_escaped_for_html_but_not_for_plain_text():
    t = translator("en")

    assert t("welcome", name="<Ann & Co>").startswith("Hi, &lt;Ann &amp; Co&gt;!")
    assert t.plain("support-answer", id=1, answer="<b>").endswith("<b>")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_long_text_arguments_are_kept_whole(language: str):
    # Fluent alone turns a message with a text argument over 2,500 characters into "{???}".
    t = translator(language)
    answer = "<" + "x" * 9_998 + ">"

    assert t.plain("support-answer", id=7, answer=answer).endswith("\n\n" + answer)
    assert t("support-answer", id=7, answer=answer).endswith("\n\n&lt;" + "x" * 9_998 + "&gt;")


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("RU", "ru"),
        ("en", "en"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_for_telegram_codes(code, language):
    assert language_for(code) == language
    assert translator(code).language == language


def test_translators_are_shared_per_language():
    assert translator("de") is translator("en") is translator("pt-BR")
    assert translator("ru-RU") is translator("ru")


@pytest.mark.usefixtures("polling_bot")
async def test_russian_user_gets_russian_texts(telegram):
    [reply] = await send(telegram, user(120, "Иван", language_code="ru"), "/start")

    assert reply["text"].startswith("Привет, Иван! 👋")


@pytest.mark.usefixtures("polling_bot")
async def test_german_user_gets_english_texts(telegram):
    [reply] = await send(telegram, user(121, "Hans", language_code="de"), "/start")

    assert reply["text"].startswith("Hi, Hans! 👋")


@pytest.mark.usefixtures("polling_bot")
async def test_user_without_language_gets_english_texts(telegram):
    [reply] = await send(telegram, user(122, "Nobody", language_code=None), "/mylessons")

    assert reply["text"] == "You have no lessons yet. Start with a free one in 📚 Lessons."


async def test_command_menu_in_both_languages(telegram, bot):
    await set_commands(bot)

    calls = telegram.calls_to("setMyCommands")
    by_language = {call.get("language_code"): call["commands"] for call in calls}
    assert set(by_language) == {None, "ru"}
    assert [c["command"] for c in by_language[None]] == list(COMMANDS)
    assert by_language[None][0]["description"] == "Main menu"
    assert by_language["ru"][0]["description"] == "Главное меню"
