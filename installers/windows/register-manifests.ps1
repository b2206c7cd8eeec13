# Register (or with -Uninstall, remove) the Sceau native-messaging host for Chrome, Chromium, Edge,
# Brave and Firefox. Called by the installer after copying the files; per-user unless -System
# (HKLM, needs an elevated installer). The registry keys point at manifests written under
# %LOCALAPPDATA%\Sceau (per user) or %PROGRAMDATA%\Sceau (system), see native_host/sceau_native_host/manifests.py.
param(
    [string]$InstallDir = (Split-Path -Parent $MyInvocation.MyCommand.Path),
    [switch]$System,
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$sceau = Join-Path $InstallDir "sceau.exe"
$hostExe = Join-Path $InstallDir "sceau-native-host.exe"
$arguments = @("install-manifests")
if ($System) { $arguments += "--system" }
if ($Uninstall) { $arguments += "--uninstall" } else { $arguments += @("--host-path", $hostExe) }
& $sceau @arguments
if ($LASTEXITCODE -ne 0) { throw "sceau install-manifests failed ($LASTEXITCODE)" }
