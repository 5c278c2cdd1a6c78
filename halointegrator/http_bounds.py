"""One HTTP request with bounds a hostile server cannot stretch, and the rules for where a request may go.

- **Time.** An answer must arrive whole (status line, headers, body) within the request's time limit.
  Socket timeouts bound each read, not the request: a server sending one byte a second never trips them.
  So each request runs under a ``RequestWatch``: the connections it uses are registered with it (by the
  session's own connection pools), and when the time is up a timer shuts their sockets down, which ends
  any read in progress. The body is read here, in chunks, checking the clock between them too.
- **Bytes.** An answer larger than ``MAX_ANSWER_BYTES`` is refused, from its Content-Length or while it is
  streamed in; it is never held whole (gzip is counted after decompression).
- **Redirects.** A request that carries a secret (the token requests) or writes data never follows one:
  the redirect is an error that names both hosts and says nothing was sent to the other. A read follows
  redirects only to the same scheme, host and port.
- **https.** ``insecure_url_problem`` is the rule every address passes, typed or learnt at run time
  (discovery, Graph's next and delta links, links read back from the state file): https, or plain http to
  this machine only (the sandboxes).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from halointegrator.local.config_checks import is_loopback

MAX_ANSWER_BYTES = 16 << 20  # a page of 1,000 Halo users is about 1 MB; Graph's 999 users as much
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 << 10
SHUTDOWN_MARGIN = 0.25  # seconds

_local = threading.local()


class AnswerTooSlow(requests.exceptions.ReadTimeout):
    """The answer did not arrive whole within the request's time limit."""


class AnswerTooLarge(requests.RequestException):
    """The answer is larger than the Integrator reads."""


class RedirectRefused(requests.RequestException):
    """A redirect this request may not follow; nothing was sent to its target."""

    def __init__(self, message: str, *, origin: str, target: str) -> None:
        super().__init__(message)
        self.origin, self.target = origin, target


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def netloc(url: str) -> str:
    return urlsplit(url).netloc or url


def insecure_url_problem(url: str) -> str:
    """Why ``url`` may not receive a secret or a token ("" when it may): https, or http to this machine."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return ""
    if scheme == "http" and is_loopback(parts.hostname or ""):
        return ""
    if scheme == "http":
        return "it uses plain http:// to another machine, so secrets and tokens would cross the network unencrypted"
    return "it is not an https:// address"


# ---- the watch ---------------------------------------------------------------------------------------

class RequestWatch:
    """While active in a thread, the connections that thread's requests use; shut down after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, float(seconds))
        self.started = time.monotonic()
        self.fired = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        # A moment after the socket's own timeout: an answer that never starts is reported as that ("no
        # answer within the timeout"); the watch ends the ones that start and never finish.
        self._timer = threading.Timer(self.seconds + SHUTDOWN_MARGIN, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "RequestWatch":
        self._outer = getattr(_local, "watch", None)
        _local.watch = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _local.watch = self._outer

    def register(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            fired = self.fired
        if fired:
            _shut_down(connection)

    def overdue(self) -> bool:
        return self.fired or time.monotonic() - self.started > self.seconds

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            connections = list(self._connections)
        for connection in connections:
            _shut_down(connection)


def _shut_down(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: ends a TLS read as well
        except OSError:
            pass


class _WatchedPool:
    def _get_conn(self, timeout: float | None = None):  # noqa: ANN202 - urllib3's hook
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.register(connection)
        return connection


class WatchedHTTPConnectionPool(_WatchedPool, urllib3.HTTPConnectionPool):
    pass


class WatchedHTTPSConnectionPool(_WatchedPool, urllib3.HTTPSConnectionPool):
    pass


WATCHED_POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connection pools register their connections with the thread's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):  # noqa: ANN201 - requests' API
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager


# ---- one request ------------------------------------------------------------------------------------

def fetch(session: Any, method: str, url: str, *, seconds: float, follow: bool,
          max_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any) -> requests.Response:
    """The answer to one request, read whole within ``seconds`` and ``max_bytes``.

    ``follow``: redirects to the same scheme, host and port are followed (reads); otherwise a redirect
    raises RedirectRefused. Raises AnswerTooSlow, AnswerTooLarge, or what requests raised.
    """
    hops = 0
    with RequestWatch(seconds) as watch:
        while True:
            try:
                response = session.request(method, url, allow_redirects=False, stream=True, **kwargs)
            except requests.RequestException as error:
                if watch.fired and not isinstance(error, requests.Timeout):
                    raise _too_slow(seconds) from None
                raise
            location = response.headers.get("Location") if response.status_code in REDIRECT_STATUSES else None
            if not location:
                read_whole(response, max_bytes, watch)
                return response
            response.close()
            target = urljoin(response.url or url, location)
            hops += 1
            _refuse_redirect(method, response.url or url, target, response.status_code, follow, hops)
            url = target
            kwargs.pop("params", None)  # the Location holds the whole address


def _too_slow(seconds: float) -> AnswerTooSlow:
    return AnswerTooSlow(f"the answer did not arrive whole within {seconds:g} s")


def read_whole(response: requests.Response, max_bytes: int, watch: RequestWatch) -> None:
    """Read the body of a streamed ``response`` into it (``.content``, ``.json()`` work afterwards)."""
    declared = str(response.headers.get("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise AnswerTooLarge(_too_large(int(declared), max_bytes))
    body = bytearray()
    try:
        for chunk in response.iter_content(CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise AnswerTooLarge(_too_large(None, max_bytes))
            if watch.overdue():
                raise _too_slow(watch.seconds)
    except (AnswerTooLarge, AnswerTooSlow):
        response.close()
        raise
    except requests.RequestException as error:
        response.close()
        if watch.fired and not isinstance(error, requests.Timeout):
            raise _too_slow(watch.seconds) from None
        raise
    response._content = bytes(body)  # noqa: SLF001 - what requests itself does after reading
    response._content_consumed = True  # noqa: SLF001


def _too_large(declared: int | None, max_bytes: int) -> str:
    size = f"of {declared / (1 << 20):.0f} MB " if declared else ""
    return f"the answer {size}is larger than the {max_bytes >> 20} MB the Integrator reads"


def _refuse_redirect(method: str, origin: str, target: str, status: int, follow: bool, hops: int) -> None:
    """Raise RedirectRefused unless this redirect may be followed."""
    path = urlsplit(origin).path or "/"
    shown = f"{urlsplit(target).scheme}://{netloc(target)}"
    if not follow:
        why = ("the request carries a secret or writes data, so the Integrator does not follow redirects with it")
    elif origin_of(target) != origin_of(origin):
        why = "a read follows redirects only on the same scheme, host and port"
    elif hops > MAX_REDIRECTS:
        why = f"it redirected more than {MAX_REDIRECTS} times"
    else:
        return
    raise RedirectRefused(
        f"{netloc(origin)} answered {method} {path} with a redirect (HTTP {status}) to {shown}; {why}: nothing was "
        f"sent to {netloc(target)}", origin=origin, target=target)
