"""One exception tree. Every error a caller may see carries its wire code and a safe message.

`protocol.session` is the single place where these become wire responses; anything else
becomes `INTERNAL` with a generic message (never a traceback).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sceau.protocol.codes import ErrorCode

_translate: list[Callable[[str], str]] = []


def set_translator(translate: Callable[[str], str]) -> None:
    """`sceau.i18n` installs its `gettext` here, so layers that may not import the catalogs (the
    sans-I/O protocol core) still raise messages the page reads in the user's language."""
    _translate[:] = [translate]


class SceauError(Exception):
    """Base class: `code` is page-visible, `message` is short, actionable and safe to show.

    With `params`, `message` is an English msgid template (`"Argument '{name}' is too long."`):
    it is translated when read, then formatted with `params`."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, params: Mapping[str, object] | None = None
    ) -> None:
        self.template = message
        self.params = dict(params) if params is not None else None
        super().__init__(self._render(lambda s: s))
        if code is not None:
            self.code = code

    def _render(self, translate: Callable[[str], str]) -> str:
        if self.params is None:
            return self.template
        try:
            return translate(self.template).format(**self.params)
        except (KeyError, IndexError, ValueError):  # a translation with broken placeholders
            return self.template.format(**self.params)

    @property
    def message(self) -> str:
        return self._render(_translate[0] if _translate else (lambda s: s))

    @message.setter
    def message(self, value: str) -> None:
        self.template, self.params = value, None


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
