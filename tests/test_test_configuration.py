"""Test Configuration: one tick or cross per step, later steps not run after a cross, never a raise."""

from __future__ import annotations

import pytest
import requests

from halointegrator.halo import setup_check as checks
from halointegrator.engine.model import Check
from tests.fixtures_halo import API, SECRET, TOKEN_URL, WEB, add_discovery, halo_settings, make_client

ADMIN = {"id": 4, "name": "Halo Integrator", "is_admin": True}
LABELS = ["Web App URL is valid", f"Halo answers at {WEB}", "Client ID and secret accepted", "Agent", "Halo version"]


def run(time, settings=None, **client_options):
    settings = settings or halo_settings()
    return checks.test_configuration(settings, client=make_client(time, settings, max_attempts=2, **client_options))


def labels(results: list[Check]) -> list[str]:
    return [check.label for check in results]


def test_all_steps_pass(halo_api, time):
    halo_api.get(API + "/Agent/me", json=ADMIN)
    halo_api.get(API + "/InstanceInfo", json={"app_version": "2.184.7", "app_name": "HaloITSM"})
    results = run(time)
    assert all(check.ok for check in results)
    assert labels(results) == LABELS[:3] + ["Agent: Halo Integrator", "Halo version 2.184.7"]
    assert "auth.halopsa.com" in results[1].detail and "tenant acme" in results[1].detail


def test_agent_that_is_not_an_administrator(halo_api, time):
    halo_api.get(API + "/Agent/me", json={"id": 9, "name": "Sam Agent", "is_admin": False})
    results = run(time)
    assert results[3] == Check(
        "Agent: Sam Agent", False,
        "the agent Sam Agent is not an administrator: the guide requires an agent with administrator permissions; "
        "choose one under Configuration > Integrations > Halo Integrator",
    )
    assert results[4] == Check("Halo version", False, checks.NOT_RUN)


def test_invalid_url_skips_everything_else(rsps, time):
    results = checks.test_configuration(halo_settings(web_app_url="ftp://halo"))
    assert [check.ok for check in results] == [False] * 5
    assert "not a web address" in results[0].detail
    assert all(check.detail == checks.NOT_RUN for check in results[1:])
    assert len(rsps.calls) == 0


def test_unreachable_halo(rsps, time):
    rsps.get(API + "/AuthInfo", body=requests.ConnectionError("Connection aborted"))
    results = run(time)
    assert [check.ok for check in results] == [True, False, False, False, False]
    assert results[1].detail.startswith("Cannot reach Halo at acme.halopsa.com")
    assert labels(results) == LABELS


def test_wrong_secret(rsps, time):
    add_discovery(rsps)
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "bad"})
    results = run(time)
    assert [check.ok for check in results] == [True, True, False, False, False]
    assert results[2].detail.startswith("Halo refused the client ID or secret")
    assert SECRET not in repr(results)


def test_missing_credentials_are_asked_for_without_a_request(rsps, time):
    add_discovery(rsps)
    results = run(time, halo_settings(client_secret=""))
    assert not results[2].ok and "enter the client ID and client secret" in results[2].detail
    assert [call.request.url for call in rsps.calls] == [API + "/AuthInfo"]


def test_version_step_failure_is_a_cross(halo_api, time):
    halo_api.get(API + "/Agent/me", json=ADMIN)
    halo_api.get(API + "/InstanceInfo", status=403, json={"Message": "denied"})
    results = run(time)
    assert [check.ok for check in results] == [True, True, True, True, False]
    assert results[4].label == "Halo version" and "lacks a permission" in results[4].detail


def test_html_answer_from_a_proxy(rsps, time):
    rsps.get(API + "/AuthInfo", body="<html>Please log in to the gateway</html>", content_type="text/html")
    results = run(time)
    assert not results[1].ok and "HTML page instead of JSON" in results[1].detail


def test_unknown_version_is_still_a_tick(halo_api, time):
    halo_api.get(API + "/Agent/me", json=ADMIN)
    halo_api.get(API + "/InstanceInfo", json={})
    assert run(time)[4] == Check("Halo version unknown", True, "InstanceInfo gave no app_version")


def test_a_bad_ca_bundle_is_a_cross_not_a_crash(rsps, tmp_path):
    results = checks.test_configuration(halo_settings(ca_bundle=str(tmp_path / "none.pem")))
    assert [check.ok for check in results] == [True, False, False, False, False]
    assert "CA bundle" in results[1].detail


@pytest.mark.parametrize(
    "web, api, ok, detail",
    [
        ("https://acme.halopsa.com/", "", True, "https://acme.halopsa.com"),
        ("acme.halopsa.com", "", True, "https://acme.halopsa.com"),
        ("http://halo.corp.local", "", True, "warning: plain http"),
        ("http://127.0.0.1:8080", "", True, "http://127.0.0.1:8080"),
        ("", "https://h.example.net/api", True, "not set; the API URL https://h.example.net/api is used"),
        ("", "", False, "is empty"),
    ],
)
def test_web_app_url_step(web, api, ok, detail):
    check, _url = checks.check_web_app_url(halo_settings(web_app_url=web, api_url=api))
    assert check.ok is ok and detail in check.detail


def test_pytest_does_not_mistake_it_for_a_test():
    assert checks.test_configuration.__test__ is False
