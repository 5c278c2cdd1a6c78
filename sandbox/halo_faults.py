"""Faults a test switches on in the Halo sandbox: errors, slowness, proxy pages, broken bodies, resets.

Every method is thread-safe. Queued faults ("next n requests") apply in the order they were added; a
request takes at most one slow fault and one outcome fault (fail / html / truncate / reset) whose
path_prefix matches (case-insensitive prefix of the request path, e.g. "/api/Users"; None = any request,
token requests included). fail_ratio draws from its own seeded RNG only for requests no queued outcome
fault took, so a run is reproducible for a given request sequence.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

OUTCOME_KINDS = ("fail", "html", "truncate", "reset")

PROXY_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in - Corporate Web Proxy</title></head><body>"
    "<h1>Authentication required</h1><form method=\"post\" action=\"/proxy/login\">"
    "<input name=\"username\"><input name=\"password\" type=\"password\"><button>Sign in</button>"
    "</form></body></html>"
)


@dataclass
class Fault:
    """One fault as a request takes it."""

    kind: str                        # "fail" | "html" | "truncate" | "reset" | "slow"
    status: int = 200
    retry_after: float | None = None
    seconds: float = 0.0


@dataclass
class _Queued:
    fault: Fault
    remaining: int
    path_prefix: str | None = None

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path_prefix is None or path.lower().startswith(self.path_prefix))


@dataclass
class _Ratio:
    ratio: float
    status: int
    rng: random.Random
    path_prefix: str | None = None
    hits: int = field(default=0)


class HaloFaults:
    """The switchboard; HaloSandbox.faults is one of these."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._ratio: _Ratio | None = None
        self._reject: Callable[[dict[str, Any]], bool] | None = None

    def fail_next(self, n: int = 1, status: int = 500, path_prefix: str | None = None,
                  retry_after: float | None = None) -> None:
        """The next n matching requests answer `status` (429 with Halo's rate-limit text, 5xx with an
        error body); retry_after adds a Retry-After header (seconds)."""
        self._add(Fault("fail", status=status, retry_after=retry_after), n, path_prefix)

    def fail_ratio(self, ratio: float, status: int = 500, seed: int = 0, path_prefix: str | None = None) -> None:
        """From now on a fraction `ratio` of matching requests answer `status` (deterministic RNG);
        ratio 0 turns it off."""
        with self._lock:
            self._ratio = _Ratio(ratio, status, random.Random(seed), _prefix(path_prefix)) if ratio > 0 else None

    def slow_next(self, n: int, seconds: float, path_prefix: str | None = None) -> None:
        """The next n matching requests sleep `seconds` in the handler thread before being handled."""
        self._add(Fault("slow", seconds=seconds), n, path_prefix)

    def html_next(self, n: int = 1, path_prefix: str | None = None) -> None:
        """The next n matching requests answer 200 text/html: a web proxy's login page."""
        self._add(Fault("html"), n, path_prefix)

    def truncate_next(self, n: int = 1, path_prefix: str | None = None) -> None:
        """The next n matching requests are handled (writes are applied!) but answer 200 with the JSON
        body cut in half."""
        self._add(Fault("truncate"), n, path_prefix)

    def reset_next(self, n: int = 1, path_prefix: str | None = None) -> None:
        """The next n matching requests are read and then the connection is closed without an answer
        (nothing is applied)."""
        self._add(Fault("reset"), n, path_prefix)

    def reject_records(self, predicate: Callable[[dict[str, Any]], bool] | None) -> None:
        """POSTed records for which predicate(record) is true make their whole batch 400 (nothing
        applied), with a message naming the record. None turns it off."""
        with self._lock:
            self._reject = predicate

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._queue.clear()
            self._ratio = None
            self._reject = None

    def pending(self) -> int:
        """How many queued fault uses are left (ratio faults not included)."""
        with self._lock:
            return sum(queued.remaining for queued in self._queue)

    # ---- used by the server ----------------------------------------------------------------------
    @property
    def reject_predicate(self) -> Callable[[dict[str, Any]], bool] | None:
        with self._lock:
            return self._reject

    def take(self, path: str) -> tuple[Fault | None, Fault | None]:
        """(slow fault, outcome fault) this request must suffer, consuming them."""
        with self._lock:
            slow = self._take_kind(path, ("slow",))
            outcome = self._take_kind(path, OUTCOME_KINDS)
            ratio = self._ratio
            if outcome is None and ratio is not None and (ratio.path_prefix is None
                                                          or path.lower().startswith(ratio.path_prefix)):
                if ratio.rng.random() < ratio.ratio:
                    ratio.hits += 1
                    outcome = Fault("fail", status=ratio.status)
            return slow, outcome

    def _take_kind(self, path: str, kinds: tuple[str, ...]) -> Fault | None:
        for queued in self._queue:
            if queued.fault.kind in kinds and queued.matches(path):
                queued.remaining -= 1
                fault = queued.fault
                self._queue = [q for q in self._queue if q.remaining > 0]
                return fault
        return None

    def _add(self, fault: Fault, n: int, path_prefix: str | None) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._queue.append(_Queued(fault, n, _prefix(path_prefix)))


def _prefix(path_prefix: str | None) -> str | None:
    return None if path_prefix is None else path_prefix.lower()
