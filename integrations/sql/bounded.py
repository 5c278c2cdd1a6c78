"""Driver calls bounded in time: a database server cannot hold a run past its time limit.

ODBC's own timeouts are promises the server (and the driver) keep or not: psqlODBC's connect waits
for ever on a server that takes the login and then never answers its first query, and PostgreSQL's
statement_timeout bounds one FETCH, not the read. So every blocking driver call (connect, execute,
fetchmany) runs in one worker thread of the read, and the run's thread waits for it at most the
call's own timeout and at most what is left of the run's deadline. When the wait ends first, the
watchdog asks the driver to stop (``cursor.cancel()``, SQLCancel), and if the call still has not come
back after ``CANCEL_GRACE`` seconds the worker is abandoned: a daemon thread blocked on a socket, which
closes its connection if the call ever returns, and which the process's exit ends. The run then stops
with the run-time-limit message (or the timeout's), having imported nothing.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from halointegrator import deadline as run_deadline
from halointegrator.errors import SourceError

CANCEL_GRACE = 5.0  # seconds a cancelled call may take to come back before its worker is abandoned
_DONE = object()


class CallTimedOut(Exception):
    """A driver call did not come back within its own timeout (not the run's deadline)."""


class Worker:
    """One daemon thread that runs the read's driver calls one after another."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        self.abandoned = False
        self.on_abandon: Callable[[], None] = lambda: None

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is _DONE:
                return
            call, answer = item
            try:
                answer.put((True, call()))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread as it is
                answer.put((False, error))
            if self.abandoned:  # nobody waits any more: let go of the connection the call used
                self.on_abandon()
                return

    def run(self, call: Callable[[], Any], seconds: float, doing: str, cancel: Callable[[], None] | None = None,
            deadline: Any = None) -> Any:
        """``call()`` in the worker, waited for at most ``seconds`` and the run's deadline.

        Raises the deadline's RunTimedOut (naming ``doing``) or CallTimedOut when the wait ends first;
        then the call is cancelled and, if it does not come back, abandoned with its worker.
        """
        if self.abandoned:
            raise SourceError("The database read was abandoned after a timeout.")
        deadline = deadline or run_deadline.current()
        deadline.check(doing)
        answer: queue.Queue = queue.Queue(maxsize=1)
        self._calls.put((call, answer))
        limit = deadline.limit(seconds)
        try:
            ok, value = answer.get(timeout=limit)
        except queue.Empty:
            self._stop(answer, cancel)
            if deadline.expired():
                raise deadline.error(doing) from None
            raise CallTimedOut(doing) from None
        if not ok:
            raise value
        return value

    def _stop(self, answer: queue.Queue, cancel: Callable[[], None] | None) -> None:
        if cancel is not None:
            try:
                cancel()
            except Exception:  # noqa: BLE001 - a driver that cannot cancel is abandoned below
                pass
            try:
                answer.get(timeout=CANCEL_GRACE)
                return  # the call came back (cancelled): the worker may still close the connection
            except queue.Empty:
                pass
        self.abandoned = True

    def finish(self, close: Callable[[], None]) -> None:
        """Close the connection in the worker (never beside a call still running there); then end it."""
        if self.abandoned:
            self.on_abandon = close  # done by the worker if its call ever returns
            return
        self._calls.put((close, queue.Queue(maxsize=1)))
        self._calls.put(_DONE)
