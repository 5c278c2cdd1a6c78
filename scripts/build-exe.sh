#!/usr/bin/env bash
# Builds the single-file executable from build.spec with the project's virtual environment:
# dist/HaloIntegrator on Linux (the Windows HaloIntegrator.exe is built by .github/workflows/windows-exe.yml,
# or under wine by scripts/wine-build.sh). Puts dist-README.txt beside it as README.txt, checks that no
# sandbox or test module was bundled, and prints the built version. About 30 seconds.
#   scripts/build-exe.sh [extra pyinstaller options]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || bash scripts/setup.sh
DIST=${DIST:-dist}
WORK=${WORK:-build}

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath "$WORK" "$@" build.spec
BINARY="$DIST/HaloIntegrator"

# The spec already refuses test code; this looks at what really went into the archive.
CONTENTS=$("$PYTHON" -m PyInstaller.utils.cliutils.archive_viewer --recursive --brief "$BINARY")
if grep -Eq '^\s*(sandbox|tests|pytest|responses|hypothesis)([./\\]|$)' <<<"$CONTENTS"; then
  echo "Test code was bundled into $BINARY:" >&2
  grep -E '^\s*(sandbox|tests|pytest|responses|hypothesis)([./\\]|$)' <<<"$CONTENTS" >&2
  exit 1
fi

cp dist-README.txt "$DIST/README.txt"
echo "Built $BINARY ($(du -h "$BINARY" | cut -f1)): $("$BINARY" --version)"
