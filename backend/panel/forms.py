"""Forms of the panel: the values a browser posted, checked by the API's own schemas (shared/schemas.py),
and their errors as a message per field, in the page's language, to show beside the fields."""

from typing import Any, Literal

from fastapi import Request
from pydantic import ValidationError

from backend.panel.templating import language_of, panel_translator

# The pydantic error types the catalogs explain (form-error-<type>); any other is "form-error-invalid".
EXPLAINED = frozenset(
    {
        "missing",
        "string_too_short",
        "string_too_long",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "int_parsing",
        "int_type",
        "bool_parsing",
        "datetime_parsing",
        "datetime_from_date_parsing",
        "date_parsing",
        "literal_error",
        "enum",
        "url_parsing",
    }
)
LIMIT_KEYS = ("min_length", "max_length", "gt", "ge", "lt", "le")
# The same errors under another type: a constrained str with its own validators (SafeStr passwords).
ALIASES = {"too_short": "string_too_short", "too_long": "string_too_long"}


async def posted(request: Request, *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The posted form as a dict of text values (a repeated field as a list), trimmed; the `optional`
    fields left empty are None, which the schemas read as "not given" rather than as a bad value."""
    form = await request.form()
    values: dict[str, Any] = {}
    for key in form:
        items = [value.strip() if isinstance(value, str) else value for value in form.getlist(key)]
        values[key] = items if len(items) > 1 else items[0]
    for key in optional:
        if values.get(key) in ("", None):
            values[key] = None
    return values


def field_errors(request: Request, error: ValidationError) -> dict[str, str]:
    """The first error of each field, translated; errors not tied to a field (a rule across fields) under
    "__all__"."""
    t = panel_translator(language_of(request)).plain
    messages: dict[str, str] = {}
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "__all__"
        if field in messages:
            continue
        context = item.get("ctx") or {}
        kind = ALIASES.get(item["type"], item["type"])
        limit = next((context[key] for key in LIMIT_KEYS if key in context), "")
        if kind == "string_too_short" and limit == 1:
            kind = "missing"  # an empty text where one is needed
        if kind in EXPLAINED:
            # A number stays a number, so that the catalogs choose its plural form ("1 character").
            messages[field] = t(f"form-error-{kind.replace('_', '-')}", limit=limit)
        elif item["type"] == "value_error":
            # Our own validators' rules (English, as the API answers them).
            messages[field] = str(context.get("error", item["msg"]))
        else:
            messages[field] = t("form-error-invalid")
    return messages


# A list page's yes/no filter as its query parameter: "" (either), "true" or "false".
YesNoFilter = Literal["", "true", "false"]


def yes_no(value: YesNoFilter) -> bool | None:
    """The filter's value for a service's get_all (None: not filtered)."""
    return None if value == "" else value == "true"
