"""Windows and macOS: the operating system's certificate store serves TLS login, through the vendor's
middleware. Sceau only detects it and says what is missing (docs/tls-login.md explains the parts).

- Windows: a smart-card **minidriver** (registered under `HKLM\\SOFTWARE\\Microsoft\\Cryptography\\Calais\\
  SmartCards\\<card>`, value `80000001`) lets CryptoAPI/CNG — hence Chrome, Edge and Firefox with
  `security.osclientcerts.autoload` — use the card's keys; the certificate propagation service copies the
  card's certificates into the user's "Personal" store when the card is inserted.
- macOS: a **CryptoTokenKit** token extension (`pluginkit -m -p com.apple.ctk-tokens`) makes the card's
  identities appear in the keychain search list, where Safari and Chrome find them.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

CALAIS_KEY = r"SOFTWARE\Microsoft\Cryptography\Calais\SmartCards"
MINIDRIVER_VALUE = "80000001"
# Windows' own entries (inbox drivers and virtual cards); vendors add their card names beside them.
WINDOWS_INBOX = ("Identity Device (Microsoft Generic Profile)", "Identity Device (NIST SP 800-73 [PIV])")


@dataclass(frozen=True)
class Middleware:
    platform: str
    present: bool
    kind: str  # "minidriver" / "CryptoTokenKit" / "NSS"
    items: list[str] = field(default_factory=list)


def windows_minidrivers() -> list[str]:  # pragma: no cover - Windows only, never run on the Linux CI
    """Card names with a minidriver DLL, from the smart-card database."""
    if sys.platform != "win32":
        return []
    import winreg

    found: list[str] = []
    try:
        root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, CALAIS_KEY)
    except OSError:
        return []
    with root:
        i = 0
        while True:
            try:
                card = winreg.EnumKey(root, i)
            except OSError:
                break
            i += 1
            try:
                with winreg.OpenKey(root, card) as key:
                    dll, _type = winreg.QueryValueEx(key, MINIDRIVER_VALUE)
            except OSError:
                continue
            if card not in WINDOWS_INBOX:
                found.append(f"{card}: {dll}")
    return found


def macos_token_extensions() -> list[str]:  # pragma: no cover - macOS only, never run on the Linux CI
    """CryptoTokenKit token extensions installed (Apple's PIV one included)."""
    if sys.platform != "darwin":
        return []
    try:
        out = subprocess.run(
            ["pluginkit", "-m", "-p", "com.apple.ctk-tokens"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def detect() -> Middleware | None:
    """What serves TLS login outside NSS on this OS (None on Linux, where Sceau registers in NSS)."""
    if sys.platform == "win32":
        drivers = windows_minidrivers()
        return Middleware("windows", bool(drivers), "minidriver", drivers)
    if sys.platform == "darwin":
        tokens = macos_token_extensions()
        return Middleware("macos", bool(tokens), "CryptoTokenKit", tokens)
    return None
