"""Writing a file so that a crash or an error never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Callable


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def temp_path_for(path: Path) -> Path:
    """A fresh hidden name in the same folder (os.replace is atomic only within one file system)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, verify: Callable[[Path], None] | None = None) -> None:
    """Write ``data`` to a temp file (created with ``mode``), let ``verify`` check it, then replace ``path``.

    Any exception before the replace removes the temp file and leaves ``path`` exactly as it was.
    """
    path = Path(path)
    temp = temp_path_for(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if verify is not None:
            verify(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); Windows cannot open a folder this way and does not need it."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
