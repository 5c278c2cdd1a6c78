"""The Halo sandbox (sandbox/halo_server.py): routes, paging, upserts, strictness, auth, rate limit, faults.

Plain `requests` against the running server; a ManualClock drives token expiry and the rate limit.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from sandbox.halo_server import HaloSandbox, ManualClock, load_subset
from sandbox.halo_strict import DEFAULT_SUBSET_PATH

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO.parent / "shared" / "halo-openapi" / "halo-api-v2.json"
FORM = {"grant_type": "client_credentials", "client_id": "halo-integrator", "client_secret": "sandbox-secret",
        "scope": "all"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def halo(clock):
    with HaloSandbox(clock=clock) as sandbox:
        yield sandbox


def get_token(halo: HaloSandbox, tenant: str | None = "sandbox", **form: str) -> requests.Response:
    query = f"?tenant={tenant}" if tenant is not None else ""
    return requests.post(f"{halo.auth_url}/token{query}", data={**FORM, **form}, timeout=5)


def session_for(halo: HaloSandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + get_token(halo).json()["access_token"]
    return session


@pytest.fixture
def api(halo):
    with session_for(halo) as session:
        yield session


def halo_subset():
    return load_subset(str(DEFAULT_SUBSET_PATH))


def add_users(halo: HaloSandbox, count: int, **fields) -> list[int]:
    return halo.add_many("users", [{"name": f"User {i:03}", "site_id": 2, **fields} for i in range(count)])


# ---- discovery and auth ----------------------------------------------------------------------------
def test_authinfo_needs_no_token_and_paths_are_case_insensitive(halo):
    for path in ("/api/AuthInfo", "/api/authinfo", "/API/AUTHINFO"):
        reply = requests.get(halo.url + path, timeout=5)
        assert reply.status_code == 200
        assert reply.json() == {"auth_url": halo.url + "/auth", "tenant_id": "sandbox"}


def test_token_ok_and_its_errors(halo):
    reply = get_token(halo)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    wrong_tenant = get_token(halo, tenant="other")
    assert wrong_tenant.status_code == 400 and wrong_tenant.json()["error"] == "invalid_request"
    assert "Tenant 'other' not found" in wrong_tenant.json()["error_description"]
    assert get_token(halo, tenant=None).status_code == 400
    for bad in ({"client_secret": "nope"}, {"client_id": "someone-else"}):
        reply = get_token(halo, **bad)
        assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"
        assert "nope" not in reply.text
    assert get_token(halo, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert requests.post(f"{halo.auth_url}/token?tenant=sandbox", json=FORM, timeout=5).status_code == 400


def test_api_needs_a_valid_bearer(halo):
    assert requests.get(halo.api_url + "/Users", timeout=5).status_code == 401
    bogus = requests.get(halo.api_url + "/Users", headers={"Authorization": "Bearer forged"}, timeout=5)
    assert bogus.status_code == 401 and bogus.json()["error"] == "invalid_token"


def test_tokens_expire_by_the_clock_and_on_demand(halo, clock, api):
    assert api.get(halo.api_url + "/Agent/me").status_code == 200
    clock.advance(3599)
    assert api.get(halo.api_url + "/Agent/me").status_code == 200
    clock.advance(2)
    expired = api.get(halo.api_url + "/Agent/me")
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]
    with session_for(halo) as fresh:
        assert fresh.get(halo.api_url + "/Agent/me").status_code == 200
        halo.expire_tokens()
        assert fresh.get(halo.api_url + "/Agent/me").status_code == 401


def test_agent_me_and_instance_info(halo, api):
    me = api.get(halo.api_url + "/agent/ME").json()
    assert me["is_admin"] is True and me["name"] == "Halo Integrator" and me["id"] == halo.agent_id
    assert set(me) <= set(halo.subset.properties("Uname"))
    info = api.get(halo.api_url + "/InstanceInfo").json()
    assert info["app_version"] == "2.184.21" and info["auth_url"] == halo.auth_url


def test_agent_is_admin_false():
    with HaloSandbox(agent_is_admin=False, app_version="2.170.1") as halo, session_for(halo) as api:
        assert api.get(halo.api_url + "/Agent/me").json()["is_admin"] is False
        assert api.get(halo.api_url + "/InstanceInfo").json()["app_version"] == "2.170.1"


# ---- lists and single records -----------------------------------------------------------------------
def test_default_seed_and_list_shapes(halo, api):
    assert [s["name"] for s in api.get(halo.api_url + "/Site").json()["sites"]] == [
        "Head Office", "London", "New York", "Unmatched users"]
    assert api.get(halo.api_url + "/Client").json()["record_count"] == 1
    assert api.get(halo.api_url + "/Users").json() == {"record_count": 0, "users": []}
    assert api.get(halo.api_url + "/Asset").json() == {"record_count": 0, "assets": []}
    assert [t["name"] for t in api.get(halo.api_url + "/AssetType").json()] == ["Laptop", "Mobile"]
    for path in ("/LDAPConnection", "/azureadconnection"):
        (connection,) = api.get(halo.api_url + path).json()
        assert connection["halointegratorenabled"] is False
    assert api.get(halo.api_url + "/Features").json() == []
    assert api.get(halo.api_url + "/IntegrationError").json() == {"record_count": 0, "errors": []}


def test_paging_exactly_as_halo(halo, api):
    add_users(halo, 25)
    pages = [api.get(halo.api_url + "/Users", params={"pageinate": "true", "page_size": 10, "page_no": n}).json()
             for n in (1, 2, 3, 4)]
    assert [p["record_count"] for p in pages] == [25] * 4
    assert [len(p["users"]) for p in pages] == [10, 10, 5, 0]
    assert [(p["page_no"], p["page_size"]) for p in pages] == [(1, 10), (2, 10), (3, 10), (4, 10)]
    names = [u["name"] for p in pages for u in p["users"]]
    assert names == [f"User {i:03}" for i in range(25)]
    unpaged = api.get(halo.api_url + "/Users", params={"count": 7}).json()
    assert unpaged["record_count"] == 25 and len(unpaged["users"]) == 7
    assert len(api.get(halo.api_url + "/Users").json()["users"]) == 25


def test_inactive_records_are_hidden_unless_asked_for(halo, api):
    add_users(halo, 2)
    add_users(halo, 3, inactive=True)
    def count(**params):
        return api.get(halo.api_url + "/Users", params=params).json()["record_count"]
    assert count() == 2
    assert count(includeinactive="true") == 5
    assert count(includeinactive="true", includeactive="false") == 3


def test_list_filters(halo, api):
    halo.add("users", {"name": "Ann London", "site_id": 2})
    halo.add("users", {"name": "Bob York", "site_id": 3, "emailaddress": "bob@example.test"})
    halo.add("clients", {"name": "Other Client"})
    def names(path, key, **params):
        return [r["name"] for r in api.get(halo.api_url + path, params=params).json()[key]]
    assert names("/Users", "users", site_id=3) == ["Bob York"]
    assert names("/Users", "users", search="ann") == ["Ann London"]
    assert names("/Users", "users", search="bob@") == ["Bob York"]
    assert names("/Users", "users", client_id=1) == ["Ann London", "Bob York"]
    assert names("/Client", "clients", search="other") == ["Other Client"]
    assert names("/Users", "users", order="name", orderdesc="true") == ["Bob York", "Ann London"]
    halo.add("assets", {"inventory_number": "LAP-1", "assettype_id": 1, "site_id": 1})
    halo.add("assets", {"inventory_number": "MOB-1", "assettype_id": 2, "site_id": 1})
    assets = api.get(halo.api_url + "/Asset", params={"assettype_id": 2}).json()["assets"]
    assert [a["inventory_number"] for a in assets] == ["MOB-1"]
    assert assets[0]["assettype_name"] == "Mobile" and assets[0]["client_id"] == 1


def test_get_one_record_and_404(halo, api):
    user_id = halo.add("users", {"name": "Ann", "site_id": 2, "inactive": True})
    reply = api.get(f"{halo.api_url}/users/{user_id}", params={"includedetails": "true"})
    assert reply.status_code == 200 and reply.json()["name"] == "Ann"
    assert reply.json()["site_name"] == "London"
    for path in ("/Users/999", "/Client/999", "/Site/999", "/Asset/999", "/AssetType/999",
                 "/LDAPConnection/999", "/azureadconnection/999"):
        missing = api.get(halo.api_url + path)
        assert missing.status_code == 404 and "999" in missing.json()["Message"], path
    assert api.get(halo.api_url + "/Site/2").json()["name"] == "London"
    assert api.get(halo.api_url + "/LDAPConnection/1", params={"includedetails": "true"}).status_code == 200


# ---- upserts ------------------------------------------------------------------------------------------
def test_post_creates_one_or_many(halo, api):
    one = api.post(halo.api_url + "/Users", json=[{"name": "Ann", "site_id": 2}])
    assert one.status_code == 201 and one.json()["name"] == "Ann" and one.json()["id"] > 0
    many = api.post(halo.api_url + "/Users", json=[{"name": "Bob", "site_id": 3, "id": 0},
                                                   {"name": "Cy", "site_id": 3.0, "id": -1}])
    assert many.status_code == 201 and [u["name"] for u in many.json()] == ["Bob", "Cy"]
    assert len({one.json()["id"], *(u["id"] for u in many.json())}) == 3
    assert halo.get("users", one.json()["id"])["inactive"] is False


def test_post_with_id_is_a_partial_update(halo, api):
    user_id = halo.add("users", {"name": "Ann", "site_id": 2, "emailaddress": "ann@example.test"})
    reply = api.post(halo.api_url + "/Users", json=[{"id": user_id, "inactive": True, "title": "Boss"}])
    assert reply.status_code == 201
    stored = halo.get("users", user_id)
    assert stored["inactive"] is True and stored["title"] == "Boss"
    assert stored["emailaddress"] == "ann@example.test" and stored["name"] == "Ann"
    updated = api.post(halo.api_url + "/LDAPConnection",
                       json=[{"id": 1, "halointegratorenabled": True,
                              "halointegrator_lastsync": "2025-01-02T03:04:05Z"}])
    assert updated.status_code == 201 and halo.get("ldapconnections", 1)["halointegratorenabled"] is True
    errors = api.post(halo.api_url + "/IntegrationError", json=[{"entity_type": "user", "error": "boom"}])
    assert errors.status_code == 201
    assert api.get(halo.api_url + "/IntegrationError").json()["record_count"] == 1


def test_a_bad_record_rejects_the_whole_batch(halo, api):
    batch = [{"name": "Good", "site_id": 2}, {"id": 4242, "name": "Ghost"}]
    reply = api.post(halo.api_url + "/Users", json=batch)
    assert reply.status_code == 400 and "4242" in reply.json()["Message"]
    assert halo.records("users") == []


@pytest.mark.parametrize(("path", "record", "names"), [
    ("/Users", {"site_id": 2}, "'name'"),
    ("/Users", {"name": "No site"}, "'site_id'"),
    ("/Users", {"name": "Lost", "site_id": 77}, "site_id 77"),
    ("/Asset", {"site_id": 1}, "'assettype_id'"),
    ("/Asset", {"assettype_id": 9, "site_id": 1}, "assettype_id 9"),
    ("/Asset", {"assettype_id": 1}, "'site_id'"),
    ("/Site", {"name": "Paris", "client_id": 5}, "client_id 5"),
])
def test_business_rules(halo, api, path, record, names):
    reply = api.post(halo.api_url + path, json=[record])
    assert reply.status_code == 400 and names in reply.json()["Message"]


# ---- strictness ---------------------------------------------------------------------------------------
def test_unknown_or_badly_typed_query_parameter(halo, api):
    reply = api.get(halo.api_url + "/Users", params={"pagesize": 10})
    assert reply.status_code == 400
    assert reply.json()["Message"] == "Unknown query parameter 'pagesize' for GET /api/Users"
    assert "'pageinate'" in api.get(halo.api_url + "/AssetType", params={"pageinate": "true"}).json()["Message"]
    bad_value = api.get(halo.api_url + "/Users", params={"page_size": "lots"})
    assert bad_value.status_code == 400 and "'lots'" in bad_value.json()["Message"]
    assert api.get(halo.api_url + "/Users", params={"PageInate": "TRUE"}).status_code == 200


@pytest.mark.parametrize(("record", "names"), [
    ({"name": "A", "site_id": 2, "jobtitle": "x"}, "'jobtitle'"),
    ({"name": "A", "site_id": 2, "emailAddress": "x"}, "did you mean 'emailaddress'"),
    ({"name": "A", "site_id": "2"}, "'site_id' must be number"),
    ({"name": "A", "site_id": 2, "inactive": "false"}, "'inactive' must be boolean"),
    ({"name": "A", "site_id": 2, "customfields": [{"id": 1, "valu": "x"}]}, "'customfields[0].valu'"),
    ({"name": "A", "site_id": 2, "customfields": {"id": 1}}, "'customfields' must be array"),
    ({"name": "A", "site_id": 2, "ulastupdate": "yesterday"}, "date-time"),
])
def test_unknown_or_badly_typed_body_field(halo, api, record, names):
    reply = api.post(halo.api_url + "/Users", json=[record])
    assert reply.status_code == 400 and names in reply.json()["Message"], reply.text
    assert halo.records("users") == []


def test_body_shape_and_method_rules(halo, api):
    single = api.post(halo.api_url + "/Users", json={"name": "A", "site_id": 2})
    assert single.status_code == 400 and "JSON array" in single.json()["Message"]
    assert api.post(halo.api_url + "/Users", json=[]).status_code == 400
    assert api.post(halo.api_url + "/Users", json=["x"]).status_code == 400
    assert api.post(halo.api_url + "/Users", data="[{", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.post(halo.api_url + "/Users", data="name=A").status_code == 415
    assert api.post(halo.api_url + "/LDAPConnection", json=[{"id": 1, "port": 389}]).status_code == 400
    assert api.delete(halo.api_url + "/Users/1").status_code == 405
    assert api.post(halo.api_url + "/InstanceInfo", json=[{}]).status_code == 405
    assert api.get(halo.api_url + "/Tickets").status_code == 404


# ---- rate limit ---------------------------------------------------------------------------------------
def test_rate_limit_by_rolling_window(clock):
    with HaloSandbox(clock=clock, rate_limit=4, rate_window=60.0) as halo:
        api = session_for(halo)                       # request 1 (token)
        clock.advance(10)
        assert all(api.get(halo.api_url + "/Site").status_code == 200 for _ in range(3))  # 2..4
        limited = api.get(halo.api_url + "/Site")
        assert limited.status_code == 429
        assert limited.text == "Rate Limit Reached - 4 Requests per rolling 1 minute window"
        assert limited.headers["Retry-After"] == "50"
        clock.advance(50)                             # the token request leaves the window
        assert api.get(halo.api_url + "/Site").status_code == 200
        assert api.get(halo.api_url + "/Site").status_code == 429
        assert [e["status"] for e in halo.requests].count(429) == 2


def test_rate_limit_default_message_and_disabled(clock):
    with HaloSandbox(clock=clock, rate_limit=1) as halo:
        requests.get(halo.api_url + "/AuthInfo", timeout=5)
        assert requests.get(halo.api_url + "/AuthInfo", timeout=5).text == (
            "Rate Limit Reached - 1 Requests per rolling 5 minute window")
    with HaloSandbox(clock=clock, rate_limit=None) as halo:
        assert all(requests.get(halo.api_url + "/AuthInfo", timeout=5).ok for _ in range(20))


# ---- faults -------------------------------------------------------------------------------------------
def test_fail_next_with_status_prefix_and_retry_after(halo, api):
    halo.faults.fail_next(2, status=503, path_prefix="/api/users", retry_after=7)
    assert api.get(halo.api_url + "/Site").status_code == 200
    first = api.get(halo.api_url + "/Users")
    assert first.status_code == 503 and first.headers["Retry-After"] == "7"
    assert api.get(halo.api_url + "/Users").status_code == 503
    assert api.get(halo.api_url + "/Users").status_code == 200
    halo.faults.fail_next(1, status=429)
    throttled = api.get(halo.api_url + "/Site")
    assert throttled.status_code == 429 and "Rate Limit Reached" in throttled.text
    halo.faults.fail_next(1, status=500)
    assert api.get(halo.api_url + "/Site").json()["ClassName"]


def test_fail_ratio_is_deterministic(halo, api):
    def run() -> list[int]:
        halo.faults.fail_ratio(0.5, status=502, seed=42)
        return [api.get(halo.api_url + "/Site").status_code for _ in range(20)]
    first, second = run(), run()
    assert first == second and set(first) == {200, 502}
    halo.faults.fail_ratio(0)
    assert api.get(halo.api_url + "/Site").status_code == 200


def test_slow_next_delays_the_answer(halo, api):
    halo.faults.slow_next(1, 0.3, path_prefix="/api/Site")
    with pytest.raises(requests.Timeout):
        api.get(halo.api_url + "/Site", timeout=0.1)
    assert halo.faults.pending() == 0
    assert api.get(halo.api_url + "/Site", timeout=5).status_code == 200


def test_html_truncate_and_reset(halo, api):
    halo.faults.html_next(1)
    page = api.get(halo.api_url + "/Users")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<html>" in page.text.lower()
    halo.faults.truncate_next(1, path_prefix="/api/Users")
    cut = api.post(halo.api_url + "/Users", json=[{"name": "Ann", "site_id": 2}])
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    assert [u["name"] for u in halo.records("users")] == ["Ann"]   # the write itself went through
    halo.faults.reset_next(1)
    with pytest.raises(requests.ConnectionError):
        api.post(halo.api_url + "/Users", json=[{"name": "Bob", "site_id": 2}])
    assert [u["name"] for u in halo.records("users")] == ["Ann"]
    assert api.get(halo.api_url + "/Users").json()["record_count"] == 1


def test_reject_records_and_clear(halo, api):
    halo.faults.reject_records(lambda record: record.get("name") == "Mallory")
    batch = [{"name": "Alice", "site_id": 2}, {"name": "Mallory", "site_id": 2}]
    reply = api.post(halo.api_url + "/Users", json=batch)
    assert reply.status_code == 400 and "Mallory" in reply.json()["Message"] and "[1]" in reply.json()["Message"]
    assert halo.records("users") == []
    halo.faults.fail_next(5)
    halo.faults.clear()
    assert api.post(halo.api_url + "/Users", json=batch).status_code == 201


def test_faults_are_thread_safe(halo):
    halo.faults.fail_next(10, status=500, path_prefix="/api/AuthInfo")
    statuses: list[int] = []
    lock = threading.Lock()
    def worker():
        for _ in range(3):
            code = requests.get(halo.api_url + "/AuthInfo", timeout=5).status_code
            with lock:
                statuses.append(code)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(500) == 10 and statuses.count(200) == 14


# ---- bookkeeping, seeds, subset, CLI ------------------------------------------------------------------
def test_request_log_and_counts(halo, api):
    halo.clear_requests()
    api.get(halo.api_url + "/Users", params={"pageinate": "true", "page_size": 5, "page_no": 1})
    api.post(halo.api_url + "/Users", json=[{"name": "Ann", "site_id": 2}, {"name": "Bob", "site_id": 2}])
    requests.get(halo.api_url + "/AuthInfo", timeout=5)
    get_token(halo)
    assert halo.counts() == {"read": 1, "write": 1, "other": 1, "token": 1}
    read, write = halo.requests[:2]
    assert read["params"] == {"pageinate": "true", "page_size": "5", "page_no": "1"} and read["status"] == 200
    assert write["records"] == 2 and write["status"] == 201 and write["path"] == "/api/Users"


def test_seeds_are_checked_against_the_schemas(tmp_path):
    seed = {"sites": [{"id": 7, "name": "Only", "client_id": 3}], "Client": [{"id": 3, "name": "C"}]}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    halo = HaloSandbox(str(path))
    assert list(halo.state["sites"]) == [7] and halo.state["clients"][3]["name"] == "C"
    assert halo.agent_id is not None and halo.state["agents"][halo.agent_id]["is_admin"] is True
    with pytest.raises(ValueError, match="'favourite_colour'"):
        HaloSandbox({"users": [{"name": "A", "favourite_colour": "red"}]})
    with pytest.raises(KeyError):
        halo.add("tickets", {"summary": "x"})
    assert halo.add("Device", {"inventory_number": "X"}) == 1 and halo.add("assets", {}) == 2
    assert "sandbox-secret" not in repr(halo)


@pytest.mark.skipif(not SPEC.exists(), reason="Halo's OpenAPI document is not beside the repository")
def test_committed_subset_matches_the_openapi_document(tmp_path):
    out = tmp_path / "subset.json"
    subprocess.run([sys.executable, str(REPO / "tools" / "extract_openapi_subset.py"), str(SPEC), "--out", str(out)],
                   check=True, capture_output=True, cwd=REPO)
    assert json.loads(out.read_text()) == json.loads((REPO / "sandbox" / "openapi_subset.json").read_text())


def test_command_line_runs_in_the_foreground(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"clients": [{"id": 1, "name": "Cli Client"}]}))
    process = subprocess.Popen([sys.executable, "-m", "sandbox.halo_server", "--port", "0", "--seed", str(seed),
                                "--tenant", "demo"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        url = banner.split("Web App URL ")[1].split()[0]
        assert requests.get(url + "/api/AuthInfo", timeout=5).json()["tenant_id"] == "demo"
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()


# ---- list answers as Halo's document shapes them -----------------------------------------------------
def test_lean_lists_carry_only_the_list_schema_fields_and_a_read_by_id_the_whole_record(clock):
    list_fields = halo_subset().list_fields["Users"]  # the document's Users_List (the subset is checked against it)
    with HaloSandbox(clock=clock, list_shape="lean") as halo, session_for(halo) as api:
        user_id = halo.add("users", {"name": "Ada", "site_id": 2, "emailaddress": "ada@example.com",
                                     "third_party_guid": "6f1c0000-0000-4000-8000-000000000001",
                                     "department": "Research", "azure_id": "oid-1"})
        listed = api.get(halo.api_url + "/Users", params={"pageinate": "true", "page_size": 50}, timeout=5).json()
        item = next(user for user in listed["users"] if user["id"] == user_id)
        whole = api.get(f"{halo.api_url}/Users/{user_id}", timeout=5).json()
    assert set(item) <= list_fields
    assert {"third_party_guid", "department"}.isdisjoint(item)
    assert item["emailaddress"] == "ada@example.com" and item["azure_id"] == "oid-1"
    assert whole["third_party_guid"] == "6f1c0000-0000-4000-8000-000000000001" and whole["department"] == "Research"


def test_asset_lists_carry_device_list_fields_only(clock):
    with HaloSandbox(clock=clock, list_shape="lean") as halo, session_for(halo) as api:
        halo.add("assets", {"inventory_number": "PC-1", "site_id": 2, "assettype_id": 1, "intune_id": "dev-1",
                            "intune_connectionid": 1, "key_field": "SER1"})
        item = api.get(halo.api_url + "/Asset", timeout=5).json()["assets"][0]
    assert item["intune_id"] == "dev-1" and item["key_field"] == "SER1"
    assert "intune_connectionid" not in item


def test_service_accounts_are_listed_only_when_asked_for(api, halo):
    ordinary, service = halo.add_many("users", [{"name": "Person", "site_id": 2},
                                                {"name": "Backup job", "site_id": 2, "isserviceaccount": True}])
    def listed(**params) -> set[int]:
        return {user["id"] for user in api.get(halo.api_url + "/Users", params=params, timeout=5).json()["users"]}
    assert ordinary in listed() and service not in listed()
    both = listed(includeserviceaccount="true", includenonserviceaccount="true")
    assert {ordinary, service} <= both
    assert listed(includeserviceaccount="true", includenonserviceaccount="false") & {ordinary, service} == {service}


def test_control_is_one_record_read_as_an_object_and_updated_by_an_array(api, halo):
    halo.add("control", {"id": 1, "halointegrator_lansweeper": True})
    assert api.get(halo.api_url + "/Control", timeout=5).json()["halointegrator_lansweeper"] is True
    reply = api.post(halo.api_url + "/Control", json=[{"id": 1, "halointegrator_lansweeper_lasterror": "x"}], timeout=5)
    assert reply.status_code == 201
    assert halo.get("control", 1)["halointegrator_lansweeper_lasterror"] == "x"


def test_the_clients_list_fields_are_the_subsets(tmp_path):
    """halointegrator/halo/list_fields.py and the sandbox's subset both come from the document."""
    from halointegrator.halo import list_fields

    subset = halo_subset().list_fields
    assert (list_fields.USERS, list_fields.ASSETS, list_fields.SITES) == (
        subset["Users"], subset["Device"], subset["Site"])
