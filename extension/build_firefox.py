"""Generate the Firefox variant of the extension: build/firefox/ and build/sceau-firefox.xpi.

Firefox MV3 differs from Chrome's in three places only: background scripts instead of a service
worker, a gecko add-on id (the native host's `allowed_extensions`), and no Chrome `key`.
Run: python extension/build_firefox.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path

from sceau_native_host.manifests import FIREFOX_EXTENSION_IDS

SRC = Path(__file__).resolve().parent
RUNTIME = ("_locales", "background", "content", "icons", "lib", "options", "permission")
GECKO_ID = FIREFOX_EXTENSION_IDS[0]  # the add-on id the native host's manifest allows
MIN_FIREFOX = "142.0"  # first version with data_collection_permissions (desktop and Android)


def firefox_manifest(chrome: dict[str, object]) -> dict[str, object]:
    m = dict(chrome)
    m.pop("key", None)
    m.pop("minimum_chrome_version", None)
    m["background"] = {
        "scripts": ["lib/protocol.js", "background/policy.js", "background/libersign.js", "background/background.js"]
    }
    m["browser_specific_settings"] = {
        "gecko": {
            "id": GECKO_ID,
            "strict_min_version": MIN_FIREFOX,
            "data_collection_permissions": {"required": ["none"]},
        }
    }
    return m


def build(out: Path) -> Path:
    target = out / "firefox"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in RUNTIME:
        shutil.copytree(SRC / name, target / name, ignore=shutil.ignore_patterns("*.d.ts", "__pycache__"))
    chrome = json.loads((SRC / "manifest.json").read_text(encoding="utf-8"))
    (target / "manifest.json").write_text(json.dumps(firefox_manifest(chrome), indent=2) + "\n", encoding="utf-8")
    xpi = out / "sceau-firefox.xpi"
    with zipfile.ZipFile(xpi, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(target).as_posix())
    return xpi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SRC.parent / "build")
    args = parser.parse_args()
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
