"""HTTP layer of the Halo sandbox: a threaded server, the rolling-window rate limit, faults, request log.

Order per request: read it -> slow fault -> outcome fault (fail / html / reset; truncate after
handling) -> rate limit -> HaloApi.handle -> log. Requests refused with 429 by the rate limit do not
take a slot (so Retry-After is exact: the time until the oldest counted request leaves the window).
"""
from __future__ import annotations

import math
import socket
import struct
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, urlsplit

from sandbox.halo_api import Reply, halo_error
from sandbox.halo_faults import PROXY_LOGIN_PAGE, Fault

if TYPE_CHECKING:
    from sandbox.halo_server import HaloSandbox


class RollingWindowLimiter:
    """At most `limit` admitted requests in any `window` seconds of the injected clock."""

    def __init__(self, limit: int | None, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when admitted, else the seconds until a slot frees."""
        if self.limit is None:
            return None
        with self._lock:
            now = self.clock()
            while self._admitted and self._admitted[0] <= now - self.window:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                return max(0.0, self._admitted[0] + self.window - now)
            self._admitted.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()

    def message(self) -> str:
        minutes = f"{self.window / 60:g}"
        return f"Rate Limit Reached - {self.limit} Requests per rolling {minutes} minute window"


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def request_kind(method: str, path: str) -> str:
    lowered = path.lower().rstrip("/")
    if lowered == "/auth/token":
        return "token"
    if lowered.startswith("/api/") and lowered != "/api/authinfo":
        return {"GET": "read", "POST": "write"}.get(method, "other")
    return "other"


def fault_reply(fault: Fault, limiter: RollingWindowLimiter) -> Reply:
    # A fault's Retry-After is sent as asked, 0 included (the rate limiter's own answers say at least 1).
    headers = {"Retry-After": str(max(0, math.ceil(fault.retry_after)))} if fault.retry_after is not None else {}
    if fault.kind == "html":
        return Reply(200, PROXY_LOGIN_PAGE.encode(), "text/html; charset=utf-8")
    if fault.status == 429:
        return Reply(429, limiter.message().encode(), "text/plain; charset=utf-8", headers)
    if fault.status in (502, 503, 504):
        page = f"<html><body><h1>{fault.status} Service Unavailable</h1>Sandbox gateway fault</body></html>"
        return Reply(fault.status, page.encode(), "text/html; charset=utf-8", headers)
    reply = halo_error(fault.status, f"Sandbox fault: HTTP {fault.status}")
    reply.headers.update(headers)
    return reply


class HaloRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HaloSandbox/1.0"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    timeout = 30  # idle keep-alive connections end, so stop() never waits on them for long

    @property
    def sandbox(self) -> "HaloSandbox":
        return self.server.sandbox  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the request log is HaloSandbox.requests."""

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        entry: dict[str, Any] = {"method": method, "path": path, "params": params, "status": None,
                                 "kind": request_kind(method, path), "time": self.sandbox.clock()}
        reply = self._reply_for(method, path, params, body, entry)
        # Logged before answering, so a client that has its answer always finds the request in the log.
        entry["status"] = reply.status if reply is not None else None
        self.sandbox._record(entry)
        if reply is None:
            self._reset()
        else:
            self._send(reply)

    def _reply_for(self, method: str, path: str, params: dict[str, str], body: bytes,
                   entry: dict[str, Any]) -> Reply | None:
        sandbox = self.sandbox
        slow, outcome = sandbox.faults.take(path)
        if slow is not None:
            time.sleep(slow.seconds)
        if outcome is not None:
            entry["fault"] = outcome.kind
            if outcome.kind == "reset":
                return None
            if outcome.kind != "truncate":
                return fault_reply(outcome, sandbox.limiter)
        wait = sandbox.limiter.admit()
        if wait is not None:
            entry["rate_limited"] = True
            return Reply(429, sandbox.limiter.message().encode(), "text/plain; charset=utf-8",
                         retry_after_header(wait))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = sandbox.api.handle(method, path, params, headers, body)
        if reply.records is not None:
            entry["records"] = reply.records
        if outcome is not None and outcome.kind == "truncate":
            reply = Reply(200, reply.body[: max(1, len(reply.body) // 2)], reply.content_type)
        return reply

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _reset(self) -> None:
        self.close_connection = True
        try:
            # linger 0: closing sends a reset instead of an orderly end
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops bursts of parallel connects (a 1 s SYN retry)

    def __init__(self, address: tuple[str, int], sandbox: "HaloSandbox") -> None:
        self.sandbox = sandbox
        super().__init__(address, HaloRequestHandler)

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-answer (killed, timed out) is expected in fault tests: no traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

