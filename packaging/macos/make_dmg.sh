#!/usr/bin/env bash
# macOS: build the .app (PyInstaller BUNDLE with Info.plist, icon and the .toothseg document type)
# and wrap it in a compressed .dmg with an Applications shortcut.
#   bash packaging/macos/make_dmg.sh [full|slim] [VERSION]
# Writes dist/ToothSegStudio-VERSION-VARIANT.dmg. The app is only ad-hoc signed: it runs on the Mac that
# built it; on any other Mac, Gatekeeper blocks the first start of a downloaded copy. Control-click > Open
# no longer gets past that since macOS 15: the user opens it once, then clicks Open Anyway in System
# Settings > Privacy & Security (docs/packaging.md, "First launch"). Apple silicon, macOS 14 or later only.
# Signing and notarising with an Apple Developer ID removes the warning:
#   codesign --deep --force --options runtime --sign "Developer ID Application: ..." APP
#   xcrun notarytool submit DMG --wait ... && xcrun stapler staple DMG
set -euo pipefail
variant="${1:-full}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python}"
version="${2:-$("$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import core; print(core.__version__)' "$root")}"
case "$variant" in
  full) app_name="ToothSeg Studio" ;;
  slim) app_name="ToothSeg Viewer" ;;
  *) echo "variant must be full or slim, not $variant" >&2; exit 2 ;;
esac
dist="${TOOTHSEG_DIST:-$root/dist}"     # both overridable so tests can run the script on a fake .app
build="${TOOTHSEG_BUILD:-$root/build}"
plistbuddy="${PLISTBUDDY:-/usr/libexec/PlistBuddy}"
app="$dist/$variant/$app_name.app"
if [ ! -d "$app" ]; then
  "$python" "$root/packaging/build.py" --variant "$variant"
fi
plist="$app/Contents/Info.plist"
expect() {  # expect KEY VALUE MESSAGE: the built Info.plist says what packaging/toothseg.spec asked for
  "$plistbuddy" -c "Print :$1" "$plist" 2>/dev/null | grep -qx "$2" || { echo "Info.plist: $3" >&2; exit 1; }
}
expect CFBundleDocumentTypes:0:CFBundleTypeExtensions:0 toothseg "lacks the .toothseg document type"
expect LSBackgroundOnly false "LSBackgroundOnly must be false (else no Dock icon and no menu bar)"
expect LSMinimumSystemVersion 14.0 "LSMinimumSystemVersion must be 14.0 (the wheels' minimum)"
expect CFBundleName "$app_name" "CFBundleName must be $app_name"
codesign --force --deep --sign - "$app"
staging="$build/$variant/dmg"
rm -rf "$staging"
mkdir -p "$staging"
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
out="$dist/ToothSegStudio-$version-$variant.dmg"
rm -f "$out"
# hdiutil create fails at random on hosted runners with "Resource busy" (a disk-image helper or Spotlight
# still holds the staging folder): retry that error a few times, fail at once on any other.
attempts="${DMG_ATTEMPTS:-5}"
pause="${DMG_RETRY_SECONDS:-10}"
for attempt in $(seq 1 "$attempts"); do
  if log=$(hdiutil create -volname "$app_name $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$out" 2>&1); then
    echo "$log"
    break
  fi
  echo "$log" >&2
  if ! grep -q "Resource busy" <<<"$log" || [ "$attempt" -eq "$attempts" ]; then
    echo "hdiutil create failed (attempt $attempt of $attempts)" >&2
    exit 1
  fi
  echo "hdiutil create: Resource busy, retrying in $((attempt * pause)) s (attempt $attempt of $attempts)" >&2
  rm -f "$out"
  sleep $((attempt * pause))
done
hdiutil verify "$out"
rm -rf "$staging"
echo "$out"
