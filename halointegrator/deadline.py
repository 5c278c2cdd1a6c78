"""The whole-run deadline: after ``run_time_limit_minutes`` a run stops, whatever a server is doing.

A hung or dripping server must not keep a run alive for hours: while it runs it holds the run lock, and
every scheduled run after it exits 3 ("another run in progress"). ``app.services`` makes one ``Deadline``
per run and hands it to the Halo client; the Graph client and the LDAP reader take it too (explicitly,
or the run's ``current()`` one, which ``active()`` sets for the thread doing the run). Every request is
bounded by what is left of it; once it has passed, reads and writes raise ``RunTimedOut``.

After the deadline only one thing is still sent: the connection's status (Last Sync / Last Error) write-
back, within a short ``grace`` period, so the user learns in Halo why the run stopped.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from typing import Callable, Iterator

from halointegrator.errors import IntegratorError

GRACE_SECONDS = 30.0
SETTING = "run_time_limit_minutes"

_current: contextvars.ContextVar["Deadline | None"] = contextvars.ContextVar("halointegrator_deadline", default=None)


class RunTimedOut(IntegratorError):
    """The run reached its time limit; what it was doing was stopped, nothing more was written."""


class Deadline:
    """``seconds`` from now (None: no limit), on ``clock``."""

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic,
                 grace: float = GRACE_SECONDS, minutes_label: float | None = None) -> None:
        self.clock = clock
        self.seconds = seconds
        self.expires = math.inf if seconds is None else clock() + max(0.0, float(seconds))
        self.grace = grace
        self.minutes = minutes_label if minutes_label is not None else (seconds or 0) / 60

    @classmethod
    def minutes(cls, minutes: float, **kwargs) -> "Deadline":
        return cls(float(minutes) * 60, minutes_label=float(minutes), **kwargs)

    def remaining(self) -> float:
        return self.expires - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def limit(self, seconds: float) -> float:
        """``seconds``, or less when the deadline comes sooner."""
        return max(0.0, min(float(seconds), self.remaining()))

    def check(self, doing: str) -> None:
        """RunTimedOut when the deadline has passed."""
        if self.expired():
            raise self.error(doing)

    def error(self, doing: str) -> RunTimedOut:
        return RunTimedOut(
            f"The run reached its time limit of {self.minutes:g} minutes while {doing}, and was stopped: nothing "
            f"more was read or written, and the next run starts afresh. If runs really take this long (a first "
            f"sync of a very large directory), raise the limit: CONFIGURE --set {SETTING}=MINUTES."
        )

    def for_reporting(self) -> "Deadline":
        """The deadline of the status write-back: the grace period after this one (or this one, if later)."""
        if not self.expired():
            return self
        reporting = Deadline(None, clock=self.clock, grace=0.0, minutes_label=self.minutes)
        reporting.expires = self.expires + self.grace
        return reporting

    @contextlib.contextmanager
    def active(self) -> Iterator["Deadline"]:
        """While it lasts, ``current()`` is this deadline (in this thread)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


NO_DEADLINE = Deadline(None)


def current() -> Deadline:
    """The deadline of the run this thread is doing; one that never comes outside a run."""
    return _current.get() or NO_DEADLINE
