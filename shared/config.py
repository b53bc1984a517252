"""Application settings, read once from the environment and `.env`."""

import logging
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.constants import Environment
from shared.utils import normalize_database_url

logger = logging.getLogger(__name__)

# How every Redis client of ours connects (the job queue, locks and rate limits, the bot's state): without
# redis-py 8's 5 s socket timeout, as redis-py 7 did. With one, each write runs in asyncio.wait_for, which on
# Python 3.11 loses a cancellation that arrives as the write completes (fixed in 3.12): a worker's job
# listener, cancelled so, went on polling Redis and the worker never stopped. Connecting keeps its timeout.
REDIS_CONNECTION_OPTIONS: dict[str, float | None] = {"socket_timeout": None}

DEFAULT_SECRET_KEYS = frozenset({"your-secret-key-here", "change-me", "changeme", "secret"})
DEFAULT_ADMIN_PASSWORDS = frozenset({"admin123", "admin", "password", "change-me"})
MIN_SECRET_KEY_BYTES = 32
BOT_TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Telegram's rule for setWebhook's secret_token.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    ENVIRONMENT: Environment = Environment.DEVELOPMENT
    DATABASE_URL: str = "sqlite:///./lessons.db"
    SECRET_KEY: SecretStr = SecretStr("your-secret-key-here")
    ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=7, ge=1, le=90)
    # The admin panel's browser session ends after this long without a request (and, like a refresh
    # token, REFRESH_TOKEN_EXPIRE_DAYS after its login at the latest).
    PANEL_IDLE_MINUTES: int = Field(default=120, ge=5, le=7 * 24 * 60)
    TELEGRAM_BOT_TOKEN: SecretStr = SecretStr("your-bot-token")
    ADMIN_USERNAME: str = Field(default="admin", min_length=1, max_length=64)
    ADMIN_PASSWORD: SecretStr = SecretStr("admin123")
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1, le=100)
    LOGIN_LOCKOUT_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    LOGIN_KNOWN_CLIENT_DELAY_SECONDS: int = Field(default=30, ge=1, le=24 * 3600)
    LOGIN_KNOWN_CLIENT_DAYS: int = Field(default=30, ge=1, le=365)
    LOGIN_THROTTLE_MAX_ROWS: int = Field(default=10_000, ge=1, le=10_000_000)
    # Reverse proxies whose X-Forwarded-For is believed (uvicorn's syntax: comma-separated addresses or
    # networks, or "*"). Empty: none, the client address is the connection's.
    FORWARDED_ALLOW_IPS: str = ""
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: SecretStr | None = None
    MEDIA_DIR: str = "./media"
    # A chat (id, or @channel) where the bot posts each video uploaded in the panel once, so that the
    # lesson has Telegram's file id before its first buyer. Empty: the first delivery uploads it.
    MEDIA_CHAT_ID: str | None = None
    REDIS_URL: str | None = None
    # The panel's public address (https://shop.example.com): Telegram notifications to admins link to its
    # pages. None: they carry no link.
    PANEL_BASE_URL: str | None = None
    PENDING_PURCHASE_TTL_MINUTES: int = Field(default=24 * 60, ge=5, le=30 * 24 * 60)
    DELIVERY_LEASE_SECONDS: int = Field(default=60, ge=1, le=3600)
    RECONCILE_INTERVAL_MINUTES: int = Field(default=60, ge=0, le=7 * 24 * 60)
    # Broadcasts: messages a second across all processes together (Telegram allows about 30 to different
    # chats), and for paid broadcasts (allow_paid_broadcast, 0.1 Star a message) up to 1000.
    BROADCAST_RATE_PER_SECOND: int = Field(default=25, ge=1, le=30)
    BROADCAST_PAID_RATE_PER_SECOND: int = Field(default=1000, ge=1, le=1000)
    # A broadcast's sender that has not shown life for this long is taken for dead: another one takes over
    # (and resends the few messages it had in flight).
    BROADCAST_SENDER_LEASE_SECONDS: int = Field(default=10, ge=2, le=600)
    # At most this many senders work on one broadcast at once, each in a process of its own (a worker):
    # the work is spread and a dead worker's share goes on at once. The rate stays the shared one.
    BROADCAST_SENDERS: int = Field(default=4, ge=1, le=64)
    CORS_ORIGINS: list[str] = []
    # 1 MiB: far above any JSON the API takes; uploads bypass it (backend/api/limits.py).
    MAX_REQUEST_BODY_BYTES: int = Field(default=1_048_576, ge=1024)
    LOG_LEVEL: str = "INFO"
    # text: one readable line per record; json: one JSON object per line (for log collectors).
    LOG_FORMAT: Literal["text", "json"] = "text"
    # Prometheus metrics: the API serves them at /metrics when enabled; `python -m bot` and
    # `python -m worker` serve theirs on METRICS_PORT when it is set.
    METRICS_ENABLED: bool = False
    METRICS_PORT: int | None = Field(default=None, ge=1, le=65535)
    SQL_ECHO: bool = False

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_has_supported_driver(cls, value: str) -> str:
        normalize_database_url(value)
        return value

    @field_validator("WEBHOOK_URL", mode="before")
    @classmethod
    def _empty_webhook_url_means_polling(cls, value: object) -> object:
        return value or None

    @field_validator("METRICS_PORT", mode="before")
    @classmethod
    def _empty_port_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("MEDIA_CHAT_ID", mode="before")
    @classmethod
    def _empty_media_chat_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("PANEL_BASE_URL", mode="before")
    @classmethod
    def _panel_base_url(cls, value: object) -> object:
        if not value:
            return None
        value = str(value).strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("PANEL_BASE_URL must be an http(s):// address")
        return value

    @field_validator("WEBHOOK_SECRET", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return value or None

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "Settings":
        if self.WEBHOOK_URL and self.WEBHOOK_SECRET is None:
            raise ValueError(
                "WEBHOOK_URL is set but WEBHOOK_SECRET is not: refusing an unauthenticated webhook"
            )
        if self.WEBHOOK_SECRET is not None and not WEBHOOK_SECRET_PATTERN.fullmatch(
            self.WEBHOOK_SECRET.get_secret_value()
        ):
            raise ValueError("WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> "Settings":
        if self.ENVIRONMENT is Environment.PRODUCTION and self.insecure_settings:
            raise ValueError("Refusing to start in production: " + "; ".join(self.insecure_settings))
        return self

    @property
    def insecure_settings(self) -> list[str]:
        problems = []
        secret = self.SECRET_KEY.get_secret_value()
        if secret in DEFAULT_SECRET_KEYS:
            problems.append("SECRET_KEY is the default value")
        if len(secret.encode()) < MIN_SECRET_KEY_BYTES:
            problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes")
        if self.ADMIN_PASSWORD.get_secret_value() in DEFAULT_ADMIN_PASSWORDS:
            problems.append("ADMIN_PASSWORD is a default value")
        return problems

    @property
    def trusted_proxies(self) -> list[str]:
        return [host.strip() for host in self.FORWARDED_ALLOW_IPS.split(",") if host.strip()]

    @property
    def async_database_url(self) -> str:
        return normalize_database_url(self.DATABASE_URL)

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    def warn_if_insecure(self) -> None:
        for problem in self.insecure_settings:
            logger.warning(
                "INSECURE CONFIGURATION: %s. Fine for development, refused when ENVIRONMENT=production.",
                problem,
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
