"""SQLAlchemy models: the single source of truth for the schema (migrations are generated from it)."""

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, relationship

from shared.constants import (
    BROADCAST_ERROR_MAX_LENGTH,
    DEFAULT_LANGUAGE_CODE,
    LANGUAGE_CODE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PATH_MAX_LENGTH,
    PAYMENT_ID_MAX_LENGTH,
    PROMO_CODE_MAX_LENGTH,
    SENDER_ID_LENGTH,
    SUBJECT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    AdminLanguage,
    AdminRole,
    AuditAction,
    BroadcastMediaKind,
    BroadcastStatus,
    PurchaseStatus,
    RecipientStatus,
    SupportMessageAuthor,
    TicketStatus,
)
from shared.utils import as_utc, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite compares datetimes as text, so every stored value must be in the same (naive UTC) form.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, _dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _enum_type(enum_class: type, name: str) -> Enum:
    # Stored as VARCHAR + CHECK: portable, and adding a value later is a plain migration.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


REFUND_REASON_MAX_LENGTH = 32
REFUND_ERROR_MAX_LENGTH = 255
CURRENCY_MAX_LENGTH = 16
UNMATCHED_PAYLOAD_MAX_LENGTH = 256

# SQLite reuses the highest rowid after a delete unless AUTOINCREMENT is on: a stale reference (a bot
# button, an admin panel cache) would then silently point at a new row.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(USERNAME_MAX_LENGTH), index=True)
    first_name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    last_name: Mapped[str | None] = mapped_column(String(NAME_MAX_LENGTH))
    language_code: Mapped[str] = mapped_column(
        String(LANGUAGE_CODE_MAX_LENGTH), default=DEFAULT_LANGUAGE_CODE, index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), index=True)
    # When Telegram last refused a message to the user for good (they blocked the bot); cleared when they
    # write to the bot again.
    bot_blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    purchases: Mapped[list["Purchase"]] = relationship(back_populates="user")
    support_tickets: Mapped[list["SupportTicket"]] = relationship(back_populates="user")


class Lesson(TimestampMixin, Base):
    __tablename__ = "lessons"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("is_free OR price >= 1", name="paid_price_at_least_one_star"),
        Index("ix_lessons_is_active_created_at", "is_active", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(Integer, index=True)
    video_path: Mapped[str | None] = mapped_column(String(PATH_MAX_LENGTH))
    # Telegram's id for the uploaded video_path: sent instead of the file after the first upload.
    video_file_id: Mapped[str | None] = mapped_column(String(PATH_MAX_LENGTH))
    text_content: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    is_free: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    purchases: Mapped[list["Purchase"]] = relationship(back_populates="lesson")
    course_lessons: Mapped[list["CourseLesson"]] = relationship(
        back_populates="lesson", cascade="all, delete-orphan", passive_deletes=True
    )

    # Whether there is a video / a text, loaded instead of the content itself by the lists that leave it
    # unloaded (with_expression, see lesson_service); None otherwise.
    video_present: Mapped[bool | None] = query_expression()
    text_present: Mapped[bool | None] = query_expression()

    @property
    def has_video(self) -> bool:
        if "video_path" in self.__dict__ or self.video_present is None:
            return bool(self.video_path)
        return self.video_present

    @property
    def has_text(self) -> bool:
        if "text_content" in self.__dict__ or self.text_present is None:
            return bool(self.text_content)
        return self.text_present


class Course(TimestampMixin, Base):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("total_price >= 1", name="total_price_at_least_one_star"),
        CheckConstraint(
            "discount_price IS NULL OR (discount_price >= 1 AND discount_price < total_price)",
            name="discount_price_below_total",
        ),
        Index("ix_courses_is_active_created_at", "is_active", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    total_price: Mapped[int] = mapped_column(Integer)
    discount_price: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    course_lessons: Mapped[list["CourseLesson"]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CourseLesson.position",
    )
    purchases: Mapped[list["Purchase"]] = relationship(back_populates="course")


class CourseLesson(Base):
    """A lesson's place in a course; positions are 0-based and unique within a course."""

    __tablename__ = "course_lessons"
    __table_args__ = (
        UniqueConstraint("course_id", "position", name="uq_course_lessons_course_id_position"),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)

    course: Mapped[Course] = relationship(back_populates="course_lessons")
    lesson: Mapped[Lesson] = relationship(back_populates="course_lessons")


class PromoCode(TimestampMixin, Base):
    """A discount by percent (discount_amount NULL) or by a fixed number of Stars (discount_percent 0)."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint(
            "(discount_amount IS NULL AND discount_percent BETWEEN 1 AND 100)"
            " OR (discount_amount IS NOT NULL AND discount_amount >= 1 AND discount_percent = 0)",
            name="one_discount_kind",
        ),
        CheckConstraint("max_uses IS NULL OR max_uses >= 1", name="max_uses_positive"),
        CheckConstraint(
            "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
            name="current_uses_within_max",
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(PROMO_CODE_MAX_LENGTH), unique=True)
    discount_percent: Mapped[int] = mapped_column(Integer, default=0)
    discount_amount: Mapped[int | None] = mapped_column(Integer)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    current_uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    purchases: Mapped[list["Purchase"]] = relationship(back_populates="promo_code")


class Purchase(TimestampMixin, Base):
    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint(
            "(lesson_id IS NOT NULL AND course_id IS NULL) OR (lesson_id IS NULL AND course_id IS NOT NULL)",
            name="exactly_one_item",
        ),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_purchases_user_id_created_at", "user_id", "created_at"),
        Index("ix_purchases_status_created_at", "status", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="RESTRICT"), index=True)
    promo_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("promo_codes.id", ondelete="RESTRICT"), index=True
    )
    payment_id: Mapped[str] = mapped_column(String(PAYMENT_ID_MAX_LENGTH), unique=True)
    telegram_payment_charge_id: Mapped[str | None] = mapped_column(String(PAYMENT_ID_MAX_LENGTH), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[PurchaseStatus] = mapped_column(
        _enum_type(PurchaseStatus, "purchase_status"), default=PurchaseStatus.PENDING
    )
    # Delivery of the content after payment happens once: claimed (with a lease), then marked done.
    delivery_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the Stars go back without an admin asking ("duplicate_payment": the buyer already had the item),
    # set when the payment is recorded; the refund is then claimed with a lease, as delivery is, and
    # refund_error says why Telegram refused it for good (it is not retried then: the admin decides).
    refund_reason: Mapped[str | None] = mapped_column(String(REFUND_REASON_MAX_LENGTH))
    refund_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refund_error: Mapped[str | None] = mapped_column(String(REFUND_ERROR_MAX_LENGTH))
    # The admin who gave the item for free (a grant: amount 0, no Telegram charge); NULL for a sale.
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("admins.id", ondelete="SET NULL"), index=True
    )

    user: Mapped[User] = relationship(back_populates="purchases")
    lesson: Mapped[Lesson | None] = relationship(back_populates="purchases")
    course: Mapped[Course | None] = relationship(back_populates="purchases")
    promo_code: Mapped[PromoCode | None] = relationship(back_populates="purchases")


class SalesDimension(enum.StrEnum):
    """What a row of the sales rollup counts: the store's day, or one lesson's, course's or promo code's."""

    ALL = "all"
    LESSON = "lesson"
    COURSE = "course"
    PROMO_CODE = "promo_code"


class SalesDaily(Base):
    """The daily sales rollup the dashboard reads, kept by stats_service.count_change in the transaction of
    every purchase status change (never written elsewhere). A purchase counts on the UTC day it was
    created, from the moment it is paid (completed, then possibly refunded or revoked); key_id is the
    lesson's, course's or promo code's id (0 for the whole store)."""

    __tablename__ = "sales_daily"

    dimension: Mapped[SalesDimension] = mapped_column(
        _enum_type(SalesDimension, "sales_dimension"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Paid purchases (amount > 0) and free ones (0 Stars: a 100 % promo code, an admin's grant).
    sales: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    grants: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revenue: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_stars: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Students whose first paid purchase is of this day (ALL rows only).
    new_buyers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SalesMonthly(Base):
    """The same rollup by UTC month, for the item dimensions only (LESSON, COURSE, PROMO_CODE): a ranking
    over a year reads a row per item per month instead of per day. Kept by stats_service.count_change in
    the same transaction as the day rows; month is the first day of the month."""

    __tablename__ = "sales_monthly"

    dimension: Mapped[SalesDimension] = mapped_column(
        _enum_type(SalesDimension, "sales_dimension"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sales: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    grants: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revenue: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_stars: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    new_buyers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # always 0 (no ALL rows)


class UnmatchedPaymentReason(enum.StrEnum):
    """Why a payment Telegram took matches no purchase."""

    UNKNOWN_ITEM = "unknown_item"
    UNREADABLE_PAYLOAD = "unreadable_payload"
    WRONG_CURRENCY = "wrong_currency"
    NOT_RECORDED = "not_recorded"


class UnmatchedPayment(TimestampMixin, Base):
    """A payment Telegram took that no purchase records (its payload unreadable, its item unknown, not in
    Stars, or refused by the database for too long): one row per charge, for the admin to refund or grant
    by hand and then mark resolved."""

    __tablename__ = "unmatched_payments"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_payment_charge_id: Mapped[str] = mapped_column(String(PAYMENT_ID_MAX_LENGTH), unique=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # In the currency's smallest units (Stars for XTR).
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(CURRENCY_MAX_LENGTH))
    # As Telegram gave it, cut to a bounded length (Telegram's own limit is 128 bytes).
    payload: Mapped[str] = mapped_column(String(UNMATCHED_PAYLOAD_MAX_LENGTH))
    reason: Mapped[UnmatchedPaymentReason] = mapped_column(
        _enum_type(UnmatchedPaymentReason, "unmatched_payment_reason"), index=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The admin's note on what was done (refunded, access granted as purchase #N, ...).
    resolution: Mapped[str | None] = mapped_column(Text)


class SupportTicket(TimestampMixin, Base):
    """A conversation between a student and the admins: its messages are SupportMessage rows; `message` keeps
    the opening message's text for lists and search. updated_at moves with every message (last activity)."""

    __tablename__ = "support_tickets"
    __table_args__ = (Index("ix_support_tickets_status_created_at", "status", "created_at"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX_LENGTH))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(
        _enum_type(TicketStatus, "ticket_status"), default=TicketStatus.OPEN
    )
    purchase_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchases.id", ondelete="SET NULL"), index=True
    )

    user: Mapped[User] = relationship(back_populates="support_tickets")
    messages: Mapped[list["SupportMessage"]] = relationship(
        back_populates="ticket",
        order_by="SupportMessage.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    # The API's answer fields from before tickets were conversations: the latest admin message (the
    # messages must be loaded, as support_ticket_service.get and get_all do).
    @property
    def last_answer(self) -> "SupportMessage | None":
        return next((m for m in reversed(self.messages) if m.author is SupportMessageAuthor.ADMIN), None)

    @property
    def admin_response(self) -> str | None:
        answer = self.last_answer
        return answer.text if answer else None

    @property
    def response_sent_at(self) -> datetime | None:
        answer = self.last_answer
        return answer.delivered_at if answer else None

    @property
    def response_undeliverable_at(self) -> datetime | None:
        answer = self.last_answer
        return answer.undeliverable_at if answer else None


class SupportMessage(Base):
    """One message of a ticket: the student's (from the bot, with Telegram file ids of what they attached)
    or an admin's answer (sent to the student by the job support.send_messages)."""

    __tablename__ = "support_messages"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True)
    author: Mapped[SupportMessageAuthor] = mapped_column(
        _enum_type(SupportMessageAuthor, "support_message_author")
    )
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("admins.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"kind": "photo"|"document", "file_id": ..., "file_name": ...}]: Telegram keeps the files.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # An admin message: when it reached the student, or when Telegram refused it for good (they blocked the
    # bot; not retried). Both NULL: still to be sent.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undeliverable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The (last) message it reached the student as.
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # How many of its parts reached the student (an answer longer than one Telegram message goes in parts):
    # a retry after a failed part sends only the ones after these.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # While a job sends it (a lease, so that two runs never send it at once; a dead sender's claim ends).
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    ticket: Mapped[SupportTicket] = relationship(back_populates="messages")
    # Who answered (None: a student's message, or the admin's account is gone).
    admin: Mapped["Admin | None"] = relationship(lazy="raise")


class SupportNotification(Base):
    """An admin notified in Telegram of a student's support message: written before the message is sent, so
    that a job run again (at least once) never notifies them twice."""

    __tablename__ = "support_notifications"

    support_message_id: Mapped[int] = mapped_column(
        ForeignKey("support_messages.id", ondelete="CASCADE"), primary_key=True
    )
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Admin(TimestampMixin, Base):
    """A person who manages the store through the API and the admin panel."""

    __tablename__ = "admins"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    role: Mapped[AdminRole] = mapped_column(
        _enum_type(AdminRole, "admin_role"), default=AdminRole.OWNER, server_default=AdminRole.OWNER.value
    )
    # The panel's language; NULL follows the browser's.
    language: Mapped[AdminLanguage | None] = mapped_column(_enum_type(AdminLanguage, "admin_language"))
    # When the admin (or an owner) last set the password in the app; from then on ADMIN_PASSWORD no longer
    # overrides it at startup (it only bootstraps the account).
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The admin's own Telegram account, linked through a one-time deep link (admin_telegram_service).
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Opted in to hear about new support tickets and messages in Telegram.
    notify_support: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # SHA-256 of the pending link token (the token itself is shown once, in the deep link) and its expiry.
    telegram_link_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    telegram_link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sessions: Mapped[list["AuthSession"]] = relationship(back_populates="admin")


class AuthSession(TimestampMixin, Base):
    """One login: its refresh tokens rotate within it, and revoking it stops its access tokens too."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    # The jti of the only refresh token of this session that may still be used.
    current_refresh_jti: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    admin: Mapped[Admin] = relationship(back_populates="sessions")


# An IP address, an IPv6 /64 network or whatever else the server calls the client (cut to this length).
CLIENT_ADDRESS_MAX_LENGTH = 64


class LoginThrottle(TimestampMixin, Base):
    """Login attempts of one client address for one username (an account or not, so that the answer never
    tells which exist), and whether that client has logged in to the account before."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH), primary_key=True)
    client: Mapped[str] = mapped_column(String(CLIENT_ADDRESS_MAX_LENGTH), primary_key=True)
    # Counted before the password is checked, so a failure in progress is already in.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # No attempt of this client is checked before then.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the failures are forgotten.
    failures_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A client that logged in successfully: its failures earn growing waits instead of a lockout.
    known_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When nothing in the row matters any more: it is deleted then.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditLog(Base):
    """One admin write: who, when, what, and the changed columns' values before and after. Append-only
    (backend/services/audit_service.py writes it and refuses to change or delete it)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
        Index("ix_audit_log_admin_id_created_at", "admin_id", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("admins.id", ondelete="SET NULL"))
    # Copied, so the record still names the admin if the account goes.
    admin_username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH))
    action: Mapped[AuditAction] = mapped_column(_enum_type(AuditAction, "audit_action"))
    # The table name (lessons, purchases, ...) and the row's primary key ("3/7" for a composite key).
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    # {"column": [before, after]}: secrets masked, long texts cut.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Broadcasts ----------------------------------------------------------------------------------------------


class Broadcast(TimestampMixin, Base):
    """A message to a chosen audience of students (backend/services/broadcast_service.py, sent by the job
    worker/tasks/broadcasts.py). Its counters are kept in the same transactions as its recipients' rows,
    so that its progress is one row read however many recipients it has."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_status_scheduled_at", "status", "scheduled_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    # [{"text": ..., "url"|"lesson_id"|"course_id": ...}], as shared.schemas.BroadcastButton dumps them.
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # shared.schemas.BroadcastAudience, dumped.
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    paid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    media_kind: Mapped[BroadcastMediaKind | None] = mapped_column(
        _enum_type(BroadcastMediaKind, "broadcast_media_kind")
    )
    # Relative to MEDIA_DIR; Telegram's file id once the first send uploaded it (the others reuse it).
    media_path: Mapped[str | None] = mapped_column(String(PATH_MAX_LENGTH))
    media_file_id: Mapped[str | None] = mapped_column(String(PATH_MAX_LENGTH))
    status: Mapped[BroadcastStatus] = mapped_column(
        _enum_type(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.DRAFT
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admins.id", ondelete="SET NULL"))
    # Why it failed (Telegram refused the message itself).
    error: Mapped[str | None] = mapped_column(String(BROADCAST_ERROR_MAX_LENGTH))
    # The recipients are created in batches by user id: the last user id done, and whether all are.
    audience_cursor: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recipients_ready: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The audience's size until the recipients are created, then their number.
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    blocked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class BroadcastSender(Base):
    """A live sender of a broadcast (a run of the job, in some process) and its heartbeat: one whose
    heartbeat is older than the lease is dead, and the recipients it had claimed go back to pending."""

    __tablename__ = "broadcast_senders"

    id: Mapped[str] = mapped_column(String(SENDER_ID_LENGTH), primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BroadcastRecipient(Base):
    """One student of a broadcast's audience: at most one per broadcast and student, and sent at most once
    unless its sender died while the message was in flight (status sending)."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_recipients_broadcast_id_user_id"),
        # What the sender claims: a broadcast's rows of a status, in order.
        Index("ix_broadcast_recipients_broadcast_id_status_id", "broadcast_id", "status", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Copied from the user: the sender reads no other table.
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[RecipientStatus] = mapped_column(
        _enum_type(RecipientStatus, "recipient_status"), default=RecipientStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A retried recipient is not sent before then (NULL: at once).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(BROADCAST_ERROR_MAX_LENGTH))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who claimed it (status sending): when that sender dies, it goes back to pending.
    sender_id: Mapped[str | None] = mapped_column(String(SENDER_ID_LENGTH))
