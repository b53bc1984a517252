"""Values that are part of the contract between the core and the other parts of the system."""

import enum

# Telegram Stars: an invoice must ask for at least 1 Star.
MIN_PAID_PRICE_STARS = 1
# Upper bound on any price we accept; keeps amounts far from integer overflow on every backend.
MAX_PRICE_STARS = 1_000_000

# Telegram user ids are 64-bit signed integers.
MAX_TELEGRAM_ID = 2**63 - 1
MAX_DB_ID = 2**63 - 1

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_OFFSET = 1_000_000

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
TEXT_CONTENT_MAX_LENGTH = 1_000_000
PATH_MAX_LENGTH = 1_000
NAME_MAX_LENGTH = 255
USERNAME_MAX_LENGTH = 64
LANGUAGE_CODE_MAX_LENGTH = 16
PAYMENT_ID_MAX_LENGTH = 255
PROMO_CODE_MAX_LENGTH = 64
SUBJECT_MAX_LENGTH = 255
MESSAGE_MAX_LENGTH = 10_000
SEARCH_MAX_LENGTH = 100
# Admin passwords set through the API; the bootstrap one (ADMIN_PASSWORD) is checked by the settings.
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024
# Audit log values longer than this are cut: the log says what changed, not a copy of every lesson text.
AUDIT_VALUE_MAX_LENGTH = 200

DEFAULT_LANGUAGE_CODE = "en"


class PurchaseStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    # A grant (a free purchase an admin gave) taken back: it no longer grants access.
    REVOKED = "revoked"


class TicketStatus(enum.StrEnum):
    """open: the student's turn is answered next; answered: an admin answered last; closed: done (the student
    may reopen it)."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class SupportMessageAuthor(enum.StrEnum):
    STUDENT = "student"
    ADMIN = "admin"


class AttachmentKind(enum.StrEnum):
    """What a student attached to a support message (kept as Telegram file ids)."""

    PHOTO = "photo"
    DOCUMENT = "document"


class AdminRole(enum.StrEnum):
    """What an admin may do: the owner everything (and manages the admins), a manager the store (content,
    prices, promo codes, sales, refunds, students), support the tickets (and reads students and sales)."""

    OWNER = "owner"
    MANAGER = "manager"
    SUPPORT = "support"


class AdminLanguage(enum.StrEnum):
    """The languages of the admin panel; an admin without one gets the browser's."""

    RU = "ru"
    EN = "en"


class AuditAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# Broadcasts ----------------------------------------------------------------------------------------------

# Telegram's limits: a message's text, a media caption (both counted after HTML parsing), inline buttons.
BROADCAST_TEXT_MAX_LENGTH = 4096
BROADCAST_CAPTION_MAX_LENGTH = 1024
BROADCAST_BUTTONS_MAX = 10
BROADCAST_BUTTON_TEXT_MAX_LENGTH = 64
BROADCAST_URL_MAX_LENGTH = 2048
BROADCAST_ERROR_MAX_LENGTH = 255
# A broadcast sender's id: a UUID's 32 hex digits.
SENDER_ID_LENGTH = 32
# A paid broadcast costs 0.1 Star a message (Telegram's rule): ceil(messages / 10) Stars.
PAID_BROADCAST_STARS_PER_MESSAGE_TENTHS = 1
# A broadcast's photo: Telegram takes photos of up to 10 MB from bots.
BROADCAST_PHOTO_MAX_BYTES = 10 * 1024 * 1024


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class AudienceKind(enum.StrEnum):
    ALL = "all"
    BUYERS = "buyers"
    NON_BUYERS = "non_buyers"
    BOUGHT_LESSON = "bought_lesson"
    BOUGHT_COURSE = "bought_course"
    NOT_BOUGHT_COURSE = "not_bought_course"


class RecipientStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"


class BroadcastMediaKind(enum.StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
