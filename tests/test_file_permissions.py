"""The files a run leaves are private to its account: on Windows each key, config, state and log file (and
the logs folder) gets an ACL of SYSTEM, Administrators and the running (or scheduled task's) account,
set with icacls without a console window; a failure to set it is a warning that says what to check; an
atomic write protects the new file before it takes the old one's place."""

from __future__ import annotations

import ntpath
import subprocess
from pathlib import Path

import pytest

from halointegrator.local import acl, fileio, writers

WINDOWS_USER = {"USERNAME": "halo-admin", "USERDOMAIN": "CORP"}


def test_the_icacls_command_for_a_file_and_for_a_folder():
    granted = acl.accounts(WINDOWS_USER)
    assert acl.icacls_command(Path("C:/Halo/HaloIntegrator.key"), folder=False, granted=granted) == [
        "C:\\Windows\\System32\\icacls.exe", str(Path("C:/Halo/HaloIntegrator.key")), "/inheritance:r", "/grant:r",
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
    assert command[0] == acl.system_tool("icacls.exe")
    assert options["creationflags"] == acl.CREATE_NO_WINDOW and options["timeout"]


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


def test_icacls_is_run_by_its_full_path():
    """Run at every atomic write (config, key, state, journal, logs) as the task's account: by bare name,
    Windows looks in the program's folder and the Start-in folder first, where any user who can log on
    may drop an icacls.exe (a folder made at the root of C: lets Authenticated Users modify it)."""
    program = acl.icacls_command(Path("C:/HaloIntegrator/HaloIntegrator.state"), folder=False, granted=[acl.SYSTEM])[0]
    assert ntpath.isabs(program) and program.lower().endswith("\\system32\\icacls.exe")
    assert acl.system_tool("icacls.exe", {"SystemRoot": "D:\\WIN"}) == "D:\\WIN\\System32\\icacls.exe"


USERS, EVERYONE, ME = "S-1-5-32-545", "S-1-1-0", "S-1-5-21-1-2-3-1001"
READ_EXECUTE, MODIFY, FULL = 0x1200A9, 0x1301BF, 0x1F01FF


@pytest.mark.parametrize("aces, folder, wanted", [
    ([writers.Ace(0, 0, FULL, writers.SYSTEM), writers.Ace(0, 0, FULL, writers.ADMINISTRATORS),
      writers.Ace(0, 0, READ_EXECUTE, USERS)], False, []),  # Program Files-like: only admins change it
    ([writers.Ace(0, 0x10, MODIFY, "S-1-5-11")], False, ["S-1-5-11"]),  # C:\Scripts inherits Modify
    ([writers.Ace(0, 0, 0x2, USERS)], False, [USERS]),  # write data alone
    ([writers.Ace(0, 0, 0x4, USERS)], False, [USERS]),  # append alone
    ([writers.Ace(0, 0, 0x40000, EVERYONE)], False, [EVERYONE]),  # may change the permissions
    ([writers.Ace(0, 0, 0x40000000, USERS)], False, [USERS]),  # GENERIC_WRITE
    ([writers.Ace(0, 0, 0x40 | READ_EXECUTE, USERS)], False, []),  # on a file 0x40 is execute
    ([writers.Ace(0, 0, 0x40 | READ_EXECUTE, USERS)], True, [USERS]),  # on a folder: delete a child
    ([writers.Ace(0, 0x08 | 0x03, FULL, "S-1-3-0")], True, []),  # CREATOR OWNER, inherit-only
    ([writers.Ace(1, 0, FULL, USERS), writers.Ace(0, 0, MODIFY, USERS)], False, [USERS]),  # deny not credited
    ([writers.Ace(0, 0, FULL, ME)], False, []),  # the Integrator's own account (trusted below)
    ([writers.Ace(0, 0, FULL, writers.TRUSTED_INSTALLER)], True, []),
    (None, False, [EVERYONE]),  # a NULL DACL lets everyone do everything
])
def test_who_besides_administrators_may_change_a_file_windows(aces, folder, wanted):
    """The Windows decision on a script file or folder, from its DACL entries: any account other than
    SYSTEM, Administrators, TrustedInstaller and the Integrator's own that may change it is named."""
    assert writers.untrusted_writers(aces, folder=folder, trusted=[ME]) == wanted


TASK = "S-1-5-21-1-2-3-1107"  # the scheduled task's account


@pytest.mark.parametrize("owner, aces, wanted", [
    (writers.ADMINISTRATORS, [writers.Ace(0, 0, FULL, writers.SYSTEM)], []),  # the usual owner
    (writers.TRUSTED_INSTALLER, [], []),
    (ME, [], []),  # the Integrator's own account
    (TASK, [], []),  # the scheduled task's account (trusted below)
    ("S-1-5-21-1-2-3-1234", [writers.Ace(0, 0, READ_EXECUTE, USERS)], ["S-1-5-21-1-2-3-1234"]),  # a user owns it
    ("S-1-5-21-1-2-3-1234", [writers.Ace(0, 0, MODIFY, USERS)], ["S-1-5-21-1-2-3-1234", USERS]),  # owner first
    (USERS, [writers.Ace(0, 0, MODIFY, USERS)], [USERS]),  # named once
    ("S-1-5-21-1-2-3-1234", None, ["S-1-5-21-1-2-3-1234", EVERYONE]),  # and a NULL DACL
    (None, [writers.Ace(0, 0, READ_EXECUTE, USERS)], []),  # a descriptor that names no owner
])
def test_an_owner_outside_the_trusted_accounts_may_change_a_file_windows(owner, aces, wanted):
    """An owner may always rewrite the DACL: one other than SYSTEM, Administrators, TrustedInstaller, the
    Integrator's account and the scheduled task's is named like a writer."""
    assert writers.untrusted_writers(aces, folder=False, trusted=[ME, TASK], owner=owner) == wanted


def test_the_windows_message_says_how_to_change_the_owner_and_the_permissions():
    path = writers.Path("C:/Scripts/sync.ps1")
    owner = "S-1-5-21-1-2-3-1234"
    only_owner = writers.windows_problem(path, "the script file", [owner], owner)
    assert f"{owner} owns it" in only_owner and "/setowner *S-1-5-32-544" in only_owner
    assert "remove their write" not in only_owner
    both = writers.windows_problem(path, "the script file", [owner, USERS], owner)
    assert "owns it" in both and "Users (S-1-5-32-545)" in both and "remove their write" in both
    assert "owns it" not in writers.windows_problem(path, "the script file", [USERS], owner)
    assert writers.windows_problem(path, "the script file", [], owner) is None


@pytest.mark.parametrize("account, wanted", [
    ("S-1-5-20", "S-1-5-20"), ("*S-1-5-21-1-2-3-1107", "S-1-5-21-1-2-3-1107"), ("s-1-5-18", "S-1-5-18"),
    ("CONTOSO\\svc-halo", None), ("svc-halo", None), ("", None),
])
def test_a_task_account_given_as_a_sid_is_used_as_it_is(account, wanted):
    assert writers.sid_literal(account) == wanted


def _windows_folder(monkeypatch, aces, owner=writers.ADMINISTRATORS, task_sids=None):
    """The Windows reading of a folder, with its owner and DACL as given (the calls only Windows has)."""
    monkeypatch.setattr(writers, "_windows_account_sid", lambda: ME)
    monkeypatch.setattr(writers, "_windows_security", lambda path: (owner, aces))
    monkeypatch.setattr(writers, "_windows_sid_of", lambda account: (task_sids or {})[account])
    monkeypatch.setattr(acl, "_task_accounts", [])


def test_a_check_from_the_window_accepts_a_folder_that_grants_the_task_account_write_access(monkeypatch):
    """The admin runs Check in the window; the task runs as CONTOSO\\svc-halo, which the folder lets write
    (the task itself trusts its own account): the window must not refuse what the task accepts."""
    _windows_folder(monkeypatch, [writers.Ace(0, 0, MODIFY, TASK)], task_sids={"CONTOSO\\svc-halo": TASK})
    path = writers.Path("C:/Scripts")
    assert "S-1-5-21-1-2-3-1107" in writers._windows_change_problem(path, folder=True, what="the scripts folder")
    acl.set_task_account("CONTOSO\\svc-halo")
    assert writers._windows_change_problem(path, folder=True, what="the scripts folder") is None


def test_a_windows_folder_owned_by_an_untrusted_account_is_refused(monkeypatch):
    _windows_folder(monkeypatch, [writers.Ace(0, 0, FULL, writers.ADMINISTRATORS)], owner="S-1-5-21-1-2-3-1234")
    problem = writers._windows_change_problem(writers.Path("C:/Scripts"), folder=True, what="the scripts folder")
    assert "S-1-5-21-1-2-3-1234 owns it" in problem


def test_a_task_account_windows_does_not_know_is_said_so(monkeypatch):
    _windows_folder(monkeypatch, [writers.Ace(0, 0, FULL, writers.ADMINISTRATORS)])

    def unknown(account):
        raise OSError(1332, "No mapping between account names and security IDs was done")
    monkeypatch.setattr(writers, "_windows_sid_of", unknown)
    acl.set_task_account("CONTOSO\\nobody")
    problem = writers._windows_change_problem(writers.Path("C:/Scripts"), folder=True, what="the scripts folder")
    assert "'CONTOSO\\\\nobody'" in problem and "is not known to Windows" in problem and "No mapping" in problem


def test_a_posix_file_others_may_change_or_own_is_named(tmp_path, monkeypatch):
    path = tmp_path / "x.ps1"
    path.write_text("param()")
    path.chmod(0o644)
    assert writers.change_problem(path, folder=False, what="the script file") is None
    path.chmod(0o620)
    assert "may be changed by other users" in writers.change_problem(path, folder=False, what="the script file")
    path.chmod(0o644)
    real_stat = writers.os.stat
    monkeypatch.setattr(writers.os, "stat", lambda target: writers.os.stat_result(
        (*tuple(real_stat(target))[:4], 4242, *tuple(real_stat(target))[5:])))  # st_uid: another user's
    assert "belongs to another user (uid 4242)" in writers.change_problem(path, folder=False, what="the script file")
