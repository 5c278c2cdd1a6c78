"""Test Configuration: the ticks and crosses of the Configuration tab, one step after another.

Each step needs the one before it (no token without the auth server, no agent without a token), so
after the first cross the rest are shown as not run. Expected failures become crosses with the
error's own advice; only a bug raises.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from halointegrator.local.config_checks import is_loopback
from halointegrator.errors import IntegratorError
from halointegrator.halo.client import HaloClient, normalise_url, web_app_base
from halointegrator.http import RetryPolicy
from halointegrator.engine.model import Check

URL_STEP = "Web App URL is valid"
CREDENTIALS_STEP = "Client ID and secret accepted"
AGENT_STEP = "Agent"
VERSION_STEP = "Halo version"
NOT_RUN = "not run: an earlier step failed"
INTEGRATOR_PAGE = "Configuration > Integrations > Halo Integrator"


def test_configuration(settings: Any, *, client: HaloClient | None = None) -> list[Check]:
    """Validate the settings, then ask Halo: discovery, token, the agent, the version."""
    url_check, url = check_web_app_url(settings)
    steps: list[tuple[str, Callable[[HaloClient, str], Check]]] = [
        (f"Halo answers at {url}", _discovery),
        (CREDENTIALS_STEP, _credentials),
        (AGENT_STEP, _agent),
        (VERSION_STEP, _version),
    ]
    if not url_check.ok:
        return [url_check] + _not_run(steps)
    own_client = client is None
    try:
        if client is None:
            # A person is waiting for the ticks: fail in seconds, not after ten minutes of backoff.
            client = HaloClient(settings, retry=RetryPolicy(max_attempts=2, max_total=15.0, timeout=(10.0, 30.0)))
    except IntegratorError as error:
        return [url_check, Check(steps[0][0], False, str(error))] + _not_run(steps[1:])
    results = [url_check]
    try:
        for number, (label, step) in enumerate(steps):
            check = _run(step, client, label)
            results.append(check)
            if not check.ok:
                return results + _not_run(steps[number + 1:])
    finally:
        if own_client:
            client.close()
    return results


test_configuration.__test__ = False  # not a pytest test, whatever its name says


def check_web_app_url(settings: Any) -> tuple[Check, str]:
    """The first step, without any request: (check, the URL the next step will ask)."""
    web = str(settings.web_app_url or "").strip()
    api_override = str(settings.api_url or "").strip()
    try:
        if not web and api_override:
            url = normalise_url(api_override, "API URL")
            return Check(URL_STEP, True, f"not set; the API URL {url} is used"), url
        url = web_app_base(web)
    except IntegratorError as error:
        return Check(URL_STEP, False, str(error)), web or "(no address)"
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        return Check(URL_STEP, True, "warning: plain http sends the client secret unencrypted; use https"), url
    return Check(URL_STEP, True, url), url


def _run(step: Callable[[HaloClient, str], Check], client: HaloClient, label: str) -> Check:
    try:
        return step(client, label)
    except IntegratorError as error:
        return Check(label, False, str(error))


def _discovery(client: HaloClient, label: str) -> Check:
    endpoints = client.endpoints()
    detail = f"API {endpoints.api_url}, auth server {endpoints.auth_url}"
    if endpoints.tenant:
        detail += f", tenant {endpoints.tenant}"
    return Check(label, True, detail)


def _credentials(client: HaloClient, label: str) -> Check:
    settings = client.settings
    if not settings.client_id or not settings.client_secret:
        return Check(label, False, f"enter the client ID and client secret shown in {INTEGRATOR_PAGE} in Halo")
    client.token()
    return Check(label, True, f"client ID {client.client_id}")


def _agent(client: HaloClient, label: str) -> Check:
    agent = client.get("Agent/me")
    if not isinstance(agent, dict):
        return Check(label, False, "Halo's answer to Agent/me is not an agent record")
    name = str(agent.get("name") or f"id {agent.get('id', '?')}")
    if agent.get("is_admin") is not True:
        return Check(
            f"{AGENT_STEP}: {name}", False,
            f"the agent {name} is not an administrator: the guide requires an agent with administrator "
            f"permissions; choose one under {INTEGRATOR_PAGE}",
        )
    return Check(f"{AGENT_STEP}: {name}", True, "administrator")


def _version(client: HaloClient, label: str) -> Check:
    info = client.get("InstanceInfo")
    version = str((info or {}).get("app_version") or "") if isinstance(info, dict) else ""
    if not version:
        return Check(f"{VERSION_STEP} unknown", True, "InstanceInfo gave no app_version")
    return Check(f"{VERSION_STEP} {version}", True, str(info.get("app_name") or ""))


def _not_run(steps: list[tuple[str, Any]]) -> list[Check]:
    return [Check(label, False, NOT_RUN) for label, _step in steps]
