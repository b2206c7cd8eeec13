"""One exception tree. Every error a caller may see carries its wire code and a safe message.

`protocol.session` is the single place where these become wire responses; anything else
becomes `INTERNAL` with a generic message (never a traceback).
"""

from __future__ import annotations

from sceau.protocol.codes import ErrorCode


class SceauError(Exception):
    """Base class: `code` is page-visible, `message` is short, actionable and safe to show."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(SceauError):
    code = ErrorCode.BAD_REQUEST


class TooLarge(SceauError):
    code = ErrorCode.TOO_LARGE


class Unsupported(SceauError):
    code = ErrorCode.UNSUPPORTED


class InvalidInput(SceauError):
    code = ErrorCode.INVALID_INPUT


class OriginNotAllowed(SceauError):
    code = ErrorCode.ORIGIN_NOT_ALLOWED


class UserCancelled(SceauError):
    code = ErrorCode.USER_CANCELLED


class Timeout(SceauError):
    code = ErrorCode.TIMEOUT


class Busy(SceauError):
    code = ErrorCode.BUSY


class TokenError(SceauError):
    """Base for token-side failures."""

    code = ErrorCode.INTERNAL


class NoToken(TokenError):
    code = ErrorCode.NO_TOKEN


class NoCertificate(TokenError):
    code = ErrorCode.NO_CERTIFICATE


class PinLocked(TokenError):
    code = ErrorCode.PIN_LOCKED


class WrongPin(TokenError):
    """Wrong PIN with no interactive retry possible (CLI, tests). The page only sees a cancel."""

    code = ErrorCode.USER_CANCELLED

    def __init__(self, message: str, *, final_try: bool = False, count_low: bool = False) -> None:
        super().__init__(message)
        self.final_try = final_try
        self.count_low = count_low


class TokenRemoved(TokenError):
    code = ErrorCode.TOKEN_REMOVED


class ModuleLoadError(TokenError):
    """A PKCS#11 module could not be loaded (bad path, wrong architecture, broken library)."""

    code = ErrorCode.NO_TOKEN


class NotARecipient(SceauError):
    code = ErrorCode.NOT_A_RECIPIENT
