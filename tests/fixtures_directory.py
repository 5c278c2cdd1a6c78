"""Helpers for the directory tests (the fixtures ``slapd``, ``fresh_slapd``, ``samba`` and ``samba_ou``
are in conftest.py): starting a server, reading a whole search, and skipping where the binaries are missing, except on CI (env CI
set), where a missing server is a failure: CI must not go green by skipping the directory tests.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from integrations.active_directory import directory
from integrations.active_directory.mapping import SourceEntry
from sandbox.directory import DirectoryHandle, DirectoryUnavailable, samba_available, slapd_available

SLAPD_USERS = 1200  # people in the session's slapd
SAMBA_NUMBERS = itertools.count(5000, 100)  # sAMAccountNames of per-test Samba people: unique per test


def unavailable(reason: str) -> None:
    """Skip, or on CI fail: a directory test that cannot run there is a broken CI image."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def started(start, workdir: Path, **options) -> DirectoryHandle:
    try:
        return start(workdir, **options)
    except DirectoryUnavailable as error:
        unavailable(str(error))
        raise  # not reached: unavailable() raises


def require_slapd() -> None:
    if reason := slapd_available():
        unavailable(reason)


def require_samba() -> None:
    if reason := samba_available():
        unavailable(reason)


def search_all(conn, base_dn: str, ldap_filter: str, **options) -> list[SourceEntry]:
    """Every entry of one search, read page by page through ``directory.search_pages`` as the sync reads
    (a failure on any page raises from here)."""
    return [entry for page in directory.search_pages(conn, base_dn, ldap_filter, **options) for entry in page]
