"""Build the extension packages (`make extension`): CRX3 + store zip for Chrome/Chromium/Edge/Brave, the
Firefox .xpi, the update manifest and policy snippets the installers provision, and `extension-ids.json`.

One source of truth: the version is pyproject.toml's `[project] version` (the agent's), the Chrome id is
derived from the CRX signing key, the Firefox id is `FIREFOX_EXTENSION_IDS[0]`. The native-messaging
manifests of a package allow exactly the ids written to `extension-ids.json` here.

The signing key is never committed: `--key FILE` or `$SCEAU_CRX_KEY` (a release key kept by the
release manager), else `build/keys/sceau-crx.pem`, generated on first use (a development key, stable
across local builds because build/ is kept).

Run: python extension/tools/package.py [--out build/extension] [--key FILE] [--install-dir /usr/share/sceau/extension]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau_native_host.manifests import FIREFOX_EXTENSION_IDS

EXT = Path(__file__).resolve().parent.parent
REPO = EXT.parent
sys.path.insert(0, str(EXT))  # build_firefox.py lives beside manifest.json
from build_firefox import RUNTIME, firefox_manifest  # noqa: E402

DEFAULT_KEY = REPO / "build" / "keys" / "sceau-crx.pem"
INSTALL_DIR = "/usr/share/sceau/extension"  # where the Debian package puts these files
CRX_NAME, XPI_NAME, ZIP_NAME, UPDATES_NAME = "sceau.crx", "sceau-firefox.xpi", "sceau-chrome-store.zip", "updates.xml"


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The CRX signing key (PKCS#8 PEM); a fresh RSA-2048 one when `path` does not exist yet."""
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SystemExit(f"{path}: the CRX signing key must be RSA")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return key


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def extension_id(spki_der: bytes) -> str:
    """Chrome's id of an extension: first 128 bits of SHA-256(public key), hex digits 0-f written a-p."""
    return "".join(chr(ord("a") + int(c, 16)) for c in hashlib.sha256(spki_der).hexdigest()[:32])


def copy_runtime(target: Path, manifest: dict[str, object]) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in RUNTIME:
        shutil.copytree(EXT / name, target / name, ignore=shutil.ignore_patterns("*.d.ts", "__pycache__"))
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def zip_dir(source: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())


def update_manifest(ext_id: str, version: str, crx_url: str) -> str:
    """The gupdate XML that ExtensionInstallForcelist's update URL points at (file:// works, DESIGN.md §7)."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n"
        f"  <app appid={quoteattr(ext_id)}>\n"
        f"    <updatecheck codebase={quoteattr(crx_url)} version={quoteattr(version)} />\n"
        "  </app>\n"
        "</gupdate>\n"
    )


def build(out: Path, key_path: Path, install_dir: str) -> dict[str, str]:
    version = project_version()
    key = load_or_create_key(key_path)
    spki = public_der(key)
    chrome_id = extension_id(spki)
    source = json.loads((EXT / "manifest.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)

    # Chrome family: the build's `key` is the signing key's, so unpacked and packed builds share the id.
    chrome = {**source, "version": version, "key": base64.b64encode(spki).decode("ascii")}
    copy_runtime(out / "chrome", chrome)
    crx3 = REPO / "node_modules" / ".bin" / "crx3"
    if not crx3.exists():
        raise SystemExit("crx3 and web-ext are missing: run `make deps-node` (npm ci)")
    subprocess.run([str(crx3), "-p", str(key_path), "-o", str(out / CRX_NAME), "--", str(out / "chrome")], check=True)
    # The Web Store assigns its own key: the upload zip has none.
    store = {k: v for k, v in chrome.items() if k != "key"}
    copy_runtime(out / "chrome-store", store)
    zip_dir(out / "chrome-store", out / ZIP_NAME)
    shutil.rmtree(out / "chrome-store")

    firefox = firefox_manifest({**source, "version": version})
    copy_runtime(out / "firefox", firefox)
    web_ext = REPO / "node_modules" / ".bin" / "web-ext"
    common = ["--source-dir", str(out / "firefox"), "--no-config-discovery"]
    subprocess.run([str(web_ext), "lint", *common, "--self-hosted", "--warnings-as-errors"], check=True)
    subprocess.run(
        [str(web_ext), "build", *common, "--artifacts-dir", str(out), "--filename", XPI_NAME, "--overwrite-dest"],
        check=True,
    )

    crx_url = f"file://{install_dir}/{CRX_NAME}"
    (out / UPDATES_NAME).write_text(update_manifest(chrome_id, version, crx_url), encoding="utf-8")
    ids = {"version": version, "chrome": [chrome_id], "firefox": [FIREFOX_EXTENSION_IDS[0]]}
    (out / "extension-ids.json").write_text(json.dumps(ids, indent=2) + "\n", encoding="utf-8")
    return {"version": version, "chrome_id": chrome_id, "crx": str(out / CRX_NAME), "xpi": str(out / XPI_NAME)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "extension")
    parser.add_argument("--key", type=Path, default=Path(os.environ.get("SCEAU_CRX_KEY") or DEFAULT_KEY))
    parser.add_argument("--install-dir", default=INSTALL_DIR, help="where the installed CRX lives (update manifest)")
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.key, args.install_dir), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
