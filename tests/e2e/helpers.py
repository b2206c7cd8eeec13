"""What the browser end-to-end tests add to the devkit bridge harness: their environment (agent
messages in English, browser in French), the first-use prompt clicker and the token validator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography import x509

from sceau.devkit.bridge import EXTENSION, Bridge, launch_chromium
from sceau_rp import AuthTokenValidator

E2E_ENV = {"SCEAU_LANG": "en", "LANGUAGE": "fr"}


def make_bridge(
    root: Path, softhsm_module: str, softhsm_conf: Path, *, max_message_bytes: int, dev_mode: bool = False
) -> Bridge:
    """A headless agent (PIN from the environment, --yes) on the test token, under `root`."""
    root.mkdir(parents=True)
    return Bridge.prepare(
        root,
        module=softhsm_module,
        softhsm_conf=softhsm_conf,
        dev_mode=dev_mode,
        max_message_bytes=max_message_bytes,
        env={**os.environ, **E2E_ENV},
    )


def chromium(playwright: Any, profile: Path, env: dict[str, str], *, extensions: list[Path] | None = None) -> Any:
    """Chromium in French (chromium-l10n) on the test site's self-signed certificate."""
    return launch_chromium(
        playwright,
        profile,
        {**env, "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"},
        extensions=extensions or [EXTENSION],
        ignore_https_errors=True,
    )


def answer_prompt(context: Any, trigger: Any, *, allow: bool, expect_text: str | None = None) -> str:
    """Run `trigger()` (which must cause a first-use prompt), click Autoriser/Refuser, return its text."""
    with context.expect_page(timeout=20_000) as info:
        trigger()
    popup = info.value
    popup.wait_for_load_state()
    popup.wait_for_function("document.getElementById('question').textContent.length > 0")
    text: str = popup.inner_text("body")
    if expect_text is not None:
        assert expect_text in text, text
    popup.get_by_role("button", name="Autoriser" if allow else "Refuser").click()
    return text


def _pem(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def validator(pki: Any, origin: str, rp: Any) -> AuthTokenValidator:
    return AuthTokenValidator(origin, [_pem(pki.root_ca)], intermediates=[_pem(pki.intermediate_ca)], nonces=rp.nonces)
