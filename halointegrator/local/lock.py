"""One run at a time: an OS file lock on ``HaloIntegrator.lock`` beside the config.

The lock is an operating-system lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), so it
dies with the process: a run that was killed leaves no lock to clean up, and the next run takes over.
The file also holds the holder's pid and start time, only to make the "busy" message useful.

Windows locks are mandatory (a locked byte cannot even be read by others), so the locked byte lies
past the text, which stays readable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from halointegrator.errors import ConfigError, LockBusy
from .fileio import write_all

INFO_SIZE = 512  # the text is padded to this size, so it never has to be truncated
LOCKED_BYTE = 4096

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:  # EACCES on Windows, errno 0 under wine: on our own fresh fd it means "held"
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def read_info(fd: int) -> dict[str, Any] | None:
    """The holder's {"pid", "started", ...} from the lock file, or None if there is none or it is garbled."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, INFO_SIZE).decode("utf-8").strip() or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def write_info(fd: int, info: dict[str, Any]) -> None:
    text = json.dumps(info).encode("utf-8")[: INFO_SIZE - 1]
    os.lseek(fd, 0, os.SEEK_SET)
    write_all(fd, text.ljust(INFO_SIZE - 1) + b"\n")


def busy_message(path: Path, info: dict[str, Any] | None) -> str:
    who = f"pid {info.get('pid', '?')}, started at {info.get('started', '?')}" if info else "pid unknown"
    return (
        f"Another Halo Integrator run is in progress ({who}). Wait for it to finish, or end it in Task Manager "
        f"if it hangs, then try again. (Lock file: {path})"
    )


class RunLock:
    """``with RunLock(path):`` holds the run lock or raises LockBusy at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.previous: dict[str, Any] | None = None  # set when a killed run's lock was taken over
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            raise RuntimeError("this RunLock is already held")
        fd = self._open()
        try:
            if not _try_lock(fd):
                raise LockBusy(busy_message(self.path, read_info(fd)))
            previous = read_info(fd)
            self.previous = previous if previous and not previous.get("released") else None
            write_info(fd, {"pid": os.getpid(), "started": _now()})
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
        try:
            return os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"Cannot open the run lock file {self.path}: {exc.strerror or exc}. Run the integrator as a user "
                f"who may write in {self.path.parent}."
            ) from None

    def takeover_note(self) -> str:
        """A sentence for the log when the previous run ended without releasing the lock; else ""."""
        if not self.previous:
            return ""
        return (
            f"The previous run (pid {self.previous.get('pid', '?')}, started at {self.previous.get('started', '?')}) "
            f"ended without finishing (killed or crashed); its lock was taken over."
        )

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):
                write_info(fd, {**(read_info(fd) or {}), "released": _now()})
                _unlock(fd)
        finally:
            os.close(fd)  # closing releases the lock in any case

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
