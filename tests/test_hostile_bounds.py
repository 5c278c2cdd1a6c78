"""Hostile servers, part 2: whatever a server sends, every read is bounded in time, bytes and records, and
a whole run ends at its time limit, reporting why and releasing the lock. Underneath: an LDAP socket's
byte and time bounds per operation, and after the deadline only the status write-back is sent (within
its grace).
"""

from __future__ import annotations

import json
import socket

import pytest
import responses

from halointegrator.deadline import Deadline, RunTimedOut
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings
from integrations.active_directory.bounds import BoundedSocket
from tests.hostile_http import Answer, Drip, HostileServer, Huge
from tests.hostile_ldap import HostileLdap
from tests.hostile_world import (
    APP_SECRET, BIND_PASSWORD, HALO_SECRET, IntegratorFolder, assert_contained, enable_directory, enable_entra,
)

SECRETS = {HALO_SECRET, APP_SECRET, BIND_PASSWORD}
NO_BUDGET_WAIT = "request_budget=100000"  # the endless cases send hundreds of requests: no 5-minute waits


HALO_SANDBOX = {"client_secret": HALO_SECRET}  # the conftest fixtures, with the hostile world's secrets
GRAPH_TENANT, GRAPH_SECRET = {"users": 30, "devices": 0}, APP_SECRET


def user_writes(proxy: HostileServer) -> int:
    return len(proxy.requests_to("POST", "/api/users"))


def endless_users(count_of=None):
    """Halo's /api/Users answering every page with a full page of new ids, for ever."""
    def answer(request):
        if "page_no=" not in request.query:
            return None
        number = int(request.query.split("page_no=")[1].split("&")[0])
        size = int(request.query.split("page_size=")[1].split("&")[0])
        users = [{"id": 10_000_000 + number * size + i, "name": f"Endless {number}.{i}", "inactive": False}
                 for i in range(size)]
        page = {"users": users, **({"record_count": count_of(number, size)} if count_of else {})}
        return Answer(200, {}, json.dumps(page).encode())
    return answer


@pytest.mark.parametrize("count_of", [None, lambda number, size: (number + 1) * size],
                         ids=["no record_count", "a record_count that keeps growing"])
def test_endless_halo_paging_stops(tmp_path, halo, graph, count_of):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("GET", "/api/users", endless_users(count_of))
        folder = IntegratorFolder(tmp_path, proxy.url, settings=[NO_BUDGET_WAIT])
        enable_entra(halo, folder, graph.url)
        run = folder.auto(timeout=150)
        assert user_writes(proxy) == 0
    assert "Users" in halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS, halo=halo, says=["the incomplete list was not used"])


def test_endless_graph_next_links_stop(tmp_path, halo, graph):
    with HostileServer(upstream=graph.url) as graph_proxy:
        def endless(request):
            if request.path != "/v1.0/users":
                return None
            number = int(request.query.split("endless-")[1]) if "endless-" in request.query else 0
            page = {"value": [{"id": f"endless-{number}-{i}"} for i in range(999)],
                    "@odata.nextLink": f"{graph_proxy.url}/v1.0/users?$skiptoken=endless-{number + 1}"}
            return Answer(200, {}, json.dumps(page).encode())

        graph_proxy.on("GET", "/v1.0/users", endless)
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_entra(halo, folder, graph_proxy.url)
        run = folder.auto(timeout=150)
    assert halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS | graph_proxy.tokens, halo=halo, says=["nothing was changed"])


@pytest.mark.parametrize("declare_length", [True, False], ids=["Content-Length", "until the connection closes"])
def test_a_huge_answer_is_not_read_whole(tmp_path, halo, declare_length):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("GET", "/api/instanceinfo", lambda request: Huge(size=700 << 20, declare_length=declare_length))
        folder = IntegratorFolder(tmp_path, proxy.url)
        run = folder.auto()
    assert_contained(run, folder, secrets={HALO_SECRET, *proxy.tokens}, halo=halo, says=["MB"])


@pytest.mark.slow  # four attempts of two seconds each, and the backoffs between them
@pytest.mark.parametrize("during", ["head", "body"])
def test_a_slow_drip_does_not_outlive_the_timeout(tmp_path, halo, during):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("GET", "/api/instanceinfo", lambda request: Drip(during=during, every=0.5, limit=400))
        folder = IntegratorFolder(tmp_path, proxy.url, settings=["timeout_seconds=2"])
        run = folder.auto(timeout=60)
    assert_contained(run, folder, secrets={HALO_SECRET, *proxy.tokens}, halo=halo, says=["within 2 s"])


@pytest.mark.slow  # waits for a 15-second run time limit
def test_the_run_stops_at_its_time_limit_reports_it_and_releases_the_lock(tmp_path, halo, graph):
    with HostileServer(upstream=halo.url) as proxy:
        proxy.on("GET", "/api/users", lambda request: Drip(during="body", every=1.0, limit=400))
        folder = IntegratorFolder(tmp_path, proxy.url, settings=["timeout_seconds=120", "run_time_limit_minutes=0.25"])
        enable_entra(halo, folder, graph.url)
        run = folder.auto(timeout=75)
        assert user_writes(proxy) == 0
    assert "time limit" in halo.records("azureadconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS | proxy.tokens, halo=halo, says=["run_time_limit_minutes"])
    assert folder.auto("--dry-run").code != 3, "the lock was not released"


@pytest.mark.slow  # waits for a 15-second run time limit
def test_a_dripping_directory_stops_at_the_run_time_limit(tmp_path, halo):
    with HostileLdap(bind="ok", search="drip") as ldap:
        folder = IntegratorFolder(tmp_path, halo.url, settings=["run_time_limit_minutes=0.25"])
        enable_directory(halo, folder, ldap.port)
        run = folder.auto(timeout=75)
    assert "time limit" in halo.records("ldapconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS, halo=halo, says=["time limit"])


def test_a_directory_that_pages_for_ever_stops(tmp_path, halo):
    with HostileLdap(bind="ok", search="endless") as ldap:
        folder = IntegratorFolder(tmp_path, halo.url)
        enable_directory(halo, folder, ldap.port)
        run = folder.auto(timeout=120)
    assert "pages" in halo.records("ldapconnections")[0]["halointegrator_lasterror"]
    assert_contained(run, folder, secrets=SECRETS, halo=halo, says=["nothing was written"])


# ---- the deadline, and what is still sent after it -----------------------------------------------------

API = "https://halo.example.com/api"


@responses.activate
def test_after_the_deadline_only_the_status_write_back_is_sent():
    responses.post("https://halo.example.com/auth/token", json={"access_token": "t-unit", "expires_in": 3600})
    responses.post(f"{API}/LDAPConnection", json=[{"id": 1}])
    now = [0.0]
    deadline = Deadline(60, clock=lambda: now[0], grace=30)
    settings = HaloSettings(web_app_url="https://halo.example.com", client_id="id", client_secret="unit-secret",
                            api_url=API, auth_url="https://halo.example.com/auth", tenant="t")
    client = HaloClient(settings, deadline=deadline)
    now[0] = 61.0
    with pytest.raises(RunTimedOut, match="run_time_limit_minutes"):
        client.get("Users")
    with pytest.raises(RunTimedOut):
        client.post("Users", [{"name": "New"}], idempotent=False)
    client.post("LDAPConnection", [{"id": 1, "halointegrator_lasterror": "stopped"}], idempotent=True)
    assert [call.request.url for call in responses.calls][-1] == f"{API}/LDAPConnection"
    now[0] = 95.0  # past the grace too
    with pytest.raises(RunTimedOut):
        client.post("LDAPConnection", [{"id": 1, "halointegrator_lasterror": "stopped"}], idempotent=True)


# ---- the LDAP socket's bounds -------------------------------------------------------------------------

class FakeSocket:
    def __init__(self, chunk: bytes) -> None:
        self.chunk, self.timeouts = chunk, []

    def settimeout(self, seconds):
        self.timeouts.append(seconds)

    def recv(self, size, *flags):
        return self.chunk


def test_an_ldap_operation_may_not_read_more_than_its_bytes():
    bounded = BoundedSocket(FakeSocket(b"x" * 1000), Deadline(None), per_read=60)
    bounded.start(max_bytes=2500)
    bounded.recv(4096), bounded.recv(4096)
    with pytest.raises(OSError, match="more than"):
        bounded.recv(4096)


def test_each_ldap_read_waits_no_longer_than_the_operation_has_left():
    fake = FakeSocket(b"x")
    bounded = BoundedSocket(fake, Deadline(None), per_read=60)
    bounded.start(seconds=5)
    bounded.recv(10)
    assert fake.timeouts[-1] <= 5
    bounded.start(seconds=0)
    with pytest.raises(socket.timeout):
        bounded.recv(10)
    assert "within 0 s" in bounded.failure and not bounded.deadline_hit
