#!/bin/sh
# Build Sceau-<version>.pkg on macOS: pkgbuild (payload + scripts) then productbuild (distribution).
# The payload is the frozen agent (installers/macos/README.md) in PAYLOAD/bin: sceau, sceau-native-host.
# Usage: installers/macos/build-pkg.sh PAYLOAD VERSION [OUT_DIR]   (runs on macOS only)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PAYLOAD=$1
VERSION=$2
OUT=${3:-dist}
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT

mkdir -p "$ROOT/Library/Application Support/Sceau" "$ROOT/Library/LaunchAgents" "$OUT"
cp -R "$PAYLOAD/." "$ROOT/Library/Application Support/Sceau/"
cp "$HERE/fr.sceau.agent.plist" "$ROOT/Library/LaunchAgents/"
cp "$HERE/uninstall.sh" "$ROOT/Library/Application Support/Sceau/uninstall.sh"

SCRIPTS=$(mktemp -d)
cp "$HERE/preinstall" "$HERE/postinstall" "$SCRIPTS/"
chmod 0755 "$SCRIPTS/preinstall" "$SCRIPTS/postinstall"

pkgbuild --root "$ROOT" --identifier fr.sceau.agent --version "$VERSION" \
    --scripts "$SCRIPTS" --install-location / "$OUT/sceau-component.pkg"
productbuild --package "$OUT/sceau-component.pkg" \
    ${SCEAU_SIGN_IDENTITY:+--sign "$SCEAU_SIGN_IDENTITY"} "$OUT/Sceau-$VERSION.pkg"
rm -f "$OUT/sceau-component.pkg"
rm -rf "$SCRIPTS"
echo "$OUT/Sceau-$VERSION.pkg"
