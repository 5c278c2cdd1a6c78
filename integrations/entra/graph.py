"""Microsoft Graph over requests: app-only token, paging, delta, error explanations.

Retries (429, 502-504, connection errors, Retry-After) live in ``halointegrator.http.RetryPolicy``;
this module only classifies what is left. A listing either returns every page or raises
``GraphError``: a short read must never reach the sync engine, which deactivates what is missing.

The bearer token goes only to the Graph root this client was made for (same scheme, host and port), and
the login and Graph roots pass the https rule of every typed address: a next link or a delta link
(from Graph, or read back from the state file) that leads elsewhere, or to plain http, is refused. The
token request never follows a redirect. Every token is registered for redaction as it arrives, and
error text is redacted before it is shortened. A listing is bounded: ``MAX_PAGES`` pages,
``MAX_ITEMS`` items and ``MAX_LISTING_BYTES`` of answers at most.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

import requests

from halointegrator.deadline import Deadline
from halointegrator.errors import AuthError, ConfigError, SourceError
from halointegrator.http import (
    AnswerTooLarge, AnswerTooSlow, RedirectRefused, RetryPolicy, explain_certificate, insecure_url_problem, make_session, short_reason,
)
from halointegrator.http_bounds import origin_of
from halointegrator.redaction import SecretRegistry, add_secret, redact, shorten

log = logging.getLogger("halointegrator.entra.graph")

GLOBAL = ("https://login.microsoftonline.com", "https://graph.microsoft.com")
US_GOV = ("https://login.microsoftonline.us", "https://graph.microsoft.us")
US_DOD = ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us")
CHINA = ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn")
# `graphendpoint` numbering is inferred (Halo does not document it): 0/None global, 1 US Gov (GCC High),
# 2 US DoD, 3 China. `graph_host`, when Halo fills it, names the cloud unambiguously and wins.
CLOUDS_BY_NUMBER = {0: GLOBAL, 1: US_GOV, 2: US_DOD, 3: CHINA}
CLOUDS_BY_GRAPH_HOST = {urlsplit(cloud[1]).hostname: cloud for cloud in (GLOBAL, US_GOV, US_DOD, CHINA)}

PAGE_SIZE = 999  # the maximum Graph allows for /users
MAX_PAGES = 5_000  # a listing of more pages than this is a server looping, not a tenant
MAX_ITEMS = 500_000  # users, members or devices in one listing
MAX_LISTING_BYTES = 256 << 20  # the answers of one listing, together
DETAIL_LIMIT = 300
DELTA_EXPIRED_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
AADSTS_ADVICE = {
    "AADSTS7000215": "the client secret is wrong: paste the secret's Value (not its ID) from the app "
                     "registration into this connection's App secret",
    "AADSTS7000222": "the client secret has expired: create a new one in the app registration and "
                     "enter it as this connection's App secret",
    "AADSTS700016": "the application (client) id is not registered in this tenant: check the "
                    "Application ID and Directory ID on the Halo connection",
    "AADSTS90002": "the tenant (Directory ID) does not exist in this cloud: check the Directory ID "
                   "and the national cloud",
    "AADSTS900023": "the Directory ID is not a valid tenant id or domain",
    "AADSTS1002012": "the scope must end in /.default (client credential flow)",
    "AADSTS7000218": "the request had no client secret: enter this connection's App secret",
}


class GraphError(SourceError):
    """Microsoft Graph refused or failed a request; ``status``/``code`` say how."""

    def __init__(self, message: str, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class DeltaExpired(GraphError):
    """The stored delta link is no longer valid (410 Gone, syncStateNotFound): read everything again."""


@dataclass
class DeltaResult:
    """What a delta round said: changed users (merged, last wins), removed ids and the next link."""

    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)  # id -> "deleted" | "changed"
    delta_link: str = ""

    def add(self, item: Mapping[str, Any]) -> None:
        user_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(user_id, str) or not user_id:
            raise GraphError("Microsoft Graph sent a user change without an id; nothing was changed")
        if "@removed" in item:
            self.changed.pop(user_id, None)
            removed = item.get("@removed")
            reason = removed.get("reason") if isinstance(removed, Mapping) else None
            self.removed[user_id] = reason if isinstance(reason, str) and reason else "deleted"
        else:
            self.removed.pop(user_id, None)
            self.changed[user_id] = {**self.changed.get(user_id, {}), **item}


def cloud_urls(connection: Mapping[str, Any], local: Mapping[str, Any]) -> tuple[str, str]:
    """(login root, Graph root) for a connection; the local settings login_url/graph_url override."""
    host = str(connection.get("graph_host") or "").strip().lower()
    host = urlsplit(host).hostname if "//" in host else host.split("/")[0]
    cloud = CLOUDS_BY_GRAPH_HOST.get(host or "")
    if cloud is None:
        try:
            cloud = CLOUDS_BY_NUMBER.get(int(connection.get("graphendpoint") or 0), GLOBAL)
        except (TypeError, ValueError, OverflowError):
            cloud = GLOBAL
    login = str(local.get("login_url") or "").strip() or cloud[0]
    graph = str(local.get("graph_url") or "").strip() or cloud[1]
    return login.rstrip("/"), graph.rstrip("/")


def _error_of(response: requests.Response, clean: Callable[[str], str] = redact) -> tuple[str, str]:
    """(code, message) from a Graph or login error body, whatever its shape; redacted (``clean`` too), then
    shortened."""
    def tidy(text: Any, limit: int = DETAIL_LIMIT) -> str:
        return shorten(clean(" ".join(str(text or "").split())), limit)

    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        body = None
    if not isinstance(body, dict):
        return "", tidy(response.text)
    if isinstance(body.get("error"), dict):  # Graph: {"error": {"code", "message"}}
        error = body["error"]
        return tidy(error.get("code"), 100), tidy(error.get("message"))
    codes = body.get("error_codes")
    code = f"AADSTS{codes[0]}" if isinstance(codes, list) and codes else str(body.get("error") or "")
    return tidy(code, 100), tidy(str(body.get("error_description") or "").split("\r\n")[0])


class GraphClient:
    """One tenant's Graph, read with an app-only token."""

    def __init__(self, *, tenant: str, client_id: str, client_secret: str, login_url: str, graph_url: str,
                 session: requests.Session | None = None, retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, deadline: Deadline | None = None,
                 on_token: Callable[[str], None] = add_secret):
        self.tenant, self.client_id = tenant, client_id
        self._secret = client_secret  # registered for redaction with the config's secrets (load_config);
        self._own_secrets = SecretRegistry()  # masked in this client's own messages in any case
        self._own_secrets.add(client_secret)
        self.login_url, self.graph_url = login_url.rstrip("/"), graph_url.rstrip("/")
        for label, url in (("login URL (login_url)", self.login_url), ("Graph URL (graph_url)", self.graph_url)):
            problem = insecure_url_problem(url)
            if problem:
                raise ConfigError(f"The Microsoft {label} {url} cannot be used: {problem}. Correct the connection's "
                                  "local setting (or clear it to use the national cloud's address).")
        self.session = session or make_session()
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.deadline = deadline  # None: the run's (halointegrator.deadline.current())
        self.on_token = on_token
        self._token, self._token_expires = "", 0.0
        self.last_answer_bytes = 0

    def __repr__(self) -> str:  # never the secret or the token
        return f"GraphClient(tenant={self.tenant!r}, client_id={self.client_id!r}, graph={self.graph_url!r})"

    def _send(self, method: str, url: str, *, carries_secret: bool = False, **kwargs: Any) -> requests.Response:
        """One request through the shared retry policy (which logs its waits); reads and the token
        request are safe to repeat."""
        host = urlsplit(url).netloc
        try:
            response = self.retry.send(self.session, method, url, idempotent=True, carries_secret=carries_secret,
                                       deadline=self.deadline, **kwargs)
        except RedirectRefused as exc:
            raise GraphError(redact(f"Microsoft at {exc}. Check the connection's login_url and graph_url settings "
                                    "(and the proxy): something is redirecting requests meant for Microsoft.")) from None
        except (AnswerTooLarge, AnswerTooSlow) as exc:
            raise GraphError(f"Microsoft at {host} sent an answer that was not used: {exc}; nothing was changed. A "
                             "proxy in between may be holding or padding answers.") from None
        except requests.exceptions.SSLError as exc:
            raise GraphError(explain_certificate(exc, host, service="Microsoft", setting="the CA bundle setting in "
                                                 "the Configuration tab")) from None
        except requests.RequestException as exc:
            raise GraphError(f"Could not reach {host}: {short_reason(exc)}") from None
        self.last_answer_bytes = len(response.content or b"")
        return response

    def token(self) -> str:
        """A cached app-only access token, renewed a minute before it expires."""
        if self._token and self.clock() < self._token_expires:
            return self._token
        url = f"{self.login_url}/{self.tenant}/oauth2/v2.0/token"
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._secret, "scope": f"{self.graph_url}/.default"}
        response = self._send("POST", url, data=form, carries_secret=True)
        if response.status_code != 200:
            code, message = _error_of(response, self._own_secrets.redact)
            advice = AADSTS_ADVICE.get(code) or message or f"HTTP {response.status_code}"
            raise AuthError(f"Microsoft login refused the Entra app ({code or response.status_code}): {advice}")
        body = _json_of(response, "the token request")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"Microsoft login at {urlsplit(url).netloc} answered without an access token; check the "
                            "login URL setting, or a proxy that may be answering in its place")
        self.on_token(token)
        self._token, self._token_expires = token, self.clock() + max(_seconds(body.get("expires_in")) - 60, 0)
        return self._token

    def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET one Graph URL (absolute, or a path under the Graph root); one token refresh on 401."""
        url = url if "//" in url else f"{self.graph_url}{url}"
        self._same_origin(url)
        for attempt in (1, 2):
            sent = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            response = self._send("GET", url, headers=sent)
            if response.status_code == 401 and attempt == 1:
                self._token = ""  # expired or revoked: one fresh token, then give up
                continue
            break
        if response.status_code == 200:
            page = _json_of(response, urlsplit(url).path)
            if not isinstance(page, dict):
                raise GraphError(f"Microsoft Graph answered {urlsplit(url).path} with JSON that is not an object",
                                 response.status_code)
            return page
        code, message = _error_of(response, self._own_secrets.redact)  # redacted, then shortened
        error = DeltaExpired if response.status_code == 410 or code.lower() in DELTA_EXPIRED_CODES else GraphError
        raise error(f"HTTP {response.status_code} {code}: {message}".rstrip(": "), response.status_code, code)

    def _same_origin(self, url: str) -> None:
        """The bearer token only ever goes to the Graph root we were configured with: same scheme, host, port."""
        if origin_of(url) != origin_of(self.graph_url) or insecure_url_problem(url):
            shown = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
            where = "another host" if origin_of(url)[1] != origin_of(self.graph_url)[1] else "another scheme or port"
            raise GraphError(f"Microsoft Graph sent a link to {where} ({shown}) than the Graph address this "
                             f"connection uses ({self.graph_url}): refused, the access token was not sent there")

    def pages(self, path: str, params: Mapping[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Every page of a listing, following @odata.nextLink exactly as given. Any failed page raises
        GraphError("... failed on page N of <what> ...") so that nothing downstream acts on a short read."""
        url = path if "//" in path else f"{self.graph_url}{path}"
        url += f"?{query_string(params)}" if params else ""
        page_number, seen, items, size = 0, set(), 0, 0
        while url:
            page_number += 1
            if url in seen:
                raise GraphError(f"Microsoft Graph returned the same page twice while listing {what}; nothing was changed")
            _check_bounds(what, page_number, items, size)
            seen.add(url)
            try:
                page = self.get_json(url)
            except GraphError as exc:
                raise type(exc)(f"Microsoft Graph failed on page {page_number} of {what}: {exc}; nothing was changed",
                                exc.status, exc.code) from None
            url = page.get("@odata.nextLink") or ""
            if not _is_page(page) or not isinstance(url, str):
                raise GraphError(f"Microsoft Graph answered page {page_number} of {what} with something that is not a "
                                 f"page of {what} (a list of items, each with an id); nothing was changed")
            items += len(page.get("value") or [])
            size += self.last_answer_bytes
            yield page

    def list_all(self, path: str, params: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.pages(path, params, what):
            items.extend(page.get("value") or [])
        return items

    def delta(self, url: str, what: str = "user changes") -> DeltaResult:
        """Follow a delta round from `url` (a stored deltaLink, or /users/delta?...) to its deltaLink.

        A stored link that leads anywhere but this connection's Graph root (the state file was edited, or
        the Graph URL setting changed) is not followed: it counts as expired, so everything is read again."""
        if "//" in url:
            try:
                self._same_origin(url)
            except GraphError as refused:
                log.warning("The stored delta link was not used: %s. Reading everything instead.", refused)
                raise DeltaExpired(str(refused), None, "stored link refused") from None
        result = DeltaResult()
        for page in self.pages(url, {}, what):
            for item in page.get("value") or []:
                result.add(item)
            link = page.get("@odata.deltaLink") or result.delta_link
            result.delta_link = link if isinstance(link, str) else ""
        if not result.delta_link:
            raise GraphError(f"Microsoft Graph ended the {what} without a delta link; nothing was changed")
        return result

    def latest_delta_link(self, select: tuple[str, ...]) -> str:
        """A deltaLink meaning "changes from now on", without reading anyone (`$deltatoken=latest`)."""
        page = self.get_json("/v1.0/users/delta?" + query_string({"$select": ",".join(select), "$deltatoken": "latest"}))
        link = page.get("@odata.deltaLink") or ""
        if not link:
            raise GraphError("Microsoft Graph gave no delta link for $deltatoken=latest")
        return link


def _check_bounds(what: str, pages: int, items: int, size: int) -> None:
    """GraphError once a listing goes past what any tenant needs: a server paging for ever."""
    if pages > MAX_PAGES or items > MAX_ITEMS or size > MAX_LISTING_BYTES:
        raise GraphError(f"Microsoft Graph kept sending pages of {what} ({items} items in {pages - 1} pages, "
                         f"{size >> 20} MB), more than this Integrator reads in one listing ({MAX_ITEMS} items, "
                         f"{MAX_PAGES} pages, {MAX_LISTING_BYTES >> 20} MB); nothing was changed. A proxy or a "
                         "fault at Microsoft may be looping its next links.")


def _json_of(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON (a proxy's page?), or nested too deep to parse
        raise GraphError(f"{urlsplit(response.url or '').netloc or 'Microsoft'} answered {what} with something that "
                         f"is not JSON (HTTP {response.status_code}); a proxy may be answering in Microsoft's place",
                         response.status_code) from None


def _is_page(page: Mapping[str, Any]) -> bool:
    items = page.get("value", [])
    return isinstance(items, list) and all(
        isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] for item in items)


def _seconds(value: Any, default: int = 3600) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except (TypeError, ValueError, OverflowError):
        return default


def query_string(params: Mapping[str, Any]) -> str:
    """OData query options as Graph expects them: `$` and `,` left readable, spaces as %20."""
    return urlencode(params, safe="$,'()", quote_via=quote)


def quote_odata(text: str) -> str:
    """A string literal for $filter: single quotes doubled (OData), the whole quoted."""
    return "'" + text.replace("'", "''") + "'"
