"""Where PKCS#11 modules come from, so most users never type a library path.

Order of the sources (`module_sources`): the configuration file (`pkcs11_modules`, tried first), then
on Linux the system's own registry, p11-kit's module configuration (`*.module` files where OpenSC and
vendor packages register themselves, pkcs11.conf(5)), then the vendor table below (the paths the vendors'
installers use), the only source on Windows and macOS. Each module carries its origin, which
`sceau doctor` shows, and a rank used when the same certificate is seen through two modules: the
configured module first, then a vendor's own middleware, then generic ones (OpenSC, SoftHSM2).

Sources of the table's facts (checked when written, each entry says which):
  [fortify]  Fortify's public card list, PeculiarVentures/webcrypto-local packages/cards/lib/card.json
             (v1.1.14): ATRs and the driver file per OS;
  [debian]   the Debian package's file list (opensc, softhsm2, ykcs11);
  [vendor]   the vendor's installer layout as documented in its administrator guide;
  [unverified] a path as commonly reported by users, not checked against a vendor document: p11-kit or
             the configuration file covers the module when that path is wrong.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KnownModule:
    vendor: str
    products: str  # what users have: token names as sold by French certificate providers
    linux: tuple[str, ...] = ()
    macos: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    source: str = ""  # where the paths come from (see the module docstring)
    generic: bool = False  # drives many cards (OpenSC) or none (SoftHSM2): a vendor module is preferred


_SYS32 = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")

KNOWN_MODULES: tuple[KnownModule, ...] = (
    KnownModule(
        "Thales (SafeNet)",
        "eToken 5110 / 5300 (SafeNet Authentication Client) — Certigna, ChamberSign, CertEurope",
        linux=("/usr/lib/libeTPkcs11.so", "/usr/lib64/libeTPkcs11.so"),
        macos=("/usr/local/lib/libeTPkcs11.dylib",),
        windows=(os.path.join(_SYS32, "eTPKCS11.dll"),),
        source="[fortify] driver 'SafeNet Authentication Client' (eToken 5110 / 5300, IDPrime 940)",
    ),
    KnownModule(
        "Thales (Gemalto)",
        "IDPrime MD / IDPrime 940 (IDPrime middleware) — ChamberSign, Certinomis",
        linux=(
            "/usr/lib/libIDPrimePKCS11.so",
            "/usr/lib64/libIDPrimePKCS11.so",
            "/usr/lib/x86_64-linux-gnu/libIDPrimePKCS11.so",
        ),
        macos=("/usr/local/lib/libidprimepkcs11.0.dylib", "/usr/local/lib/libIDPrimePKCS11.dylib"),
        windows=(os.path.join(_SYS32, "IDPrimePKCS11.dll"),),
        source="[fortify] drivers 'Gemalto IDPrime MD' and 'Gemalto ID Go' (Linux and macOS paths)",
    ),
    KnownModule(
        "Thales (Gemalto)",
        "Classic Client (older IAS / Classic TPC cards)",
        linux=("/usr/lib/ClassicClient/libgclib.so", "/usr/lib/pkcs11/libgclib.so"),
        macos=("/usr/local/lib/ClassicClient/libgclib.dylib",),
        windows=(os.path.join(_SYS32, "gclib.dll"),),
        source="[fortify] driver 'Gemalto Classic' (Windows: Program Files\\Gemalto\\Classic Client\\BIN)",
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
        source="[vendor] IDEMIA AWP (Oberthur Authentic Web Pack) installer layout",
    ),
    KnownModule(
        "bit4id",
        "bit4id miniLector / digital DNA keys — CertEurope, ChamberSign, Certinomis",
        linux=("/usr/lib/bit4id/libbit4opki.so", "/usr/lib/libbit4xpki.so", "/usr/local/lib/libbit4xpki.so"),
        macos=("/System/Library/bit4id/libbit4xpki.dylib", "/usr/local/lib/libbit4xpki.dylib"),
        windows=(os.path.join(_SYS32, "bit4xpki.dll"), os.path.join(_SYS32, "bit4opki.dll")),
        source="[fortify] drivers 'Bit4id Universal Middleware' (bit4xpki, bit4opki)",
    ),
    KnownModule(
        "Idopte",
        "IAS-ECC cards with the Idopte middleware (SCMiddleware) — ChamberSign",
        linux=("/usr/lib/libidop11.so", "/usr/local/lib/libidop11.so", "/opt/idopte/lib/libidop11.so"),
        macos=("/usr/local/lib/libidop11.dylib",),
        windows=(os.path.join(_SYS32, "idop11.dll"),),
        source="[unverified] Idopte publishes no public path list; its Linux package registers with p11-kit",
    ),
    KnownModule(
        "Athena (NXP)",
        "IDProtect cards and keys",
        linux=("/usr/lib/x64-athena/libASEP11.so", "/usr/lib/x86-athena/libASEP11.so"),
        macos=("/Library/Application Support/Athena/libASEP11.dylib",),
        windows=(os.path.join(_SYS32, "asepkcs.dll"),),
        source="[fortify] driver 'Athena IDProtect'",
    ),
    KnownModule(
        "Feitian",
        "ePass2003 keys",
        linux=("/usr/lib/libcastle.so.1.0.0",),
        macos=("/usr/local/lib/libcastle.1.0.0.dylib",),
        windows=(os.path.join(_SYS32, "eps2003csp11.dll"),),
        source="[fortify] driver 'Feitian ePass2003 Client software'",
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
        source="[debian] opensc-pkcs11 package; [fortify] driver 'OpenSC driver'",
        generic=True,
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
        source="[debian] ykcs11 package; [fortify] driver 'YubiKey'",
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
        source="[debian] softhsm2 package",
        generic=True,
    ),
)


class Origin:
    """Where a module was found (shown by `sceau doctor`)."""

    CONFIG = "config"
    P11KIT = "p11-kit"
    TABLE = "vendor table"
    ATR = "card ATR"  # loaded at run time for an inserted card (`atr_modules` / built-in ATR rules)


@dataclass(frozen=True)
class FoundModule:
    path: str
    vendor: str
    products: str
    origin: str = Origin.TABLE
    detail: str = ""  # the p11-kit config file, or the table entry's source
    rank: int = 2  # 0 configured, 1 vendor middleware, 2 generic: lower wins for a certificate seen twice


def _platform_paths(module: KnownModule) -> tuple[str, ...]:
    if sys.platform.startswith("win"):
        return module.windows
    if sys.platform == "darwin":
        return module.macos
    return module.linux


def _table_modules(include_softhsm: bool, seen: set[str]) -> list[FoundModule]:
    found: list[FoundModule] = []
    for module in KNOWN_MODULES:
        if module.vendor == "SoftHSM" and not include_softhsm:
            continue
        for pattern in _platform_paths(module):
            for path in sorted(glob.glob(pattern)) or []:
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    rank = 2 if module.generic else 1
                    found.append(FoundModule(path, module.vendor, module.products, Origin.TABLE, module.source, rank))
                break
            else:
                continue
            break
    return found


def known_module_for(path: str) -> KnownModule | None:
    """The table entry of a module path (same file, or same file name), if any."""
    real = os.path.realpath(path)
    name = os.path.basename(real)
    for module in KNOWN_MODULES:
        for candidate in (*module.linux, *module.macos, *module.windows):
            if os.path.basename(candidate) == name or os.path.realpath(candidate) == real:
                return module
    return None


def discover_modules(
    include_softhsm: bool = True,
    *,
    p11kit_dirs: Sequence[Path] | None = None,
    p11kit_module_dirs: Sequence[Path] | None = None,
) -> list[FoundModule]:
    """Modules installed on this machine: p11-kit's registry (Linux), then the vendor table.

    One entry per file (a module registered with p11-kit and listed in the table is reported once,
    with origin p11-kit). `p11kit_dirs` / `p11kit_module_dirs` replace the system's (tests)."""
    found: list[FoundModule] = []
    seen: set[str] = set()
    if sys.platform.startswith("linux") or p11kit_dirs is not None:
        for registered in p11kit_modules(p11kit_dirs, p11kit_module_dirs):
            if not registered.enabled or registered.trust_policy or not registered.path:
                continue
            real = os.path.realpath(registered.path)
            known = known_module_for(registered.path)
            if real in seen or not os.path.exists(real):
                continue
            if not include_softhsm and known is not None and known.vendor == "SoftHSM":
                continue
            seen.add(real)
            vendor = known.vendor if known else registered.name
            products = known.products if known else ""
            rank = 2 if known is None or known.generic else 1
            found.append(FoundModule(registered.path, vendor, products, Origin.P11KIT, str(registered.config), rank))
    found.extend(_table_modules(include_softhsm, seen))
    return found


def module_sources(
    configured: Iterable[str] = (),
    *,
    discovery: bool = True,
    p11kit_dirs: Sequence[Path] | None = None,
    p11kit_module_dirs: Sequence[Path] | None = None,
) -> list[FoundModule]:
    """Every module to load, with its origin: configured ones first, then `discover_modules()`."""
    out: list[FoundModule] = []
    seen: set[str] = set()
    for path in configured:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        known = known_module_for(path)
        out.append(
            FoundModule(path, known.vendor if known else os.path.basename(path), "", Origin.CONFIG, "pkcs11_modules", 0)
        )
    if discovery:
        for found in discover_modules(p11kit_dirs=p11kit_dirs, p11kit_module_dirs=p11kit_module_dirs):
            if os.path.realpath(found.path) not in seen:
                seen.add(os.path.realpath(found.path))
                out.append(found)
    return out


# -- p11-kit's module registry ---------------------------------------------------------------------

# pkcs11.conf(5): system module configs, then the user's (which override a system entry of the same name).
P11KIT_SYSTEM_DIRS = (Path("/usr/share/p11-kit/modules"), Path("/etc/pkcs11/modules"))
P11KIT_USER_DIR = Path("~/.config/pkcs11/modules")
# Where p11-kit resolves a relative `module:` (its build-time p11_module_path; Debian multiarch, then others).
P11KIT_MODULE_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/pkcs11"),
    Path("/usr/lib/aarch64-linux-gnu/pkcs11"),
    Path("/usr/lib64/pkcs11"),
    Path("/usr/lib/pkcs11"),
)
PROGRAM_NAME = "sceau"  # what `enable-in` / `disable-in` lists name us by


@dataclass(frozen=True)
class P11KitModule:
    """One `*.module` file of p11-kit's registry."""

    name: str  # the file name without `.module`
    path: str  # the module file, resolved
    config: Path  # the config file that defined it (the last one read)
    enabled: bool = True  # `enable-in` / `disable-in` allow this program
    trust_policy: bool = False  # trust anchors only (p11-kit-trust): no keys, skipped
    priority: int = 0


def _parse_module_file(text: str) -> dict[str, str]:
    """pkcs11.conf(5) syntax: `key: value` lines, `#` comments."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _colon, value = line.partition(":")
        out[key.strip().lower()] = value.strip()
    return out


def _names(value: str | None) -> set[str]:
    return {n.strip() for n in (value or "").replace(",", " ").split() if n.strip()}


def p11kit_modules(dirs: Sequence[Path] | None = None, module_dirs: Sequence[Path] | None = None) -> list[P11KitModule]:
    """The modules registered with p11-kit, read from its config dirs (later dirs override earlier
    entries of the same name, as the user's config does the system's); sorted by priority, then name."""
    config_dirs = list(dirs) if dirs is not None else [*P11KIT_SYSTEM_DIRS, P11KIT_USER_DIR.expanduser()]
    bases = list(module_dirs) if module_dirs is not None else list(P11KIT_MODULE_DIRS)
    merged: dict[str, tuple[dict[str, str], Path]] = {}
    for folder in config_dirs:
        try:
            files = sorted(folder.glob("*.module"))
        except OSError:
            continue
        for file in files:
            try:
                fields = _parse_module_file(file.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
            name = file.name[: -len(".module")]
            previous = merged.get(name, ({}, file))[0]
            merged[name] = ({**previous, **fields}, file)
    out: list[P11KitModule] = []
    for name, (fields, file) in merged.items():
        module = fields.get("module", "")
        if module and not os.path.isabs(module):
            module = next((str(b / module) for b in bases if (b / module).exists()), str(bases[0] / module))
        enable_in, disable_in = _names(fields.get("enable-in")), _names(fields.get("disable-in"))
        enabled = (not enable_in or PROGRAM_NAME in enable_in) and PROGRAM_NAME not in disable_in
        try:
            priority = int(fields.get("priority", "0"))
        except ValueError:
            priority = 0
        trust = fields.get("trust-policy", "no").lower() in ("yes", "true")
        out.append(P11KitModule(name, module, file, enabled, trust, priority))
    return sorted(out, key=lambda m: (-m.priority, m.name))


def p11kit_list_modules(timeout: float = 10.0) -> dict[str, str] | None:
    """`p11-kit list-modules` as {name: module path} (a cross-check for `sceau doctor`); None when the
    command is missing or fails. It loads every module, so it runs in its own process, with a timeout."""
    exe = shutil.which("p11-kit")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "list-modules"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    out: dict[str, str] = {}
    for line in r.stdout.splitlines():
        if line and not line[0].isspace() and ":" in line:
            name, _colon, path = line.partition(":")
            out[name.strip()] = path.strip()
    return out


def missing_hint() -> str:
    """What to install when no module is found (shown by `sceau doctor`)."""
    if sys.platform.startswith("linux"):
        return "sudo apt install opensc pcscd  (or your token vendor's middleware)"
    if sys.platform == "darwin":
        return "brew install opensc  (or your token vendor's middleware)"
    return "Install your token vendor's middleware (SafeNet Authentication Client, IDPrime, AWP) or OpenSC."
