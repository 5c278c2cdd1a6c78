"""Who besides administrators may change a file or folder: a program the Integrator runs must not be one.

A script the Integrator runs does what its account may do; whoever may rewrite the script (or add one to
its folder, or replace one there) may do the same. So a script, and each folder it is found through, must
be changeable only by administrators (and the account the Integrator runs as, which runs it anyway).

Windows: the file's owner and DACL are read (GetNamedSecurityInfoW) and ``untrusted_writers`` decides, as
a pure function of them, which accounts other than SYSTEM, Administrators, TrustedInstaller, this account
and the scheduled task's (the ``task_account`` setting) may change the file: the owner (an owner may always
rewrite the permissions), and whoever an entry allows a right that changes it (write, append, change
permissions or owner; on a folder also add a file or delete a child). Trusting the task's account lets a
Check from the window (run as the admin) accept a folder that grants the task's account write access, as
the task itself does. Deny entries are not credited (a reader cannot be sure of their order), so the fix
is always the same: remove the allow entry. Inherit-only entries (CREATOR OWNER on a folder) do not apply
to the object itself. POSIX: group- or world-writable, or owned by an account other than root and this one.
"""

from __future__ import annotations

import ctypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from halointegrator.local import acl

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
TRUSTED = frozenset({SYSTEM, ADMINISTRATORS, TRUSTED_INSTALLER})
WELL_KNOWN = {"S-1-1-0": "Everyone", "S-1-5-11": "Authenticated Users", "S-1-5-32-545": "Users",
              "S-1-5-4": "INTERACTIVE", "S-1-5-32-546": "Guests", "S-1-5-7": "ANONYMOUS LOGON",
              "S-1-3-4": "OWNER RIGHTS", "S-1-5-2": "NETWORK", "S-1-5-19": "LOCAL SERVICE",
              "S-1-5-20": "NETWORK SERVICE"}

ALLOWED_TYPES = frozenset({0x0, 0x5, 0x9, 0xB})  # ACCESS_ALLOWED (object, callback, callback object)
INHERIT_ONLY = 0x08
FILE_CHANGE_RIGHTS = (0x0002 | 0x0004  # FILE_WRITE_DATA / ADD_FILE, FILE_APPEND_DATA / ADD_SUBDIRECTORY
                      | 0x00040000 | 0x00080000  # WRITE_DAC, WRITE_OWNER
                      | 0x02000000 | 0x10000000 | 0x40000000)  # MAXIMUM_ALLOWED, GENERIC_ALL, GENERIC_WRITE
FOLDER_CHANGE_RIGHTS = FILE_CHANGE_RIGHTS | 0x0040  # FILE_DELETE_CHILD: delete a script and put another there


@dataclass(frozen=True)
class Ace:
    """One entry of a Windows DACL: its type, flags, access mask and the SID it names ("S-1-5-11")."""

    kind: int
    flags: int
    mask: int
    sid: str


def untrusted_writers(aces: Iterable[Ace] | None, *, folder: bool, trusted: Iterable[str] = (),
                      owner: str | None = None) -> list[str]:
    """The SIDs other than administrators' and ``trusted`` that may change the object: its ``owner`` (who
    may always rewrite the DACL; None when not read), then those this DACL lets change it.

    ``aces`` None is a NULL DACL: everyone may do anything ("S-1-1-0", Everyone).
    """
    allowed = TRUSTED | {sid.upper() for sid in trusted if sid}
    writers: list[str] = [owner] if owner is not None and owner.upper() not in allowed else []
    if aces is None:
        return writers + ["S-1-1-0"]
    rights = FOLDER_CHANGE_RIGHTS if folder else FILE_CHANGE_RIGHTS
    for ace in aces:
        if ace.kind not in ALLOWED_TYPES or ace.flags & INHERIT_ONLY or not ace.mask & rights:
            continue
        if ace.sid.upper() not in allowed and ace.sid not in writers:
            writers.append(ace.sid)
    return writers


def account_name(sid: str) -> str:
    return f"{WELL_KNOWN[sid]} ({sid})" if sid in WELL_KNOWN else sid


def change_problem(path: Path, *, folder: bool, what: str) -> str | None:
    """Why ``path`` (``what``: "the script file", "the scripts folder") may be changed by non-administrators."""
    if os.name == "nt":
        return _windows_change_problem(path, folder=folder, what=what)
    try:
        return _posix_problem(path, what)
    except OSError as error:
        return f"Could not read who may change {what} {str(path)!r}: {error.strerror or error}."


def _windows_change_problem(path: Path, *, folder: bool, what: str) -> str | None:
    """Windows: the owner and DACL judged, trusting this account and the scheduled task's."""
    try:
        own_sid, (owner, aces) = _windows_account_sid(), _windows_security(path)
    except OSError as error:
        return f"Could not read who may change {what} {str(path)!r}: {error.strerror or error}."
    task_account = acl.task_account()
    try:
        task_sids = [_windows_sid_of(task_account)] if task_account else []
    except OSError as error:
        return (f"The scheduled task's account {task_account!r} (Scheduled task's account, in the Configuration "
                f"tab) is not known to Windows ({error.strerror or error}), so who may change {what} "
                f"{str(path)!r} cannot be judged. Correct the account (DOMAIN\\user) and check again.")
    writers = untrusted_writers(aces, folder=folder, trusted=[own_sid, *task_sids], owner=owner)
    return windows_problem(path, what, writers, owner)


def windows_problem(path: Path, what: str, writers: list[str], owner: str | None) -> str | None:
    """The sentence for ``writers`` (from ``untrusted_writers``: the owner first when it is one)."""
    if not writers:
        return None
    owned = owner is not None and writers[0] == owner
    fixes = [f"{account_name(owner)} owns it (an owner may always change its permissions): make Administrators "
             f"its owner (Properties > Security > Advanced > Owner, or icacls \"{path}\" /setowner "
             f"*{ADMINISTRATORS})."] if owned else []
    if not owned or len(writers) > 1:
        fixes.append("In its Properties > Security, remove their write (Modify, Full control) permission, leaving "
                     "it to Administrators and SYSTEM.")
    return (f"{what.capitalize()} {str(path)!r} may be changed by {', '.join(account_name(sid) for sid in writers)}, "
            f"not only by administrators, so anyone of them could make the Integrator run their code. "
            + " ".join(fixes))


def _posix_problem(path: Path, what: str) -> str | None:
    info = os.stat(path)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{what.capitalize()} {str(path)!r} may be changed by other users (mode "
                f"{stat.filemode(info.st_mode)}), so they could make the Integrator run their code. Remove "
                f"their write permission: chmod go-w '{path}'.")
    if info.st_uid not in (0, os.getuid()):
        return (f"{what.capitalize()} {str(path)!r} belongs to another user (uid {info.st_uid}), who may change "
                f"it. Make root (or the Integrator's account) its owner: chown root '{path}'.")
    return None


# ---- Windows: reading a DACL (ctypes; runs on Windows only) --------------------------------------

def _windows_security(path: Path) -> tuple[str | None, list[Ace] | None]:
    """The owner's SID (None when the descriptor names none) and the DACL entries (None: a NULL DACL)."""
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    owner, dacl, descriptor = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    se_file_object, owner_information, dacl_information = 1, 0x1, 0x4
    code = advapi32.GetNamedSecurityInfoW(ctypes.c_wchar_p(str(path)), se_file_object,
                                          owner_information | dacl_information, ctypes.byref(owner), None,
                                          ctypes.byref(dacl), None, ctypes.byref(descriptor))
    if code:
        raise OSError(code, ctypes.FormatError(code))
    try:
        owner_sid = _sid_text(advapi32, owner.value) if owner.value else None
        if not dacl.value:
            return owner_sid, None
        count = ctypes.c_uint16.from_address(dacl.value + 4).value  # ACL: revision, sbz1, size, AceCount
        return owner_sid, [_ace_at(advapi32, dacl, index) for index in range(count)]
    finally:
        kernel32.LocalFree(descriptor)


def _ace_at(advapi32, dacl: ctypes.c_void_p, index: int) -> Ace:
    pointer = ctypes.c_void_p()
    if not advapi32.GetAce(dacl, index, ctypes.byref(pointer)):
        raise ctypes.WinError(ctypes.get_last_error())
    base = pointer.value
    kind, flags = ctypes.c_ubyte.from_address(base).value, ctypes.c_ubyte.from_address(base + 1).value
    mask = ctypes.c_uint32.from_address(base + 4).value
    sid_offset = 8
    if kind in (0x5, 0x6, 0x7, 0x8, 0xB, 0xC):  # object ACEs: Flags, then the GUIDs they say are present
        object_flags = ctypes.c_uint32.from_address(base + 8).value
        sid_offset = 12 + (16 if object_flags & 1 else 0) + (16 if object_flags & 2 else 0)
    return Ace(kind, flags, mask, _sid_text(advapi32, base + sid_offset))


def _sid_text(advapi32, sid_address: int) -> str:
    text = ctypes.c_wchar_p()
    if not advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid_address), ctypes.byref(text)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return text.value or ""
    finally:
        ctypes.WinDLL("kernel32").LocalFree(text)


def _windows_account_sid() -> str:
    """The SID of the account this process runs as (TokenUser of its token)."""
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetCurrentProcess.restype = ctypes.c_void_p
    token = ctypes.c_void_p()
    if not advapi32.OpenProcessToken(ctypes.c_void_p(kernel32.GetCurrentProcess()), 0x0008, ctypes.byref(token)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        size = ctypes.c_uint32()
        advapi32.GetTokenInformation(token, 1, None, 0, ctypes.byref(size))  # TokenUser; asks for the size
        buffer = ctypes.create_string_buffer(size.value)
        if not advapi32.GetTokenInformation(token, 1, buffer, size, ctypes.byref(size)):
            raise ctypes.WinError(ctypes.get_last_error())
        sid_address = ctypes.c_void_p.from_buffer(buffer).value  # TOKEN_USER.User.Sid
        return _sid_text(advapi32, sid_address)
    finally:
        kernel32.CloseHandle(token)


def sid_literal(account: str) -> str | None:
    """The SID an account is given as ("S-1-5-20", or icacls' "*S-1-5-20"); None for a name (DOMAIN\\user)."""
    text = account.strip().lstrip("*").strip()
    return text.upper() if text.upper().startswith("S-1-") else None


def _windows_sid_of(account: str) -> str:
    """The SID of ``account`` (DOMAIN\\user, user, or a SID), as Windows resolves it (LookupAccountNameW)."""
    literal = sid_literal(account)
    if literal:
        return literal
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    sid_size, domain_size, use = ctypes.c_uint32(0), ctypes.c_uint32(0), ctypes.c_uint32(0)
    advapi32.LookupAccountNameW(None, ctypes.c_wchar_p(account), None, ctypes.byref(sid_size), None,
                                ctypes.byref(domain_size), ctypes.byref(use))  # asks for the sizes
    sid = ctypes.create_string_buffer(max(sid_size.value, 1))
    domain = ctypes.create_unicode_buffer(domain_size.value + 1)
    if not sid_size.value or not advapi32.LookupAccountNameW(
            None, ctypes.c_wchar_p(account), sid, ctypes.byref(sid_size), domain, ctypes.byref(domain_size),
            ctypes.byref(use)):
        raise ctypes.WinError(ctypes.get_last_error())
    return _sid_text(advapi32, ctypes.addressof(sid))
