"""Translations shared by the bot and the admin panel: Fluent catalogs in shared/locales/<language>/, one
per edge (the bot's bot.ftl; the panel's panel.ftl with a panel-<page>.ftl per page area), English as the
fallback."""

import html
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from fluent.runtime import FluentLocalization, FluentResourceLoader

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ru")
BOT_CATALOG = "bot"
PANEL_CATALOG = "panel"
CATALOGS = (BOT_CATALOG, PANEL_CATALOG)
# fluent.runtime's limit on a text argument (resolver.MAX_PART_LENGTH), with room to spare.
FLUENT_ARGUMENT_LIMIT = 2000


def catalog_files(catalog: str, language: str = DEFAULT_LANGUAGE) -> list[Path]:
    """The files of a catalog in one language: <catalog>.ftl, then <catalog>-*.ftl in name order."""
    folder = LOCALES_DIR / language
    return [folder / f"{catalog}.ftl", *sorted(folder.glob(f"{catalog}-*.ftl"))]


def language_for(code: str | None) -> str:
    """The catalog language for a language code ("ru-RU" -> "ru"; unknown -> English)."""
    base = (code or "").split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """Looks up a message id of one catalog in one language, falling back to English."""

    def __init__(self, language: str, catalog: str = BOT_CATALOG) -> None:
        self.language = language
        self.catalog = catalog
        chain = [language] if language == DEFAULT_LANGUAGE else [language, DEFAULT_LANGUAGE]
        # The file names are the English catalog's; every language has the same files (a test checks).
        resources = [file.name for file in catalog_files(catalog)]
        self._localization = FluentLocalization(
            chain, resources, FluentResourceLoader(str(LOCALES_DIR / "{locale}")), use_isolating=False
        )

    def __call__(self, key: str, **args: Any) -> str:
        """The message for an HTML-formatted Telegram message: text arguments are escaped."""
        escaped = {
            name: html.escape(value) if isinstance(value, str) else value for name, value in args.items()
        }
        return self._format(key, escaped)

    def plain(self, key: str, **args: Any) -> str:
        """The message as plain text (buttons, alerts, invoices; the panel's templates escape it)."""
        return self._format(key, args)

    def _format(self, key: str, args: dict[str, Any]) -> str:
        # Fluent refuses a text argument over 2,500 characters (the whole message becomes "{???}"), and a
        # ticket's answer may hold 10,000: long texts go in as markers and are put in afterwards.
        long_texts: dict[str, str] = {}
        for name, value in args.items():
            if isinstance(value, str) and len(value) > FLUENT_ARGUMENT_LIMIT:
                marker = f"\ue000{uuid.uuid4().hex}\ue000"
                long_texts[marker] = value
                args = {**args, name: marker}
        text = self._localization.format_value(key, args)
        for marker, value in long_texts.items():
            text = text.replace(marker, value)
        return text


def translator(code: str | None, catalog: str = BOT_CATALOG) -> Translator:
    """The translator of a catalog for a language code (any code: "de", "ru-RU", None...)."""
    return _translator(language_for(code), catalog)


# Keyed by catalog language, not by the raw code: every distinct code would otherwise evict a cached
# translator and re-read the catalogs from disk.
@lru_cache(maxsize=len(LANGUAGES) * len(CATALOGS))
def _translator(language: str, catalog: str) -> Translator:
    return Translator(language, catalog)
