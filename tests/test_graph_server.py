"""The Microsoft login + Graph emulator (sandbox/graph_server.py), spoken to over real HTTP."""

from __future__ import annotations

import pytest
import requests

from sandbox.graph_server import GraphServer, generate_tenant

TENANT, APP, SECRET = "sandbox-tenant", "graph-app", "graph-secret"


@pytest.fixture(scope="module")
def tenant_data():
    return generate_tenant(users=250, groups=3, devices=40, disabled_ratio=0.1, seed=5)


@pytest.fixture
def graph(tenant_data):
    import copy
    with GraphServer(copy.deepcopy(tenant_data), tenant_id=TENANT, client_id=APP, client_secret=SECRET,
                     delta_page_size=50) as server:
        yield server


@pytest.fixture
def http(graph):
    session = requests.Session()
    answer = session.post(f"{graph.url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET, "scope": f"{graph.url}/.default"})
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session


def read_all(http, url):
    items, pages = [], 0
    while url:
        answer = http.get(url)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["value"]
        pages += 1
        url = page.get("@odata.nextLink")
    return items, pages


def test_generation_is_deterministic_for_a_seed():
    first, second = generate_tenant(users=30, seed=9), generate_tenant(users=30, seed=9)
    assert first.users == second.users and first.members == second.members and first.devices == second.devices
    assert generate_tenant(users=30, seed=10).users != first.users


def test_generated_tenant_shape(tenant_data):
    assert len(tenant_data.users) == 250 and len(tenant_data.groups) == 3 and len(tenant_data.devices) == 40
    disabled = sum(not user["accountEnabled"] for user in tenant_data.users.values())
    assert 5 <= disabled <= 50
    in_groups = set().union(*map(set, tenant_data.members.values()))
    assert 0 < len(in_groups) < 250  # some users are in no group


@pytest.mark.parametrize("form, status, code", [
    ({"client_secret": "wrong"}, 401, 7000215),
    ({"client_secret": ""}, 401, 7000218),
    ({"client_id": "other-app"}, 400, 700016),
    ({"scope": "https://graph.microsoft.com/User.Read.All"}, 400, 1002012),
])
def test_login_errors_are_aadsts_shaped(graph, form, status, code):
    body = {"grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
            "scope": f"{graph.url}/.default", **form}
    answer = requests.post(f"{graph.url}/{TENANT}/oauth2/v2.0/token", data=body)
    assert answer.status_code == status
    assert answer.json()["error_codes"] == [code]
    assert f"AADSTS{code}" in answer.json()["error_description"]


def test_unknown_tenant(graph):
    answer = requests.post(f"{graph.url}/other-tenant/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET, "scope": "x/.default"})
    assert answer.status_code == 400 and answer.json()["error_codes"] == [90002]


def test_graph_needs_a_valid_token(graph):
    assert requests.get(f"{graph.url}/v1.0/users").status_code == 401
    assert requests.get(f"{graph.url}/v1.0/users", headers={"Authorization": "Bearer made-up"}).status_code == 401


def test_revoked_tokens_answer_401(graph, http):
    graph.revoke_tokens()
    assert http.get(f"{graph.url}/v1.0/users").json()["error"]["code"] == "InvalidAuthenticationToken"


def test_users_honour_select_and_top_and_page(graph, http):
    users, pages = read_all(http, f"{graph.url}/v1.0/users?$select=id,mail,accountEnabled&$top=100")
    assert len(users) == 250 and pages == 3
    assert set(users[0]) == {"id", "mail", "accountEnabled"}
    assert len({user["id"] for user in users}) == 250
    default = http.get(f"{graph.url}/v1.0/users?$top=1").json()["value"][0]
    assert "accountEnabled" not in default and "displayName" in default  # Graph's default properties


@pytest.mark.parametrize("query", ["$top=1000", "$top=0", "$select=id,shoeSize"])
def test_bad_query_options_are_refused(graph, http, query):
    answer = http.get(f"{graph.url}/v1.0/users?{query}")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "Request_BadRequest"


def test_next_links_are_opaque_skiptokens(graph, http):
    link = http.get(f"{graph.url}/v1.0/users?$top=100&$select=id").json()["@odata.nextLink"]
    assert link.startswith(f"{graph.url}/v1.0/users?$skiptoken=") and "offset" not in link
    assert http.get(f"{graph.url}/v1.0/users?$skiptoken=not-base64!").status_code == 400


def test_groups_filter_by_display_name_with_quotes(graph, http):
    graph.add_group("O'Brien's team", [])
    answer = http.get(f"{graph.url}/v1.0/groups", params={"$filter": "displayName eq 'O''Brien''s team'"})
    assert [group["displayName"] for group in answer.json()["value"]] == ["O'Brien's team"]
    assert http.get(f"{graph.url}/v1.0/groups", params={"$filter": "displayName eq 'Nope'"}).json()["value"] == []
    starting = http.get(f"{graph.url}/v1.0/groups", params={"$filter": "startswith(displayName,'S')"}).json()["value"]
    assert {group["displayName"] for group in starting} == {"Sales Staff", "Support Staff"}  # documented for groups
    refused = http.get(f"{graph.url}/v1.0/groups", params={"$filter": "endswith(displayName,'Staff')"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_group_members_page(graph, http, tenant_data):
    group_id = next(iter(tenant_data.groups))
    members, _ = read_all(http, f"{graph.url}/v1.0/groups/{group_id}/transitiveMembers?$select=id&$top=20")
    assert [member["id"] for member in members] == tenant_data.members[group_id]
    assert members[0]["@odata.type"] == "#microsoft.graph.user"


def test_managed_devices(graph, http):
    devices, _ = read_all(http, f"{graph.url}/v1.0/deviceManagement/managedDevices?$select=id,deviceName,serialNumber")
    assert len(devices) == 40 and set(devices[0]) == {"id", "deviceName", "serialNumber"}


def test_delta_latest_then_changes_and_removals(graph, http):
    link = http.get(f"{graph.url}/v1.0/users/delta?$select=id,jobTitle&$deltatoken=latest").json()["@odata.deltaLink"]
    changed = graph.change_users(3)
    gone = list(graph.tenant.users)[100]
    graph.remove(gone, reason="changed")
    graph.disable(changed[0])  # accountEnabled is not selected: not tracked, not reported
    graph.update_user(changed[1], jobTitle="Again")
    page = http.get(link).json()
    assert [item["id"] for item in page["value"]] == [changed[0], changed[2], gone, changed[1], changed[1]]
    assert page["value"][2] == {"id": gone, "@removed": {"reason": "changed"}}
    assert page["value"][4] == {"id": changed[1], "jobTitle": "Again"}  # once per change
    assert set(page["value"][0]) == {"id", "jobTitle"}  # the round keeps its $select
    again = http.get(page["@odata.deltaLink"]).json()
    assert again["value"] == []


def test_an_initial_delta_round_pages_every_user_in_pages_graph_sizes(graph, http):
    sizes, url = [], f"{graph.url}/v1.0/users/delta?$select=id"
    items = []
    while url:
        page = http.get(url).json()
        items += page["value"]
        sizes.append(len(page["value"]))
        url = page.get("@odata.nextLink")
    assert len({item["id"] for item in items}) == 250 == len(items)
    assert max(sizes) == 50 and len(set(sizes)) > 1  # at most delta_page_size, and not always the same


def test_expired_delta_links_answer_410(graph, http):
    link = http.get(f"{graph.url}/v1.0/users/delta?$deltatoken=latest").json()["@odata.deltaLink"]
    graph.expire_delta_links()
    answer = http.get(link)
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "syncStateNotFound"


def test_throttling_answers_429_with_retry_after(graph, http):
    graph.throttle(2, retry_after=7)
    answers = [http.get(f"{graph.url}/v1.0/users?$top=1") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "7"


def test_a_chosen_page_fails(graph, http):
    graph.fail_page("users", 2, status=503, times=1)
    first = http.get(f"{graph.url}/v1.0/users?$top=100").json()
    assert http.get(first["@odata.nextLink"]).status_code == 503
    assert http.get(first["@odata.nextLink"]).status_code == 200  # once only


def test_permissions_can_be_denied_per_listing(graph, http):
    graph.deny("devices")
    answer = http.get(f"{graph.url}/v1.0/deviceManagement/managedDevices")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "Authorization_RequestDenied"
    assert http.get(f"{graph.url}/v1.0/users?$top=1").status_code == 200
    graph.clear_failures()
    assert http.get(f"{graph.url}/v1.0/deviceManagement/managedDevices").status_code == 200


def test_requests_are_counted(graph, http):
    read_all(http, f"{graph.url}/v1.0/users?$top=100")
    assert graph.counts["token"] == 1 and graph.counts["users"] == 3


def test_added_users_join_groups(graph, http):
    user_id = graph.add_user(groups=("Sales Staff",), jobTitle="New starter")
    group = graph.tenant.group_named("Sales Staff")
    assert user_id in graph.tenant.members[group["id"]]
    assert http.get(f"{graph.url}/v1.0/users/{user_id}?$select=jobTitle").json() == {"id": user_id, "jobTitle": "New starter"}
    assert http.get(f"{graph.url}/v1.0/users/nobody").status_code == 404


@pytest.mark.bench
def test_fifty_thousand_users_list_in_51_pages():
    with GraphServer(generate_tenant(users=50_000, devices=10)) as server:
        session = requests.Session()
        token = session.post(f"{server.url}/sandbox-tenant/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "graph-app", "client_secret": "graph-secret",
            "scope": f"{server.url}/.default"}).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        users, pages = read_all(session, f"{server.url}/v1.0/users?$select=id,mail&$top=999")
    assert len(users) == 50_000 and pages == 51
