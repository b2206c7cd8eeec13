"""Translations: English msgids in code, gettext `.po` catalogs per language (French by default).

Catalogs live in `sceau/ui/i18n/<lang>/LC_MESSAGES/*.po` (one file per area). We read the `.po` directly
(tiny parser below) so no `msgfmt` build step is needed on any platform.
"""

from __future__ import annotations

import ast
import contextlib
import locale
import os
import sys
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "ui" / "i18n"
SUPPORTED = ("fr", "en")
DEFAULT_LANGUAGE = "fr"

_state = threading.local()
_global_language: list[str] = []


def _parse_po(text: str) -> dict[str, str]:
    """Parse the subset of the PO format we write: msgid/msgstr with continued string lines."""
    entries: dict[str, str] = {}
    key: str | None = None
    current: list[str] = []
    msgid = ""

    def flush() -> None:
        nonlocal msgid
        if key == "msgid":
            msgid = "".join(current)
        elif key == "msgstr" and msgid and "".join(current):
            entries[msgid] = "".join(current)

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("msgid ", "msgstr ")):
            flush()
            key, _, rest = line.partition(" ")
            current = [ast.literal_eval(rest)]
        elif line.startswith('"'):
            current.append(ast.literal_eval(line))
    flush()
    return entries


@cache
def catalog(language: str) -> dict[str, str]:
    """The translations for `language` (empty for English, the msgid language)."""
    folder = CATALOG_DIR / language / "LC_MESSAGES"
    if language == "en" or not folder.is_dir():
        return {}
    merged: dict[str, str] = {}
    # One catalog per area (sceau.po, formats.po, ...) so areas are edited independently.
    for path in sorted(folder.glob("*.po")):
        merged.update(_parse_po(path.read_text(encoding="utf-8")))
    return merged


def detect_language() -> str:
    """`SCEAU_LANG`, then the POSIX locale variables; French unless the user clearly prefers English.

    "C"/"POSIX" locales say nothing about the user's language (Python maps C.UTF-8 to en_US),
    so they keep the French default. Windows and macOS have no such variables: ask the OS."""
    forced = os.environ.get("SCEAU_LANG", "")
    if forced[:2] in SUPPORTED:
        return forced[:2]
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value[:2] in SUPPORTED:
            return value[:2]
    if sys.platform.startswith("win") or sys.platform == "darwin":
        try:
            loc = locale.getlocale()[0] or ""
        except ValueError:
            loc = ""
        if loc[:2] in SUPPORTED:
            return loc[:2]
    return DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Set the process-wide language (tray "Langue" menu, `--lang`)."""
    if language not in SUPPORTED:
        raise ValueError(language)
    _global_language[:] = [language]


def current_language() -> str:
    """The language in force for this thread."""
    lang: str | None = getattr(_state, "language", None)
    if lang:
        return lang
    if not _global_language:
        _global_language.append(detect_language())
    return _global_language[0]


def gettext(message: str, language: str | None = None) -> str:
    """Translate `message` into `language` (default: the current language)."""
    return catalog(language or current_language()).get(message, message)


_ = gettext


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[None]:
    """Translate into `lang` in this thread for the duration (one request's dialogs); a language we
    do not have, or None, leaves the user's choice in force."""
    previous = getattr(_state, "language", None)
    if lang in SUPPORTED:
        _state.language = lang
    try:
        yield
    finally:
        _state.language = previous


def _install() -> None:
    # Errors raised with `params` (the protocol core cannot import this module) are translated here.
    from sceau import errors

    errors.set_translator(gettext)


_install()
