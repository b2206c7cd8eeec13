; Sceau for Windows: the frozen agent and native host, native-messaging registration for Chrome,
; Chromium, Edge, Brave and Firefox, start with the session, and an uninstaller that removes all of it.
;
; Per user by default (HKCU, %LOCALAPPDATA%\Programs\Sceau, no administrator rights); for every user
; of the machine with /ALLUSERS (HKLM, %ProgramFiles%\Sceau; the installer asks for elevation).
; Registry keys as native_host/sceau_native_host/manifests.py names them (_WINDOWS_KEYS).
;
; makensis -DVERSION=0.1.0 -DPAYLOAD=dist\windows -DCHROME_ID=<id> -DFIREFOX_ID=extension@sceau.fr
;          -DOUTFILE=sceau-0.1.0-setup.exe installers\windows\sceau.nsi
; PAYLOAD holds sceau.exe and sceau-native-host.exe (installers/windows/README.md: how the release
; build freezes them); tests compile it with a placeholder payload.

Unicode true
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "VERSION is required (-DVERSION=x.y.z, pyproject.toml's version)"
!endif
!ifndef PAYLOAD
  !error "PAYLOAD is required (-DPAYLOAD=folder with sceau.exe and sceau-native-host.exe)"
!endif
!ifndef CHROME_ID
  !error "CHROME_ID is required (build/extension/extension-ids.json)"
!endif
!ifndef FIREFOX_ID
  !define FIREFOX_ID "extension@sceau.fr"
!endif
!ifndef OUTFILE
  !define OUTFILE "sceau-${VERSION}-setup.exe"
!endif

!define HOST_NAME "fr.sceau.agent"
!define DESCRIPTION "Sceau: signature, authentification et chiffrement avec votre certificat"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Sceau"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define KEY_CHROME "Software\Google\Chrome\NativeMessagingHosts"
!define KEY_CHROMIUM "Software\Chromium\NativeMessagingHosts"
!define KEY_EDGE "Software\Microsoft\Edge\NativeMessagingHosts"
!define KEY_BRAVE "Software\BraveSoftware\Brave-Browser\NativeMessagingHosts"
!define KEY_FIREFOX "Software\Mozilla\NativeMessagingHosts"

!define MULTIUSER_EXECUTIONLEVEL Highest
!define MULTIUSER_INSTALLMODE_COMMANDLINE
!define MULTIUSER_INSTALLMODE_INSTDIR "Sceau"
!define MULTIUSER_INSTALLMODE_DEFAULT_CURRENTUSER
!include MultiUser.nsh
!include MUI2.nsh
!include WordFunc.nsh

Name "Sceau ${VERSION}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
ShowInstDetails show

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "French"
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  !insertmacro MULTIUSER_INIT
FunctionEnd

Function un.onInit
  !insertmacro MULTIUSER_UNINIT
FunctionEnd

; Write one manifest: $0 = file, $1 = "origins" or "extensions".
Function WriteManifest
  ${WordReplace} "$INSTDIR\sceau-native-host.exe" "\" "\\" "+" $R0
  FileOpen $R1 $0 w
  FileWrite $R1 '{$\r$\n  "name": "${HOST_NAME}",$\r$\n  "description": "${DESCRIPTION}",$\r$\n'
  FileWrite $R1 '  "path": "$R0",$\r$\n  "type": "stdio",$\r$\n'
  StrCmp $1 "extensions" 0 +3
    FileWrite $R1 '  "allowed_extensions": ["${FIREFOX_ID}"]$\r$\n}$\r$\n'
    Goto +2
  FileWrite $R1 '  "allowed_origins": ["chrome-extension://${CHROME_ID}/"]$\r$\n}$\r$\n'
  FileClose $R1
FunctionEnd

Section "Sceau" SecMain
  SectionIn RO
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}\*.*"
  CreateDirectory "$INSTDIR\manifests"

  StrCpy $0 "$INSTDIR\manifests\chrome.json"
  StrCpy $1 "origins"
  Call WriteManifest
  StrCpy $0 "$INSTDIR\manifests\firefox.json"
  StrCpy $1 "extensions"
  Call WriteManifest

  ; SHCTX is HKCU per user, HKLM with /ALLUSERS (MultiUser sets the shell context).
  WriteRegStr SHCTX "${KEY_CHROME}\${HOST_NAME}" "" "$INSTDIR\manifests\chrome.json"
  WriteRegStr SHCTX "${KEY_CHROMIUM}\${HOST_NAME}" "" "$INSTDIR\manifests\chrome.json"
  WriteRegStr SHCTX "${KEY_EDGE}\${HOST_NAME}" "" "$INSTDIR\manifests\chrome.json"
  WriteRegStr SHCTX "${KEY_BRAVE}\${HOST_NAME}" "" "$INSTDIR\manifests\chrome.json"
  WriteRegStr SHCTX "${KEY_FIREFOX}\${HOST_NAME}" "" "$INSTDIR\manifests\firefox.json"
  WriteRegStr SHCTX "${RUN_KEY}" "Sceau" '"$INSTDIR\sceau.exe" agent'

  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "DisplayName" "Sceau"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "Publisher" "Sceau"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe" /$MultiUser.InstallMode'
  WriteRegDWORD SHCTX "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD SHCTX "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  ; The agent and hosts of this installation must not keep files open.
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /T /IM sceau.exe'
  Pop $0
  nsExec::Exec '"$SYSDIR\taskkill.exe" /F /T /IM sceau-native-host.exe'
  Pop $0
  DeleteRegKey SHCTX "${KEY_CHROME}\${HOST_NAME}"
  DeleteRegKey SHCTX "${KEY_CHROMIUM}\${HOST_NAME}"
  DeleteRegKey SHCTX "${KEY_EDGE}\${HOST_NAME}"
  DeleteRegKey SHCTX "${KEY_BRAVE}\${HOST_NAME}"
  DeleteRegKey SHCTX "${KEY_FIREFOX}\${HOST_NAME}"
  DeleteRegValue SHCTX "${RUN_KEY}" "Sceau"
  DeleteRegKey SHCTX "${UNINSTALL_KEY}"
  RMDir /r "$INSTDIR\manifests"
  RMDir /r "$INSTDIR"
SectionEnd
