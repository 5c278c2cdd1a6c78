"""HaloClient against a Halo answered by `responses`: discovery, token, reads, writes, errors, budget."""

from __future__ import annotations

import email.utils
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3.exceptions
from responses import matchers

from halointegrator.errors import AuthError, ConfigError, HaloError, IntegratorError, RetriableError
from halointegrator.halo.client import Endpoints, normalise_url
from tests.fixtures_halo import (
    API, AUTH, SECRET, TENANT, TOKEN_URL, TOKENS, WEB, add_discovery, add_tokens, api_calls, halo_settings,
    make_client,
)


def form_of(call) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(call.request.body).items()}


def query_of(call) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


# ---- discovery ---------------------------------------------------------------------------------


def test_endpoints_come_from_auth_info_and_are_cached(rsps, time):
    add_discovery(rsps)
    client = make_client(time)
    assert client.endpoints() == Endpoints(API, AUTH, TENANT)
    assert client.endpoints() == Endpoints(API, AUTH, TENANT)
    assert len(rsps.calls) == 1 and "Authorization" not in rsps.calls[0].request.headers
    assert client.stats["discovery"] == 1


def test_settings_overrides_win_over_discovery(rsps, time):
    add_discovery(rsps, tenant="other")
    client = make_client(time, halo_settings(auth_url="https://auth.example.net/auth/", tenant="mine"))
    assert client.endpoints() == Endpoints(API, "https://auth.example.net/auth", "mine")


def test_all_three_overrides_skip_discovery(rsps, time):
    settings = halo_settings(web_app_url="", api_url="https://h.example.net/api", auth_url=AUTH, tenant="t")
    assert make_client(time, settings).endpoints() == Endpoints("https://h.example.net/api", AUTH, "t")
    assert len(rsps.calls) == 0


def test_failed_discovery_is_forgiven_when_the_auth_url_is_set(rsps, time):
    rsps.get(API + "/AuthInfo", status=404)
    client = make_client(time, halo_settings(auth_url=AUTH))
    assert client.endpoints() == Endpoints(API, AUTH, "")


def test_failed_discovery_without_overrides_says_where_it_looked(rsps, time):
    rsps.get(API + "/AuthInfo", status=404, json={"Message": "No HTTP resource"})
    with pytest.raises(HaloError) as failure:
        make_client(time).endpoints()
    assert f"{API}/AuthInfo" in str(failure.value) and "Web App URL" in str(failure.value)


def test_self_hosted_discovery_without_tenant_and_with_a_pasted_api_suffix(rsps, time):
    add_discovery(rsps, auth_url=WEB + "/auth", tenant=None)
    client = make_client(time, halo_settings(web_app_url=" acme.halopsa.com/api/ "))
    assert client.endpoints() == Endpoints(API, WEB + "/auth", "")


def test_missing_auth_url_in_discovery_falls_back_to_slash_auth(rsps, time):
    rsps.get(API + "/AuthInfo", json={})
    assert make_client(time).endpoints().auth_url == WEB + "/auth"


@pytest.mark.parametrize("url", ["", "   ", "ftp://halo.example.com", "https://"])
def test_invalid_web_app_url_is_a_config_error(url):
    with pytest.raises(ConfigError):
        normalise_url(url)


# ---- token -------------------------------------------------------------------------------------


def test_token_request_is_client_credentials_with_tenant_in_the_query(halo_api, time):
    seen = []
    client = make_client(time, on_token=seen.append)
    assert client.token() == TOKENS[0]
    call = halo_api.calls[-1]
    assert call.request.url.startswith(TOKEN_URL + "?")
    assert query_of(call) == {"tenant": TENANT}
    assert form_of(call) == {"grant_type": "client_credentials", "client_id": "integrator-app",
                             "client_secret": SECRET, "scope": "all"}
    assert seen == [TOKENS[0]]


def test_no_tenant_means_no_tenant_parameter(rsps, time):
    add_discovery(rsps, tenant="")
    add_tokens(rsps)
    make_client(time).token()
    assert rsps.calls[-1].request.url == TOKEN_URL


def test_token_is_cached_until_a_minute_before_expiry(halo_api, time):
    client = make_client(time)
    assert client.token() == TOKENS[0]
    time.now += 3539
    assert client.token() == TOKENS[0]
    time.now += 1
    assert client.token() == TOKENS[1]
    assert client.stats["token"] == 2


def test_expired_token_mid_run_is_replaced_once(halo_api, time):
    halo_api.get(API + "/Users/12", status=401, json={"error": "invalid_token"})
    halo_api.get(API + "/Users/12", json={"id": 12})
    client = make_client(time)
    assert client.get("Users/12") == {"id": 12}
    bearers = [call.request.headers["Authorization"] for call in api_calls(halo_api)]
    assert bearers == [f"Bearer {TOKENS[0]}", f"Bearer {TOKENS[1]}"]


def test_a_fresh_token_refused_too_is_an_auth_error(halo_api, time):
    halo_api.get(API + "/Agent/me", status=401, json={"error": "invalid_token"})
    with pytest.raises(AuthError, match="fresh token was refused"):
        make_client(time).get("Agent/me")
    assert len(api_calls(halo_api)) == 2


def test_wrong_client_secret(rsps, time):
    add_discovery(rsps)
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "unknown client"})
    with pytest.raises(AuthError) as failure:
        make_client(time).token()
    message = str(failure.value)
    assert message.startswith("Halo refused the client ID or secret (invalid_client)")
    assert "Configuration > Integrations > Halo Integrator" in message


def test_unknown_tenant(rsps, time):
    add_discovery(rsps, tenant="acme-typo")
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_request", "error_description": "Tenant 'acme-typo' not found"})
    with pytest.raises(AuthError, match="does not know the tenant 'acme-typo'.*Tenant setting"):
        make_client(time).token()


def test_token_answer_without_access_token(rsps, time):
    add_discovery(rsps)
    rsps.post(TOKEN_URL, json={"token_type": "Bearer"})
    with pytest.raises(AuthError, match="without an access token"):
        make_client(time).token()


# ---- reads and writes --------------------------------------------------------------------------


def test_get_sends_bearer_and_params_and_returns_json(halo_api, time):
    halo_api.get(API + "/Agent/me", json={"id": 1, "name": "API agent"},
             match=[matchers.header_matcher({"Authorization": f"Bearer {TOKENS[0]}"})])
    client = make_client(time)
    assert client.get("Agent/me") == {"id": 1, "name": "API agent"}
    assert client.get("/Agent/me", params={"includedetails": "true"}) == {"id": 1, "name": "API agent"}
    assert query_of(api_calls(halo_api)[-1]) == {"includedetails": "true"}
    assert client.stats["read"] == 2 and client.stats["token"] == 1


def test_post_sends_a_json_array(halo_api, time):
    halo_api.post(API + "/Users", json={"id": 7, "name": "Ada"}, status=201)
    client = make_client(time)
    records = [{"name": "Ada", "site_id": 3}, {"id": 5, "inactive": True}]
    assert client.post("Users", records, idempotent=False) == {"id": 7, "name": "Ada"}
    assert json.loads(api_calls(halo_api)[0].request.body) == records
    assert client.stats["write"] == 1


def test_empty_answer_is_none(halo_api, time):
    halo_api.post(API + "/Users", status=204)
    assert make_client(time).post("Users", [{"id": 1}], idempotent=True) is None


@pytest.mark.parametrize("status", [502, 503, 504])
def test_transient_errors_on_reads_are_retried(halo_api, time, status):
    halo_api.get(API + "/InstanceInfo", status=status)
    halo_api.get(API + "/InstanceInfo", json={"app_version": "2.180.1"})
    client = make_client(time)
    assert client.get("InstanceInfo") == {"app_version": "2.180.1"}
    assert len(time.sleeps) == 1 and client.stats["retry"] == 1


def test_429_retry_after_seconds_and_date(halo_api, time):
    date = email.utils.formatdate(1_700_000_045, usegmt=True)
    halo_api.get(API + "/Users/1", status=429, headers={"Retry-After": "20"}, body="Rate Limit Reached")
    halo_api.get(API + "/Users/1", status=429, headers={"Retry-After": date})
    halo_api.get(API + "/Users/1", json={"id": 1})
    client = make_client(time)
    client.retry.wall_clock = lambda: 1_700_000_000.0
    assert client.get("Users/1") == {"id": 1}
    assert time.sleeps == [20.0, 45.0]


def test_halo_that_keeps_failing_gives_a_retriable_error(halo_api, time):
    halo_api.get(API + "/Users/1", status=503)
    with pytest.raises(RetriableError) as failure:
        make_client(time, max_attempts=3).get("Users/1")
    assert str(failure.value).startswith("Halo at acme.halopsa.com kept answering 503 Service Unavailable after 3 attempts")
    assert failure.value.status == 503 and "GET Users/1" in str(failure.value)


def test_kept_answering_429_points_at_the_budget(halo_api, time):
    halo_api.get(API + "/Users/1", status=429)
    with pytest.raises(RetriableError, match="request budget setting"):
        make_client(time, max_attempts=2).get("Users/1")


@pytest.mark.parametrize("status", [502, 504])
def test_creates_are_not_repeated_after_502_or_504(halo_api, time, status):
    halo_api.post(API + "/Users", status=status)
    with pytest.raises(RetriableError, match="not repeated: Halo may have processed it"):
        make_client(time).post("Users", [{"name": "Ada"}], idempotent=False)
    assert len(api_calls(halo_api)) == 1 and time.sleeps == []


def test_creates_are_not_repeated_after_a_read_timeout(halo_api, time):
    halo_api.post(API + "/Users", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(RetriableError, match="Cannot reach Halo at acme.halopsa.com: no answer within the timeout"):
        make_client(time).post("Users", [{"name": "Ada"}], idempotent=False)
    assert len(api_calls(halo_api)) == 1


def test_updates_are_repeated_after_502(halo_api, time):
    halo_api.post(API + "/Users", status=502)
    halo_api.post(API + "/Users", json=[{"id": 5}])
    assert make_client(time).post("Users", [{"id": 5, "title": "CTO"}], idempotent=True) == [{"id": 5}]


@pytest.mark.parametrize("status, words", [(400, "answered HTTP 400"), (403, "lacks a permission"), (404, "HTTP 404")])
def test_client_errors_are_fatal_with_halos_message(halo_api, time, status, words):
    halo_api.post(API + "/Users", status=status, json={"ClassName": "System.Exception", "Message": "Site is required"})
    with pytest.raises(HaloError) as failure:
        make_client(time).post("Users", [{"name": "Ada"}], idempotent=False)
    assert not isinstance(failure.value, RetriableError) and failure.value.status == status
    assert words in str(failure.value) and "Site is required" in str(failure.value)
    assert len(api_calls(halo_api)) == 1


def test_connection_error_is_retried_then_explained(halo_api, time):
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    failure = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, API, refused))
    for _ in range(3):
        halo_api.get(API + "/Users/1", body=failure)
    with pytest.raises(RetriableError) as raised:
        make_client(time, max_attempts=3).get("Users/1")
    assert str(raised.value).startswith("Cannot reach Halo at acme.halopsa.com:")
    assert "after 3 attempts" in str(raised.value) and "DNS, firewall and proxy" in str(raised.value)
    assert len(time.sleeps) == 2


def test_tls_failure_names_the_ca_bundle_setting(rsps, time):
    rsps.get(API + "/AuthInfo", body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(HaloError, match="cannot be verified.*CA bundle setting"):
        make_client(time).endpoints()


def test_html_page_instead_of_json(halo_api, time):
    halo_api.get(API + "/Agent/me", body="<html><title>Proxy login</title></html>", content_type="text/html")
    with pytest.raises(HaloError, match="Halo at acme.halopsa.com answered with an HTML page instead of JSON"):
        make_client(time).get("Agent/me")


def test_truncated_json(halo_api, time):
    halo_api.get(API + "/Agent/me", body='{"id": 1, "name": "Ag', content_type="application/json")
    with pytest.raises(HaloError, match="incomplete JSON"):
        make_client(time).get("Agent/me")


# ---- request budget ----------------------------------------------------------------------------


def test_budget_waits_for_a_free_slot_and_says_so(halo_api, time, caplog):
    caplog.set_level(logging.INFO)
    halo_api.get(API + "/Users/1", json={"id": 1})
    client = make_client(time, halo_settings(request_budget=3, budget_window_seconds=300))
    client.endpoints()  # discovery: one request
    time.now += 10
    client.get("Users/1")  # token + get: budget full at 1000, 1010, 1010
    time.now += 5
    client.get("Users/1")  # waits until the first request leaves the window
    assert time.sleeps == [pytest.approx(285)]
    waits = [record.getMessage() for record in caplog.records if "request budget" in record.getMessage()]
    assert waits == ["Waiting 285s for Halo's request budget (3 requests per 300s)"]


def test_budget_counts_retries(halo_api, time):
    halo_api.get(API + "/Users/1", status=503)
    halo_api.get(API + "/Users/1", json={"id": 1})
    client = make_client(time, halo_settings(request_budget=4, budget_window_seconds=1000))
    client.get("Users/1")  # discovery, token, 503, retry: four requests
    assert len(time.sleeps) == 1  # the retry backoff only
    client.get("Users/1")
    assert len(time.sleeps) == 2 and time.now >= 2000


def test_no_budget_means_no_waiting(halo_api, time):
    halo_api.get(API + "/Users/1", json={"id": 1})
    client = make_client(time, halo_settings(request_budget=0))
    for _ in range(50):
        client.get("Users/1")
    assert time.sleeps == []


# ---- secrets -----------------------------------------------------------------------------------


def test_repr_hides_the_secret(time):
    client = make_client(time)
    assert SECRET not in repr(client) and "integrator-app" in repr(client)


def _messages_from_every_branch(rsps, time) -> list[str]:
    echo = {"Message": f"bad request client_secret={SECRET} Authorization: Bearer {TOKENS[0]}"}
    branches = [
        lambda: rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": f"secret {SECRET}"}),
        lambda: rsps.post(TOKEN_URL, status=400, json={"error": "invalid_request", "error_description": f"tenant {SECRET}"}),
        lambda: rsps.post(TOKEN_URL, status=500, body=f"<html>{SECRET}</html>"),
        lambda: rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": SECRET}),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.get(API + "/Users/1", status=400, json=echo)),
        lambda: (add_tokens(rsps, TOKENS[:2]), rsps.get(API + "/Users/1", status=401, json=echo)),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.get(API + "/Users/1", status=503, json=echo)),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.get(API + "/Users/1", body=requests.ConnectionError(f"{SECRET} {TOKENS[0]}"))),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.get(API + "/Users/1", body=requests.exceptions.SSLError(f"{SECRET} {TOKENS[0]}"))),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.get(API + "/Users/1", body=f'{{"x": "{TOKENS[0]}')),
        lambda: (add_tokens(rsps, TOKENS[:1]), rsps.post(API + "/Users", status=502, body=f"{SECRET}{TOKENS[0]}")),
    ]
    messages = []
    for add in branches:
        rsps.reset()
        add_discovery(rsps)
        add()
        client = make_client(time, max_attempts=2)
        with pytest.raises(IntegratorError) as failure:
            if "/Users" in str(rsps.registered()[-1].url) and rsps.registered()[-1].method == "POST":
                client.post("Users", [{"name": "x"}], idempotent=False)
            else:
                client.get("Users/1")
        messages.append(str(failure.value))
    return messages


def test_no_error_message_or_log_line_holds_a_secret_or_token(rsps, time, caplog):
    caplog.set_level(logging.DEBUG)
    messages = _messages_from_every_branch(rsps, time)
    assert len(set(messages)) == len(messages) == 11  # every branch gave its own message
    for text in messages + [caplog.text]:
        assert SECRET not in text
        for token in TOKENS:
            assert token not in text
    assert "Authorization" not in caplog.text


def test_proxy_password_is_redacted(rsps, time):
    rsps.get(API + "/AuthInfo", json={"Message": "via http://user:pr0xy-Pass-word@proxy.corp:3128"}, status=400)
    client = make_client(time, halo_settings(proxy="http://user:pr0xy-Pass-word@proxy.corp:3128"), max_attempts=1)
    with pytest.raises(HaloError) as failure:
        client.endpoints()
    assert "pr0xy-Pass-word" not in str(failure.value) and "proxy.corp" in str(failure.value)


# ---- against the Halo sandbox (a real HTTP server on 127.0.0.1) --------------------------------


def sandbox_settings(sandbox, **overrides):
    options = dict(web_app_url=sandbox.url, client_id="halo-integrator", client_secret="sandbox-secret",
                   request_budget=0, page_size=3, tenant="")
    options.update(overrides)
    return halo_settings(**options)


@pytest.fixture
def sandbox(time):
    from sandbox.halo_server import HaloSandbox

    with HaloSandbox(clock=time.clock) as running:
        running.add_many("users", [{"name": f"Person {n}", "site_id": 1, "inactive": n % 4 == 0} for n in range(1, 11)])
        yield running


def test_sandbox_discovery_token_and_complete_paged_read(sandbox, time):
    client = make_client(time, sandbox_settings(sandbox))
    assert client.endpoints() == Endpoints(sandbox.api_url, sandbox.auth_url, "sandbox")
    everyone = client.list("Users", "users", params={"includeinactive": "true"})
    assert sorted(user["id"] for user in everyone) == sorted(user["id"] for user in sandbox.records("users"))
    assert client.stats["read"] == 4  # ten users, three a page
    assert sandbox.counts()["token"] == 1


def test_sandbox_post_creates_and_updates(sandbox, time):
    client = make_client(time, sandbox_settings(sandbox))
    client.post("Users", [{"name": "Ada Lovelace", "site_id": 2}], idempotent=False)
    ada = next(user for user in sandbox.records("users") if user["name"] == "Ada Lovelace")
    client.post("Users", [{"id": ada["id"], "title": "Analyst"}], idempotent=True)
    assert sandbox.get("users", ada["id"])["title"] == "Analyst"


def test_sandbox_expired_token_is_replaced_once(sandbox, time):
    client = make_client(time, sandbox_settings(sandbox))
    client.get("Agent/me")
    sandbox.expire_tokens()
    assert client.get("Agent/me")["is_admin"] is True
    assert sandbox.counts()["token"] == 2


def test_sandbox_refuses_wrong_secret_and_unknown_tenant(sandbox, time):
    with pytest.raises(AuthError, match="refused the client ID or secret"):
        make_client(time, sandbox_settings(sandbox, client_secret="wrong")).token()
    with pytest.raises(AuthError, match="does not know the tenant 'nope'"):
        make_client(time, sandbox_settings(sandbox, tenant="nope")).token()


def test_sandbox_faults_are_retried_or_explained(sandbox, time):
    client = make_client(time, sandbox_settings(sandbox))
    sandbox.faults.fail_next(2, status=503, path_prefix="/api/InstanceInfo")
    sandbox.faults.reset_next(1, path_prefix="/api/InstanceInfo")
    assert client.get("InstanceInfo")["app_version"] == "2.184.21"
    assert client.stats["retry"] == 3
    sandbox.faults.html_next(1, path_prefix="/api/Agent")
    with pytest.raises(HaloError, match="HTML page instead of JSON"):
        client.get("Agent/me")


def test_sandbox_create_not_repeated_after_reset(sandbox, time):
    client = make_client(time, sandbox_settings(sandbox))
    client.token()
    sandbox.faults.reset_next(1, path_prefix="/api/Users")
    with pytest.raises(RetriableError, match="Cannot reach Halo"):
        client.post("Users", [{"name": "Grace Hopper", "site_id": 1}], idempotent=False)
    assert sandbox.counts()["write"] == 1


def test_sandbox_budget_keeps_under_halos_rate_limit(time):
    from sandbox.halo_server import HaloSandbox

    with HaloSandbox(clock=time.clock, rate_limit=5, rate_window=60) as limited:
        client = make_client(time, sandbox_settings(limited, request_budget=5, budget_window_seconds=60))
        for _ in range(12):
            client.get("Agent/me")
        assert 429 not in {entry.get("status") for entry in limited.requests}
        assert client.stats["retry"] == 0 and len(time.sleeps) == 2


def test_sandbox_429_without_a_budget_is_waited_out(time):
    from sandbox.halo_server import HaloSandbox

    with HaloSandbox(clock=time.clock, rate_limit=3, rate_window=60) as limited:
        client = make_client(time, sandbox_settings(limited), max_attempts=8)
        for _ in range(4):
            client.get("Agent/me")
        assert client.stats["retry"] >= 1 and time.sleeps
