"""The files a run leaves are private to its account: on Windows each key, config, state and log file (and
the logs folder) gets an ACL of SYSTEM, Administrators and the running (or scheduled task's) account,
set with icacls without a console window; a failure to set it is a warning that says what to check; an
atomic write protects the new file before it takes the old one's place."""

from __future__ import annotations

import subprocess
from pathlib import Path

from halointegrator.local import acl, fileio

WINDOWS_USER = {"USERNAME": "halo-admin", "USERDOMAIN": "CORP"}


def test_the_icacls_command_for_a_file_and_for_a_folder():
    granted = acl.accounts(WINDOWS_USER)
    assert acl.icacls_command(Path("C:/Halo/HaloIntegrator.key"), folder=False, granted=granted) == [
        "icacls", str(Path("C:/Halo/HaloIntegrator.key")), "/inheritance:r", "/grant:r",
        "*S-1-5-18:F", "*S-1-5-32-544:F", "CORP\\halo-admin:F", "/Q"]
    assert acl.icacls_command(Path("C:/Halo/logs"), folder=True, granted=granted)[4:7] == [
        "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", "CORP\\halo-admin:(OI)(CI)F"]


def test_the_task_account_is_granted_too_and_named_once():
    try:
        acl.set_task_account("CORP\\svc-halo")
        assert acl.accounts(WINDOWS_USER) == ["*S-1-5-18", "*S-1-5-32-544", "CORP\\halo-admin", "CORP\\svc-halo"]
        acl.set_task_account("corp\\HALO-ADMIN")
        assert acl.accounts(WINDOWS_USER) == ["*S-1-5-18", "*S-1-5-32-544", "CORP\\halo-admin"]
    finally:
        acl.set_task_account("")


def test_protect_runs_icacls_without_a_console_window_on_windows_only(tmp_path):
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, 0, b"", b"")

    assert acl.protect(tmp_path / "f", system="posix", run=run) == "" and not calls
    assert acl.protect(tmp_path / "f", system="nt", run=run, environ=WINDOWS_USER) == ""
    command, options = calls[0]
    assert command[0] == "icacls" and options["creationflags"] == acl.CREATE_NO_WINDOW and options["timeout"]


def test_a_failing_icacls_is_a_warning_that_says_what_to_check(tmp_path):
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 5, b"", b"Access is denied.")

    warning = acl.protect(tmp_path / "HaloIntegrator.key", system="nt", run=run, environ=WINDOWS_USER)
    assert "Access is denied" in warning and "Properties > Security" in warning


def test_an_atomic_write_protects_the_new_file_before_it_takes_the_old_ones_place(tmp_path, monkeypatch):
    target = tmp_path / "HaloIntegrator.state"
    seen = []
    monkeypatch.setattr(acl, "protect", lambda path, **kw: seen.append((Path(path), target.exists())) or "")
    fileio.write_atomic(target, b"{}")
    (protected, target_existed), = seen
    assert protected != target and protected.parent == target.parent and not target_existed
