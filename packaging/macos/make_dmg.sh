#!/usr/bin/env bash
# macOS: build the .app (PyInstaller BUNDLE with Info.plist, icon and the .toothseg document type)
# and wrap it in a compressed .dmg with an Applications shortcut.
#   bash packaging/macos/make_dmg.sh [full|slim] [VERSION]
# Writes dist/ToothSegStudio-VERSION-VARIANT.dmg. The app is ad-hoc signed (runs on the machine that
# built it and, after right-click > Open, elsewhere); notarisation needs an Apple Developer ID:
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
app="$root/dist/$variant/$app_name.app"
if [ ! -d "$app" ]; then
  "$python" "$root/packaging/build.py" --variant "$variant"
fi
/usr/libexec/PlistBuddy -c "Print :CFBundleDocumentTypes:0:CFBundleTypeExtensions:0" "$app/Contents/Info.plist" \
  | grep -qx toothseg || { echo "Info.plist lacks the .toothseg document type" >&2; exit 1; }
codesign --force --deep --sign - "$app"
staging="$root/build/$variant/dmg"
rm -rf "$staging"
mkdir -p "$staging"
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
out="$root/dist/ToothSegStudio-$version-$variant.dmg"
rm -f "$out"
hdiutil create -volname "$app_name $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$out"
hdiutil verify "$out"
rm -rf "$staging"
echo "$out"
