"""Pydantic schemas: one family per entity (Base, Create, Update, Read, List).

Input models reject unknown fields; money and ids are strict integers; every text field refuses NUL
characters and invalid Unicode, which databases cannot store.
"""

import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from shared.constants import (
    BROADCAST_BUTTON_TEXT_MAX_LENGTH,
    BROADCAST_BUTTONS_MAX,
    BROADCAST_TEXT_MAX_LENGTH,
    BROADCAST_URL_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    LANGUAGE_CODE_MAX_LENGTH,
    MAX_PRICE_STARS,
    MAX_TELEGRAM_ID,
    MESSAGE_MAX_LENGTH,
    MIN_PAID_PRICE_STARS,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PATH_MAX_LENGTH,
    PAYMENT_ID_MAX_LENGTH,
    PROMO_CODE_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    TEXT_CONTENT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    AdminLanguage,
    AdminRole,
    AudienceKind,
    AuditAction,
    BroadcastMediaKind,
    BroadcastStatus,
    PurchaseStatus,
    RecipientStatus,
    TicketStatus,
)
from shared.models import UnmatchedPaymentReason
from shared.utils import as_utc, utcnow

# Primary keys are 32-bit on PostgreSQL (INTEGER); anything larger can never exist.
MAX_ID = 2**31 - 1


def reject_unstorable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("must be valid Unicode text") from error
    return value


def _to_utc(value: datetime | None) -> datetime | None:
    try:
        return None if value is None else as_utc(value)
    except OverflowError as error:
        # 0001-01-01 with a positive offset, or 9999-12-31 with a negative one, has no UTC equivalent.
        raise ValueError("is out of the supported date range") from error


def _normalize_promo_code(value: str) -> str:
    return value.strip().upper()


def text(*, max_length: int, min_length: int = 0, strip: bool = True) -> Any:
    """A text type: stripped (by default) before its length is checked, and storable by every database."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=strip, min_length=min_length, max_length=max_length),
        AfterValidator(reject_unstorable_text),
    ]


SafeStr = Annotated[str, AfterValidator(reject_unstorable_text)]
Title = text(min_length=1, max_length=TITLE_MAX_LENGTH)
Description = text(max_length=DESCRIPTION_MAX_LENGTH, strip=False)
TextContent = text(max_length=TEXT_CONTENT_MAX_LENGTH, strip=False)
FilePath = text(min_length=1, max_length=PATH_MAX_LENGTH)
PersonName = text(min_length=1, max_length=NAME_MAX_LENGTH)
OptionalName = text(max_length=NAME_MAX_LENGTH)
Username = text(min_length=1, max_length=USERNAME_MAX_LENGTH)
LANGUAGE_CODE_PATTERN = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}")
LanguageCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=LANGUAGE_CODE_MAX_LENGTH),
    Field(pattern=f"^{LANGUAGE_CODE_PATTERN.pattern}$"),
]
PaymentId = text(min_length=1, max_length=PAYMENT_ID_MAX_LENGTH, strip=False)
PromoCodeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=PROMO_CODE_MAX_LENGTH),
    Field(pattern=r"^[A-Za-z0-9_-]+$"),
    AfterValidator(_normalize_promo_code),
]
Subject = text(min_length=1, max_length=SUBJECT_MAX_LENGTH)
Message = text(min_length=1, max_length=MESSAGE_MAX_LENGTH)
AdminResponse = text(max_length=MESSAGE_MAX_LENGTH)
Resolution = text(min_length=1, max_length=MESSAGE_MAX_LENGTH)

Stars = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE_STARS)]
PaidStars = Annotated[int, Field(strict=True, ge=1, le=MAX_PRICE_STARS)]
Percent = Annotated[int, Field(strict=True, ge=0, le=100)]
Count = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
RecordId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
TelegramId = Annotated[int, Field(strict=True, ge=1, le=MAX_TELEGRAM_ID)]
Flag = Annotated[bool, Field(strict=True)]
UtcDateTime = Annotated[datetime, AfterValidator(_to_utc)]


# Up to this many unknown fields are reported one by one; more make one error that counts them.
UNKNOWN_FIELDS_REPORTED = 10


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_a_flood_of_unknown_fields(cls, data: Any) -> Any:
        # Before any field is validated: a body of a hundred thousand unknown keys would otherwise cost a
        # second of CPU on the event loop, building an error for each.
        if isinstance(data, dict) and len(data) > len(cls.model_fields) + UNKNOWN_FIELDS_REPORTED:
            known = cls.model_fields
            unknown = [key for key in data if key not in known]
            if len(unknown) > UNKNOWN_FIELDS_REPORTED:
                shown = ", ".join(repr(str(key)[:40]) for key in unknown[:UNKNOWN_FIELDS_REPORTED])
                raise ValueError(f"{len(unknown)} unknown fields: {shown}, ...")
        return data


class UpdateModel(InputModel):
    """All fields optional; a field left out stays as it is. Only `nullable_fields` accept null."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _reject_null_for_required_columns(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields present in the input, so leaving a field out stays allowed.
        if value is None and info.field_name not in cls.nullable_fields:
            raise ValueError(f"{info.field_name} may not be null")
        return value


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int = Field(
        description="Number of records matching the filters, ignoring limit and offset; counted up to "
        "offset + 10,000, so when total_exact is false there are more than this"
    )
    total_exact: bool = Field(description="Whether total is the exact count or (false) a lower bound")
    limit: int
    offset: int


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, Any]]


class HealthRead(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


# Users ---------------------------------------------------------------------------------------------------


class UserBase(InputModel):
    username: Username | None = None
    first_name: PersonName
    last_name: OptionalName | None = None
    language_code: LanguageCode = "en"
    is_active: Flag = True


class UserCreate(UserBase):
    telegram_id: TelegramId


class UserUpdate(UpdateModel):
    nullable_fields = frozenset({"username", "last_name"})

    username: Username | None = None
    first_name: PersonName | None = None
    last_name: OptionalName | None = None
    language_code: LanguageCode | None = None
    is_active: Flag | None = None


class UserRead(ReadModel):
    id: int
    telegram_id: int
    username: str | None
    first_name: str
    last_name: str | None
    language_code: str
    is_active: bool
    bot_blocked_at: datetime | None = Field(
        default=None, description="When Telegram refused a message to the user (they blocked the bot)"
    )
    created_at: datetime
    updated_at: datetime


UserList = Page[UserRead]


# Lessons -------------------------------------------------------------------------------------------------


class LessonBase(InputModel):
    title: Title
    description: Description = ""
    # Before price: price's validator reads it.
    is_free: Flag = False
    # Validated when left out too: a paid lesson without a price is refused.
    price: Stars = Field(default=0, validate_default=True)
    video_path: FilePath | None = None
    text_content: TextContent | None = None
    is_active: Flag = True

    @field_validator("price")
    @classmethod
    def _paid_lessons_cost_at_least_one_star(cls, price: int, info: ValidationInfo) -> int:
        check_lesson_price(is_free=info.data.get("is_free", False), price=price)
        return price


def check_lesson_price(*, is_free: bool, price: int) -> None:
    """The rule "a paid lesson costs at least 1 Star" (the database's CHECK constraint says it too)."""
    if not is_free and price < MIN_PAID_PRICE_STARS:
        raise ValueError("price must be at least 1 Star unless is_free is true")


class LessonCreate(LessonBase):
    pass


class LessonUpdate(UpdateModel):
    nullable_fields = frozenset({"video_path", "text_content"})

    title: Title | None = None
    description: Description | None = None
    price: Stars | None = None
    video_path: FilePath | None = None
    text_content: TextContent | None = None
    is_active: Flag | None = None
    is_free: Flag | None = None


class LessonPublic(ReadModel):
    """What anyone may see of a lesson: never its paid content."""

    id: int
    title: str
    description: str
    price: int
    is_free: bool
    is_active: bool
    has_video: bool
    has_text: bool
    created_at: datetime
    updated_at: datetime


class LessonRead(LessonPublic):
    video_path: str | None
    text_content: str | None


LessonList = Page[LessonRead]
LessonPublicList = Page[LessonPublic]


# Courses -------------------------------------------------------------------------------------------------


class CourseBase(InputModel):
    title: Title
    description: Description = ""
    total_price: PaidStars
    discount_price: PaidStars | None = None
    is_active: Flag = True

    @model_validator(mode="after")
    def _discount_below_total(self) -> "CourseBase":
        if self.discount_price is not None and self.discount_price >= self.total_price:
            raise ValueError("discount_price must be lower than total_price")
        return self


class CourseCreate(CourseBase):
    lesson_ids: list[RecordId] = Field(default_factory=list, max_length=1000)


class CourseUpdate(UpdateModel):
    nullable_fields = frozenset({"discount_price"})

    title: Title | None = None
    description: Description | None = None
    total_price: PaidStars | None = None
    discount_price: PaidStars | None = None
    is_active: Flag | None = None


class CourseLessonsSet(InputModel):
    """The complete, ordered list of a course's lessons."""

    lesson_ids: list[RecordId] = Field(max_length=1000)


class CourseLessonAdd(InputModel):
    lesson_id: RecordId
    position: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = Field(
        default=None, description="0-based place in the course; appended at the end when omitted"
    )


class CourseLessonRead(ReadModel):
    position: int
    id: int
    title: str
    price: int
    is_free: bool
    is_active: bool


class CourseRead(ReadModel):
    id: int
    title: str
    description: str
    total_price: int
    discount_price: int | None
    effective_price: int = Field(
        description="What the course costs now: discount_price when set, else total_price"
    )
    lessons_price: int = Field(description="What the course's paid lessons cost when bought one by one")
    is_active: bool
    lessons: list[CourseLessonRead]
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def lesson_count(self) -> int:
        return len(self.lessons)


CourseList = Page[CourseRead]


# Purchases -----------------------------------------------------------------------------------------------


class OneItemModel(InputModel):
    """A request about exactly one lesson or course: lesson_id or course_id, not both."""

    lesson_id: RecordId | None = None
    course_id: RecordId | None = None

    @model_validator(mode="after")
    def _exactly_one_item(self) -> Self:
        if (self.lesson_id is None) == (self.course_id is None):
            raise ValueError("give exactly one of lesson_id or course_id")
        return self


class PurchaseCreate(OneItemModel):
    user_id: RecordId
    promo_code: PromoCodeText | None = None
    payment_id: PaymentId | None = Field(
        default=None, description="Unique id of the payment; generated when omitted"
    )
    telegram_payment_charge_id: PaymentId | None = None
    status: Literal[PurchaseStatus.PENDING, PurchaseStatus.COMPLETED] = PurchaseStatus.PENDING


class GrantCreate(OneItemModel):
    """A lesson or course to give a student for free."""


class PurchaseRead(ReadModel):
    id: int
    user_id: int
    lesson_id: int | None
    course_id: int | None
    promo_code_id: int | None
    payment_id: str
    telegram_payment_charge_id: str | None
    amount: int
    status: PurchaseStatus
    refund_reason: str | None = Field(
        description="Why the Stars go (or went) back without an admin asking: duplicate_payment (the buyer "
        "already had the item); refunded automatically"
    )
    refund_error: str | None = Field(
        description="Why Telegram refused that automatic refund for good (not retried: the admin decides)"
    )
    granted_by_id: int | None = Field(
        default=None, description="The admin who gave the item for free (a grant); null for a sale"
    )
    created_at: datetime
    updated_at: datetime


PurchaseList = Page[PurchaseRead]


# Unmatched payments --------------------------------------------------------------------------------------


class UnmatchedPaymentRead(ReadModel):
    id: int
    telegram_payment_charge_id: str
    telegram_user_id: int
    amount: int = Field(description="In the currency's smallest units (Stars for XTR)")
    currency: str
    payload: str = Field(description="The invoice payload as Telegram gave it (cut short)")
    reason: UnmatchedPaymentReason
    resolved_at: datetime | None
    resolution: str | None = Field(description="The admin's note on what was done")
    created_at: datetime
    updated_at: datetime


UnmatchedPaymentList = Page[UnmatchedPaymentRead]


class UnmatchedPaymentResolve(InputModel):
    resolution: Resolution = Field(description="What was done (refunded, granted as purchase #N, ...)")


# Promo codes ---------------------------------------------------------------------------------------------


class PromoCodeBase(InputModel):
    code: PromoCodeText
    discount_percent: Percent = 0
    discount_amount: PaidStars | None = None
    max_uses: Count | None = None
    is_active: Flag = True
    expires_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _one_discount_kind(self) -> "PromoCodeBase":
        check_discount_kind(self.discount_percent, self.discount_amount)
        return self


def check_discount_kind(discount_percent: int, discount_amount: int | None) -> None:
    if discount_amount is None and not 1 <= discount_percent <= 100:
        raise ValueError("set discount_percent (1-100) or discount_amount")
    if discount_amount is not None and discount_percent != 0:
        raise ValueError("set either discount_percent or discount_amount, not both")


class PromoCodeCreate(PromoCodeBase):
    pass


class PromoCodeUpdate(UpdateModel):
    nullable_fields = frozenset({"discount_amount", "max_uses", "expires_at"})

    code: PromoCodeText | None = None
    discount_percent: Percent | None = None
    discount_amount: PaidStars | None = None
    max_uses: Count | None = None
    is_active: Flag | None = None
    expires_at: UtcDateTime | None = None


class PromoCodeRead(ReadModel):
    id: int
    code: str
    discount_percent: int
    discount_amount: int | None
    max_uses: int | None
    current_uses: int
    is_active: bool
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


PromoCodeList = Page[PromoCodeRead]


class PromoCodeValidate(OneItemModel):
    code: Annotated[
        SafeStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=PROMO_CODE_MAX_LENGTH)
    ]


class PromoCodeValidation(BaseModel):
    code: str
    valid: bool
    reason: Literal["unknown", "inactive", "expired", "used_up"] | None = None
    message: str | None = None
    original_price: int
    discount: int
    final_price: int


# Support tickets -----------------------------------------------------------------------------------------


class SupportTicketCreate(InputModel):
    user_id: RecordId
    subject: Subject
    message: Message
    purchase_id: RecordId | None = Field(default=None, description="The purchase the ticket is about")


class SupportTicketUpdate(UpdateModel):
    nullable_fields = frozenset({"admin_response"})

    subject: Subject | None = None
    message: Message | None = None
    status: TicketStatus | None = None
    admin_response: AdminResponse | None = None


class SupportTicketRead(ReadModel):
    id: int
    user_id: int
    subject: str
    message: str
    status: TicketStatus
    admin_response: str | None
    purchase_id: int | None
    response_sent_at: datetime | None = Field(description="When the answer reached the user in the bot")
    response_undeliverable_at: datetime | None = Field(
        description="When Telegram refused the answer for good (the user blocked the bot); not retried"
    )
    created_at: datetime
    updated_at: datetime


SupportTicketList = Page[SupportTicketRead]


# Auth ----------------------------------------------------------------------------------------------------


class LoginRequest(InputModel):
    username: Annotated[SafeStr, StringConstraints(min_length=1, max_length=USERNAME_MAX_LENGTH)]
    password: Annotated[SafeStr, StringConstraints(min_length=1, max_length=1024)]


class RefreshRequest(InputModel):
    refresh_token: Annotated[SafeStr, StringConstraints(min_length=1, max_length=4096)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


# Admins --------------------------------------------------------------------------------------------------

# Letters, digits and . _ - (no spaces or look-alike symbols): the name is typed at every login.
AdminUsername = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=USERNAME_MAX_LENGTH),
    Field(pattern=r"^[A-Za-z0-9._-]+$"),
]
# Never stripped: spaces are part of a passphrase.
Password = Annotated[
    SafeStr,
    StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
    Field(description=f"At least {PASSWORD_MIN_LENGTH} characters"),
]


class AdminCreate(InputModel):
    username: AdminUsername
    password: Password
    role: AdminRole
    language: AdminLanguage | None = Field(
        default=None, description="The panel's language; null: the browser's"
    )


class AdminUpdate(UpdateModel):
    """An owner's changes to an admin; a new password (for one who forgot theirs) ends their sessions."""

    nullable_fields = frozenset({"language"})

    role: AdminRole | None = None
    is_active: Flag | None = None
    language: AdminLanguage | None = None
    password: Password | None = None


class AdminRead(ReadModel):
    id: int
    username: str
    role: AdminRole
    is_active: bool
    language: AdminLanguage | None = Field(description="The panel's language; null: the browser's")
    password_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime


AdminList = Page[AdminRead]


class PasswordChange(InputModel):
    current_password: Annotated[SafeStr, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password


class OwnSettingsUpdate(UpdateModel):
    """What an admin changes of their own account (the role and the password have their own ways)."""

    nullable_fields = frozenset({"language"})

    language: AdminLanguage | None = Field(
        default=None, description="The panel's language; null: the browser's"
    )


# Audit log -----------------------------------------------------------------------------------------------


class AuditLogRead(ReadModel):
    id: int
    created_at: datetime
    admin_id: int | None = Field(description="Null when the admin's account no longer exists")
    admin_username: str
    action: AuditAction
    entity: str = Field(description="The table: lessons, courses, purchases, admins, ...")
    entity_id: str = Field(description='The row\'s primary key ("course/lesson" for course_lessons)')
    changes: dict[str, list[Any]] = Field(
        description="[before, after] of each changed column; secrets masked, long texts cut"
    )


AuditLogList = Page[AuditLogRead]


# Broadcasts ----------------------------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_length(html_text: str) -> int:
    """The length Telegram counts of an HTML text: its characters after the tags are parsed away, in UTF-16
    code units."""
    parser = _VisibleText()
    parser.feed(html_text)
    parser.close()
    return len("".join(parser.parts).encode("utf-16-le")) // 2


def check_broadcast_text(value: str, *, limit: int = BROADCAST_TEXT_MAX_LENGTH) -> str:
    """A broadcast's HTML text: something to show, within Telegram's limit (4096, or 1024 as a caption)."""
    length = visible_length(value)
    if length == 0 or not value.strip():
        raise ValueError("text must not be empty")
    if length > limit:
        raise ValueError(f"text is {length} characters long as Telegram counts them; the limit is {limit}")
    return value


BroadcastText = Annotated[
    str,
    # The HTML source is bounded too: tags take room that Telegram does not count.
    StringConstraints(min_length=1, max_length=4 * BROADCAST_TEXT_MAX_LENGTH),
    AfterValidator(reject_unstorable_text),
    AfterValidator(check_broadcast_text),
]
BUTTON_URL_SCHEMES = frozenset({"http", "https", "tg"})


def _button_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in BUTTON_URL_SCHEMES or not (parts.netloc or parts.scheme.lower() == "tg"):
        raise ValueError("must be an http, https or tg URL")
    return value


ButtonUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=BROADCAST_URL_MAX_LENGTH),
    AfterValidator(reject_unstorable_text),
    AfterValidator(_button_url),
]


class BroadcastAudience(InputModel):
    """Who gets a broadcast; students who blocked the bot never do."""

    kind: AudienceKind
    lesson_id: RecordId | None = Field(default=None, description="For bought_lesson")
    course_id: RecordId | None = Field(default=None, description="For bought_course and not_bought_course")
    language: Literal["ru", "en"] | None = Field(
        default=None, description="Only students whose Telegram language is this one"
    )

    @model_validator(mode="after")
    def _item_where_the_kind_names_one(self) -> Self:
        needs_lesson = self.kind is AudienceKind.BOUGHT_LESSON
        needs_course = self.kind in (AudienceKind.BOUGHT_COURSE, AudienceKind.NOT_BOUGHT_COURSE)
        if needs_lesson != (self.lesson_id is not None):
            raise ValueError(
                "lesson_id is required for bought_lesson"
                if needs_lesson
                else f"{self.kind} takes no lesson_id"
            )
        if needs_course != (self.course_id is not None):
            raise ValueError(
                f"course_id is required for {self.kind}"
                if needs_course
                else f"{self.kind} takes no course_id"
            )
        return self


class BroadcastButton(InputModel):
    """An inline button under the message: a link, or a lesson's or course's card in the bot."""

    text: text(min_length=1, max_length=BROADCAST_BUTTON_TEXT_MAX_LENGTH)  # type: ignore[valid-type]
    url: ButtonUrl | None = None
    lesson_id: RecordId | None = None
    course_id: RecordId | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if sum(value is not None for value in (self.url, self.lesson_id, self.course_id)) != 1:
            raise ValueError("a button needs exactly one of url, lesson_id or course_id")
        return self


def _in_future(value: datetime | None) -> datetime | None:
    if value is not None and value <= utcnow():
        raise ValueError("must be in the future")
    return value


FutureDateTime = Annotated[datetime, AfterValidator(_to_utc), AfterValidator(_in_future)]


class BroadcastCreate(InputModel):
    text: BroadcastText = Field(
        description="Telegram HTML: up to 4096 characters as Telegram counts them (1024 with media)"
    )
    buttons: list[BroadcastButton] = Field(default_factory=list, max_length=BROADCAST_BUTTONS_MAX)
    audience: BroadcastAudience
    scheduled_at: FutureDateTime | None = Field(
        default=None, description="When to start it by itself (naive = UTC); none: a draft, started by hand"
    )
    paid: Flag = Field(
        default=False, description="allow_paid_broadcast: up to 1000 messages/s for 0.1 Star a message"
    )


class BroadcastUpdate(UpdateModel):
    """Changes to a draft or scheduled broadcast; scheduled_at null makes it a draft again."""

    nullable_fields = frozenset({"scheduled_at"})

    text: BroadcastText | None = None
    buttons: list[BroadcastButton] | None = Field(default=None, max_length=BROADCAST_BUTTONS_MAX)
    audience: BroadcastAudience | None = None
    scheduled_at: FutureDateTime | None = None
    paid: Flag | None = None


class BroadcastRead(ReadModel):
    id: int
    text: str
    buttons: list[dict[str, Any]]
    audience: dict[str, Any]
    paid: bool
    media_kind: BroadcastMediaKind | None
    status: BroadcastStatus
    error: str | None = Field(default=None, description="Why it failed (Telegram refused the message)")
    total: int = Field(description="Recipients (the audience's size until sending starts)")
    sent: int
    failed: int
    blocked: int
    pending: int = Field(description="Recipients not sent yet (nor failed nor blocked)")
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    eta_seconds: int | None = Field(description="Estimated seconds left while sending or paused")
    duration_seconds: int = Field(description="How long sending all of it takes at the allowed rate")
    cost_stars: int = Field(description="What a paid broadcast costs in Stars (0 unless paid)")


BroadcastList = Page[BroadcastRead]


class BroadcastRecipientRead(ReadModel):
    user_id: int
    telegram_id: int
    status: RecipientStatus
    message_id: int | None
    error: str | None
    attempts: int
    sent_at: datetime | None


BroadcastRecipientList = Page[BroadcastRecipientRead]


class BroadcastTestSent(BaseModel):
    chat_id: int = Field(description="The admin's own Telegram chat")
    message_id: int


class AudienceCount(BaseModel):
    count: int = Field(description="Students the audience reaches now (those who blocked the bot excluded)")
    duration_seconds: int
    cost_stars: int
