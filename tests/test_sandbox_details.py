"""Two sandbox details the benchmark relies on: people's DNs stay unique past 9,999, and the Halo
sandbox's request log says when each request arrived."""

from __future__ import annotations

import requests

from sandbox.directory_data import SandboxUser, generate_users
from sandbox.halo_server import HaloSandbox, ManualClock


def test_dns_stay_unique_past_four_digits():
    users = generate_users(10001, ["OU=A,DC=x", "OU=B,DC=x"], "x.test", with_guids=False)
    assert len({user.dn for user in users}) == 10001  # person 10,001 was person 1's DN (slapadd refused it)
    assert users[9998].cn.endswith(" 9999") and users[10000].cn.endswith(" 10001")


def test_names_below_ten_thousand_are_unchanged():
    user = generate_users(1, ["OU=A,DC=x"], "x.test", first_number=42, with_guids=False)[0]
    assert user.cn == f"{user.given} {user.surname} 0042"
    assert SandboxUser("jdoe", "John", "Doe", "OU=A", "x.test").cn == "John Doe jdoe"  # no number: as before


def test_each_logged_request_has_the_sandbox_clock_time():
    clock = ManualClock(500.0)
    with HaloSandbox(clock=clock, rate_limit=None) as halo:
        requests.get(halo.url + "/api/AuthInfo", timeout=10)
        clock.advance(2.5)
        requests.get(halo.url + "/api/AuthInfo", timeout=10)
        assert [entry["time"] for entry in halo.requests] == [500.0, 502.5]
