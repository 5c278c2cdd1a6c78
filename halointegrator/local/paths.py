"""Where the program's files live: the config beside the executable, logs in the "Start in" folder.

A onefile PyInstaller build unpacks itself into a temporary folder, so ``__file__`` is never a place
to keep anything: when frozen, the program's own folder is the folder of ``sys.executable``.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import uuid
from pathlib import Path, PureWindowsPath
from typing import Callable

from . import acl

CONFIG_NAME = "HaloIntegrator.config"
LOG_FOLDER_NAME = "logs"
LOG_DIR_MODE = 0o750  # logs hold names, e-mail addresses and what servers answered
PRIVATE_DIR_MODE = 0o700


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False))


def app_dir() -> Path:
    """The folder the user put the program in (frozen), or the repository root (from source)."""
    if is_frozen():
        return Path(os.path.dirname(os.path.abspath(sys.executable)))
    return Path(__file__).resolve().parents[2]


def default_config_path() -> Path:
    return app_dir() / CONFIG_NAME


def key_path_for(config_path: Path) -> Path:
    """HaloIntegrator.key beside HaloIntegrator.config."""
    return Path(config_path).with_suffix(".key")


def state_path_for(config_path: Path) -> Path:
    """HaloIntegrator.state beside HaloIntegrator.config."""
    return Path(config_path).with_suffix(".state")


def lock_path_for(config_path: Path) -> Path:
    """HaloIntegrator.lock beside HaloIntegrator.config."""
    return Path(config_path).with_suffix(".lock")


def windows_system_root() -> str | None:
    """%SystemRoot% (C:\\Windows) on Windows; None elsewhere."""
    if os.name != "nt":
        return None
    return os.environ.get("SystemRoot") or os.environ.get("windir") or None


def is_inside_system_root(folder: Path, system_root: str | None) -> bool:
    """True when ``folder`` is %SystemRoot% or below it (System32, SysWOW64), in any letter case."""
    if not system_root:
        return False
    folder_parts = [part.casefold() for part in PureWindowsPath(str(folder)).parts]
    root_parts = [part.casefold() for part in PureWindowsPath(system_root).parts]
    return len(folder_parts) >= len(root_parts) and folder_parts[: len(root_parts)] == root_parts


def prepare_writable_dir(folder: Path) -> str:
    """Create ``folder`` if needed and prove a file can be written in it; "" or the reason it failed.

    A real write is the only honest test (os.access says yes to root and ignores Windows ACLs).
    """
    probe = folder / f".write-test-{uuid.uuid4().hex}"
    try:
        if not folder.is_dir():
            folder.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
            acl.protect(folder, folder=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def choose_log_dir(
    cwd: Path | None = None,
    *,
    check_writable: Callable[[Path], str] = prepare_writable_dir,
    system_root: str | None = None,
) -> tuple[Path, str]:
    """The log folder and, when it is not ``<cwd>/logs``, a sentence saying why (for the log).

    The guide says logs are saved in the Scheduled Task's "Start in" folder. A task with an empty
    "Start in" runs in C:\\Windows\\System32, which is no place for logs, so the program's folder is
    used instead; and a temporary folder when even that cannot be written.
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    wanted = cwd / LOG_FOLDER_NAME
    fallback = app_dir() / LOG_FOLDER_NAME
    if is_inside_system_root(cwd, system_root or windows_system_root()):
        reason = (
            f"The working folder {cwd} is the Windows system folder (a Scheduled Task with an empty "
            f'"Start in"), so logs are written to {{dest}}; set the task\'s "Start in" to the '
            f"integrator's folder to keep them there."
        )
    else:
        problem = check_writable(wanted)
        if not problem:
            return wanted, ""
        reason = f"Logs cannot be written to {wanted} ({problem}), so they are written to {{dest}}."
    if fallback != wanted:
        if not check_writable(fallback):
            return fallback, reason.replace("{dest}", str(fallback))
        reason += f" ({fallback} cannot be written either.)"
    last_resort, refused = private_temp_log_dir(Path(tempfile.gettempdir()))
    return last_resort, reason.replace("{dest}", str(last_resort)) + refused


def private_temp_log_dir(temp: Path) -> tuple[Path, str]:
    """``<temp>/HaloIntegrator/logs``, made by us and private (0700); and "" or why it was not used.

    Anyone may create folders in a shared temporary folder: one made there by another user (or a link
    planted in its place) could steer the log lines into a file of the attacker's choosing, or let them
    be read. Such a folder is refused, and a fresh private one is made instead.
    """
    wanted = temp / "HaloIntegrator" / LOG_FOLDER_NAME
    try:
        temp.mkdir(parents=True, exist_ok=True)  # the system's temporary folder: there, unless removed
    except OSError:
        pass
    problem = claim_private_dir(wanted.parent) or claim_private_dir(wanted)
    if not problem:
        return wanted, ""
    try:
        fresh = Path(tempfile.mkdtemp(prefix="HaloIntegrator-logs-", dir=temp))
    except OSError as exc:
        from halointegrator.errors import ConfigError

        raise ConfigError(f"No folder for the log files can be written: not the working folder, not the program's "
                          f"folder, not {wanted} ({problem}), and no new one in {temp} ({exc.strerror or exc}). "
                          "Run the integrator from a folder its account may write.") from None
    return fresh, f" {wanted} was not used ({problem}), so a new private folder was made: {fresh}."


def claim_private_dir(folder: Path) -> str:
    """Create ``folder`` 0700, or accept it if it is a real folder of ours (made private); else why not."""
    try:
        os.mkdir(folder, PRIVATE_DIR_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        return exc.strerror or str(exc)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder but a link or a file another user may have put there"
    if os.name != "posix":
        return ""  # Windows: the temporary folder is the user's own
    if info.st_uid != os.geteuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
        os.chmod(folder, PRIVATE_DIR_MODE)
    return ""
