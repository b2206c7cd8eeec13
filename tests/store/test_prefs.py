from __future__ import annotations

from pathlib import Path

from sceau import i18n
from sceau.config import Config
from sceau.store.prefs import apply_language, save_language, saved_language


def test_language_choice_survives_a_restart(tmp_path: Path) -> None:
    cfg = Config(data_dir=str(tmp_path))
    try:
        assert saved_language(cfg) == ""
        save_language(cfg, "en")
        assert apply_language(cfg) == "en"
        save_language(cfg, "fr")
        assert apply_language(cfg) == "fr" and i18n.gettext("Wrong PIN.") == "Code PIN erroné."
        # The configuration file's choice wins over the tray's.
        assert apply_language(Config(data_dir=str(tmp_path), language="en")) == "en"
        (tmp_path / "prefs.json").write_text("{broken")
        assert saved_language(cfg) == ""
    finally:
        i18n.set_language("en")
