"""Windows: who may open the config, key, state and log files. Elsewhere file modes (0600) do this.

On Windows a new file inherits its folder's ACL, and a program folder usually lets every local user read.
The key file is protected by DPAPI in machine scope (a Scheduled Task under another account must read it),
so any account that can read the key file and the config can decrypt the secrets: the ACL is what keeps
them out. Each file is given a protected ACL (no inheritance) granting full control to SYSTEM,
Administrators, the account running the Integrator and, when set, the account the scheduled task runs as
(the ``task_account`` setting). It is applied to a file's temporary copy before that copy replaces the
real file, so no moment exists in which the new file is open to others.

``icacls`` does the work (it ships with every Windows since Vista), run by its full System32 path
(``system_tool``). SYSTEM and Administrators are named
by their well-known SIDs: the group's name is translated on non-English Windows.
"""

from __future__ import annotations

import logging
import ntpath  # the Windows meaning, whichever system builds the command line (tests)
import os
import subprocess
from pathlib import Path
from typing import Callable, Mapping

log = logging.getLogger("halointegrator.local.acl")

SYSTEM = "*S-1-5-18"
ADMINISTRATORS = "*S-1-5-32-544"
CREATE_NO_WINDOW = 0x08000000  # a windowed exe must not flash a console for icacls
TIMEOUT = 30

_task_accounts: list[str] = []  # from the configuration (task_account), set when it is loaded or saved


def set_task_account(account: str | None) -> None:
    """Also grant ``account`` (DOMAIN\\user) access to the files written from now on."""
    _task_accounts[:] = [account.strip()] if account and account.strip() else []


def task_account() -> str:
    """The scheduled task's account as configured (DOMAIN\\user), "" when none is set."""
    return _task_accounts[0] if _task_accounts else ""


def current_account(environ: Mapping[str, str] = os.environ) -> str:
    """DOMAIN\\user of the account this process runs as ("" when Windows does not say)."""
    user, domain = environ.get("USERNAME", ""), environ.get("USERDOMAIN", "")
    return f"{domain}\\{user}" if domain and user else user


def accounts(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The accounts granted access: SYSTEM, Administrators, this account, the task's account."""
    wanted = [SYSTEM, ADMINISTRATORS, current_account(environ), *_task_accounts]
    seen: list[str] = []
    for account in wanted:
        if account and account.casefold() not in (known.casefold() for known in seen):
            seen.append(account)
    return seen


def system_tool(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """A Windows tool by its full System32 path: a bare name is looked up in the program's own folder and
    the current (Start-in) folder first, where another local user may have put a program of that name."""
    return ntpath.join(environ.get("SystemRoot") or r"C:\Windows", "System32", name)


def icacls_command(path: Path, *, folder: bool, granted: list[str]) -> list[str]:
    """The icacls command line that leaves exactly ``granted`` with full control over ``path``."""
    rights = "(OI)(CI)F" if folder else "F"  # a folder's grants are inherited by the files made in it
    grants = (f"{account}:{rights}" for account in granted)
    return [system_tool("icacls.exe"), str(path), "/inheritance:r", "/grant:r", *grants, "/Q"]


def protect(path: Path, *, folder: bool = False, system: str = os.name,
            run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
            environ: Mapping[str, str] = os.environ) -> str:
    """Set the ACL on ``path`` (Windows only); "" when done or not needed, else the warning that was logged."""
    if system != "nt":
        return ""
    command = icacls_command(Path(path), folder=folder, granted=accounts(environ))
    try:
        # stdin too: a windowed exe has no console handles to inherit
        result = run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                     creationflags=CREATE_NO_WINDOW)
        failed = result.returncode != 0
        detail = _text(result.stderr) or _text(result.stdout) or f"exit code {result.returncode}"
    except (OSError, subprocess.SubprocessError) as error:
        failed, detail = True, str(error)
    if not failed:
        return ""
    warning = (f"Could not restrict who may read {path} ({detail.strip()[:200]}); other local accounts may be able "
               "to read it. Check its permissions (Properties > Security): only SYSTEM, Administrators and the "
               "accounts that run the Integrator need access.")
    log.warning(warning)
    return warning


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""
