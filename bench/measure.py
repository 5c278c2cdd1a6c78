"""Measuring one run: a child process's wall time, CPU time and peak RSS, Halo requests, hosted-budget time.

The child is waited for with ``os.wait4``, which returns the CPU time of that child alone (and of any
children it waited for, e.g. the Python that the PyInstaller bootloader starts): the CPU of the sandbox
servers, which run as threads of the benchmark process (or as slapd, another child never waited for
here), is never counted.

Peak memory is NOT wait4's ``ru_maxrss``: Linux records the high-water mark of the address space a
child had before exec, which is a copy of (or, with vfork, the very) benchmark process, so every child
would report at least the benchmark's own RSS (which grows with the sandboxes' data). Instead the
child's process tree is polled every 20 ms for ``VmHWM`` in /proc/<pid>/status, the high-water mark of
its own post-exec memory, which a poll cannot miss except for growth in its last 20 ms.
"""

from __future__ import annotations

import collections
import math
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

POLL_SECONDS = 0.02
HOSTED_LIMIT = 300  # hosted Halo: requests per rolling window ...
HOSTED_WINDOW = 300.0  # ... of 5 minutes
CONNECTION_PATHS = ("/api/ldapconnection", "/api/azureadconnection", "/api/control", "/api/sqlimport",
                    "/api/powershellscript")
RECORD_PATHS = ("/api/users/", "/api/asset/", "/api/site/")
ERROR_PATHS = ("/api/integrationerror",)


@dataclass
class ProcessCost:
    """What one child process cost."""

    exit_code: int
    started: float  # time.monotonic() just before the child was started
    wall: float  # seconds from start to exit
    user: float  # CPU seconds in user mode (the child and the children it waited for)
    system: float  # CPU seconds in the kernel
    peak_rss_mb: float  # sum over the child's process tree of each process's peak resident set
    timed_out: bool = False

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_measured(command: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> ProcessCost:
    """Run ``command`` in ``cwd``; stdout and stderr go to files there (never a pipe that could fill)."""
    cwd = Path(cwd)
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        started = time.monotonic()
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
    result: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: result.update(zip(("pid", "status", "usage"), os.wait4(process.pid, 0))),
                              daemon=True)
    waiter.start()
    peaks = poll_peak_rss(process.pid, waiter, started + timeout)
    timed_out = waiter.is_alive()
    if timed_out:
        process.kill()
        waiter.join(30)
    wall = time.monotonic() - started
    usage = result["usage"]
    process.returncode = os.waitstatus_to_exitcode(result["status"])  # Popen must not wait for it again
    return ProcessCost(process.returncode, started, wall, usage.ru_utime, usage.ru_stime,
                       sum(peaks.values()) / 1024.0, timed_out)


def poll_peak_rss(pid: int, waiter: threading.Thread, deadline: float) -> dict[int, int]:
    """{pid: VmHWM in KiB} for ``pid`` and its descendants, polled until ``waiter`` ends or the deadline."""
    peaks: dict[int, int] = {}
    while waiter.is_alive() and time.monotonic() < deadline:
        for member in process_tree(pid):
            peak = vm_hwm_kib(member)
            if peak:
                peaks[member] = max(peaks.get(member, 0), peak)
        waiter.join(POLL_SECONDS)
    return peaks


def process_tree(pid: int) -> list[int]:
    tree, index = [pid], 0
    while index < len(tree):
        for tasks in Path(f"/proc/{tree[index]}/task").glob("*/children"):
            try:
                tree += [int(child) for child in tasks.read_text().split()]
            except (OSError, ValueError):
                pass
        index += 1
    return tree


def vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class HaloRequests:
    """Halo requests of one run, by kind; writes split by what they write."""

    read: int = 0
    write: int = 0
    token: int = 0
    other: int = 0  # /api/AuthInfo discovery
    data_writes: int = 0  # POSTs of users, assets, sites, clients
    writeback_writes: int = 0  # Last Sync / Last Error on the connection record
    error_writes: int = 0  # copies of refused records in Halo's integration errors
    records_written: int = 0
    reads_by_id: int = 0  # GET /Users/{id}, /Asset/{id}: whole records (none in steady state)
    rate_limited: int = 0
    times: list[float] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.read + self.write + self.token + self.other

    def as_dict(self) -> dict[str, int]:
        names = ("read", "write", "token", "other", "data_writes", "writeback_writes", "error_writes",
                 "records_written", "reads_by_id", "rate_limited")
        return {name: getattr(self, name) for name in names} | {"total": self.total}


def count_requests(entries: Iterable[dict[str, Any]]) -> HaloRequests:
    counted = HaloRequests()
    for entry in entries:
        kind = entry.get("kind", "other")
        bucket = kind if kind in ("read", "write", "token") else "other"
        setattr(counted, bucket, getattr(counted, bucket) + 1)
        if kind == "write":
            path = str(entry.get("path", "")).lower()
            if path.startswith(CONNECTION_PATHS):
                counted.writeback_writes += 1
            elif path.startswith(ERROR_PATHS):
                counted.error_writes += 1
            else:
                counted.data_writes += 1
            counted.records_written += int(entry.get("records") or 0)
        counted.rate_limited += bool(entry.get("rate_limited"))
        path = str(entry.get("path", "")).lower()
        if kind == "read" and path.startswith(RECORD_PATHS) and path.rsplit("/", 1)[-1].isdigit():
            counted.reads_by_id += 1
        if "time" in entry:  # the sandbox clock when the request arrived (time.monotonic here)
            counted.times.append(float(entry["time"]))
    counted.times.sort()
    return counted


def hosted_budget_time(times: Sequence[float], started: float, wall: float,
                       limit: int = HOSTED_LIMIT, window: float = HOSTED_WINDOW) -> float:
    """How long the run would take if Halo admitted at most ``limit`` requests per rolling ``window``.

    A replay of the request timestamps: a request that would be the (limit+1)th in the window waits
    until the oldest one leaves it (what the Integrator's client-side budget does), and that wait
    delays every later request by the same amount; the client's own work between requests is kept.
    """
    sent: collections.deque[float] = collections.deque()
    delay = 0.0
    for moment in sorted(times):
        at = moment + delay
        while sent and sent[0] <= at - window:
            sent.popleft()
        if len(sent) >= limit:
            free_at = sent[0] + window
            delay += free_at - at
            at = free_at
            while sent and sent[0] <= at - window:
                sent.popleft()
        sent.append(at)
    return wall + delay


def simple_budget_time(requests: int, wall: float, limit: int = HOSTED_LIMIT, window: float = HOSTED_WINDOW) -> float:
    """The coarse estimate max(wall, (requests - limit) / limit * window), kept for comparison."""
    return max(wall, (requests - limit) / limit * window)


def first_request_after(times: Sequence[float], started: float) -> float | None:
    """Seconds from the process start to its first Halo request (None when it made none)."""
    return (min(times) - started) if times else None


# The Graph emulator's counters (sandbox/graph_server.py), by what each request reads.
GRAPH_KINDS = {"token": "token", "users": "user list pages", "delta": "delta pages", "user": "users read by id",
               "groups": "group look-ups", "members": "member pages", "devices": "device list pages",
               "device": "devices read by id"}


def graph_requests(counts: dict[str, int]) -> dict[str, int]:
    """The Graph requests of one Entra run: the total and each kind the emulator counts."""
    kinds = {name: int(counts.get(name, 0)) for name in GRAPH_KINDS}
    kinds["other"] = sum(int(number) for name, number in counts.items() if name not in GRAPH_KINDS)
    return {"total": sum(kinds.values()), **kinds}


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / max(1, b))
