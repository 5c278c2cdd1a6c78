"""The HTTP layer shared by the Halo and Microsoft Graph clients: one session factory, one retry policy.

Every rule about what may be repeated lives in ``RetryPolicy``: 429, 502, 503, 504, timeouts and
connection failures are transient; everything else is the caller's to map. A request that creates
records is repeated only when the server surely did not process it. Each attempt goes through
``http_bounds.fetch``: bounded in total time and bytes, redirects followed only where they may be, and
within the run's deadline. Nothing here logs a header, a body or a query string: tokens and secrets
travel in them.
"""

from __future__ import annotations

import atexit
import email.utils
import logging
import os
import random
import shutil
import socket
import ssl
import tempfile
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from halointegrator import __version__
from halointegrator.deadline import Deadline, current as current_deadline
from halointegrator.errors import ConfigError
from halointegrator.http_bounds import (  # noqa: F401 - re-exported: the clients' one import
    MAX_ANSWER_BYTES, AnswerTooLarge, AnswerTooSlow, RedirectRefused, WatchedAdapter, fetch, insecure_url_problem,
    netloc,
)
from halointegrator.http_errors import (  # noqa: F401 - re-exported
    describe_response_error, error_detail, explain_certificate,
)
from halointegrator.redaction import redact as redact_everywhere

log = logging.getLogger(__name__)

__all__ = [  # what the clients import from here, the bounds and the explanations included
    "USER_AGENT", "RETRIABLE_STATUSES", "NOT_PROCESSED_STATUSES", "DEFAULT_TIMEOUT", "MAX_ANSWER_BYTES",
    "IntegratorSession", "make_session", "combined_ca_bundle", "read_certificates", "RetryPolicy",
    "parse_retry_after", "never_sent", "short_reason", "AnswerTooLarge", "AnswerTooSlow", "RedirectRefused",
    "WatchedAdapter", "fetch", "insecure_url_problem", "netloc", "describe_response_error", "error_detail",
    "explain_certificate",
]

USER_AGENT = f"HaloIntegrator/{__version__}"
RETRIABLE_STATUSES = frozenset({429, 502, 503, 504})
# A create that got one of these was refused before any work was done: repeating it cannot duplicate.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
DEFAULT_TIMEOUT = (15.0, 120.0)  # connect, read (seconds)


class IntegratorSession(requests.Session):
    """A session whose own CA bundle and proxy win over environment variables.

    Plain requests lets REQUESTS_CA_BUNDLE and HTTPS_PROXY override what was set on the session;
    the Integrator's settings must be the one place these come from.
    """

    def __init__(self) -> None:
        super().__init__()
        self.explicit_proxies: dict[str, str] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: ANN001 (requests' API)
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            merged["verify"] = self.verify
        if self.explicit_proxies:
            merged["proxies"] = {**merged.get("proxies", {}), **self.explicit_proxies}
        return merged


def make_session(*, ca_bundle: str = "", proxy: str = "", verify_tls: bool = True) -> requests.Session:
    """A session with the Integrator's User-Agent, trust store and proxy."""
    session = IntegratorSession()
    session.mount("https://", WatchedAdapter())
    session.mount("http://", WatchedAdapter())
    session.headers["User-Agent"] = USER_AGENT
    if not verify_tls:
        log.warning("TLS certificate verification is off (the verify_tls setting): anyone on the network path can "
                    "read the secrets and tokens this connection sends.")
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        session.verify = False
    elif ca_bundle:
        session.verify = combined_ca_bundle(ca_bundle)
    else:
        session.verify = True
    if proxy:
        if "://" not in proxy:
            proxy = "http://" + proxy
        session.explicit_proxies = {"http": proxy, "https": proxy}
        session.proxies.update(session.explicit_proxies)
    return session


_bundle_dir: str | None = None


def combined_ca_bundle(ca_bundle: str) -> str:
    """A PEM file holding the default trust (certifi) plus the certificates in ``ca_bundle``.

    The extra file may be PEM or a single DER certificate (what Windows' certificate export gives).
    """
    import certifi

    global _bundle_dir
    extra_pem = read_certificates(ca_bundle)
    if _bundle_dir is None:
        _bundle_dir = tempfile.mkdtemp(prefix="halointegrator-ca-")
        atexit.register(shutil.rmtree, _bundle_dir, True)
    handle, path = tempfile.mkstemp(suffix=".pem", dir=_bundle_dir)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        with open(certifi.where(), encoding="ascii") as default_bundle:
            out.write(default_bundle.read())
        out.write("\n# Added from the CA bundle setting: " + os.path.basename(ca_bundle) + "\n")
        out.write(extra_pem)
    return path


def read_certificates(path: str) -> str:
    """The certificates of a PEM or DER file as PEM text; ConfigError when there are none."""
    try:
        with open(path, "rb") as source:
            data = source.read()
    except OSError as error:
        raise ConfigError(
            f"Cannot read the CA bundle file {path}: {error.strerror or error}. "
            "Correct the CA bundle setting in the Configuration tab, or clear it to use the default trust."
        ) from None
    if b"-----BEGIN CERTIFICATE-----" in data:
        return data.decode("ascii", errors="replace")
    try:
        from cryptography import x509

        x509.load_der_x509_certificate(data)
        return ssl.DER_cert_to_PEM_cert(data)
    except ValueError:
        raise ConfigError(
            f"The CA bundle file {path} holds no certificate (expected PEM '-----BEGIN CERTIFICATE-----' "
            "or a DER .cer file). Export the CA certificate again and correct the CA bundle setting."
        ) from None


class RetryPolicy:
    """Sends one request, repeating it while the failure is transient and repeating it is safe.

    How long it keeps trying depends on why. A 429 is the server asking for patience, so throttling is
    ridden out for as long as the total wait budget (``max_total``) lasts, however many answers that
    takes (``max_throttled_attempts`` only stops a server that asks for no wait at all from spinning us).
    Other transient failures (502-504, timeouts, resets) are more likely to persist: ``max_attempts``.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 120.0,
        max_total: float = 600.0,
        max_connection_attempts: int = 4,
        max_throttled_attempts: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_total = max_total
        # A host that refuses connections for ~15 s is more likely misconfigured than busy: fail while the
        # user (or tonight's log) can still act on it, instead of spending the whole 429 budget on it.
        self.max_connection_attempts = max(1, min(max_connection_attempts, self.max_attempts))
        self.max_throttled_attempts = max(1, max_throttled_attempts)
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.wall_clock = wall_clock  # Retry-After dates are wall-clock times
        self.timeout = timeout

    def send(self, session: Any, method: str, url: str, *, idempotent: bool = True,
             on_retry: Callable[[int, float, str], None] | None = None, carries_secret: bool = False,
             deadline: Deadline | None = None, max_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any) -> requests.Response:
        """The final response, possibly still an error status once the attempts run out.

        Each answer is read whole within the timeout (from sending to its last byte) and ``max_bytes``; a
        read (GET/HEAD, no ``carries_secret``) follows same-origin redirects only, anything else none.
        ``deadline`` (default: the run's) bounds every attempt and wait (RunTimedOut past it). Exceptions
        not to repeat, or repeated to the limits, are raised as requests (or http_bounds) raised them.
        """
        deadline = deadline or current_deadline()
        timeout = kwargs.pop("timeout", self.timeout)
        follow = method.upper() in ("GET", "HEAD") and not carries_secret
        started, host, attempt = self.clock(), urlsplit(url).netloc, 0
        while True:
            attempt += 1
            try:
                response = self._attempt(session, method, url, timeout, deadline, follow, max_bytes, kwargs)
            except requests.RequestException as error:
                delay, reason, limit = self._after_exception(error, attempt, idempotent, started, deadline)
            else:
                retry = self._after_answer(response, attempt, idempotent, started, deadline)
                if retry is None:
                    return response
                delay, reason, limit = retry
                response.close()
            log.warning("%s: %s; trying again in %.0f s (attempt %d%s)", host, reason, delay, attempt + 1,
                        f" of {limit}" if limit else ", for as long as the wait budget lasts")
            if on_retry is not None:
                on_retry(attempt, delay, reason)
            self.sleep(delay)

    def _after_exception(self, error: requests.RequestException, attempt: int, idempotent: bool, started: float,
                         deadline: Deadline) -> tuple[float, str, int]:
        """(delay, reason, attempts allowed) for another try after a failed attempt; re-raises when none."""
        if not self._may_repeat_exception(error, idempotent):
            raise error
        delay = self.backoff(attempt)
        if attempt >= self.max_connection_attempts or not self._can_wait(attempt, delay, started, deadline):
            raise error
        return delay, short_reason(error), self.max_attempts

    def _after_answer(self, response: requests.Response, attempt: int, idempotent: bool, started: float,
                      deadline: Deadline) -> tuple[float, str, int] | None:
        """(delay, reason, attempts allowed) for another try after an answer, or None: it is the final one."""
        if not self._may_repeat_status(response.status_code, idempotent):
            return None
        delay = self.delay_for(response, attempt)
        throttled = response.status_code == 429
        if not self._can_wait(attempt, delay, started, deadline, throttled=throttled):
            return None
        return delay, f"HTTP {response.status_code}", 0 if throttled else self.max_attempts

    def _attempt(self, session: Any, method: str, url: str, timeout: Any, deadline: Deadline, follow: bool,
                 max_bytes: int, kwargs: dict[str, Any]) -> requests.Response:
        """One attempt within the deadline: RunTimedOut when it has passed, or passes during the attempt."""
        doing = f"waiting for {urlsplit(url).netloc} to answer {method} {urlsplit(url).path or '/'}"
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        allowed = deadline.limit(max(float(connect), float(read)))
        if allowed <= 0:
            raise deadline.error(doing)
        try:
            return fetch(session, method, url, seconds=allowed, follow=follow, max_bytes=max_bytes,
                         timeout=(min(float(connect), allowed), min(float(read), allowed)), **kwargs)
        except requests.RequestException:
            if deadline.expired():
                raise deadline.error(doing) from None
            raise

    def _may_repeat_status(self, status: int, idempotent: bool) -> bool:
        if status not in RETRIABLE_STATUSES:
            return False
        return idempotent or status in NOT_PROCESSED_STATUSES

    @staticmethod
    def _may_repeat_exception(error: requests.RequestException, idempotent: bool) -> bool:
        if isinstance(error, requests.exceptions.SSLError):
            return False  # a certificate problem does not fix itself
        if isinstance(error, requests.exceptions.ConnectTimeout) or never_sent(error):
            return True
        if isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
            return idempotent  # the server may have processed it before the answer was lost
        return False

    def _can_wait(self, attempt: int, delay: float, started: float, deadline: Deadline, *,
                  throttled: bool = False) -> bool:
        if attempt >= (self.max_throttled_attempts if throttled else self.max_attempts):
            return False
        return (self.clock() - started) + delay <= self.max_total and delay < deadline.remaining()

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * (0.5 + self.rng.random() / 2)

    def delay_for(self, response: requests.Response, attempt: int) -> float:
        """The server's Retry-After when it gives one (capped at max_delay), else the backoff."""
        retry_after = parse_retry_after(response.headers.get("Retry-After", ""), self.wall_clock())
        if retry_after is None:
            return self.backoff(attempt)
        return min(self.max_delay, retry_after)


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _causes(error: BaseException):
    """The exception and everything it wraps (requests and urllib3 nest them in args and .reason)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args):
            if isinstance(nested, BaseException):
                pending.append(nested)


def never_sent(error: BaseException) -> bool:
    """True when the connection was never made, so the server cannot have seen the request."""
    return any(
        isinstance(cause, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError, socket.gaierror))
        for cause in _causes(error)
    )


def short_reason(error: BaseException) -> str:
    """A few words for why a request failed, without the URL (urllib3's messages quote it)."""
    if isinstance(error, (AnswerTooSlow, AnswerTooLarge, RedirectRefused)):
        return redact_everywhere(str(error))
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return "the host name does not resolve (DNS)"
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not trusted ({cause.verify_message or 'verification failed'})"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "no connection within the timeout"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "no answer within the timeout"
    if isinstance(error, requests.exceptions.ProxyError):
        return "the proxy refused or failed the connection"
    for cause in causes:
        if isinstance(cause, (ConnectionResetError, ConnectionAbortedError)):
            return "the connection was reset"
        if isinstance(cause, urllib3.exceptions.ProtocolError):
            return "the connection closed before an answer arrived"
    return type(error).__name__


