"""Known PKCS#11 modules per OS, so most users never type a library path.

Paths are those the vendors' installers use (SafeNet Authentication Client, IDPrime / Classic
Client, IDEMIA AWP, bit4id as shipped by French RGS providers, OpenSC, SoftHSM2, Yubico).
Extra modules come from the config file (`pkcs11_modules`) and are tried first.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownModule:
    vendor: str
    products: str  # what users have: token names as sold by French certificate providers
    linux: tuple[str, ...] = ()
    macos: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()


_SYS32 = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")

KNOWN_MODULES: tuple[KnownModule, ...] = (
    KnownModule(
        "Thales (SafeNet)",
        "eToken 5110 / 5300 (SafeNet Authentication Client) — Certigna, ChamberSign, CertEurope",
        linux=("/usr/lib/libeTPkcs11.so", "/usr/lib64/libeTPkcs11.so"),
        macos=("/usr/local/lib/libeTPkcs11.dylib",),
        windows=(os.path.join(_SYS32, "eTPKCS11.dll"),),
    ),
    KnownModule(
        "Thales (Gemalto)",
        "IDPrime MD / IDPrime 940 (IDPrime middleware) — ChamberSign, Certinomis",
        linux=("/usr/lib/libIDPrimePKCS11.so", "/usr/lib/x86_64-linux-gnu/libIDPrimePKCS11.so"),
        macos=("/usr/local/lib/libIDPrimePKCS11.dylib",),
        windows=(os.path.join(_SYS32, "IDPrimePKCS11.dll"),),
    ),
    KnownModule(
        "Thales (Gemalto)",
        "Classic Client (older IAS / Classic TPC cards)",
        linux=("/usr/lib/ClassicClient/libgclib.so", "/usr/lib/pkcs11/libgclib.so"),
        macos=("/usr/local/lib/ClassicClient/libgclib.dylib",),
        windows=(os.path.join(_SYS32, "gclib.dll"),),
    ),
    KnownModule(
        "IDEMIA (Oberthur)",
        "ID-One / Cosmo tokens with AWP middleware — Certigna, Certinomis",
        linux=("/usr/lib/libOcsCryptoki.so", "/usr/local/lib/libOcsCryptoki.so"),
        macos=(
            "/Library/Frameworks/eToken.framework/Versions/Current/libOcsCryptoki.dylib",
            "/usr/local/lib/libOcsCryptoki.dylib",
        ),
        windows=(os.path.join(_SYS32, "OcsCryptoki.dll"),),
    ),
    KnownModule(
        "bit4id",
        "bit4id miniLector / digital DNA keys — CertEurope, ChamberSign",
        linux=("/usr/lib/libbit4xpki.so", "/usr/local/lib/libbit4xpki.so"),
        macos=("/usr/local/lib/libbit4xpki.dylib",),
        windows=(os.path.join(_SYS32, "bit4xpki.dll"),),
    ),
    KnownModule(
        "OpenSC",
        "OpenSC-supported cards (PIV, IAS-ECC, CardOS...)",
        linux=(
            "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
            "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
            "/usr/lib64/opensc-pkcs11.so",
            "/usr/lib/opensc-pkcs11.so",
        ),
        macos=("/Library/OpenSC/lib/opensc-pkcs11.so", "/opt/homebrew/lib/opensc-pkcs11.so"),
        windows=(
            os.path.join(
                os.environ.get("ProgramFiles", r"C:\Program Files"),
                "OpenSC Project",
                "OpenSC",
                "pkcs11",
                "opensc-pkcs11.dll",
            ),
        ),
    ),
    KnownModule(
        "Yubico",
        "YubiKey PIV (ykcs11)",
        linux=("/usr/lib/x86_64-linux-gnu/libykcs11.so", "/usr/lib/aarch64-linux-gnu/libykcs11.so"),
        macos=("/usr/local/lib/libykcs11.dylib", "/opt/homebrew/lib/libykcs11.dylib"),
        windows=(
            os.path.join(
                os.environ.get("ProgramFiles", r"C:\Program Files"), "Yubico", "Yubico PIV Tool", "bin", "libykcs11.dll"
            ),
        ),
    ),
    KnownModule(
        "SoftHSM",
        "SoftHSM2 (software token: tests and demo)",
        linux=(
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/local/lib/softhsm/libsofthsm2.so",
        ),
        macos=("/usr/local/lib/softhsm/libsofthsm2.so", "/opt/homebrew/lib/softhsm/libsofthsm2.so"),
    ),
)


@dataclass(frozen=True)
class FoundModule:
    path: str
    vendor: str
    products: str


def _platform_paths(module: KnownModule) -> tuple[str, ...]:
    if sys.platform.startswith("win"):
        return module.windows
    if sys.platform == "darwin":
        return module.macos
    return module.linux


def discover_modules(include_softhsm: bool = True) -> list[FoundModule]:
    """Modules from the table that exist on this machine (first existing path per entry)."""
    found: list[FoundModule] = []
    seen: set[str] = set()
    for module in KNOWN_MODULES:
        if module.vendor == "SoftHSM" and not include_softhsm:
            continue
        for pattern in _platform_paths(module):
            for path in sorted(glob.glob(pattern)) or []:
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    found.append(FoundModule(path, module.vendor, module.products))
                break
            else:
                continue
            break
    return found


def missing_hint() -> str:
    """What to install when no module is found (shown by `sceau doctor`)."""
    if sys.platform.startswith("linux"):
        return "sudo apt install opensc pcscd  (or your token vendor's middleware)"
    if sys.platform == "darwin":
        return "brew install opensc  (or your token vendor's middleware)"
    return "Install your token vendor's middleware (SafeNet Authentication Client, IDPrime, AWP) or OpenSC."
