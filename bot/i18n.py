"""The bot's translations: the Fluent machinery lives in shared.i18n (the panel uses it too), the texts in
shared/locales/<language>/bot.ftl."""

from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, LOCALES_DIR, Translator, language_for, translator

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALES_DIR", "Translator", "language_for", "translator"]
