"""validate_halo_settings: a table of settings and the sentences they must produce."""

from __future__ import annotations

import dataclasses

import pytest

from halointegrator.local.config import HaloSettings, validate_halo_settings

GOOD = HaloSettings(
    web_app_url="https://acme.halopsa.com",
    client_id="0b6d7d6e-1f2a-4c9e-9a55-3b8f0e3f2c11",
    client_secret="a-long-client-secret-value",
)


def check(**changes) -> tuple[list[str], list[str]]:
    return validate_halo_settings(dataclasses.replace(GOOD, **changes))


def test_good_settings_have_no_findings():
    assert check() == ([], [])


def test_loopback_http_is_fine_for_the_sandbox():
    assert check(web_app_url="http://127.0.0.1:8765") == ([], [])


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"web_app_url": ""}, "Web App URL is empty"),
        ({"web_app_url": "acme.halopsa.com"}, "Web App URL is not a web address"),
        ({"web_app_url": "http://acme.halopsa.com"}, "uses http://"),
        ({"auth_url": "https://user:pw@acme.halopsa.com/auth"}, "contains a user name or password"),
        ({"client_id": " "}, "Client ID is empty"),
        ({"client_secret": ""}, "Client Secret is empty"),
        ({"tenant": "my tenant"}, "Tenant contains spaces"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "CA bundle file /nonexistent/ca.pem does not exist"),
        ({"proxy": "socks5://proxy:1080"}, "proxy must look like"),
        ({"request_budget": 0}, "request budget"),
        ({"page_size": 0}, "page size"),
        ({"timeout_seconds": 0}, "timeout must be more than 0"),
    ],
)
def test_problems(changes, expected):
    problems, _ = check(**changes)
    assert any(expected in sentence for sentence in problems), problems
    assert all(sentence.endswith(".") for sentence in problems)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"web_app_url": "https://acme.halopsa.com/api"}, "ends in /api"),
        ({"client_secret": "secret-with-space "}, "Client Secret starts or ends with spaces"),
        ({"verify_tls": False}, "TLS certificate checking is off"),
        ({"request_budget": 1000}, "above hosted Halo's limit"),
        ({"timeout_seconds": 1}, "timeout of 1 s is short"),
    ],
)
def test_warnings(changes, expected):
    problems, warnings = check(**changes)
    assert problems == []
    assert any(expected in sentence for sentence in warnings), warnings


def test_overrides_replace_the_web_app_url():
    problems, _ = check(web_app_url="", api_url="https://acme.halopsa.com/api", auth_url="https://acme.halopsa.com/auth")
    assert problems == []


def test_findings_never_quote_a_secret():
    secret = "Pr0xy-pass-unique"
    problems, warnings = check(client_secret=f" {secret} ", proxy=f"ftp://u:{secret}@proxy", verify_tls=False)
    assert problems and warnings
    assert all(secret not in sentence for sentence in problems + warnings)
