"""Writing a file so that a crash or an error never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Callable

from . import acl


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def temp_path_for(path: Path) -> Path:
    """A fresh hidden name in the same folder (os.replace is atomic only within one file system)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, verify: Callable[[Path], None] | None = None) -> None:
    """Write ``data`` to a temp file (created with ``mode``; on Windows given a private ACL), let ``verify``
    check it, then replace ``path``.

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
        acl.protect(temp)
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


MAX_READ_BYTES = 64 << 20  # a config, key or state file is kilobytes; a state file of many delta links, less than this


class NotARegularFile(OSError):
    """The path names a FIFO, a device or a folder: reading it could block for ever, or never end."""


def read_regular(path: Path, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); NotARegularFile or OSError otherwise.

    Opened without blocking (a FIFO would wait for a writer), checked to be a regular file, then read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(errno.EINVAL, "it is not a regular file (a FIFO or a device)")
        if info.st_size > limit:
            raise NotARegularFile(errno.EFBIG, f"it is {info.st_size >> 20} MB, far larger than such a file can be")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
