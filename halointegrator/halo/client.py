"""HaloClient: discovery, token, paged reads and array writes against Halo's REST API.

Everything Halo-specific about HTTP lives here: where the auth server is (``GET /api/AuthInfo``), the
client-credentials token with the tenant in the query string, the ``pageinate``/``page_no`` paging with
its ``record_count`` envelope, and a client-side request budget (hosted Halo allows about 300 requests
per rolling 5 minutes). Which failures are repeated is decided by ``http.RetryPolicy`` alone.

What a hostile or broken server must not achieve: the token request (it carries the client secret) and
every write never follow a redirect, and an auth URL that discovery names passes the same https rule as
a typed one; the secret, every token and every password a Halo record carries are registered for
redaction, and every message is redacted before it is shortened; a 3xx or other non-2xx answer is never
taken for success; each request ends within the timeout, the answer within ``MAX_ANSWER_BYTES``, the run
within its deadline, after which only the connection's status write-back is still sent.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import requests

from halointegrator import deadline as run_deadline
from halointegrator.deadline import Deadline
from halointegrator.halo.budget import BudgetedSession, RequestBudget
from halointegrator.errors import AuthError, ConfigError, HaloError, RetriableError
from halointegrator.http import (
    NOT_PROCESSED_STATUSES,
    RETRIABLE_STATUSES,
    AnswerTooLarge,
    AnswerTooSlow,
    RedirectRefused,
    RetryPolicy,
    describe_response_error,
    explain_certificate,
    make_session,
    never_sent,
    short_reason,
)
from halointegrator.halo.explain import is_status_write_back, kept_answering, refuse_insecure_discovery, token_error
from halointegrator.halo.paging import PageReader
from halointegrator.local.settings import HaloSettings
from halointegrator.redaction import SecretRegistry, add_secret, redact

log = logging.getLogger(__name__)

TOKEN_MARGIN = 60.0  # seconds before expiry at which a cached token is replaced


@dataclass(frozen=True)
class Endpoints:
    api_url: str  # https://example.halopsa.com/api
    auth_url: str  # token URL is <auth_url>/token
    tenant: str  # "" for self-hosted Halo


def normalise_url(url: str, setting: str = "Web App URL") -> str:
    """``url`` without whitespace, query, fragment or trailing slash; ConfigError if it is not http(s)."""
    text = (url or "").strip()
    if not text:
        raise ConfigError(f"The {setting} is empty. Enter your Halo address, e.g. https://yourcompany.halopsa.com.")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The {setting} '{url.strip()}' is not a web address. Enter your Halo address as it appears in "
            "the browser, e.g. https://yourcompany.halopsa.com."
        )
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def web_app_base(url: str) -> str:
    """The Web App URL as the root Halo serves /api from (a pasted ".../api" is forgiven)."""
    base = normalise_url(url)
    return base[: -len("/api")] if base.lower().endswith("/api") else base


class HaloClient:
    """One Halo instance, as the Integrator's application user sees it."""

    def __init__(
        self,
        settings: HaloSettings,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_token: Callable[[str], None] | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self.settings = settings
        self._secret = str(settings.client_secret or "")
        self.deadline = deadline  # None: the run's (deadline.current()), or none outside a run
        self._own_secrets = SecretRegistry()  # the run registers them for everything (load_config); this
        self._own_secrets.add(self._secret)  # client masks them in its own messages in any case
        self._own_secrets.add(_proxy_password(settings.proxy))
        self._own_session = session is None
        self.session = session or make_session(ca_bundle=settings.ca_bundle or "", proxy=settings.proxy or "",
                                               verify_tls=settings.verify_tls)
        self.retry = retry or RetryPolicy(sleep=sleep, clock=clock)
        self.clock = clock
        self.budget = RequestBudget(settings.request_budget, settings.budget_window_seconds, clock=clock, sleep=sleep)
        self._budgeted = BudgetedSession(self.session, self.budget)
        self.on_token = on_token
        self.stats: collections.Counter = collections.Counter()
        self._endpoints: Endpoints | None = None
        self._token: str = ""
        self._token_expires = 0.0
        self._issued: set[str] = set()  # every token this client got: a dropped one may still be echoed
        self.last_answer_bytes = 0  # the size of the latest answer (PageReader bounds a whole list by it)

    def __repr__(self) -> str:
        return f"HaloClient({self.settings.web_app_url!r}, client_id={self.client_id!r})"

    @property
    def client_id(self) -> str:
        return str(self.settings.client_id or "")

    # ---- discovery and token -------------------------------------------------------------------

    def endpoints(self) -> Endpoints:
        """API URL, auth URL and tenant: the settings' overrides, the rest from ``GET /api/AuthInfo``."""
        if self._endpoints is None:
            self._endpoints = self._resolve_endpoints()
        return self._endpoints

    def _resolve_endpoints(self) -> Endpoints:
        web = str(self.settings.web_app_url or "").strip()
        api_override = str(self.settings.api_url or "").strip()
        auth_override = str(self.settings.auth_url or "").strip()
        tenant_override = str(self.settings.tenant or "").strip()
        if api_override:
            api_url = normalise_url(api_override, "API URL")
        else:
            api_url = web_app_base(web) + "/api"
        if api_override and auth_override and tenant_override:
            return Endpoints(api_url, normalise_url(auth_override, "Auth URL"), tenant_override)
        info = self._auth_info(api_url, optional=bool(auth_override))
        auth_url = auth_override or str(info.get("auth_url") or "").strip()
        if not auth_url:
            auth_url = api_url[: -len("/api")] + "/auth" if api_url.endswith("/api") else api_url + "/auth"
        elif auth_url.startswith("/"):
            auth_url = api_url[: -len("/api")] + auth_url
        tenant = tenant_override or str(info.get("tenant_id") or "").strip()
        auth_url = normalise_url(auth_url, "Auth URL")
        if not auth_override:
            refuse_insecure_discovery(auth_url, api_url)
        return Endpoints(api_url, auth_url, tenant)

    def _auth_info(self, api_url: str, *, optional: bool) -> dict:
        self.stats["discovery"] += 1
        try:
            response, attempts = self._send("GET", f"{api_url}/AuthInfo")
            data = self._json(response, attempts, "GET", "AuthInfo")
        except HaloError as error:
            if optional:
                log.info("Halo's AuthInfo could not be read (%s); using the Auth URL setting", error)
                return {}
            raise type(error)(
                f"{error} Halo's discovery address is {api_url}/AuthInfo: check the Web App URL, "
                "or enter the API URL, Auth URL and tenant shown in Configuration > Integrations > Halo Integrator.",
                error.status,
            ) from None
        return data if isinstance(data, dict) else {}

    def token(self, deadline: Deadline | None = None) -> str:
        """A bearer token, cached until shortly before it expires."""
        if self._token and self.clock() < self._token_expires:
            return self._token
        endpoints = self.endpoints()
        self.stats["token"] += 1
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": "all",
        }
        params = {"tenant": endpoints.tenant} if endpoints.tenant else None
        response, attempts = self._send("POST", f"{endpoints.auth_url}/token", params=params, data=form,
                                        carries_secret=True, deadline=deadline)
        if response.status_code in RETRIABLE_STATUSES:
            raise RetriableError(self._clean(kept_answering(response, _host(response.url), attempts)))
        if response.status_code >= 400:
            raise token_error(response, endpoints, self._clean)
        data = self._json(response, 1, "POST", "token")
        token = str((data or {}).get("access_token") or "") if isinstance(data, dict) else ""
        if not token:
            raise AuthError(f"Halo's auth server at {_host(endpoints.auth_url)} answered without an access token.")
        lifetime = _seconds((data or {}).get("expires_in"), 3600.0)
        margin = TOKEN_MARGIN if lifetime > 2 * TOKEN_MARGIN else lifetime / 2
        self._token, self._token_expires = token, self.clock() + lifetime - margin
        self._issued.add(token)
        add_secret(token)
        if self.on_token is not None:
            self.on_token(token)
        return token

    # ---- reads and writes ----------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None) -> Any:
        """The parsed JSON of ``GET <api>/<path>``."""
        self.stats["read"] += 1
        data = self._call("GET", path, params=params)
        return data

    def list(self, path: str, key: str | None, params: dict | None = None, page_size: int | None = None) -> list[dict]:
        """Every record of a paged list; any failed or inconsistent page raises (never a short list)."""
        size = int(page_size or self.settings.page_size)
        return PageReader(self, path, key, dict(params or {}), size).read_all()

    def post(self, path: str, records: list[dict], *, idempotent: bool) -> Any:
        """POST ``records`` as one JSON array (with ``id`` = update, without = create)."""
        self.stats["write"] += 1
        # The records go as the source gave them: what the Integrator writes itself (Last Error, an integration
        # error, a job's outcome) is redacted where it is written (runner, applying, jobs), never a user's data.
        return self._call("POST", path, body=list(records), idempotent=idempotent)

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "HaloClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ---- one API request -----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
              idempotent: bool = True) -> Any:
        url = f"{self.endpoints().api_url}/{path.lstrip('/')}"
        deadline = self._deadline_for(method, path, body)
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token(deadline)}", "Accept": "application/json"}
            response, attempts = self._send(method, url, idempotent=idempotent, params=params, json=body,
                                            headers=headers, deadline=deadline)
            if response.status_code != 401 or attempt == 2:
                break
            log.info("Halo refused the token (expired?); getting a new one and trying once more")
            self._token = ""  # a 401 means Halo did not process the request: repeating it is safe
            response.close()
        if response.status_code == 401:
            raise AuthError(self._clean(
                f"{describe_response_error(response, _host(url), clean=self._clean)} A fresh token was refused too: "
                "the agent chosen in Configuration > Integrations > Halo Integrator may be disabled or lack permissions."
            ))
        return self._json(response, attempts, method, path, idempotent=idempotent)

    def _deadline_for(self, method: str, path: str, body: Any) -> Deadline:
        """The run's deadline; past it, only a connection's status write-back (Last Sync / Last Error) is
        still sent, within the grace period, so Halo shows why the run stopped."""
        deadline = self.deadline or run_deadline.current()
        if deadline.expired() and method == "POST" and is_status_write_back(body):
            return deadline.for_reporting()
        deadline.check(f"{'reading' if method == 'GET' else 'writing'} {path.split('?')[0]} in Halo")
        return deadline

    def _send(self, method: str, url: str, *, idempotent: bool = True, carries_secret: bool = False,
              deadline: Deadline | None = None, **kwargs: Any):
        """(response, attempts): the RetryPolicy's answer, with connection failures made HaloErrors."""
        attempts = [1]

        def on_retry(attempt: int, delay: float, reason: str) -> None:
            self.stats["retry"] += 1
            attempts[0] = attempt + 1

        timeout = self._timeout()
        kwargs.setdefault("timeout", (min(timeout, 15.0), timeout))
        try:
            response = self.retry.send(self._budgeted, method, url, idempotent=idempotent, on_retry=on_retry,
                                       carries_secret=carries_secret, deadline=deadline or self.deadline, **kwargs)
        except requests.RequestException as error:
            raise self._connection_error(error, url, attempts[0], idempotent=idempotent) from None
        return response, attempts[0]

    def _json(self, response: requests.Response, attempts: int, method: str, path: str, *,
              idempotent: bool = True) -> Any:
        """The answer's JSON, or the HaloError that says what went wrong."""
        host = _host(response.url or self._api_or_web())
        status = response.status_code
        where = f" (request: {method} {path})"
        self.last_answer_bytes = len(response.content or b"")
        if status in RETRIABLE_STATUSES and (idempotent or status in NOT_PROCESSED_STATUSES):
            raise RetriableError(self._clean(kept_answering(response, host, attempts) + where), status)
        if status in RETRIABLE_STATUSES:
            raise RetriableError(self._clean(
                f"{describe_response_error(response, host, clean=self._clean)} The request creates records, so it was "
                "not repeated: "
                f"Halo may have processed it. The next run compares again and creates only what is missing.{where}"
            ), status)
        if not 200 <= status < 300:  # a 3xx (a redirect not followed) or 1xx is no success either
            raise HaloError(self._clean(describe_response_error(response, host, clean=self._clean) + where), status)
        if status == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            raise HaloError(self._clean(describe_response_error(response, host, clean=self._clean) + where),
                            status) from None

    def _connection_error(self, error: requests.RequestException, url: str, attempts: int, *,
                          idempotent: bool = True) -> HaloError:
        host = _host(url)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(error, RedirectRefused):
            return HaloError(self._clean(
                f"Halo at {error}. Check the Web App URL (and API URL, Auth URL) in the Configuration tab: if the "
                "other address is really your Halo's, enter that address; otherwise something between this "
                "computer and Halo is redirecting its requests."))
        if isinstance(error, AnswerTooLarge):
            return HaloError(self._clean(
                f"Halo at {host} sent an answer that was not read: {error}. Lower the page size setting; if it "
                "persists, a proxy or a fault in between is sending it."))
        if isinstance(error, requests.exceptions.SSLError):
            return HaloError(self._clean(explain_certificate(error, host, service="Halo",
                                                             ca_bundle=self.settings.ca_bundle or "")))
        reason, advice = short_reason(error), "Check the Web App URL, DNS, firewall and proxy settings."
        if isinstance(error, requests.exceptions.ReadTimeout):
            reason += "" if isinstance(error, AnswerTooSlow) else f" ({self._timeout():g} s)"
            advice = "If Halo is slow rather than unreachable, raise the Timeout setting in the Configuration tab."
        if not idempotent and not never_sent(error):  # the request went out: Halo may have acted on it
            advice = (f"The request creates records, so it was not repeated: Halo may have processed it. The next "
                      f"run compares again and creates only what is missing. {advice}")
        lead = "No complete answer from Halo at" if isinstance(error, AnswerTooSlow) else "Cannot reach Halo at"
        return RetriableError(self._clean(f"{lead} {host}: {reason}{tried}. {advice}"))

    def _timeout(self) -> float:
        return float(self.settings.timeout_seconds)

    def _api_or_web(self) -> str:
        return (self._endpoints.api_url if self._endpoints else "") or str(self.settings.web_app_url)

    def _clean(self, text: str) -> str:
        return self._own_secrets.redact(redact(text))  # every token is registered with the shared redaction


def _proxy_password(proxy: Any) -> str:
    try:
        return urlsplit(str(proxy or "")).password or ""
    except ValueError:
        return ""


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _seconds(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
