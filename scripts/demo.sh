#!/usr/bin/env bash
# README's first command: install what is needed, then run one full sync against the local sandbox
# (a Halo API emulator, a Microsoft Graph emulator and a real OpenLDAP directory) and print what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh slapd ldap-utils
exec .venv/bin/python -m sandbox "$@"
