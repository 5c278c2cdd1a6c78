"""Checks of the Halo settings before they are used or saved: each finding is a full sentence.

A problem stops a run (the setting cannot work); a warning is shown and logged (it works, but is
probably not what the user meant).
"""

from __future__ import annotations

import ipaddress
import math
import os
from urllib.parse import urlsplit

from .settings import HaloSettings

HOSTED_REQUEST_LIMIT = 300  # hosted Halo answers 429 past 300 requests per rolling 5 minutes
HOSTED_WINDOW_SECONDS = 300


def validate_halo_settings(s: HaloSettings) -> tuple[list[str], list[str]]:
    """(problems, warnings) about the Halo settings; never mentions a secret's value."""
    problems: list[str] = []
    warnings: list[str] = []
    _check_urls(s, problems, warnings)
    _check_credentials(s, problems, warnings)
    _check_connection(s, problems, warnings)
    _check_limits(s, problems, warnings)
    return problems, warnings


def _check_urls(s: HaloSettings, problems: list[str], warnings: list[str]) -> None:
    if not s.web_app_url.strip() and not (s.api_url.strip() and s.auth_url.strip()):
        problems.append(
            "The Web App URL is empty: enter the address of your Halo (for example https://yourcompany.halopsa.com)."
        )
    for label, value in (("Web App URL", s.web_app_url), ("API URL", s.api_url), ("Auth URL", s.auth_url)):
        if value.strip():
            _check_url(label, value.strip(), problems, warnings)
    if s.web_app_url.strip().rstrip("/").lower().endswith("/api"):
        warnings.append("The Web App URL ends in /api: enter the address of the web app itself, without /api.")
    if s.tenant.strip() and any(ch.isspace() or ch in "/?&#" for ch in s.tenant.strip()):
        problems.append("The Tenant contains spaces or URL characters: copy it exactly as Halo shows it.")


def _check_url(label: str, value: str, problems: list[str], warnings: list[str]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"The {label} is not a web address: it must start with https:// and name a server.")
        return
    if parts.username or parts.password:
        problems.append(f"The {label} contains a user name or password: remove it (Halo uses the Client ID and Secret).")
    if parts.query or parts.fragment:
        warnings.append(f"The {label} contains ?query or #fragment parts, which are ignored: remove them.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        problems.append(
            f"The {label} uses http://: use https:// so the Client Secret and tokens are not sent unencrypted."
        )


def is_loopback(host: str) -> bool:
    """localhost or a loopback address: plain http:// there sends nothing over the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_credentials(s: HaloSettings, problems: list[str], warnings: list[str]) -> None:
    if not s.client_id.strip():
        problems.append("The Client ID is empty: copy it from Configuration > Integrations > Halo Integrator in Halo.")
    if not s.client_secret.strip():
        problems.append(
            "The Client Secret is empty: generate one in Configuration > Integrations > Halo Integrator in Halo "
            "(Halo shows it only once) and enter it on the Configuration tab, or with CONFIGURE --secret-env "
            "client_secret=VARIABLE."
        )
    for label, value in (("Client ID", s.client_id), ("Client Secret", s.client_secret)):
        if value.strip() and value != value.strip():
            warnings.append(f"The {label} starts or ends with spaces, probably copied by accident: remove them.")


def _check_connection(s: HaloSettings, problems: list[str], warnings: list[str]) -> None:
    if s.ca_bundle.strip() and not os.path.isfile(s.ca_bundle.strip()):
        problems.append(f"The CA bundle file {s.ca_bundle.strip()} does not exist: choose a PEM file, or clear the setting.")
    if not s.verify_tls:
        warnings.append(
            "TLS certificate checking is off: anyone between this machine and Halo could read the Client Secret. "
            "Prefer a CA bundle file for a private certificate authority."
        )
    if s.proxy.strip():
        parts = urlsplit(s.proxy.strip())  # the value is never quoted back: it may hold a password
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("The proxy must look like http://host:port (or http://user:password@host:port).")


def _check_limits(s: HaloSettings, problems: list[str], warnings: list[str]) -> None:
    if s.request_budget < 1 or s.budget_window_seconds < 1:
        problems.append("The request budget and its time window must both be at least 1.")
    elif s.request_budget / s.budget_window_seconds > HOSTED_REQUEST_LIMIT / HOSTED_WINDOW_SECONDS:
        warnings.append(
            f"The request budget ({s.request_budget} per {s.budget_window_seconds} s) is above hosted Halo's limit "
            f"of {HOSTED_REQUEST_LIMIT} per {HOSTED_WINDOW_SECONDS} s: Halo may answer 'too many requests'."
        )
    if s.page_size < 1:
        problems.append("The page size must be at least 1.")
    if not math.isfinite(s.timeout_seconds) or s.timeout_seconds <= 0:  # NaN and Infinity parse as JSON
        problems.append("The timeout must be more than 0 seconds.")
    elif s.timeout_seconds < 5:
        warnings.append(f"The timeout of {s.timeout_seconds:g} s is short: large Halo pages may need longer.")
    if not math.isfinite(s.run_time_limit_minutes) or s.run_time_limit_minutes <= 0:
        problems.append("The run time limit (run_time_limit_minutes) must be more than 0 minutes.")
    elif s.run_time_limit_minutes * 60 < s.timeout_seconds:
        warnings.append(f"The run time limit of {s.run_time_limit_minutes:g} minutes is shorter than one answer's "
                        f"timeout ({s.timeout_seconds:g} s): runs will stop early.")
    if s.max_list_records < 1:
        problems.append("The most records one Halo list may hold (max_list_records) must be at least 1.")
