"""A client-side request budget: at most N requests per rolling window, waiting for a free slot.

Hosted Halo answers 429 past about 300 requests per rolling 5 minutes; staying under the limit costs
a wait instead of a failed request and a backoff.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from typing import Any, Callable

import requests

log = logging.getLogger(__name__)


class RequestBudget:
    """At most ``limit`` requests per rolling ``window`` seconds; ``acquire`` waits for a free slot."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float], sleep: Callable[[float], None],
                 name: str = "Halo's request budget"):
        self.name = name
        self.limit = int(limit or 0)
        self.window = float(window or 0)
        self.clock = clock
        self.sleep = sleep
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.limit <= 0 or self.window <= 0:
            return
        with self.lock:
            now = self.clock()
            self._forget_before(now - self.window)
            while len(self.sent) >= self.limit:
                wait = max(0.01, self.sent[0] + self.window - now)
                log.info("Waiting %ds for %s (%d requests per %ds)", math.ceil(wait), self.name, self.limit, self.window)
                self.sleep(wait)
                now = self.clock()
                self._forget_before(now - self.window)
            self.sent.append(now)

    def _forget_before(self, cutoff: float) -> None:
        while self.sent and self.sent[0] <= cutoff:
            self.sent.popleft()


class BudgetedSession:
    """Counts every attempt, retries included, against the budget."""

    def __init__(self, session: requests.Session, budget: RequestBudget):
        self.session = session
        self.budget = budget

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.budget.acquire()
        return self.session.request(method, url, **kwargs)
