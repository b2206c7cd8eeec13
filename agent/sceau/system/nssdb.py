"""An NSS database (Chromium's `~/.pki/nssdb`, a Firefox profile) driven with NSS's own tools.

Changes go through `modutil` (libnss3-tools), which locks and validates the database and loads the
module once to check it; the module list is read from `pkcs11.txt` (the sql: database's module
table) so looking never loads a module. A database that `modutil` cannot open (locked by another
writer, damaged) is reported, and left exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sceau.errors import SceauError
from sceau.i18n import _
from sceau.protocol.codes import ErrorCode

NSS_TOOLS_PACKAGE = "libnss3-tools"
TOOL_TIMEOUT = 60.0  # modutil waits for a busy database, then gives up itself


class NssToolsMissing(SceauError):
    """`modutil` / `certutil` are not installed."""

    code = ErrorCode.UNSUPPORTED


class NssDatabaseError(SceauError):
    """The database is locked, damaged or refuses the change."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class NssModule:
    name: str
    library: str


def tools_hint() -> str:
    return _("NSS tools (modutil, certutil) are missing: sudo apt install {package}").format(package=NSS_TOOLS_PACKAGE)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NssToolsMissing(tools_hint())
    return path


def _same_library(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


class NssDatabase:
    """One sql: NSS database folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def spec(self) -> str:
        return f"sql:{self.folder}"

    def exists(self) -> bool:
        return (self.folder / "cert9.db").is_file() or (self.folder / "pkcs11.txt").is_file()

    def modules(self) -> list[NssModule]:
        """Modules listed in pkcs11.txt, the internal module left out (no module is loaded)."""
        try:
            text = (self.folder / "pkcs11.txt").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise NssDatabaseError(self._damaged(str(exc.strerror or exc))) from exc
        found: list[NssModule] = []
        for block in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                key, sep, value = line.partition("=")
                if sep and key in ("library", "name"):
                    fields[key] = value.strip()
            if fields.get("library"):
                found.append(NssModule(fields.get("name", ""), fields["library"]))
        return found

    def find_library(self, library: str) -> NssModule | None:
        return next((m for m in self.modules() if _same_library(m.library, library)), None)

    def create(self) -> None:
        """A new, empty-password database, as Chromium makes on its first run."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._run(_tool("certutil"), "-N", "-d", self.spec, "--empty-password")

    def add(self, name: str, library: str) -> None:
        try:
            self._run(_tool("modutil"), "-dbdir", self.spec, "-add", name, "-libfile", library, "-force")
        except NssDatabaseError as exc:
            if "Failed to add module" not in exc.detail:
                raise
            # modutil loads the module to check it: this one does not load or does not initialise.
            raise NssDatabaseError(
                _("NSS could not load the module {library} ({detail}); reinstall the token middleware.").format(
                    library=library, detail=exc.detail
                )
            ) from exc

    def delete(self, name: str) -> None:
        self._run(_tool("modutil"), "-dbdir", self.spec, "-delete", name, "-force")

    def token_certificates(self) -> list[str]:
        """Nicknames of certificates that live on tokens ("TOKEN:LABEL"), as the browser sees them."""
        out = self._run(_tool("certutil"), "-L", "-d", self.spec, "-h", "all")
        names: list[str] = []
        for line in out.splitlines()[4:]:
            # Lines are "NICKNAME<spaces>TRUST" (trust has no spaces); token certificates are "TOKEN:LABEL".
            parts = line.rstrip().rsplit(None, 1)
            if len(parts) == 2 and ":" in parts[0]:
                names.append(parts[0].strip())
        return names

    def _damaged(self, detail: str) -> str:
        return _(
            "The NSS database {path} cannot be used ({detail}). Close the browsers that use it and try "
            "again; if it persists, move the folder away (the browser creates a new one)."
        ).format(path=self.folder, detail=detail)

    def _run(self, *argv: str) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise NssDatabaseError(self._damaged(_("no answer from {tool}").format(tool=argv[0]))) from exc
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            detail = next((ln for ln in reversed(lines) if "ERROR" in ln or "failed" in ln), lines[-1] if lines else "")
            raise NssDatabaseError(self._damaged(detail[:300]), detail[:300])
        return proc.stdout
