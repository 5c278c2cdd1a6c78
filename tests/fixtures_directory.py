"""Real directories for the tests: a session-wide slapd (1,200 people) and a session-wide Samba AD DC.

Import the fixtures into a test module (``from tests.fixtures_directory import slapd, samba``). Where the
binaries are missing the tests are skipped with the reason, except on CI (env CI set), where a missing
server is a failure: CI must not go green by skipping the directory tests.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Iterator

import pytest

from sandbox.directory import (
    DirectoryHandle,
    DirectoryUnavailable,
    samba_available,
    slapd_available,
    start_samba,
    start_slapd,
)
from sandbox.directory_data import generate_users
from sandbox.directory_samba import add_people

SLAPD_USERS = 1200
# Each test module that imports a session fixture gets its own copy of it in pytest, so the servers are
# kept here: the first module to ask starts one, the others share it (all stop at the session's end).
_RUNNING: dict[str, DirectoryHandle] = {}


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


def shared(name: str, start, tmp_path_factory, **options) -> DirectoryHandle:
    if name not in _RUNNING:
        _RUNNING[name] = started(start, tmp_path_factory.mktemp(name), **options)
    return _RUNNING[name]


def release(name: str) -> None:
    handle = _RUNNING.pop(name, None)
    if handle is not None:
        handle.stop()


def require_slapd() -> None:
    if reason := slapd_available():
        unavailable(reason)


def require_samba() -> None:
    if reason := samba_available():
        unavailable(reason)


@pytest.fixture(scope="session")
def slapd(tmp_path_factory) -> Iterator[DirectoryHandle]:
    """slapd with 1,200 people over three OUs; shared: tests must not change its data."""
    require_slapd()
    yield shared("slapd", start_slapd, tmp_path_factory, users=SLAPD_USERS)
    release("slapd")


@pytest.fixture
def fresh_slapd(tmp_path) -> Iterator[DirectoryHandle]:
    """A small slapd of the test's own (60 people), which the test may change or stop."""
    require_slapd()
    handle = started(start_slapd, tmp_path / "slapd", users=60)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def samba(tmp_path_factory) -> Iterator[DirectoryHandle]:
    """A Samba AD DC provisioned once per session (about ten seconds) with 30 people in two OUs.

    Shared: a test that changes data does so in an OU of its own (see ``samba_ou`` in test_ad_sync).
    """
    require_samba()
    yield shared("samba", start_samba, tmp_path_factory, users=30)
    release("samba")


SAMBA_NUMBERS = itertools.count(5000, 100)  # sAMAccountNames of per-test Samba people: unique per test


@pytest.fixture
def samba_ou(samba, request):
    """An OU of this test's own on the shared Samba DC, with eight people; removed afterwards."""
    ou = f"OU=Sync {request.node.name[:40]},{samba.base_dn}"
    with samba.admin_connection() as conn:
        conn.add(ou, ["top", "organizationalUnit"])
    own = dataclasses.replace(samba, ous=[ou], users=[], process=None)  # process=None: stop() leaves the DC
    own.users = add_people(own, generate_users(8, [ou], "corp.example.com", with_guids=False,
                                                first_number=next(SAMBA_NUMBERS)))
    yield own
    with samba.admin_connection() as conn:
        conn.delete(ou, controls=[("1.2.840.113556.1.4.805", True, None)])  # tree delete
