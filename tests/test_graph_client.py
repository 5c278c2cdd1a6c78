"""The Microsoft Graph client against `responses`: token, query options, paging, throttling, delta."""

from __future__ import annotations

import logging
import random

import pytest
import requests
import responses
from responses import matchers

from halointegrator.errors import AuthError, SourceError
from halointegrator.http import RetryPolicy
from integrations.entra.mapping import user_mapping_from
from integrations.entra.reads import read_users, users_fingerprint
from integrations.entra.graph import (
    CHINA, GLOBAL, US_DOD, US_GOV, DeltaExpired, GraphClient, GraphError, cloud_urls, quote_odata,
)

LOGIN, GRAPH = US_GOV
TENANT, APP, SECRET = "contoso.onmicrosoft.us", "app-guid", "Sup3r-Secret~value"
TOKEN_URL = f"{LOGIN}/{TENANT}/oauth2/v2.0/token"
USERS = f"{GRAPH}/v1.0/users"
DELTA = f"{GRAPH}/v1.0/users/delta"


class FakeTime:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(fake_time, **kwargs):
    retry = RetryPolicy(max_attempts=4, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    return GraphClient(tenant=TENANT, client_id=APP, client_secret=SECRET, login_url=LOGIN, graph_url=GRAPH,
                       session=requests.Session(), retry=retry, clock=fake_time.clock, **kwargs)


def add_token(rsps, token="tok-1", expires_in=3600):
    rsps.post(TOKEN_URL, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
              match=[matchers.urlencoded_params_matcher({
                  "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
                  "scope": f"{GRAPH}/.default"})])


def users_page(ids, next_link=None, delta_link=None):
    page = {"value": [{"id": user_id} for user_id in ids]}
    if next_link:
        page["@odata.nextLink"] = next_link
    if delta_link:
        page["@odata.deltaLink"] = delta_link
    return page


@pytest.mark.parametrize("connection, local, expected", [
    ({}, {}, GLOBAL),
    ({"graphendpoint": 1}, {}, US_GOV),
    ({"graphendpoint": 2}, {}, US_DOD),
    ({"graphendpoint": 3}, {}, CHINA),
    ({"graphendpoint": 2, "graph_host": "https://graph.microsoft.us"}, {}, US_GOV),  # the host wins
    ({"graph_host": "microsoftgraph.chinacloudapi.cn"}, {}, CHINA),
    ({"graphendpoint": 1}, {"login_url": "http://127.0.0.1:9/", "graph_url": "http://127.0.0.1:9"},
     ("http://127.0.0.1:9", "http://127.0.0.1:9")),
])
def test_national_clouds_and_local_overrides(connection, local, expected):
    assert cloud_urls(connection, local) == expected


def test_token_is_requested_once_with_the_default_scope_and_cached(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, json=users_page(["a"]), match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})])
    client = make_client(fake_time)
    client.get_json("/v1.0/users")
    client.get_json("/v1.0/users")
    assert [call.request.method for call in rsps.calls] == ["POST", "GET", "GET"]


def test_token_is_renewed_before_it_expires(rsps, fake_time):
    add_token(rsps, "tok-1", expires_in=3600)
    client = make_client(fake_time)
    assert client.token() == "tok-1"
    fake_time.now += 3600 - 30  # inside the last minute
    rsps.replace(responses.POST, TOKEN_URL, json={"access_token": "tok-2", "expires_in": 3600})
    assert client.token() == "tok-2"


@pytest.mark.parametrize("code, advice", [
    (7000215, "client secret is wrong"),
    (7000222, "has expired"),
    (700016, "not registered in this tenant"),
    (90002, "does not exist in this cloud"),
])
def test_login_errors_are_explained_without_the_secret(rsps, fake_time, code, advice):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_codes": [code],
                                           "error_description": f"AADSTS{code}: something. Trace ID: x"})
    with pytest.raises(AuthError) as caught:
        make_client(fake_time).token()
    assert f"AADSTS{code}" in str(caught.value) and advice in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(make_client(fake_time))


def test_listing_selects_fields_asks_999_and_follows_next_links_exactly(rsps, fake_time):
    add_token(rsps)
    second = f"{USERS}?$skiptoken=X%27Y&$select=id,mail&$top=999"
    rsps.get(USERS, json=users_page(["a", "b"], next_link=second),
             match=[matchers.query_param_matcher({"$select": "id,mail", "$top": "999"})])
    rsps.get(second, json=users_page(["c"]), match=[matchers.query_param_matcher(
        {"$skiptoken": "X'Y", "$select": "id,mail", "$top": "999"})])
    users = make_client(fake_time).list_all("/v1.0/users", {"$select": "id,mail", "$top": 999}, "users")
    assert [user["id"] for user in users] == ["a", "b", "c"]
    assert rsps.calls[2].request.url == second


def test_throttling_is_ridden_out_with_retry_after(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, status=429, headers={"Retry-After": "7"}, json={"error": {"code": "TooManyRequests"}})
    rsps.get(USERS, json=users_page(["a"]))
    users = make_client(fake_time).list_all("/v1.0/users", {}, "users")
    assert [user["id"] for user in users] == ["a"]
    assert fake_time.sleeps == [7.0]


def test_a_failing_page_raises_and_names_the_page(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, json=users_page(["a"], next_link=f"{USERS}?$skiptoken=2"))
    rsps.get(f"{USERS}?$skiptoken=2", status=500, json={"error": {"code": "generalException", "message": "boom"}})
    with pytest.raises(SourceError) as caught:
        make_client(fake_time).list_all("/v1.0/users", {}, "users")
    assert "failed on page 2 of users" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert caught.value.status == 500


def test_throttling_past_the_retry_limit_fails_the_listing(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, status=503, headers={"Retry-After": "1"})
    with pytest.raises(GraphError, match="page 1 of users"):
        make_client(fake_time).list_all("/v1.0/users", {}, "users")
    assert len(fake_time.sleeps) == 3  # 4 attempts


def test_an_expired_token_is_renewed_once(rsps, fake_time):
    add_token(rsps, "tok-1")
    rsps.get(USERS, status=401, json={"error": {"code": "InvalidAuthenticationToken"}})
    rsps.get(USERS, json=users_page(["a"]))
    assert make_client(fake_time).get_json("/v1.0/users")["value"] == [{"id": "a"}]
    assert sum(call.request.method == "POST" for call in rsps.calls) == 2


def test_a_next_link_to_another_host_is_refused(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, json=users_page(["a"], next_link="https://evil.example/v1.0/users?$skiptoken=1"))
    with pytest.raises(GraphError, match="another host"):
        make_client(fake_time).list_all("/v1.0/users", {}, "users")
    assert all("evil" not in call.request.url for call in rsps.calls)


def test_a_page_that_repeats_is_refused(rsps, fake_time):
    add_token(rsps)
    rsps.get(USERS, json=users_page(["a"], next_link=USERS))
    with pytest.raises(GraphError, match="same page twice"):
        make_client(fake_time).list_all("/v1.0/users", {}, "users")


def test_delta_follows_pages_to_the_delta_link_and_merges(rsps, fake_time):
    add_token(rsps)
    start = f"{DELTA}?$deltatoken=old"
    rsps.get(start, json={"value": [{"id": "a", "jobTitle": "x"}, {"id": "b", "@removed": {"reason": "changed"}},
                                    {"id": "c", "jobTitle": "y"}],
                          "@odata.nextLink": f"{DELTA}?$skiptoken=2"})
    rsps.get(f"{DELTA}?$skiptoken=2", json={"value": [
        {"id": "a", "jobTitle": "x2", "department": "Sales"},  # the same object twice: merged, last wins
        {"id": "c", "@removed": {"reason": "deleted"}},
        {"id": "d", "@removed": {}},
    ], "@odata.deltaLink": f"{DELTA}?$deltatoken=new"})
    result = make_client(fake_time).delta(start)
    assert result.changed == {"a": {"id": "a", "jobTitle": "x2", "department": "Sales"}}
    assert result.removed == {"b": "changed", "c": "deleted", "d": "deleted"}
    assert result.delta_link == f"{DELTA}?$deltatoken=new"


def test_delta_without_a_delta_link_is_a_failure(rsps, fake_time):
    add_token(rsps)
    rsps.get(f"{DELTA}?$deltatoken=old", json={"value": []})
    with pytest.raises(GraphError, match="without a delta link"):
        make_client(fake_time).delta(f"{DELTA}?$deltatoken=old")


@pytest.mark.parametrize("status, body", [
    (410, {"error": {"code": "Gone", "message": "resync"}}),
    (400, {"error": {"code": "syncStateNotFound", "message": "expired"}}),
])
def test_expired_delta_tokens_are_recognised(rsps, fake_time, status, body):
    add_token(rsps)
    rsps.get(f"{DELTA}?$deltatoken=old", status=status, json=body)
    with pytest.raises(DeltaExpired):
        make_client(fake_time).delta(f"{DELTA}?$deltatoken=old")


def test_an_expired_delta_link_brings_a_full_read(rsps, fake_time, caplog):
    add_token(rsps)
    mapping = user_mapping_from({"id": 1})
    old = f"{DELTA}?$deltatoken=old"
    rsps.get(old, status=410, json={"error": {"code": "syncStateNotFound"}})
    rsps.get(DELTA, json={"value": [], "@odata.deltaLink": f"{DELTA}?$deltatoken=latest-1"},
             match=[matchers.query_param_matcher({"$select": ",".join(mapping.select), "$deltatoken": "latest"})])
    rsps.get(USERS, json=users_page(["a", "b"]),
             match=[matchers.query_param_matcher({"$select": ",".join(mapping.select), "$top": "999"})])
    state = {"users_delta": old, "users_fingerprint": users_fingerprint(mapping, GRAPH), "users_full_read_at": 999}
    with caplog.at_level(logging.INFO):
        read = read_users(make_client(fake_time), mapping, state, now=1000.0, log=logging.getLogger("t"))
    assert read.delta is None and [user["id"] for user in read.full] == ["a", "b"]
    assert read.delta_link == f"{DELTA}?$deltatoken=latest-1"
    assert "expired the delta link" in caplog.text


def test_a_stored_link_is_used_while_the_mapping_is_unchanged(rsps, fake_time):
    add_token(rsps)
    mapping = user_mapping_from({"id": 1})
    old = f"{DELTA}?$deltatoken=old"
    rsps.get(old, json={"value": [{"id": "a"}], "@odata.deltaLink": f"{DELTA}?$deltatoken=next"})
    state = {"users_delta": old, "users_fingerprint": users_fingerprint(mapping, GRAPH), "users_full_read_at": 999}
    read = read_users(make_client(fake_time), mapping, state, now=1000.0, log=logging.getLogger("t"))
    assert read.full is None and list(read.delta.changed) == ["a"]
    changed_mapping = user_mapping_from({"id": 1, "mappings_user": [{"thirdpartyname": "employeeId", "name": "other1"}]})
    assert users_fingerprint(changed_mapping, GRAPH) != state["users_fingerprint"]


@pytest.mark.parametrize("name, literal", [
    ("Sales", "'Sales'"), ("O'Brien's team", "'O''Brien''s team'"), ("", "''"),
])
def test_odata_string_literals(name, literal):
    assert quote_odata(name) == literal


NAME_WITH_QUOTE = "O'Brien"


def test_a_filter_is_sent_with_its_quotes_intact(rsps, fake_time):
    add_token(rsps)
    rsps.get(f"{GRAPH}/v1.0/groups", json={"value": [{"id": "g"}]},
             match=[matchers.query_param_matcher({"$filter": "displayName eq 'O''Brien'", "$select": "id"})])
    groups = make_client(fake_time).list_all(
        "/v1.0/groups", {"$filter": f"displayName eq {quote_odata(NAME_WITH_QUOTE)}", "$select": "id"}, "groups")
    assert groups == [{"id": "g"}]
    assert "%20" in rsps.calls[1].request.url  # spaces as %20, not +


def test_a_week_old_full_read_brings_another(rsps, fake_time):
    add_token(rsps)
    mapping = user_mapping_from({"id": 1})
    rsps.get(DELTA, json={"value": [], "@odata.deltaLink": f"{DELTA}?$deltatoken=latest-2"})
    rsps.get(USERS, json=users_page(["a"]))
    state = {"users_delta": f"{DELTA}?$deltatoken=old", "users_fingerprint": users_fingerprint(mapping, GRAPH),
             "users_full_read_at": 1000.0}
    read = read_users(make_client(fake_time), mapping, state, now=1000.0 + 8 * 24 * 3600, log=logging.getLogger("t"))
    assert read.full == [{"id": "a"}] and "more than 7 days old" in read.notes[0]
    assert not any("deltatoken=old" in call.request.url for call in rsps.calls)


def test_a_cloud_without_users_delta_reads_everyone_every_run(rsps, fake_time):
    add_token(rsps)
    rsps.get(DELTA, status=400, json={"error": {"code": "Request_UnsupportedQuery", "message": "not here"}})
    rsps.get(USERS, json=users_page(["a"]))
    read = read_users(make_client(fake_time), user_mapping_from({"id": 1}), {}, now=1.0, log=logging.getLogger("t"))
    assert read.full == [{"id": "a"}] and read.delta_link == ""
    assert "Delta queries are not available" in read.notes[1]


def test_a_refused_delta_permission_is_explained(rsps, fake_time):
    add_token(rsps)
    rsps.get(DELTA, status=403, json={"error": {"code": "Authorization_RequestDenied", "message": "Insufficient"}})
    with pytest.raises(GraphError, match="User.Read.All and admin consent"):
        read_users(make_client(fake_time), user_mapping_from({"id": 1}), {}, now=1.0, log=logging.getLogger("t"))


def test_an_unreachable_graph_is_a_source_error(fake_time):
    client = GraphClient(tenant=TENANT, client_id=APP, client_secret=SECRET, login_url="http://127.0.0.1:9",
                         graph_url="http://127.0.0.1:9", session=requests.Session(),
                         retry=RetryPolicy(max_attempts=1, sleep=fake_time.sleep))
    with pytest.raises(SourceError, match="Could not reach 127.0.0.1:9: connection refused"):
        client.token()
