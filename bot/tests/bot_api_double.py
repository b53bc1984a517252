"""A test double of the Telegram Bot API.

:class:`BotAPIDouble` is a real HTTP server on loopback that speaks the Bot API's wire format, so the bot
under test talks to it exactly as it would talk to ``https://api.telegram.org``: point ``TELEGRAM_API_URL``
(aiogram: ``TelegramAPIServer.from_base(api.base_url)``) at :attr:`BotAPIDouble.base_url`.

What it does:

* serves ``{base}/bot{token}/{method}`` (GET or POST; query string, JSON, urlencoded and multipart bodies)
  and ``{base}/file/bot{token}/{file_path}`` (downloads of files uploaded to it);
* records every call (:attr:`BotAPIDouble.calls`), with the uploaded files' names, sizes and sha256;
* answers like Telegram: full ``Message`` objects, file ids for uploads, invoices, a Star ledger for
  ``refundStarPayment`` / ``getStarTransactions``, ``getUpdates`` long polling, webhook settings, and
  Telegram's errors (unknown file id, message not modified, can't parse entities, ...);
* injects errors on demand (:meth:`BotAPIDouble.fail`, :meth:`BotAPIDouble.block`);
* enforces a rate like Telegram's flood control (:meth:`BotAPIDouble.limit_rate`): a sliding one-second
  window answered with 429 ``retry_after`` beyond it, and 429 again to whatever comes before it passed;
* feeds updates (:meth:`BotAPIDouble.push_update` for polling, :meth:`BotAPIDouble.deliver_webhook` for
  webhooks) built with readable helpers (:func:`user`, :meth:`BotAPIDouble.message_update`, ...).

Typical use::

    async with BotAPIDouble() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        api.push_update(api.message_update(user(42), "/start"))
        ...
        [call] = await api.wait_for("sendMessage", lambda c: c["chat_id"] == 42)
        assert "Welcome" in call["text"]

Everything runs on the test's event loop: the loop must be running (the test awaiting something) for the
double to answer.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import dataclasses
import email.parser
import email.policy
import hashlib
import itertools
import json
import logging
import math
import mimetypes
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final, Self

import aiogram.methods as aiogram_methods
from aiohttp import ClientSession, ClientTimeout, MultipartReader, web

__all__ = [
    "DEFAULT_BOT_ID",
    "MESSAGE_METHODS",
    "BotAPIDouble",
    "BotAPIError",
    "Call",
    "FailureRule",
    "RateLimit",
    "StarPayment",
    "StoredFile",
    "UploadedFile",
    "user",
]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
ChatKey = int | str

DEFAULT_BOT_ID: Final = 7000000001
DEFAULT_TOKEN_PATTERN: Final = re.compile(r"^\d+:[\w-]{20,}$", re.ASCII)
MAX_UPLOAD_SIZE: Final = 50 * 1024 * 1024
"""Telegram's limit for files uploaded by bots (multipart/form-data)."""
MAX_MESSAGE_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024

# Telegram's error texts (as the Bot API returns them in ``description``).
NOT_FOUND: Final = "Not Found: method not found"
UNAUTHORIZED: Final = "Unauthorized"
BLOCKED: Final = "Forbidden: bot was blocked by the user"
USER_DEACTIVATED: Final = "Forbidden: user is deactivated"
WRONG_FILE_ID: Final = "Bad Request: wrong file identifier/HTTP URL specified"
MESSAGE_TEXT_EMPTY: Final = "Bad Request: message text is empty"
MESSAGE_TOO_LONG: Final = "Bad Request: message is too long"
CAPTION_TOO_LONG: Final = "Bad Request: message caption is too long"
MESSAGE_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a specified content and reply markup of the existing message"
)
MESSAGE_TO_EDIT_NOT_FOUND: Final = "Bad Request: message to edit not found"
MESSAGE_TO_DELETE_NOT_FOUND: Final = "Bad Request: message to delete not found"
MESSAGE_CANT_BE_EDITED: Final = "Bad Request: message can't be edited"
CHARGE_ALREADY_REFUNDED: Final = "Bad Request: CHARGE_ALREADY_REFUNDED"
CHARGE_NOT_FOUND: Final = "Bad Request: CHARGE_NOT_FOUND"
WEBHOOK_ACTIVE: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_OTHER_GET_UPDATES: Final = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
HTTPS_WEBHOOK_REQUIRED: Final = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"

_DEFAULT_DESCRIPTIONS: Final[Mapping[int, str]] = {
    400: "Bad Request",
    401: UNAUTHORIZED,
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}

MESSAGE_METHODS: Final[frozenset[str]] = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendDocument",
        "sendAudio",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendMediaGroup",
        "sendPaidMedia",
        "sendInvoice",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    }
)
"""Methods that put (or change) a message in a chat: what :meth:`BotAPIDouble.sent_messages` lists."""

_BLOCKABLE_METHODS: Final = MESSAGE_METHODS | {"sendChatAction"}

# Update types Telegram does not deliver unless they are asked for explicitly in allowed_updates.
_OPT_IN_UPDATE_TYPES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters whose values are strings in the Bot API: form values of these are never decoded
# (a message text "123" or "[1]" stays a string, an invoice payload '{"a": 1}' stays a string).
_STRING_PARAMS: Final = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "button_text",
        "callback_query_id",
        "caption",
        "cover",
        "currency",
        "custom_title",
        "data",
        "description",
        "document",
        "emoji",
        "error_message",
        "explanation",
        "file_id",
        "first_name",
        "gift_id",
        "inline_message_id",
        "inline_query_id",
        "invite_link",
        "invoice_payload",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "photo_url",
        "pre_checkout_query_id",
        "provider_data",
        "provider_token",
        "query",
        "question",
        "secret_token",
        "shipping_query_id",
        "short_description",
        "start_parameter",
        "sticker",
        "telegram_payment_charge_id",
        "text",
        "thumbnail",
        "title",
        "url",
        "username",
        "vcard",
        "video",
        "video_note",
        "voice",
        "web_app_query_id",
    }
)

_INT_RE: Final = re.compile(r"-?(?:0|[1-9]\d*)")
_FLOAT_RE: Final = re.compile(r"-?\d+\.\d+(?:[eE][+-]?\d+)?")

# Media kinds the double answers for: method -> (param/Message field, file_id prefix, default mime type).
_MEDIA: Final[Mapping[str, tuple[str, str, str]]] = {
    "sendVideo": ("video", "BAACAgvideo-", "video/mp4"),
    "sendPhoto": ("photo", "AgACAgphoto-", "image/jpeg"),
    "sendDocument": ("document", "BQACAgdocument-", "application/octet-stream"),
    "sendAudio": ("audio", "CQACAgaudio-", "audio/mpeg"),
    "sendAnimation": ("animation", "CgACAganimation-", "video/mp4"),
    "sendVoice": ("voice", "AwACAgvoice-", "audio/ogg"),
}
_MEDIA_FIELDS: Final = frozenset(kind for kind, _, _ in _MEDIA.values())
_PREFIX_BY_KIND: Final = {kind: prefix for kind, prefix, _ in _MEDIA.values()}
_MIME_BY_KIND: Final = {kind: mime for kind, _, mime in _MEDIA.values()}


def _load_known_methods() -> tuple[dict[str, str], frozenset[str]]:
    """Canonical Bot API method names (lower-case -> camelCase) and the methods that return ``True``."""
    canonical: dict[str, str] = {}
    returning_bool: set[str] = set()
    for name in aiogram_methods.__all__:
        method_class = getattr(aiogram_methods, name)
        api_method = getattr(method_class, "__api_method__", None)
        if isinstance(api_method, str):
            canonical[api_method.lower()] = api_method
            if getattr(method_class, "__returning__", None) is bool:
                returning_bool.add(api_method)
    return canonical, frozenset(returning_bool)


KNOWN_METHODS, _BOOL_METHODS = _load_known_methods()


# --------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    field: str
    """The part's form field name (aiogram: a random key, referenced as ``attach://<field>``)."""
    filename: str | None
    size: int
    sha256: str
    content_type: str | None = None
    data: bytes = dataclasses.field(default=b"", repr=False, compare=False)


@dataclass(eq=False)
class Call:
    """One request received by the double (successful or not)."""

    method: str
    """Canonical camelCase method name (``SENDMESSAGE`` is recorded as ``sendMessage``); unknown methods
    are recorded as received."""
    params: dict[str, Any]
    """Parameters from the query string and the body. Form values are decoded: JSON objects/arrays
    (``reply_markup``, ``prices``, ``entities``...) become dicts/lists, integers/booleans/floats become
    Python values, except for string-typed parameters (``text``, ``caption``, ``payload``...)."""
    files: dict[str, UploadedFile] = dataclasses.field(default_factory=dict)
    """Uploaded file parts by form field name."""
    token: str = ""
    http_method: str = "POST"
    content_type: str = ""
    """``application/x-www-form-urlencoded``, ``multipart/form-data``, ``application/json`` or ``""``."""
    via_webhook_reply: bool = False
    """True when the bot made this call in its answer to a webhook delivery (not over HTTP)."""
    status: int | None = None
    """HTTP status answered (``None`` while a long poll is still waiting)."""
    response: JSON | None = None
    """The JSON answered: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...}``."""
    at: float = dataclasses.field(default_factory=time.time)
    received: float = dataclasses.field(default_factory=time.monotonic)
    """When the request arrived (:attr:`BotAPIDouble.clock`, ``time.monotonic`` by default): the clock of
    :meth:`BotAPIDouble.limit_rate`."""

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``params.get``: lets predicates read ``call.get("chat_id")``."""
        return self.params.get(key, default)

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The ``result`` answered (``None`` for errors)."""
        return self.response.get("result") if self.response else None

    @property
    def error(self) -> str | None:
        """The error ``description`` answered (``None`` when successful)."""
        if self.response and not self.response.get("ok"):
            return str(self.response.get("description"))
        return None

    def file(self, param: str) -> UploadedFile | None:
        """The file uploaded for a parameter: ``param=attach://<field>`` or a file part named ``param``."""
        value = self.params.get(param)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files.get(value.removeprefix("attach://"))
        return self.files.get(param)

    def describe(self, width: int = 160) -> str:
        params = json.dumps(self.params, ensure_ascii=False, default=str)
        if len(params) > width:
            params = params[: width - 1] + "…"
        files = f" files={sorted(self.files)}" if self.files else ""
        if self.status is None:
            outcome = "(waiting)"
        else:
            outcome = str(self.status) if self.ok else f"{self.status} {self.error}"
        return f"{self.method} -> {outcome} {params}{files}"


@dataclass
class FailureRule:
    """An injected error (see :meth:`BotAPIDouble.fail`)."""

    method: str
    """Lower-case method name, or ``"*"`` for every method."""
    error_code: int
    description: str
    parameters: JSON | None = None
    times: int | None = 1
    """How many more calls fail (``None``: all of them)."""
    when: Callable[[dict[str, Any]], bool] | None = None
    after: int = 0
    """How many more matching calls go through before the failing ones."""

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method not in ("*", method.lower()):
            return False
        if self.when is not None:
            try:
                if not self.when(params):
                    return False
            except Exception:
                logger.exception("BotAPIDouble: the `when` predicate of %r raised; not failing", self)
                return False
        if self.after > 0:
            self.after -= 1
            return False
        return True


@dataclass
class RateLimit:
    """Telegram's flood control as the double enforces it (see :meth:`BotAPIDouble.limit_rate`)."""

    per_second: int
    methods: frozenset[str]
    retry_after: int
    window: list[float] = dataclasses.field(default_factory=list)
    """Arrival times (monotonic) of the calls let through, sorted; the last second or two of them."""
    hold_until: float = float("-inf")
    """No call of ``methods`` is answered before this (monotonic), after a 429."""

    def admit(self, at: float) -> int | None:
        """Let a call that arrived ``at`` through (None), or the ``retry_after`` of its 429."""
        if at < self.hold_until:
            return max(math.ceil(self.hold_until - at), 1)
        del self.window[: bisect.bisect_right(self.window, at - 2.0)]
        in_window = bisect.bisect_right(self.window, at) - bisect.bisect_right(self.window, at - 1.0)
        if in_window >= self.per_second:
            self.hold(at, self.retry_after)
            return self.retry_after
        bisect.insort(self.window, at)
        return None

    def hold(self, at: float, retry_after: float) -> None:
        self.hold_until = max(self.hold_until, at + retry_after)


@dataclass
class StoredFile:
    """A file the double knows by file_id (uploaded to it, or registered by the test)."""

    file_id: str
    file_unique_id: str
    kind: str
    size: int | None = None
    sha256: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None
    data: bytes | None = dataclasses.field(default=None, repr=False)


@dataclass
class StarPayment:
    """An incoming Telegram Stars payment in the double's ledger."""

    charge_id: str
    user: JSON
    amount: int
    payload: str
    date: int
    refunded_at: int | None = None

    @property
    def refunded(self) -> bool:
        return self.refunded_at is not None


class BotAPIError(Exception):
    """Raise from a handler (also from :meth:`BotAPIDouble.respond` callables) to answer a Bot API error."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


# --------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------


def user(
    id: int,
    first_name: str = "Test",
    language_code: str | None = "en",
    username: str | None = None,
    *,
    last_name: str | None = None,
    is_premium: bool | None = None,
) -> JSON:
    """A ``User`` object (a person, not a bot) as the Bot API sends it."""
    result: JSON = {"id": id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        result["last_name"] = last_name
    if username is not None:
        result["username"] = username
    if language_code is not None:
        result["language_code"] = language_code
    if is_premium is not None:
        result["is_premium"] = is_premium
    return result


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units: the unit of ``MessageEntity.offset`` and ``length``."""
    return len(text.encode("utf-16-le")) // 2


def decode_form_value(key: str, raw: str) -> Any:
    """Decode one urlencoded/multipart form value the way the Bot API reads it."""
    if key in _STRING_PARAMS:
        return raw
    stripped = raw.strip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            return raw
        if isinstance(decoded, dict | list):
            return decoded
        return raw
    if _INT_RE.fullmatch(stripped):
        return int(stripped)
    if stripped in ("true", "false"):
        return stripped == "true"
    if _FLOAT_RE.fullmatch(stripped):
        return float(stripped)
    return raw


def _now() -> int:
    return int(time.time())


def _int_param(params: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise BotAPIError(400, f"Bad Request: {name} is empty")
    if isinstance(value, bool):
        raise BotAPIError(400, f"Bad Request: invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise BotAPIError(400, f"Bad Request: invalid {name} specified")


def _str_param(params: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise BotAPIError(400, f"Bad Request: {name} is empty")
        return None
    if isinstance(value, dict | list):
        raise BotAPIError(400, f"Bad Request: invalid {name} specified")
    return str(value)


def _chat_key(value: Any) -> ChatKey:
    """Normalise a ``chat_id`` (int, numeric string or ``@username``)."""
    if isinstance(value, bool) or value is None or value == "":
        raise BotAPIError(400, "Bad Request: chat_id is empty")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if _INT_RE.fullmatch(stripped):
            return int(stripped)
        if stripped.startswith("@") and len(stripped) > 1:
            return stripped
    raise BotAPIError(400, "Bad Request: chat not found")


def _markup(params: Mapping[str, Any]) -> JSON | None:
    """The inline keyboard Telegram echoes in the Message (other keyboards are not echoed)."""
    markup = params.get("reply_markup")
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise BotAPIError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if isinstance(markup.get("inline_keyboard"), list):
        return markup
    return None


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


# --------------------------------------------------------------------------------------------------------
# parse_mode=HTML
# --------------------------------------------------------------------------------------------------------

_HTML_ENTITY_TYPES: Final[Mapping[str, str]] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class _TelegramHTML(HTMLParser):
    """Telegram's HTML subset: plain text + entities, or the error Telegram answers."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0]
        for line in source.split("\n")[:-1]:
            self._line_starts.append(self._line_starts[-1] + len(line) + 1)
        self._parts: list[str] = []
        self._offset = 0
        self._stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[JSON] = []
        self.error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        index = self._line_starts[min(line, len(self._line_starts)) - 1] + column
        return len(self._source[:index].encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error:
            return
        attributes = dict(attrs)
        if tag not in _HTML_ENTITY_TYPES or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            self.error = f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
            return
        self._stack.append((tag, self._offset, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.error:
            return
        if not self._stack:
            self.error = f"Unexpected end tag at byte offset {self._byte_offset()}"
            return
        name, start, attributes = self._stack[-1]
        if name != tag:
            offset = self._byte_offset()
            self.error = f'Unmatched end tag at byte offset {offset}, expected "</{name}>", found "</{tag}>"'
            return
        self._stack.pop()
        length = self._offset - start
        language = attributes.get("class") or ""
        inside_pre = bool(self._stack) and self._stack[-1][0] == "pre"
        if name == "code" and language.startswith("language-") and inside_pre:
            self._stack[-1][2]["language"] = language.removeprefix("language-")
            return
        if length == 0:
            return
        entity: JSON = {"type": _HTML_ENTITY_TYPES[name], "offset": start, "length": length}
        if name == "a":
            entity["url"] = attributes.get("href") or ""
        elif name == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif name == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        elif name == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        if self.error:
            return
        self._parts.append(data)
        self._offset += utf16_length(data)

    def finish(self) -> None:
        self.close()
        if not self.error and self._stack:
            self.error = f'Can\'t find end tag corresponding to start tag "{self._stack[-1][0]}"'
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Text and entities of an HTML-formatted message; raises the ``BotAPIError`` Telegram answers."""
    parser = _TelegramHTML(source)
    parser.feed(source)
    parser.finish()
    if parser.error:
        raise BotAPIError(400, f"Bad Request: can't parse entities: {parser.error}")
    return parser.text, parser.entities


# --------------------------------------------------------------------------------------------------------
# The double
# --------------------------------------------------------------------------------------------------------

Handler = Callable[[Call], Any]


class BotAPIDouble:
    """An HTTP server on ``127.0.0.1`` that behaves like the Telegram Bot API (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_id: int = DEFAULT_BOT_ID,
        bot_first_name: str = "Lesson Store",
        bot_username: str = "lesson_store_test_bot",
        strict_file_ids: bool = True,
        max_upload_size: int = MAX_UPLOAD_SIZE,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """
        :param token: the only token accepted (401 otherwise); by default any well-formed token
            (``^\\d+:[\\w-]{20,}$``) is accepted.
        :param bot_id: the bot's user id in ``getMe`` and in the messages it sends.
        :param strict_file_ids: answer 400 for file ids the double did not issue (else accept them).
        :param max_upload_size: bigger requests get 413 "Request Entity Too Large".
        :param port: 0 picks a free port.
        """
        self.token = token
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.strict_file_ids = strict_file_ids
        self.max_upload_size = max_upload_size
        self.host = host
        self.port = port

        self.calls: list[Call] = []
        self.failures: list[FailureRule] = []
        self.files: dict[str, StoredFile] = {}
        self.messages: dict[tuple[ChatKey, int], JSON] = {}
        self.star_payments: dict[str, StarPayment] = {}
        self.star_transactions: list[JSON] = []
        self.star_balance: int | None = None
        self.blocked: dict[ChatKey, str] = {}
        self.rate_limit: RateLimit | None = None
        self.rate_limited: list[Call] = []
        """Calls answered 429 by the rate limit (beyond the window, or before a 429's retry_after)."""
        self.too_early: list[Call] = []
        """Calls that came before the ``retry_after`` of an earlier 429 had passed (also in rate_limited)."""
        self.webhook_url: str = ""
        self.webhook_secret_token: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.webhook_max_connections: int | None = None

        self._responses: dict[str, Handler] = {}
        self._known_users: dict[int, JSON] = {}
        self._last_message_ids: dict[ChatKey, int] = {}
        self._update_ids = itertools.count(1)
        self._updates: list[JSON] = []
        self._allowed_updates: frozenset[str] | None = None
        self._updates_changed = asyncio.Event()
        self._calls_changed = asyncio.Event()
        self._poll_generation = 0
        self._file_paths = itertools.count(1)
        self._last_token = ""
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.clock: Callable[[], float] = time.monotonic
        """The arrival time of each call (:attr:`Call.received`); a test may set a fake one."""
        self._handlers: dict[str, Handler] = self._default_handlers()

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind the server (to a free port unless ``port`` was given)."""
        app = web.Application(client_max_size=self.max_upload_size + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/bot{token}/test/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        logger.debug("BotAPIDouble listening on %s", self.base_url)

    async def close(self) -> None:
        """Answer waiting long polls with ``[]`` and stop the server."""
        self._closing = True
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``TELEGRAM_API_URL``."""
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- recorded calls

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (any case: ``sendmessage`` finds ``sendMessage``)."""
        canonical = self.canonical_method(method)
        return [call for call in self.calls if call.method == canonical]

    def sent_messages(self, chat_id: int | str | None = None, *, include_failed: bool = False) -> list[Call]:
        """Successful calls that sent or edited a message (:data:`MESSAGE_METHODS`), optionally to a chat."""
        wanted = None if chat_id is None else _chat_key(chat_id)
        result = []
        for call in self.calls:
            if call.method not in MESSAGE_METHODS or not (include_failed or call.ok):
                continue
            if wanted is not None:
                try:
                    if _chat_key(call.params.get("chat_id")) != wanted:
                        continue
                except BotAPIError:
                    continue
            result.append(call)
        return result

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the condition, not for one await)
    ) -> list[Call]:
        """Wait until at least ``count`` calls of ``method`` matching ``predicate`` (given the
        :class:`Call`; ``call["chat_id"]`` reads a param) were recorded; return all the matching calls.

        Raises ``AssertionError`` listing every recorded call on timeout.
        """
        canonical = self.canonical_method(method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = [call for call in self.calls if call.method == canonical and _safe(predicate, call)]
            if len(matching) >= count:
                return matching
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(canonical, predicate, count, timeout, matching))
            changed = self._calls_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _timeout_report(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None,
        count: int,
        timeout: float,
        matching: list[Call],
    ) -> str:
        what = f"{count} call(s) to {method}" + (" matching the predicate" if predicate else "")
        lines = [f"BotAPIDouble: expected {what} within {timeout}s, got {len(matching)}."]
        if self.calls:
            lines.append(f"Recorded calls ({len(self.calls)}):")
            lines.extend(f"  {index}. {call.describe()}" for index, call in enumerate(self.calls, 1))
        else:
            lines.append("No calls were recorded at all.")
        return "\n".join(lines)

    def reset(self, *, everything: bool = False) -> None:
        """Forget recorded calls, injected failures, custom responses, blocks and queued updates.

        Telegram's state (issued file ids, messages, the Star ledger, the webhook) is kept unless
        ``everything`` is true.
        """
        self.calls.clear()
        self.failures.clear()
        self._responses.clear()
        self.blocked.clear()
        self.rate_limit = None
        self.rate_limited.clear()
        self.too_early.clear()
        self._updates.clear()
        self._allowed_updates = None
        if everything:
            self.files.clear()
            self.messages.clear()
            self.star_payments.clear()
            self.star_transactions.clear()
            self.star_balance = None
            self._last_message_ids.clear()
            self._known_users.clear()
            self.webhook_url = ""
            self.webhook_secret_token = None
            self.webhook_allowed_updates = None
            self.webhook_max_connections = None

    @staticmethod
    def canonical_method(method: str) -> str:
        """``SENDMESSAGE`` -> ``sendMessage`` (methods are case-insensitive in the Bot API)."""
        return KNOWN_METHODS.get(method.lower(), method)

    # ---------------------------------------------------------------- behaviour control

    def fail(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
        parameters: JSON | None = None,
        after: int = 0,
    ) -> FailureRule:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any; ``times=None``: always) whose params
        satisfy ``when``, after letting ``after`` of them through, with a Bot API error, e.g.::

            api.fail("sendMessage", error_code=429, retry_after=3)  # "Too Many Requests: retry after 3"
            api.fail("sendMessage", error_code=403, when=lambda p: p.get("chat_id") == 42)
            api.fail("sendMessage", error_code=400, description="Bad Request: message is too long")
            api.fail("sendMessage", error_code=429, retry_after=2, after=49)  # the 50th message

        A 429 always carries ``parameters.retry_after`` (default 1), as Telegram's do; without it aiogram
        would raise a plain ``TelegramAPIError`` instead of ``TelegramRetryAfter``. Under
        :meth:`limit_rate`, an injected 429 also holds the limited methods until its retry_after passes.
        """
        params = dict(parameters or {})
        if error_code == 429 and retry_after is None and "retry_after" not in params:
            retry_after = 1
        if retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {params['retry_after']}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
        rule = FailureRule(
            method="*" if method == "*" else method.lower(),
            error_code=error_code,
            description=description,
            parameters=params or None,
            times=times,
            when=when,
            after=after,
        )
        self.failures.append(rule)
        return rule

    def limit_rate(
        self, per_second: int, *, methods: Iterable[str] = MESSAGE_METHODS, retry_after: int = 1
    ) -> RateLimit:
        """Enforce Telegram's flood control on ``methods`` (all chats together): a call that would make more
        than ``per_second`` in a sliding one-second window gets 429 "Too Many Requests: retry after N"
        (``parameters.retry_after``), and so does every call of those methods until ``retry_after`` seconds
        have passed. Such calls are recorded in :attr:`rate_limited`; those that came during the hold in
        :attr:`too_early` (a sender that honours retry_after leaves it empty)."""
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.rate_limit = RateLimit(
            per_second, frozenset(self.canonical_method(m) for m in methods), max(retry_after, 1)
        )
        return self.rate_limit

    def peak_rate(self, methods: Iterable[str] = MESSAGE_METHODS, *, ok_only: bool = True) -> int:
        """The most calls of ``methods`` (successful ones unless ``ok_only`` is false) that arrived within
        any one second: what Telegram's window would have counted."""
        wanted = {self.canonical_method(method) for method in methods}
        times = sorted(c.received for c in self.calls if c.method in wanted and (c.ok or not ok_only))
        peak = 0
        for index, at in enumerate(times):
            peak = max(peak, bisect.bisect_left(times, at + 1.0) - index)
        return peak

    def block(self, chat_id: int | str, description: str = BLOCKED) -> None:
        """From now on every message (and chat action) to ``chat_id`` gets 403 ``description``."""
        self.blocked[_chat_key(chat_id)] = description

    def unblock(self, chat_id: int | str) -> None:
        self.blocked.pop(_chat_key(chat_id), None)

    def respond(self, method: str, result: Any) -> None:
        """Override the answer to ``method``: a JSON-able ``result``, or a callable ``(Call) -> result``
        (which may raise :class:`BotAPIError`). Use it for methods without a default answer."""
        if callable(result):
            handler: Handler = result
        else:

            def handler(_call: Call) -> Any:
                return result

        self._responses[self.canonical_method(method)] = handler

    def register_file(
        self,
        file_id: str | None = None,
        *,
        kind: str = "video",
        data: bytes | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> StoredFile:
        """Make a file id known to the double (e.g. the file ids in the test's lesson catalog)."""
        digest = hashlib.sha256(data).hexdigest() if data is not None else secrets.token_hex(32)
        file_id = file_id or f"{_PREFIX_BY_KIND.get(kind, 'BQACAg' + kind + '-')}{digest[:16]}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AgAD{digest[:12]}",
            kind=kind,
            size=len(data) if data is not None else None,
            sha256=digest if data is not None else None,
            file_name=file_name,
            mime_type=mime_type or _MIME_BY_KIND.get(kind),
            width=width,
            height=height,
            duration=duration,
            data=data,
        )
        self.files[file_id] = stored
        return stored

    # ---------------------------------------------------------------- updates

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for ``getUpdates``; assigns and returns the next ``update_id``."""
        queued = dict(update)
        queued["update_id"] = update_id = next(self._update_ids)
        self._updates.append(queued)
        self._wake_pollers()
        return update_id

    @property
    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet confirmed by a ``getUpdates`` offset."""
        return list(self._updates)

    async def deliver_webhook(
        self,
        url: str,
        update: Mapping[str, Any],
        secret_token: str | None = None,
        *,
        session: ClientSession | None = None,
    ) -> tuple[int, str]:
        """POST ``update`` as JSON to ``url`` like Telegram does (with ``X-Telegram-Bot-Api-Secret-Token``
        when ``secret_token`` is given); return the HTTP status and body.

        An ``update_id`` is assigned when missing. When the bot answers the webhook with a method call
        (aiogram: a multipart body with a ``method`` field; or JSON ``{"method": ...}``), the double
        executes and records it like Telegram (``Call.via_webhook_reply``). ``session``: keep connections
        open across deliveries, as Telegram does (a new connection per delivery otherwise).
        """
        payload = dict(update)
        if "update_id" not in payload:
            payload["update_id"] = next(self._update_ids)
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with contextlib.AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(ClientSession(timeout=ClientTimeout(total=30)))
            response = await stack.enter_async_context(
                session.post(url, data=json.dumps(payload), headers=headers)
            )
            raw = await response.read()
            content_type = response.headers.get("Content-Type", "")
            status = response.status
        body = raw.decode("utf-8", errors="replace")
        if status == 200:
            await self.execute_webhook_reply(content_type, raw)
        return status, body

    async def execute_webhook_reply(self, content_type: str, raw: bytes) -> None:
        """Carry out the method call a bot put in its answer to a webhook delivery, as Telegram does."""
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            if content_type.startswith("multipart/form-data"):
                params, files = _parse_multipart_bytes(content_type, raw)
            elif content_type.startswith("application/json") and raw.strip():
                decoded = json.loads(raw)
                params = decoded if isinstance(decoded, dict) else {}
        except Exception:
            logger.exception("BotAPIDouble: could not parse the webhook reply (%s)", content_type)
            return
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return
        call = Call(
            method=self.canonical_method(method),
            params=params,
            files=files,
            token=self.token or self._last_token or "(webhook reply)",
            content_type=content_type.split(";")[0],
            via_webhook_reply=True,
            received=self.clock(),
        )
        await self._execute(call)

    # ---------------------------------------------------------------- update builders

    def message_update(
        self,
        from_user: JSON,
        text: str,
        chat_id: int | None = None,
        *,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """A ``message`` update: ``from_user`` writes ``text`` in the private chat with the bot (or in
        ``chat_id``). Text starting with ``/`` gets its ``bot_command`` entity, like Telegram adds."""
        message = self._user_message(from_user, chat_id, text=text)
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]
        if entities:
            message["entities"] = entities
        return {"message": copy.deepcopy(message)}

    def callback_update(
        self,
        from_user: JSON,
        data: str,
        message_id: int | None = None,
        *,
        chat_id: int | None = None,
        query_id: str | None = None,
    ) -> JSON:
        """A ``callback_query`` update: ``from_user`` pressed a button carrying ``data`` under the bot's
        message ``message_id`` (default: the bot's latest message in the chat). The message is the one the
        bot sent, as the double stored it (a placeholder bot message is created if it is unknown)."""
        self._remember_user(from_user)
        chat = _chat_key(chat_id if chat_id is not None else from_user["id"])
        if message_id is None:
            own = [
                mid for (key, mid), msg in self.messages.items() if key == chat and self._is_bot_message(msg)
            ]
            message_id = max(own) if own else None
        message = self.messages.get((chat, message_id)) if message_id is not None else None
        if message is None:
            message = self._store_message(
                chat,
                {"from": self._bot_sender(), "text": "Test message"},
                message_id=message_id,
            )
        return {
            "callback_query": {
                "id": query_id or str(secrets.randbits(62)),
                "from": from_user,
                "message": copy.deepcopy(message),
                "chat_instance": str(zlib.crc32(f"{chat}".encode()) * 1000003),
                "data": data,
            }
        }

    def pre_checkout_update(
        self,
        from_user: JSON,
        payload: str,
        total_amount: int,
        currency: str = "XTR",
        query_id: str | None = None,
    ) -> JSON:
        """A ``pre_checkout_query`` update (the user pressed Pay; the bot must answer within 10 s)."""
        self._remember_user(from_user)
        return {
            "pre_checkout_query": {
                "id": query_id or str(secrets.randbits(62)),
                "from": from_user,
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
            }
        }

    def successful_payment_update(
        self,
        from_user: JSON,
        payload: str,
        total_amount: int,
        charge_id: str | None = None,
        currency: str = "XTR",
    ) -> JSON:
        """A ``message`` update with ``successful_payment``; a Stars (``XTR``) payment is also recorded in
        the double's Star ledger, as Telegram would (see :meth:`record_star_payment`)."""
        charge_id = charge_id or _new_charge_id()
        if currency == "XTR":
            self.record_star_payment(from_user, total_amount, payload, charge_id)
        message = self._user_message(
            from_user,
            None,
            successful_payment={
                "currency": currency,
                "total_amount": total_amount,
                "invoice_payload": payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": f"{from_user['id']}_{charge_id[-8:]}",
            },
        )
        return {"message": copy.deepcopy(message)}

    def refunded_payment_update(
        self, from_user: JSON, payload: str, total_amount: int, charge_id: str
    ) -> JSON:
        """A ``message`` update with ``refunded_payment``; marks the charge refunded in the ledger if it
        is there and not refunded yet (a refund made outside the bot, e.g. by Telegram support)."""
        payment = self.star_payments.get(charge_id)
        if payment is not None and not payment.refunded:
            self._refund(payment)
        message = self._user_message(
            from_user,
            None,
            refunded_payment={
                "currency": "XTR",
                "total_amount": total_amount,
                "invoice_payload": payload,
                "telegram_payment_charge_id": charge_id,
            },
        )
        return {"message": copy.deepcopy(message)}

    def record_star_payment(
        self,
        from_user: JSON | int,
        amount: int,
        payload: str,
        charge_id: str | None = None,
        *,
        date: int | None = None,
    ) -> StarPayment:
        """Put an incoming Stars payment in the ledger without any update (a charge the bot missed)."""
        payer = user(from_user) if isinstance(from_user, int) else dict(from_user)
        charge_id = charge_id or _new_charge_id()
        existing = self.star_payments.get(charge_id)
        if existing is not None:
            if existing.amount != amount or existing.user.get("id") != payer.get("id"):
                raise ValueError(f"charge {charge_id} is already in the ledger with other details")
            return existing
        self._remember_user(payer)
        payment = StarPayment(charge_id, payer, amount, payload, date if date is not None else _now())
        self.star_payments[charge_id] = payment
        self.star_transactions.append(
            {
                "id": charge_id,
                "amount": amount,
                "date": payment.date,
                "source": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": payer,
                    "invoice_payload": payload,
                },
            }
        )
        return payment

    def _refund(self, payment: StarPayment) -> None:
        payment.refunded_at = _now()
        self.star_transactions.append(
            {
                "id": payment.charge_id,
                "amount": payment.amount,
                "date": payment.refunded_at,
                "receiver": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": payment.user,
                    "invoice_payload": payment.payload,
                },
            }
        )

    # ---------------------------------------------------------------- messages & chats

    def _remember_user(self, person: Mapping[str, Any]) -> None:
        person_id = person.get("id")
        if isinstance(person_id, int):
            self._known_users[person_id] = dict(person)

    def _bot_sender(self) -> JSON:
        return {key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")}

    def _is_bot_message(self, message: Mapping[str, Any]) -> bool:
        sender = message.get("from")
        return isinstance(sender, dict) and sender.get("id") == self.bot_user["id"]

    def chat(self, chat: ChatKey) -> JSON:
        """The ``Chat`` object for a chat id: private for positive ids, else a group/supergroup/channel."""
        if isinstance(chat, str):
            return {
                "id": -1000000000000 - zlib.crc32(chat.encode()),
                "type": "channel",
                "title": chat[1:],
                "username": chat[1:],
            }
        if chat > 0:
            known = self._known_users.get(chat, {})
            result: JSON = {"id": chat, "type": "private", "first_name": known.get("first_name", "Test")}
            for key in ("last_name", "username"):
                if key in known:
                    result[key] = known[key]
            return result
        if chat <= -1000000000000:
            return {"id": chat, "type": "supergroup", "title": "Test supergroup"}
        return {"id": chat, "type": "group", "title": "Test group"}

    def _store_message(self, chat: ChatKey, content: JSON, message_id: int | None = None) -> JSON:
        """Store a message in ``chat``; message ids increase per chat (shared by the bot and the user)."""
        last = self._last_message_ids.get(chat, 0)
        if message_id is None:
            message_id = last + 1
        self._last_message_ids[chat] = max(last, message_id)
        content = dict(content)
        message: JSON = {"message_id": message_id}
        if "from" in content:
            message["from"] = content.pop("from")
        message["chat"] = self.chat(chat)
        message["date"] = _now()
        message.update(content)
        self.messages[(chat, message_id)] = message
        return message

    def _user_message(self, from_user: JSON, chat_id: int | None, **content: Any) -> JSON:
        self._remember_user(from_user)
        chat = _chat_key(chat_id if chat_id is not None else from_user["id"])
        return self._store_message(chat, {"from": from_user, **content})

    def _bot_message(self, chat: ChatKey, content: JSON) -> JSON:
        return self._store_message(chat, {"from": self._bot_sender(), **content})

    # ---------------------------------------------------------------- HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        raw_method = request.match_info.get("method", "")
        call = Call(
            method=self.canonical_method(raw_method),
            params={},
            token=token,
            http_method=request.method,
            content_type=request.content_type if request.body_exists else "",
            received=self.clock(),
        )
        try:
            call.params, call.files = await self._read_params(request)
        except BotAPIError as error:
            status, body = self._finish(call, error.error_code, error.to_json())
        except web.HTTPRequestEntityTooLarge:
            status, body = self._finish(call, 413, BotAPIError(413, "Request Entity Too Large").to_json())
        except Exception as error:
            logger.warning("BotAPIDouble: unreadable %s request to %s: %r", request.method, raw_method, error)
            unreadable = BotAPIError(400, f"Bad Request: can't parse request: {error}")
            status, body = self._finish(call, 400, unreadable.to_json())
        else:
            status, body = await self._execute(call)
        return web.json_response(body, status=status)

    async def _execute(self, call: Call) -> tuple[int, JSON]:
        """Answer one call (already recorded or not): auth, method lookup, failures, handler."""
        if call not in self.calls:
            self.calls.append(call)
            self._notify_calls()
        try:
            result = await self._answer(call)
        except BotAPIError as error:
            status, body = error.error_code, error.to_json()
        except Exception as error:
            logger.exception("BotAPIDouble: internal error while answering %s", call.method)
            status, body = 500, BotAPIError(500, f"Internal Server Error: {error!r}").to_json()
        else:
            status, body = 200, {"ok": True, "result": result}
        return self._finish(call, status, body)

    def _finish(self, call: Call, status: int, body: JSON) -> tuple[int, JSON]:
        if call not in self.calls:
            self.calls.append(call)
        call.status = status
        call.response = body
        self._notify_calls()
        return status, body

    async def _answer(self, call: Call) -> Any:
        if not call.via_webhook_reply and not self._token_accepted(call.token):
            logger.warning("BotAPIDouble: %s with a rejected token %r", call.method, call.token)
            raise BotAPIError(401, UNAUTHORIZED)
        if not call.via_webhook_reply:
            self._last_token = call.token
        handler = self._responses.get(call.method) or self._handlers.get(call.method)
        if handler is None and call.method.lower() not in KNOWN_METHODS:
            logger.warning("BotAPIDouble: unknown method %r (params %s)", call.method, call.params)
            raise BotAPIError(404, NOT_FOUND)
        limit = self.rate_limit
        limited = limit is not None and call.method in limit.methods
        if limit is not None and limited:
            held = call.received < limit.hold_until
            retry_after = limit.admit(call.received)
            if retry_after is not None:
                self.rate_limited.append(call)
                if held:
                    self.too_early.append(call)
                raise BotAPIError(
                    429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
                )
        for rule in self.failures:
            if rule.matches(call.method, call.params):
                if rule.times is not None:
                    rule.times -= 1
                if limit is not None and limited and rule.error_code == 429 and rule.parameters:
                    limit.hold(call.received, float(rule.parameters.get("retry_after", 1)))
                raise BotAPIError(rule.error_code, rule.description, rule.parameters)
        if call.method in _BLOCKABLE_METHODS and self.blocked:
            try:
                description = self.blocked.get(_chat_key(call.params.get("chat_id")))
            except BotAPIError:
                description = None
            if description is not None:
                raise BotAPIError(403, description)
        if handler is None:
            if call.method in _BOOL_METHODS:
                return True
            logger.warning("BotAPIDouble: no default answer for %s; use api.respond()", call.method)
            raise BotAPIError(501, f"Not Implemented: BotAPIDouble has no answer for {call.method}")
        result = handler(call)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def _token_accepted(self, token: str) -> bool:
        if self.token is not None:
            return token == self.token
        return bool(DEFAULT_TOKEN_PATTERN.fullmatch(token))

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {key: decode_form_value(key, value) for key, value in request.query.items()}
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as error:
                    raise BotAPIError(400, "Bad Request: can't parse JSON object") from error
                if not isinstance(body, dict):
                    raise BotAPIError(400, "Bad Request: can't parse JSON object")
                params.update(body)
        elif content_type == "multipart/form-data":
            form, files = await self._read_multipart(await request.multipart())
            params.update(form)
        elif content_type == "application/x-www-form-urlencoded":
            form_data = await request.post()
            for key, value in form_data.items():
                params[key] = decode_form_value(key, value) if isinstance(value, str) else value
        else:
            raw = await request.read()
            if raw.strip():
                logger.warning(
                    "BotAPIDouble: ignoring a %d-byte body of unsupported type %r", len(raw), content_type
                )
        return params, files

    async def _read_multipart(
        self, reader: MultipartReader
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        total = 0
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, MultipartReader):
                logger.warning("BotAPIDouble: ignoring a nested multipart part")
                continue
            name = part.name or ""
            if part.filename is None:
                value = await part.text()
                total += len(value)
                params[name] = decode_form_value(name, value)
            else:
                digest = hashlib.sha256()
                chunks: list[bytes] = []
                while chunk := await part.read_chunk():
                    total += len(chunk)
                    if total > self.max_upload_size:
                        raise BotAPIError(413, "Request Entity Too Large")
                    digest.update(chunk)
                    chunks.append(chunk)
                data = b"".join(chunks)
                files[name] = UploadedFile(
                    field=name,
                    filename=part.filename,
                    size=len(data),
                    sha256=digest.hexdigest(),
                    content_type=part.headers.get("Content-Type"),
                    data=data,
                )
            if total > self.max_upload_size:
                raise BotAPIError(413, "Request Entity Too Large")
        return params, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        path = request.match_info.get("path", "")
        if not self._token_accepted(token):
            return web.json_response(BotAPIError(401, UNAUTHORIZED).to_json(), status=401)
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None or stored.data is None:
            logger.warning("BotAPIDouble: download of an unknown file path %r", path)
            return web.json_response(BotAPIError(404, "Not Found").to_json(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        logger.warning("BotAPIDouble: unexpected request %s %s", request.method, request.path_qs)
        return web.json_response(BotAPIError(404, "Not Found").to_json(), status=404)

    def _notify_calls(self) -> None:
        self._calls_changed.set()
        self._calls_changed = asyncio.Event()

    def _wake_pollers(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    # ---------------------------------------------------------------- method handlers

    def _default_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "getMe": lambda _call: dict(self.bot_user),
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendInvoice": self._send_invoice,
            "copyMessage": self._copy_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
            "refundStarPayment": self._refund_star_payment,
            "getStarTransactions": self._get_star_transactions,
            "getMyStarBalance": self._get_my_star_balance,
        }
        for method in _MEDIA:
            handlers[method] = self._send_media
        return handlers

    async def _get_updates(self, call: Call) -> list[JSON]:
        if self.webhook_url:
            raise BotAPIError(409, WEBHOOK_ACTIVE)
        params = call.params
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        raw_timeout = params.get("timeout", 0)
        timeout = 0.0
        if isinstance(raw_timeout, int | float) and not isinstance(raw_timeout, bool):
            timeout = float(raw_timeout)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older waiting getUpdates is terminated with 409
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            batch = self._deliverable_updates(limit)
            if batch:
                return batch
            if self._closing:
                return []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
            if generation != self._poll_generation:
                raise BotAPIError(409, TERMINATED_BY_OTHER_GET_UPDATES)

    def _deliverable_updates(self, limit: int) -> list[JSON]:
        kept: list[JSON] = []
        for update in self._updates:
            kind = _update_type(update)
            if self._allowed_updates is None:
                allowed = kind not in _OPT_IN_UPDATE_TYPES
            else:
                allowed = kind in self._allowed_updates
            if allowed:
                kept.append(update)
            else:
                logger.warning(
                    "BotAPIDouble: dropping update %s of type %r: not in allowed_updates %s",
                    update.get("update_id"),
                    kind,
                    sorted(self._allowed_updates) if self._allowed_updates else "(default)",
                )
        self._updates = kept
        return [dict(update) for update in kept[:limit]]

    def _set_webhook(self, call: Call) -> bool:
        url = _str_param(call.params, "url", required=False) or ""
        if not url:
            return self._delete_webhook(call)
        if not url.lower().startswith("https://"):
            raise BotAPIError(400, HTTPS_WEBHOOK_REQUIRED)
        secret = _str_param(call.params, "secret_token", required=False)
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise BotAPIError(400, "Bad Request: secret token contains unallowed characters")
        if call.params.get("drop_pending_updates") is True:
            self._updates.clear()
        allowed = call.params.get("allowed_updates")
        self.webhook_url = url
        self.webhook_secret_token = secret
        self.webhook_allowed_updates = [str(kind) for kind in allowed] if isinstance(allowed, list) else None
        max_connections = call.params.get("max_connections")
        self.webhook_max_connections = max_connections if isinstance(max_connections, int) else None
        return True

    def _delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates") is True:
            self._updates.clear()
        self.webhook_url = ""
        self.webhook_secret_token = None
        self.webhook_allowed_updates = None
        self.webhook_max_connections = None
        return True

    def _get_webhook_info(self, _call: Call) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections or 40
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = self.webhook_allowed_updates
        return info

    def _formatted(self, params: Mapping[str, Any], text_param: str, entities_param: str) -> tuple[str, Any]:
        """Text after ``parse_mode`` (HTML is parsed like Telegram; other modes are echoed) and entities."""
        text = params.get(text_param)
        text = "" if text is None else str(text)
        entities = params.get(entities_param)
        if params.get("parse_mode") == "HTML" and not entities:
            text, parsed = parse_html(text)
            return text, parsed or None
        return text, entities if isinstance(entities, list) and entities else None

    def _text_content(self, params: Mapping[str, Any]) -> JSON:
        text, entities = self._formatted(params, "text", "entities")
        if not text.strip():
            raise BotAPIError(400, MESSAGE_TEXT_EMPTY)
        if len(text) > MAX_MESSAGE_LENGTH:
            raise BotAPIError(400, MESSAGE_TOO_LONG)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(self, params: Mapping[str, Any]) -> JSON:
        if params.get("caption") in (None, ""):
            return {}
        caption, entities = self._formatted(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise BotAPIError(400, CAPTION_TOO_LONG)
        content: JSON = {"caption": caption} if caption else {}
        if entities:
            content["caption_entities"] = entities
        return content

    def _send_message(self, call: Call) -> JSON:
        chat = _chat_key(call.params.get("chat_id"))
        content = self._text_content(call.params)
        markup = _markup(call.params)
        if markup:
            content["reply_markup"] = markup
        return self._bot_message(chat, content)

    def _send_media(self, call: Call) -> JSON:
        kind, prefix, default_mime = _MEDIA[call.method]
        chat = _chat_key(call.params.get("chat_id"))
        stored = self._input_file(call, kind, prefix, default_mime)
        content: JSON = {kind: self._media_object(stored, call.params)}
        content.update(self._caption_content(call.params))
        markup = _markup(call.params)
        if markup:
            content["reply_markup"] = markup
        if call.params.get("has_spoiler") is True:
            content["has_media_spoiler"] = True
        return self._bot_message(chat, content)

    def _input_file(self, call: Call, kind: str, prefix: str, default_mime: str) -> StoredFile:
        value = call.params.get(kind)
        uploaded = call.file(kind)
        if uploaded is not None:
            file_id = f"{prefix}{uploaded.sha256[:16]}"
            known = self.files.get(file_id)
            if known is not None:
                return known
            guessed = mimetypes.guess_type(uploaded.filename or "")[0]
            mime = uploaded.content_type
            if not mime or mime == "application/octet-stream":
                mime = guessed or default_mime
            stored = StoredFile(
                file_id=file_id,
                file_unique_id=f"AgAD{uploaded.sha256[:12]}",
                kind=kind,
                size=uploaded.size,
                sha256=uploaded.sha256,
                file_name=uploaded.filename if kind in ("video", "document", "audio", "animation") else None,
                mime_type=mime,
                width=_optional_int(call.params.get("width")),
                height=_optional_int(call.params.get("height")),
                duration=_optional_int(call.params.get("duration")),
                data=uploaded.data,
            )
            self.files[file_id] = stored
            return stored
        if not isinstance(value, str) or not value:
            raise BotAPIError(400, f"Bad Request: there is no {kind} in the request")
        known = self.files.get(value)
        if known is not None:
            return known
        if value.startswith(("http://", "https://")):
            digest = hashlib.sha256(value.encode()).hexdigest()
            return self.register_file(f"{prefix}{digest[:16]}", kind=kind, file_name=value.rsplit("/", 1)[-1])
        if value.startswith("attach://") or self.strict_file_ids:
            raise BotAPIError(400, WRONG_FILE_ID)
        return self.register_file(value, kind=kind)

    @staticmethod
    def _media_object(stored: StoredFile, params: Mapping[str, Any]) -> Any:
        def pick(name: str, stored_value: int | None, default: int) -> int:
            value = _optional_int(params.get(name))
            return value if value is not None else (stored_value if stored_value is not None else default)

        base: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.kind == "photo":
            photo = {
                **base,
                "width": pick("width", stored.width, 1280),
                "height": pick("height", stored.height, 720),
            }
            if stored.size is not None:
                photo["file_size"] = stored.size
            return [photo]
        result = dict(base)
        if stored.kind in ("video", "animation"):
            result["width"] = pick("width", stored.width, 1280)
            result["height"] = pick("height", stored.height, 720)
        if stored.kind in ("video", "animation", "audio", "voice"):
            result["duration"] = pick("duration", stored.duration, 0)
        if stored.file_name:
            result["file_name"] = stored.file_name
        if stored.mime_type:
            result["mime_type"] = stored.mime_type
        if stored.size is not None:
            result["file_size"] = stored.size
        return result

    def _send_invoice(self, call: Call) -> JSON:
        params = call.params
        chat = _chat_key(params.get("chat_id"))
        title = _str_param(params, "title")
        description = _str_param(params, "description")
        _str_param(params, "payload")
        currency = _str_param(params, "currency")
        prices = params.get("prices")
        if not isinstance(prices, list) or not prices:
            raise BotAPIError(400, "Bad Request: prices are empty")
        total = 0
        for price in prices:
            if not isinstance(price, dict) or isinstance(price.get("amount"), bool):
                raise BotAPIError(400, "Bad Request: can't parse prices JSON object")
            total += _int_param(price, "amount")
        if currency == "XTR" and len(prices) != 1:
            raise BotAPIError(400, "Bad Request: STARS_INVOICE_INVALID")
        content: JSON = {
            "invoice": {
                "title": title,
                "description": description,
                "start_parameter": str(params.get("start_parameter") or ""),
                "currency": currency,
                "total_amount": total,
            }
        }
        markup = _markup(params)
        if markup:
            content["reply_markup"] = markup
        return self._bot_message(chat, content)

    def _copy_message(self, call: Call) -> JSON:
        chat = _chat_key(call.params.get("chat_id"))
        source_chat = _chat_key(call.params.get("from_chat_id"))
        source_id = _int_param(call.params, "message_id")
        source = self.messages.get((source_chat, source_id))
        if source is None:
            logger.info("BotAPIDouble: copyMessage of unknown message %s/%s", source_chat, source_id)
            content: JSON = {"text": "Copied message"}
        else:
            content = {
                key: value
                for key, value in source.items()
                if key not in ("message_id", "from", "chat", "date", "reply_markup", "edit_date")
            }
        if call.params.get("caption") not in (None, ""):
            content.update(self._caption_content(call.params))
        markup = _markup(call.params)
        if markup:
            content["reply_markup"] = markup
        message = self._bot_message(chat, content)
        return {"message_id": message["message_id"]}

    def _message_to_edit(self, call: Call) -> tuple[tuple[ChatKey, int], JSON] | None:
        if call.params.get("inline_message_id"):
            return None
        chat = _chat_key(call.params.get("chat_id"))
        key = (chat, _int_param(call.params, "message_id"))
        message = self.messages.get(key)
        if message is None:
            raise BotAPIError(400, MESSAGE_TO_EDIT_NOT_FOUND)
        if not self._is_bot_message(message):
            raise BotAPIError(400, MESSAGE_CANT_BE_EDITED)
        return key, message

    def _apply_edit(self, key: tuple[ChatKey, int], old: JSON, changes: JSON) -> JSON:
        """Apply ``changes`` (``None`` removes a field: editing without ``reply_markup`` drops the inline
        keyboard, as in Telegram); an edit that changes nothing is Telegram's "message is not modified"."""
        new = dict(old)
        for name, value in changes.items():
            if value is None:
                new.pop(name, None)
            else:
                new[name] = value
        if new == old:
            raise BotAPIError(400, MESSAGE_NOT_MODIFIED)
        new["edit_date"] = _now()
        self.messages[key] = new
        return new

    def _edit_message_text(self, call: Call) -> JSON | bool:
        content = self._text_content(call.params)
        target = self._message_to_edit(call)
        if target is None:
            return True
        key, old = target
        if "text" not in old:
            raise BotAPIError(400, "Bad Request: there is no text in the message to edit")
        changes = {
            "text": content["text"],
            "entities": content.get("entities"),
            "reply_markup": _markup(call.params),
        }
        return self._apply_edit(key, old, changes)

    def _edit_message_caption(self, call: Call) -> JSON | bool:
        content = self._caption_content(call.params)
        target = self._message_to_edit(call)
        if target is None:
            return True
        key, old = target
        if not _MEDIA_FIELDS & old.keys():
            raise BotAPIError(400, "Bad Request: there is no caption in the message to edit")
        changes = {
            "caption": content.get("caption"),
            "caption_entities": content.get("caption_entities"),
            "reply_markup": _markup(call.params),
        }
        return self._apply_edit(key, old, changes)

    def _edit_message_reply_markup(self, call: Call) -> JSON | bool:
        markup = _markup(call.params)
        target = self._message_to_edit(call)
        if target is None:
            return True
        key, old = target
        return self._apply_edit(key, old, {"reply_markup": markup})

    def _delete_message(self, call: Call) -> bool:
        chat = _chat_key(call.params.get("chat_id"))
        key = (chat, _int_param(call.params, "message_id"))
        if self.messages.pop(key, None) is None:
            raise BotAPIError(400, MESSAGE_TO_DELETE_NOT_FOUND)
        return True

    def _get_file(self, call: Call) -> JSON:
        file_id = _str_param(call.params, "file_id")
        stored = self.files.get(file_id or "")
        if stored is None:
            raise BotAPIError(400, "Bad Request: invalid file_id")
        result: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.size is not None:
            result["file_size"] = stored.size
        if stored.data is not None:
            if stored.file_path is None:
                extension = mimetypes.guess_extension(stored.mime_type or "") or ""
                stored.file_path = f"{stored.kind}s/file_{next(self._file_paths)}{extension}"
            result["file_path"] = stored.file_path
        return result

    def _refund_star_payment(self, call: Call) -> bool:
        user_id = _int_param(call.params, "user_id")
        charge_id = _str_param(call.params, "telegram_payment_charge_id")
        payment = self.star_payments.get(charge_id or "")
        if payment is None or payment.user.get("id") != user_id:
            raise BotAPIError(400, CHARGE_NOT_FOUND)
        if payment.refunded:
            raise BotAPIError(400, CHARGE_ALREADY_REFUNDED)
        self._refund(payment)
        return True

    def _get_my_star_balance(self, _call: Call) -> JSON:
        # The Stars of the payments in the ledger that were not refunded (star_balance overrides it).
        if self.star_balance is not None:
            return {"amount": self.star_balance}
        return {"amount": sum(p.amount for p in self.star_payments.values() if not p.refunded)}

    def _get_star_transactions(self, call: Call) -> JSON:
        offset = max(_int_param(call.params, "offset", 0), 0)
        limit = min(max(_int_param(call.params, "limit", 100), 1), 100)
        # The Bot API returns the transactions in chronological order (oldest first).
        return {"transactions": [dict(t) for t in self.star_transactions[offset : offset + limit]]}


# --------------------------------------------------------------------------------------------------------
# Module helpers that need the classes above
# --------------------------------------------------------------------------------------------------------


def _safe(predicate: Callable[[Call], bool] | None, call: Call) -> bool:
    if predicate is None:
        return True
    try:
        return bool(predicate(call))
    except Exception:
        return False


def _optional_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _new_charge_id() -> str:
    return "stxTEST" + secrets.token_urlsafe(24)


def _parse_multipart_bytes(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parse a complete multipart/form-data body (a webhook reply) with the stdlib email parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + raw
    )
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    parts: Iterable[Any] = message.iter_parts() if message.is_multipart() else ()
    for part in parts:
        name = part.get_param("name", header="content-disposition") or ""
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is None:
            params[name] = decode_form_value(name, payload.decode(part.get_content_charset() or "utf-8"))
        else:
            files[name] = UploadedFile(
                field=name,
                filename=filename,
                size=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
                content_type=part.get_content_type(),
                data=payload,
            )
    return params, files
