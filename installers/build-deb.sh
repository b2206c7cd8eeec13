#!/bin/sh
# Build sceau_<version>_<arch>.deb with Debian's tooling (`make deb`): a clean copy of the source tree
# with installers/debian as its debian/ folder, the extension packages of `make extension`, and a
# wheelhouse of the Python dependencies kept in build/ so later builds do not download again.
# Usage: installers/build-deb.sh [VERSION]   (default: pyproject.toml's version)
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
VERSION=${1:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}
OUT=${DEB_OUT:-$REPO/dist}
WORK=$REPO/build/deb
SRC=$WORK/sceau-$VERSION
BUILD_PY=$REPO/build/deb-python  # Debian's python3: wheels built here link against the system's
WHEELS=$REPO/build/wheelhouse
STAMP=$WHEELS/.stamp-$(sha1sum pyproject.toml | cut -c1-12)

[ -f build/extension/extension-ids.json ] || { echo "run \`make extension\` first" >&2; exit 1; }

# Dependencies as wheels, once per pyproject.toml (pip's cache and $PIP_FIND_LINKS are used).
# Built with Debian's python3 and without pip's wheel cache, which may hold wheels another interpreter
# built (their RUNPATH would point at it).
if [ ! -f "$STAMP" ]; then
    rm -rf "$WHEELS" "$BUILD_PY"
    /usr/bin/python3 -m venv "$BUILD_PY"
    "$BUILD_PY/bin/pip" wheel -q --no-cache-dir --wheel-dir "$WHEELS" setuptools wheel '.[gui,pcsc]'
    rm -f "$WHEELS"/sceau-*.whl
    touch "$STAMP"
fi

rm -rf "$SRC"
mkdir -p "$SRC" "$OUT"
# Tracked and new (not ignored) files: what a commit of this tree would hold.
git ls-files -z --cached --others --exclude-standard -- agent native_host pyproject.toml README.md \
    | xargs -0 cp --parents -t "$SRC" 2> /dev/null || true
cp -r installers/debian "$SRC/debian"
mkdir -p "$SRC/debian/extension" "$SRC/debian/icons"
cp build/extension/sceau.crx build/extension/sceau-firefox.xpi build/extension/updates.xml \
    build/extension/extension-ids.json "$SRC/debian/extension/"
cp extension/icons/icon-128.png "$SRC/debian/icons/sceau.png"
ln -s "$WHEELS" "$SRC/debian/wheelhouse"
DATE=$(date -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})
cat > "$SRC/debian/changelog" << CHANGELOG
sceau ($VERSION) unstable; urgency=medium

  * Release $VERSION (built from pyproject.toml's version by \`make deb\`).

 -- Sceau <contact@sceau.fr>  $DATE
CHANGELOG

cd "$SRC"
DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -b -us -uc -j2 > "$WORK/build.log" 2>&1 \
    || { tail -n 60 "$WORK/build.log" >&2; exit 1; }
cd "$WORK"
ARCH=$(dpkg --print-architecture)
DEB=sceau_${VERSION}_${ARCH}.deb
mv "$DEB" "$OUT/$DEB"
rm -f sceau_"$VERSION"_"$ARCH".buildinfo sceau_"$VERSION"_"$ARCH".changes sceau-dbgsym_*.deb
echo "$OUT/$DEB"
