"""Shared pieces for the HaloClient tests: a fake clock, settings, and the answers of a Halo answered by
`responses` (the fixtures ``time``, ``rsps`` and ``halo_api`` are in conftest.py)."""

from __future__ import annotations

import dataclasses
import random

import responses

from halointegrator.halo.client import HaloClient
from halointegrator.http import RetryPolicy
from halointegrator.local.settings import HaloSettings

WEB = "https://acme.halopsa.com"
API = WEB + "/api"
AUTH = "https://auth.halopsa.com"
TOKEN_URL = AUTH + "/token"
TENANT = "acme"
SECRET = "s3cr3t-Client-Secret-value"
TOKENS = ("tok-first-0123456789", "tok-second-0123456789", "tok-third-0123456789")


class FakeTime:
    """A clock that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def halo_settings(**overrides) -> HaloSettings:
    base = HaloSettings(web_app_url=WEB, client_id="integrator-app", client_secret=SECRET, request_budget=0,
                        page_size=2, timeout_seconds=30)
    return dataclasses.replace(base, **overrides)


def make_client(time: FakeTime, settings: HaloSettings | None = None, *, max_attempts: int = 4, **kwargs) -> HaloClient:
    retry = RetryPolicy(max_attempts=max_attempts, sleep=time.sleep, clock=time.clock, rng=random.Random(3))
    return HaloClient(settings or halo_settings(), retry=retry, clock=time.clock, sleep=time.sleep, **kwargs)


def add_discovery(rsps: responses.RequestsMock, *, auth_url: str = AUTH, tenant: str | None = TENANT) -> None:
    rsps.get(API + "/AuthInfo", json={"auth_url": auth_url, "tenant_id": tenant})


def add_tokens(rsps: responses.RequestsMock, tokens=TOKENS, expires_in: int = 3600) -> None:
    for token in tokens:
        rsps.post(TOKEN_URL, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def api_calls(rsps: responses.RequestsMock) -> list:
    return [call for call in rsps.calls if call.request.url.startswith(API + "/") and "/AuthInfo" not in call.request.url]
