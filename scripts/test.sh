#!/usr/bin/env bash
# README's second command: install what is needed (system packages included) and run every test:
# unit tests, real OpenLDAP slapd and Samba AD DC servers, a real PostgreSQL reached over ODBC (unixODBC
# and its driver, for the SQL imports), the Tk window under Xvfb, the frozen
# executable and the 1,000-user benchmark. Extra arguments go to pytest (e.g. -m "not samba").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh slapd ldap-utils samba samba-ad-dc samba-ad-provision xvfb xauth imagemagick xdotool binutils \
  postgresql odbc-postgresql unixodbc
# --xvfb-backend=xvfb makes a missing Xvfb an error instead of a silently skipped display.
exec .venv/bin/python -m pytest --xvfb-backend=xvfb -m "not wine" "$@"
