"""Bounds on what a directory server can make the LDAP reader do: time and bytes per operation.

ldap3's timeouts bound each socket read, so a server sending a byte every few seconds would keep a bind or
a search page going for ever; and ldap3 gathers a whole page in memory before it returns it, so a server
that ignores the page size could send gigabytes. ``BoundedSocket`` stands in for the connection's socket
once it is open (TLS included): each operation (``start``) may take ``seconds`` and ``max_bytes``, never
past the run's deadline. While the connection is being opened (TCP, the TLS handshake, StartTLS), an
``OpeningWatch`` shuts the socket down when the time is up.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from halointegrator.deadline import Deadline

OPERATION_SECONDS = 300.0  # one bind, or one page of a search (a page of 1,000 people takes seconds)
OPERATION_BYTES = 64 << 20  # one page of 1,000 people with their attributes is a few MB


class BoundedSocket:
    """A connection's socket as ldap3 uses it (``recv``; the rest passes through), bounded per operation."""

    def __init__(self, sock: Any, deadline: Deadline, per_read: float) -> None:
        self._sock = sock
        self.deadline = deadline
        self.per_read = per_read
        self.failure = ""  # why the last operation was cut short, for the error message
        self.deadline_hit = False  # the run's deadline, not the operation's limit, cut it short
        self.start()

    def start(self, seconds: float = OPERATION_SECONDS, max_bytes: int = OPERATION_BYTES) -> None:
        self._ends = time.monotonic() + seconds
        self._seconds, self._max_bytes, self._read = seconds, max_bytes, 0
        self.failure = ""

    def recv(self, size: int, *flags: Any) -> bytes:
        operation_left, run_left = self._ends - time.monotonic(), self.deadline.remaining()
        left = min(operation_left, run_left)
        if left <= 0:
            raise socket.timeout(self._cut_short(run_left <= operation_left))
        self._sock.settimeout(min(self.per_read, left))
        try:
            data = self._sock.recv(size, *flags)
        except socket.timeout:
            if left <= self.per_read:  # the whole operation's time ran out, not one read's
                self._cut_short(run_left <= operation_left)
            raise
        self._read += len(data)
        if self._read > self._max_bytes:
            self.failure = f"the server sent more than {self._max_bytes >> 20} MB for one page"
            raise OSError(self.failure)
        return data

    def _cut_short(self, by_deadline: bool) -> str:
        self.deadline_hit = by_deadline
        self.failure = ("the run's time limit was reached" if by_deadline
                        else f"the server did not finish answering within {self._seconds:g} s")
        return self.failure

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class OpeningWatch:
    """``with OpeningWatch(conn, seconds):`` shuts the connection's socket down after ``seconds``."""

    def __init__(self, conn: Any, seconds: float) -> None:
        self.conn, self.fired = conn, False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "OpeningWatch":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "socket", None)
        if isinstance(sock, socket.socket):
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


def install(conn: Any, deadline: Deadline, per_read: float) -> None:
    """Put a BoundedSocket in place of ``conn``'s open socket (kept on ``conn`` after ldap3 drops the socket)."""
    conn.socket = conn.halointegrator_bounds = BoundedSocket(conn.socket, deadline, per_read)


def bounded(conn: Any) -> BoundedSocket | None:
    sock = getattr(conn, "halointegrator_bounds", None)
    return sock if isinstance(sock, BoundedSocket) else None


def start_operation(conn: Any) -> None:
    """A new operation on ``conn`` begins: a fresh time and byte allowance."""
    sock = bounded(conn)
    if sock is not None:
        sock.start()


def failure_of(conn: Any) -> str:
    """Why the last operation on ``conn`` was cut short ("" if it was not cut by a bound)."""
    sock = bounded(conn)
    return sock.failure if sock is not None else ""
