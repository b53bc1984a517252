"""Small helpers shared by the core, the bot and the tests."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC and convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalize_database_url(url: str) -> str:
    """Turn the URL forms users write into ones with an async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"DATABASE_URL is not a URL: {url!r}")
    base, _, driver = scheme.partition("+")
    base = base.lower()
    if base == "postgres":
        base = "postgresql"
    if base == "sqlite":
        driver = "aiosqlite"
    elif base == "postgresql":
        driver = "asyncpg"
    else:
        raise ValueError(f"Unsupported database {base!r} in DATABASE_URL; use sqlite or postgresql")
    return f"{base}+{driver}://{rest}"


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so user search text matches literally (use with escape='\\\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
