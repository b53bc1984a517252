"""Setup mistakes caught before a process starts, each reported as one line that says what to fix.

Every entry point (the API's lifespan, `python -m backend.seed`, `python -m bot`, `python -m bot.reconcile`)
runs these checks before it migrates, and turns a SetupError into its message and a failed start: a
traceback would bury the one thing the user has to change.
"""

import logging
import os
import shlex
import socket
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import URL, make_url

from shared.config import BOT_TOKEN_PATTERN
from shared.utils import normalize_database_url

logger = logging.getLogger(__name__)

# TELEGRAM_BOT_TOKEN values that mean "no bot": unset, or the placeholder of .env.example.
BOT_TOKEN_PLACEHOLDERS = frozenset({"", "your-bot-token"})
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# Where CREATE DATABASE is sent from: the maintenance database every cluster has, else the template.
POSTGRES_MAINTENANCE_DATABASES = ("postgres", "template1")


class SetupError(Exception):
    """A mistake in the setup (settings, database server); its message is the one line to show."""


def check_bot_token(token: str) -> bool:
    """Whether the bot should run: False when TELEGRAM_BOT_TOKEN is unset (empty or the placeholder),
    True when it looks like a token, SetupError when it is set to something that cannot be one."""
    if token.strip() in BOT_TOKEN_PLACEHOLDERS:
        return False
    if BOT_TOKEN_PATTERN.fullmatch(token):
        return True
    # The token itself is never shown: it is a secret, and a malformed one is often a real one mistyped.
    hint = (
        " (remove the spaces or quotes around it)"
        if BOT_TOKEN_PATTERN.fullmatch(token.strip(" \t'\""))
        else ""
    )
    raise SetupError(
        f"TELEGRAM_BOT_TOKEN is malformed{hint}: a token from @BotFather looks like 123456789:AAE1b2C3... "
        "(digits, a colon, then 30 or more letters, digits, - or _); leave it empty to run without the bot"
    )


async def check_database(url: str) -> None:
    """Make the database of DATABASE_URL ready to be migrated, or say in a SetupError why it cannot be."""
    check_database_location(url)
    await prepare_database_server(url)


def _parse(url: str) -> URL:
    return make_url(normalize_database_url(url))


def check_database_location(url: str) -> None:
    """An SQLite file must be creatable and writable where DATABASE_URL puts it; a missing directory is
    created (as SQLite creates a missing file). Does nothing for other databases and in-memory SQLite."""
    parsed = _parse(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if parsed.query.get("uri") == "true" or database.startswith("file:"):
        # An SQLite URI (file:...?mode=...): its options decide what opening means; SQLite reports it.
        return
    path = Path(database).absolute()
    directory = path.parent
    if path.is_dir():
        raise SetupError(
            f"DATABASE_URL names {path}, which is a directory: name a file in it, e.g. {path}/lessons.db"
        )
    if not directory.exists():
        existing = next(parent for parent in directory.parents if parent.exists())
        if not existing.is_dir():
            raise SetupError(
                f"Cannot create the database {path}: {existing} is a file, not a directory (DATABASE_URL)"
            )
        try:
            directory.mkdir(parents=True)
        except OSError as error:
            raise SetupError(
                f"Cannot create the directory {directory} for the database {path}: {error.strerror} "
                "(DATABASE_URL)"
            ) from None
        logger.info("Created the directory %s for the SQLite database", directory)
    elif not directory.is_dir():
        raise SetupError(
            f"Cannot create the database {path}: {directory} is a file, not a directory (DATABASE_URL)"
        )
    # Also for an existing file: in WAL mode SQLite creates its -wal and -shm files beside it.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SetupError(
            f"Cannot write the database {path}: the directory {directory} is not writable for this user "
            "(DATABASE_URL; SQLite keeps its journal files beside the database)"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise SetupError(
            f"Cannot write the database {path}: the file is not writable for this user (DATABASE_URL)"
        )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(error: BaseException) -> str:
    # asyncpg adds the server's DETAIL and HINT on lines of their own.
    return str(error).partition("\n")[0]


def _unreachable_reason(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {POSTGRES_CONNECT_TIMEOUT_SECONDS} s"
    if isinstance(error, ConnectionRefusedError) or "Connect call failed" in str(error):
        # asyncpg reports a refusal on every address of a name (IPv4 and IPv6) as one "Multiple exceptions".
        return "connection refused"
    return _first_line(error)


async def prepare_database_server(url: str) -> None:
    """A PostgreSQL server must answer and accept the user; a missing database is created (the user needs
    the CREATEDB right for that). Does nothing for SQLite."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "postgresql":
        return
    # What SQLAlchemy will connect with (host, port, user, password, database, ssl...), minus its own options.
    _, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    for option in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"):
        kwargs.pop(option, None)
    kwargs.setdefault("timeout", POSTGRES_CONNECT_TIMEOUT_SECONDS)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    user = repr(parsed.username) if parsed.username else "the default user"
    try:
        connection = await asyncpg.connect(**kwargs)
    except asyncpg.InvalidCatalogNameError:
        if not parsed.database:
            raise SetupError(
                f"The default database of {user} does not exist on {where}: name the database in "
                "DATABASE_URL (postgresql://user:password@host:5432/lessons)"
            ) from None
        await _create_database(kwargs, parsed, where=where, user=user)
        return
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise SetupError(
            f"PostgreSQL at {where} refused user {user}: {_first_line(error)}; "
            "check the user and password in DATABASE_URL"
        ) from None
    except socket.gaierror:
        raise SetupError(
            f"Cannot reach PostgreSQL at {where} (unknown host): check the host name in DATABASE_URL"
        ) from None
    except OSError as error:
        raise SetupError(
            f"Cannot reach PostgreSQL at {where} ({_unreachable_reason(error)}): is PostgreSQL running?"
        ) from None
    except asyncpg.PostgresError as error:
        raise SetupError(f"PostgreSQL at {where} refused the connection: {_first_line(error)}") from None
    await connection.close()


async def _create_database(kwargs: dict[str, Any], parsed: URL, *, where: str, user: str) -> None:
    name = str(parsed.database)
    for maintenance in POSTGRES_MAINTENANCE_DATABASES:
        try:
            connection = await asyncpg.connect(**{**kwargs, "database": maintenance})
        except asyncpg.InvalidCatalogNameError:
            continue
        except (OSError, asyncpg.PostgresError) as error:
            raise SetupError(
                f"The database {name!r} does not exist on {where}, and connecting to {maintenance!r} "
                f"to create it failed: {_first_line(error)}"
            ) from None
        break
    else:
        raise SetupError(f"The database {name!r} does not exist on {where}: create it (DATABASE_URL)")
    try:
        await connection.execute(f"CREATE DATABASE {_quote_identifier(name)}")
    except asyncpg.InsufficientPrivilegeError:
        createdb = f"createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432} {shlex.quote(name)}"
        raise SetupError(
            f"The database {name!r} does not exist on {where} and user {user} may not create it: "
            f"create it as a user who may ({createdb}) or give {user} the CREATEDB right"
        ) from None
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        # Another process (the bot beside the API, another replica) created it meanwhile: PostgreSQL says so
        # as a duplicate database, or, when both CREATEs ran at the same moment, as pg_database's unique key.
        return
    finally:
        await connection.close()
    logger.info("Created the PostgreSQL database %r on %s (it did not exist)", name, where)
