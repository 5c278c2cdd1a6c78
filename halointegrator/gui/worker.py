"""One worker thread for all network work; results come back to the Tk thread through a queue.

The worker never touches Tk. It puts callables on ``_results``; the Tk thread drains that queue every
``poll_ms`` with ``after()`` and runs them there. Anything may ``post()`` (the log handler and progress
callbacks do, from the worker), and jobs run one after another in the order they were submitted.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

POLL_MS = 50
_STOP = object()


@dataclass
class Job:
    name: str
    work: Callable[[], Any]
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None


class Worker:
    """Runs submitted jobs on one daemon thread; their callbacks run on the Tk thread."""

    def __init__(
        self,
        root: Any,
        *,
        on_error: Callable[[BaseException], None],
        on_busy: Callable[[str], None] = lambda name: None,
        poll_ms: int = POLL_MS,
    ) -> None:
        self._root = root
        self._on_error = on_error  # the window's plain-message / internal-error reporter
        self._on_busy = on_busy  # told the current job's name, or "" when idle
        self._poll_ms = poll_ms
        self._jobs: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._pending: list[str] = []  # names of submitted, unfinished jobs (Tk thread only)
        self._thread = threading.Thread(target=self._loop, name="halo-worker", daemon=True)
        self._thread.start()
        self._after_id = root.after(poll_ms, self._poll)

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def current(self) -> str:
        return self._pending[0] if self._pending else ""

    def submit(
        self,
        name: str,
        work: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``work`` for the worker; ``on_done(result)`` or ``on_error(exc)`` then runs on the Tk thread."""
        self._pending.append(name)
        self._on_busy(self.current)
        self._jobs.put(Job(name, work, on_done, on_error))

    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the Tk thread at the next poll. Safe from any thread."""
        self._results.put((callback, args))

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                result = job.work()
            except BaseException as error:  # noqa: BLE001 - every failure goes back to the window
                self.post(self._finish, job, None, error)
            else:
                self.post(self._finish, job, result, None)

    def _finish(self, job: Job, result: Any, error: BaseException | None) -> None:
        self._pending.remove(job.name)
        self._on_busy(self.current)
        if error is None:
            if job.on_done:
                job.on_done(result)
        elif job.on_error:
            job.on_error(error)
        else:
            self._on_error(error)

    def drain(self) -> None:
        """Run every callback waiting in the queue (Tk thread)."""
        while True:
            try:
                callback, args = self._results.get_nowait()
            except queue.Empty:
                return
            try:
                callback(*args)
            except Exception as error:  # noqa: BLE001 - one failing callback must not stop the others
                self._on_error(error)

    def _poll(self) -> None:
        self.drain()
        self._after_id = self._root.after(self._poll_ms, self._poll)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop polling and end the thread after the current job; True when it ended in time."""
        try:
            self._root.after_cancel(self._after_id)
        except Exception:  # noqa: BLE001 - the root may already be gone
            pass
        self._jobs.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class QueueLogHandler(logging.Handler):
    """Sends formatted log records to the Tk thread through the worker's queue (never touches Tk)."""

    def __init__(self, worker: Worker, show: Callable[[str, int], None]) -> None:
        super().__init__(logging.INFO)
        self._worker = worker
        self._show = show
        self.setFormatter(LineFormatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        self._worker.post(self._show, text, record.levelno)


class LineFormatter(logging.Formatter):
    """One line per record: the window shows messages; tracebacks stay in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        return self.formatMessage(record)
