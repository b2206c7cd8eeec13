#!/bin/sh
# Remove Sceau from a Mac (macOS has no package removal): run with sudo.
set -eu
PREFIX="/Library/Application Support/Sceau"
AGENT_PLIST=/Library/LaunchAgents/fr.sceau.agent.plist
console_user=$(stat -f %Su /dev/console 2> /dev/null || true)
if [ -n "$console_user" ] && [ "$console_user" != root ]; then
    launchctl bootout "gui/$(id -u "$console_user")" "$AGENT_PLIST" 2> /dev/null || true
fi
if [ -x "$PREFIX/bin/sceau" ]; then
    "$PREFIX/bin/sceau" install-manifests --system --uninstall || true
fi
rm -f "$AGENT_PLIST"
rm -rf "$PREFIX"
pkgutil --forget fr.sceau.agent > /dev/null 2>&1 || true
