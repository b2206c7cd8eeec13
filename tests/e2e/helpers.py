"""What the browser end-to-end tests add to the devkit bridge harness: their environment (agent
messages in English, browser in French), the first-use prompt clicker and the token validator."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography import x509

from sceau.devkit.bridge import EXTENSION, Bridge, launch_chromium
from sceau.store.journal_writer import COALESCE_S
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


def journal(bridge: Bridge, *, at_least: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The agent's journal records once it holds `at_least` of them and its writer has settled: the
    agent writes them behind its replies, a coalescing window later (`journal_writer.COALESCE_S`),
    so a check that nothing was recorded must wait as long as one that something was."""
    path = Path(bridge.config.data_path()) / "journal.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(COALESCE_S * 3)  # what was queued before this call is written (fsync included)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        records = [json.loads(line) for line in text.splitlines()]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
