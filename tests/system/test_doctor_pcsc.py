"""`sceau doctor` without pcscd: it says what to install (the agent itself runs without it)."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_doctor_says_to_install_pcscd_when_it_is_missing(tmp_path: Path) -> None:
    import sys

    from sceau.system.doctor import pcsc_fix

    if not sys.platform.startswith("linux"):
        pytest.skip("Linux hint")
    assert "apt-get install pcscd" in pcsc_fix((str(tmp_path),))  # no pcscd in this folder
    (tmp_path / "pcscd").write_text("")
    assert "systemctl start pcscd" in pcsc_fix((str(tmp_path),))
