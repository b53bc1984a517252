"""Domain exceptions raised by the services.

Each edge translates them: the API to HTTP errors (by family, see backend/api/errors.py), the bot to
translated texts (by class). The message is a stable English sentence that names the problem.
"""

from collections.abc import Iterable


class DomainError(Exception):
    """Base class of every business-rule failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DomainError):
    """The referenced record does not exist."""


class ConflictError(DomainError):
    """The request contradicts the current state (a duplicate, a record still in use, a used-up code)."""


class RuleViolation(DomainError):
    """The request is well-formed but breaks a business rule (a price, a discount)."""


class AuthenticationError(DomainError):
    """Credentials or a token are missing, wrong, expired or revoked."""


class PermissionDenied(DomainError):
    """The admin is authenticated but their role does not allow this (or they gave a wrong password)."""


class TooManyAttempts(DomainError):
    """Too many failed logins; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UserNotFound(NotFoundError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"User {user_id} not found")


class LessonNotFound(NotFoundError):
    def __init__(self, lesson_id: int) -> None:
        super().__init__(f"Lesson {lesson_id} not found")


class CourseNotFound(NotFoundError):
    def __init__(self, course_id: int) -> None:
        super().__init__(f"Course {course_id} not found")


class PurchaseNotFound(NotFoundError):
    def __init__(self, purchase_id: int | str) -> None:
        super().__init__(f"Purchase {purchase_id} not found")


class PromoCodeNotFound(NotFoundError):
    def __init__(self, ref: int | str) -> None:
        super().__init__(f"Promo code {ref} not found")


class TicketNotFound(NotFoundError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"Support ticket {ticket_id} not found")


class DuplicateTelegramId(ConflictError):
    def __init__(self, telegram_id: int) -> None:
        super().__init__(f"A user with telegram_id {telegram_id} already exists")


class DuplicatePromoCode(ConflictError):
    def __init__(self, code: str) -> None:
        super().__init__(f"Promo code {code} already exists")


class DuplicatePaymentId(ConflictError):
    def __init__(self, payment_id: str) -> None:
        super().__init__(f"A purchase with payment_id {payment_id} already exists")


class DuplicateChargeId(ConflictError):
    def __init__(self, charge_id: str) -> None:
        super().__init__(f"A purchase with telegram_payment_charge_id {charge_id} already exists")


class ItemInUse(ConflictError):
    """A lesson, course or promo code cannot be deleted because purchase history refers to it."""


class ItemNotForSale(ConflictError):
    """The lesson or course is inactive, or the lesson is free."""


class AlreadyPurchased(ConflictError):
    def __init__(self, what: str) -> None:
        super().__init__(f"The user already has access to {what}")


class InvalidPurchaseTransition(ConflictError):
    def __init__(self, purchase_id: int, current: str, target: str) -> None:
        super().__init__(f"Purchase {purchase_id} is {current} and cannot become {target}")


class PromoCodeNotApplicable(RuleViolation):
    """A promo code exists but cannot be used now; `reason` is a stable machine-readable word."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class PromoCodeUnknown(PromoCodeNotApplicable):
    def __init__(self, code: str) -> None:
        super().__init__(code, "unknown", f"Promo code {code} does not exist")


class PromoCodeInactive(PromoCodeNotApplicable):
    def __init__(self, code: str) -> None:
        super().__init__(code, "inactive", f"Promo code {code} is not active")


class PromoCodeExpired(PromoCodeNotApplicable):
    def __init__(self, code: str) -> None:
        super().__init__(code, "expired", f"Promo code {code} has expired")


class PromoCodeUsedUp(PromoCodeNotApplicable):
    def __init__(self, code: str) -> None:
        super().__init__(code, "used_up", f"Promo code {code} has no uses left")


class InvalidCredentials(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Incorrect username or password")


class InvalidToken(AuthenticationError):
    def __init__(self, reason: str = "Invalid or expired token") -> None:
        super().__init__(reason)


class InvalidPayload(RuleViolation):
    """An invoice payload this store did not issue."""

    def __init__(self, payload: str) -> None:
        super().__init__(f"Unknown invoice payload {payload[:64]!r}")


class WrongCurrency(RuleViolation):
    def __init__(self, currency: str) -> None:
        super().__init__(f"Payments are accepted in Telegram Stars (XTR), not {currency[:8]}")


class PriceChanged(RuleViolation):
    def __init__(self, asked: int, current: int) -> None:
        super().__init__(f"The price is now {current} Stars, not {asked}")
        self.asked = asked
        self.current = current


class RefundRefused(ConflictError):
    """Telegram refused the refund; `reason` is a stable word (already_refunded, charge_not_found, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TelegramUnavailable(DomainError):
    """Telegram could not be reached or answered with an unexpected error."""


class RecipientBlocked(DomainError):
    """Telegram refused a message for good: the user blocked the bot (or deleted their account)."""

    def __init__(self) -> None:
        super().__init__("The user blocked the bot")


class InvalidUpdate(RuleViolation):
    def __init__(self) -> None:
        super().__init__("Not a Telegram update")


class PaymentNotRecorded(DomainError):
    """Telegram took the Stars but the database could not take the payment update now (it is down, locked,
    or failing). The update must come again, and its charge is then recorded exactly once: the webhook
    answers 503 so that Telegram delivers it again, and polling handles it again before confirming it."""


class BotNotConfigured(ConflictError):
    """The request needs Telegram, and this installation has no bot token."""

    def __init__(self) -> None:
        super().__init__("The Telegram bot is off: set TELEGRAM_BOT_TOKEN to use this")


class UnmatchedPaymentNotFound(NotFoundError):
    def __init__(self, unmatched_id: int) -> None:
        super().__init__(f"Unmatched payment {unmatched_id} not found")


class UnmatchedPaymentAlreadyResolved(ConflictError):
    def __init__(self, unmatched_id: int) -> None:
        super().__init__(f"Unmatched payment {unmatched_id} is already resolved")


class NotAGrant(ConflictError):
    def __init__(self, purchase_id: int) -> None:
        super().__init__(f"Purchase {purchase_id} is not a grant: only grants can be revoked")


class RoleRequired(PermissionDenied):
    def __init__(self, roles: Iterable[str], role: str) -> None:
        needed = " or ".join(roles)
        super().__init__(f"This needs the {needed} role; you are {role}")


class WrongCurrentPassword(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("The current password is incorrect")


class AdminNotFound(NotFoundError):
    def __init__(self, admin_id: int) -> None:
        super().__init__(f"Admin {admin_id} not found")


class DuplicateAdminUsername(ConflictError):
    def __init__(self, username: str) -> None:
        super().__init__(f"An admin named {username} already exists")


class LastOwner(ConflictError):
    def __init__(self) -> None:
        super().__init__("The store needs an active owner: make another admin owner first")


class AuditLogIsAppendOnly(RuntimeError):
    """Code tried to change or delete an audit log record: a bug (so not a DomainError), always refused."""

    def __init__(self) -> None:
        super().__init__("The audit log is append-only: its records cannot be changed or deleted")


class VideoRefused(DomainError):
    """An uploaded video was not stored (see the subclasses); nothing of it is left on disk."""


class VideoTooLarge(VideoRefused):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"The video is larger than the Bot API's limit of {limit_bytes // (1024 * 1024)} MB")
        self.limit_bytes = limit_bytes


class NotAVideo(VideoRefused):
    """Not a video the bot can send: the declared type is not video/*, or the file is not MP4/MOV/WebM/MKV."""


# Broadcasts ----------------------------------------------------------------------------------------------


class BroadcastNotFound(NotFoundError):
    def __init__(self, broadcast_id: int) -> None:
        super().__init__(f"Broadcast {broadcast_id} not found")


class BroadcastStateConflict(ConflictError):
    """The broadcast's status does not allow this (editing a sent one, pausing a draft, ...)."""

    def __init__(self, broadcast_id: int, status: str, action: str) -> None:
        super().__init__(f"Broadcast {broadcast_id} is {status}: it cannot be {action}")


class TelegramNotLinked(ConflictError):
    def __init__(self) -> None:
        super().__init__("Link your Telegram account in the panel first: the test goes to your own chat")


class MessageRefused(RuleViolation):
    """Telegram refused the message itself (bad HTML, a caption too long, a wrong button)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Telegram refused the message: {reason}")


class MediaTooLarge(VideoTooLarge):
    def __init__(self, limit_bytes: int, kind: str = "photo") -> None:
        DomainError.__init__(
            self, f"The {kind} is larger than the limit of {limit_bytes // (1024 * 1024)} MB"
        )
        self.limit_bytes = limit_bytes


class UnsupportedMedia(NotAVideo):
    """Not a photo or video a broadcast can carry."""
