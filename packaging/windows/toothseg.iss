; Inno Setup 6 script: ToothSeg Studio Setup.exe from the PyInstaller one-folder bundle.
; Built by `python packaging\build.py --variant full|slim --installer`, which passes the defines below;
; by hand: iscc /DVariant=full packaging\windows\toothseg.iss (after building dist\full\ToothSegStudio).
; Per-user install by default (clinic PCs rarely grant admin rights); admins may choose all users.
; File association: *.toothseg project pointer files (JSON naming a dataset folder; an empty file
; means "the folder I am in") open in the app; the uninstaller removes the association again.
; Full and Viewer may be installed side by side, so each registers its own ProgId and removes only
; that on uninstall (no shared key: both programs are called ToothSegStudio.exe, so an
; Applications\<exe> key would be shared, and uninstalling one would break the other's association).
; Compiled with Inno Setup 6 (CI pins the Chocolatey package; packaging/build.py finds ISCC.exe).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "full"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\" + Variant + "\ToothSegStudio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#if Variant == "slim"
  #define AppName "ToothSeg Viewer"
  #define AppGuid "{{6C0E7F0B-3D0B-4C55-9A43-5E2B7B1B9A02}"
  #define ProgId "ToothSegViewer.Project"
#else
  #define AppName "ToothSeg Studio"
  #define AppGuid "{{6C0E7F0B-3D0B-4C55-9A43-5E2B7B1B9A01}"
  #define ProgId "ToothSegStudio.Project"
#endif
#define AppExe "ToothSegStudio.exe"

[Setup]
AppId={#AppGuid}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=ToothSeg Studio contributors
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=commandline dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
OutputDir={#OutputDir}
OutputBaseFilename=ToothSegStudio-{#AppVersion}-{#Variant}-Setup
SetupIconFile=..\..\resources\icons\app.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
MinVersion=10.0

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; a newer version must not load stale modules left by an older one
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; HKA = HKLM for an all-users install, HKCU\Software\Classes for a per-user one
Root: HKA; Subkey: "Software\Classes\.toothseg\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "ToothSeg project ({#AppName})"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""

[Messages]
; The finish page says how to get past the warnings an unsigned app meets (docs/packaging.md has the same).
FinishedLabel=Setup has finished installing [name] on your computer.%n%nFirst start: [name] is not code-signed yet. If Windows shows "Windows protected your PC" (Microsoft Defender SmartScreen), click More info, then Run anyway. Windows asks only once.%n%nIf Windows asks how to open a .toothseg file, choose [name] and tick "Always".
FinishedLabelNoIcons=Setup has finished installing [name] on your computer.%n%nFirst start: [name] is not code-signed yet. If Windows shows "Windows protected your PC" (Microsoft Defender SmartScreen), click More info, then Run anyway. Windows asks only once.%n%nIf Windows asks how to open a .toothseg file, choose [name] and tick "Always".

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
