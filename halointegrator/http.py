"""The HTTP layer shared by the Halo and Microsoft Graph clients: one session factory, one retry policy.

Every rule about what may be repeated lives in ``RetryPolicy``: 429, 502, 503, 504, timeouts and
connection failures are transient; everything else is the caller's to map. A request that creates
records is repeated only when the server surely did not process it. Nothing here logs a header, a
body or a query string: tokens and secrets travel in them.
"""

from __future__ import annotations

import atexit
import email.utils
import json
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
from halointegrator.errors import ConfigError

log = logging.getLogger(__name__)

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

    def send(
        self,
        session: Any,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        on_retry: Callable[[int, float, str], None] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """The final response, possibly still an error status once the attempts run out.

        ``on_retry(attempt, delay, reason)`` is called before each wait. Exceptions that may not be
        repeated, or that were repeated until the limits, are raised as requests raised them.
        """
        kwargs.setdefault("timeout", self.timeout)
        started = self.clock()
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            attempt += 1
            try:
                response = session.request(method, url, **kwargs)
            except requests.RequestException as error:
                if not self._may_repeat_exception(error, idempotent):
                    raise
                delay = self.backoff(attempt)
                if attempt >= self.max_connection_attempts or not self._can_wait(attempt, delay, started):
                    raise
                reason, limit = short_reason(error), self.max_attempts
            else:
                if not self._may_repeat_status(response.status_code, idempotent):
                    return response
                delay = self.delay_for(response, attempt)
                throttled = response.status_code == 429
                if not self._can_wait(attempt, delay, started, throttled=throttled):
                    return response
                reason, limit = f"HTTP {response.status_code}", 0 if throttled else self.max_attempts
                response.close()
            log.warning("%s: %s; trying again in %.0f s (attempt %d%s)", host, reason, delay, attempt + 1,
                        f" of {limit}" if limit else ", for as long as the wait budget lasts")
            if on_retry is not None:
                on_retry(attempt, delay, reason)
            self.sleep(delay)

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

    def _can_wait(self, attempt: int, delay: float, started: float, *, throttled: bool = False) -> bool:
        if attempt >= (self.max_throttled_attempts if throttled else self.max_attempts):
            return False
        return (self.clock() - started) + delay <= self.max_total

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


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with every non-trivial secret replaced, for messages built from server answers."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# ---- error bodies --------------------------------------------------------------------------------

_DETAIL_LIMIT = 300


def describe_response_error(response: requests.Response, host: str, *, service: str = "Halo") -> str:
    """A user-facing sentence for an answer that is an error or not the JSON that was expected."""
    status = response.status_code
    body = response.text or ""
    stripped = body.lstrip()
    content_type = response.headers.get("Content-Type", "").lower()
    if "html" in content_type or stripped[:1] == "<":
        return (
            f"{service} at {host} answered with an HTML page instead of JSON (HTTP {status}); a proxy or "
            f"firewall may be intercepting the request. Check the proxy setting in the Configuration tab "
            f"and that the address is {service}'s."
        )
    detail = ""
    if stripped:
        try:
            detail = error_detail(json.loads(stripped))
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            if "json" in content_type or stripped[:1] in "{[":
                return (
                    f"{service} at {host} answered with incomplete JSON (HTTP {status}, {len(body)} characters); "
                    "the connection may have been cut by a proxy or the server. Try again; if it persists, "
                    "check the proxy setting in the Configuration tab."
                )
            detail = " ".join(stripped.split())
    return _status_sentence(service, host, status, response.reason or "", _clip(detail))


def _status_sentence(service: str, host: str, status: int, reason: str, detail: str) -> str:
    head = f"{service} at {host} answered HTTP {status}{(' ' + reason) if reason else ''}"
    if 200 <= status < 300:
        return f"{service} at {host} answered HTTP {status} with something that is not JSON: {detail or '(empty)'}"
    hint = {
        403: " The agent the Integrator logs in as lacks a permission for this; check its role in Halo.",
        404: " The address may be wrong: check the Web App URL and API URL settings.",
    }.get(status, "")
    return f"{head}: {detail}.{hint}" if detail else f"{head}.{hint}"


def error_detail(data: Any) -> str:
    """The message inside one of the error bodies Halo, its OAuth server or Graph send."""
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(filter(None, (error_detail(item) for item in data[:5])))
    if not isinstance(data, dict):
        return ""
    fields = {str(key).lower(): value for key, value in data.items()}
    error = fields.get("error")
    if isinstance(error, dict):  # Microsoft Graph: {"error": {"code": ..., "message": ...}}
        return ": ".join(str(error[key]) for key in ("code", "message") if error.get(key))
    for message_key in ("errormessage", "error_description", "message", "detail", "title"):
        message = fields.get(message_key)
        if message:
            prefix = error or fields.get("classname")
            return f"{prefix}: {message}" if prefix and str(prefix) not in str(message) else str(message)
    if error:
        return str(error)
    return _model_state(fields.get("errors", data))


def _model_state(errors: Any) -> str:
    """ASP.NET validation answers: {"[0].site_id": ["The field is required."], ...}."""
    if not isinstance(errors, dict):
        return ""
    parts = []
    for field_name, messages in list(errors.items())[:5]:
        if isinstance(messages, list):
            messages = " ".join(str(message) for message in messages)
        parts.append(f"{field_name}: {messages}")
    return "; ".join(parts)


def _clip(text: str) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"
