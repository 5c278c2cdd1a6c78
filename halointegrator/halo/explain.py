"""Halo's answers in words: a refused token, a server that keeps failing, and what discovery may name.

The Halo client's rules for reading answers live here so the client itself stays about requests.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from halointegrator.errors import AuthError, HaloError
from halointegrator.http import describe_response_error, insecure_url_problem



def _host(url: str) -> str:
    return urlsplit(url).netloc or url


WHERE_CREDENTIALS = (
    "Copy the client ID and a newly generated client secret from Configuration > Integrations > Halo Integrator "
    "in Halo into the Configuration tab."
)


def token_error(response: requests.Response, endpoints: Any, clean: Callable[[str], str]) -> HaloError:
    """What a refused token request means: wrong credentials, an unknown tenant, or something else."""
    host = _host(endpoints.auth_url)
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("error") or "").lower()
    words = f"{code} {body.get('error_description') or ''} {response.text[:500]}".lower()
    if "tenant" in words or (endpoints.tenant and response.status_code == 404):
        known = f"does not know the tenant '{endpoints.tenant}'" if endpoints.tenant else "needs a tenant"
        return AuthError(clean(
            f"Halo's auth server at {host} {known}. Hosted Halo shows the tenant with the API and Auth URLs in "
            "Configuration > Integrations > Halo Integrator; enter it exactly in the Tenant setting "
            "(self-hosted Halo needs none: leave it empty)."
        ))
    if code in ("invalid_client", "unauthorized_client") or response.status_code == 401:
        return AuthError(clean(
            f"Halo refused the client ID or secret ({code or response.status_code}) at {host}. " + WHERE_CREDENTIALS
        ))
    if code == "invalid_scope":
        return AuthError(clean(
            f"Halo's auth server at {host} refused the scope 'all': give the Halo Integrator application "
            "full permissions (Configuration > Integrations > Halo Integrator)."
        ))
    return HaloError(clean(describe_response_error(response, host) + " (request: token)"), response.status_code)


def refuse_insecure_discovery(auth_url: str, api_url: str) -> None:
    """Halo's AuthInfo answer names where the client secret goes: it must pass the typed URLs' https rule."""
    problem = insecure_url_problem(auth_url)
    if problem:
        raise AuthError(
            f"Halo's discovery ({api_url}/AuthInfo) names the auth server {auth_url}, but {problem}: the client "
            "secret was not sent there. If that really is your Halo's auth server, enter its https:// address as "
            "the Auth URL in the Configuration tab (with the API URL and tenant); otherwise something is "
            "answering in Halo's place."
        )


def is_status_write_back(body: Any) -> bool:
    """A POST of connection records that only set Last Sync / Last Error (what the runner sends back:
    ``halointegrator_lastsync``, or per module, e.g. ``halointegrator_lansweeper_lasterror``)."""
    return (isinstance(body, list) and bool(body)
            and all(isinstance(record, dict) and all(map(_is_status_field, record)) for record in body))


def _is_status_field(name: Any) -> bool:
    name = str(name)
    return name == "id" or (name.startswith("halointegrator_") and name.endswith(("_lastsync", "_lasterror")))


def kept_answering(response: requests.Response, host: str, attempts: int) -> str:
    status = response.status_code
    text = f"Halo at {host} kept answering {status} {response.reason or ''}".rstrip()
    text += f" after {attempts} attempts; try again later." if attempts > 1 else "; try again later."
    if status == 429:
        text += (" Halo limits how many requests a client may send (hosted Halo: about 300 per 5 minutes); "
                 "lower the request budget setting if this keeps happening.")
    return text
