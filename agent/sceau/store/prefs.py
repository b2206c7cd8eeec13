"""User preferences changed from the tray (today: the language), kept across restarts.

`prefs.json` in the data dir; the config file's `language` key, when set, wins over it
(an administrator's choice), and the system locale comes last (`sceau.i18n.detect_language`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from sceau import i18n
from sceau.config import Config
from sceau.store.files import atomic_write

FILE_NAME = "prefs.json"


def _path(config: Config) -> Path:
    return config.data_path() / FILE_NAME


def saved_language(config: Config) -> str:
    with contextlib.suppress(OSError, ValueError):
        value = json.loads(_path(config).read_text(encoding="utf-8")).get("language", "")
        if value in i18n.SUPPORTED:
            return str(value)
    return ""


def apply_language(config: Config) -> str:
    """Set the process language from the config, else the saved choice; returns what is in force."""
    lang = config.language if config.language in i18n.SUPPORTED else saved_language(config)
    if lang:
        i18n.set_language(lang)
    return i18n.current_language()


def save_language(config: Config, language: str) -> None:
    if language not in i18n.SUPPORTED:
        raise ValueError(language)
    path = _path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"language": language}).encode())
