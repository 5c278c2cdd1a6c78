#!/usr/bin/env bash
# Installs what the Integrator needs on Debian/Ubuntu: the system packages named as arguments (only the
# missing ones) and a virtual environment in .venv with the project and its development tools.
# Used by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_ok() {
  python3 -c 'import sys, venv, tkinter; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if ! python_ok; then
  apt_install python3 python3-venv python3-tk
  python_ok || { echo "Python 3.11 or newer with venv and tkinter is needed (python3 is $(python3 --version 2>&1))." >&2; exit 1; }
fi

if [ $# -gt 0 ]; then apt_install "$@"; fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# pip's own chatter (build-backend notices) goes to a log; it is shown only when the install fails.
pip_log=.venv/pip-install.log
echo "Installing the Python packages into .venv ..."
if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip &&
       .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"; } >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  echo "Installing the Python packages failed (log: $pip_log)." >&2
  exit 1
fi
