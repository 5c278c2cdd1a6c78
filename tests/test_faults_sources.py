"""Sources failing under `integrator.py AUTO`: a Graph page failing mid-listing, an expired delta link, the
LDAP server stopped mid-search, a bind that starts failing (OpenLDAP and Samba AD).

The rule under test: a partial read is never the truth. Each failing run must exit 1, say why in the
connection's Last Error and the log, write nothing (so nobody is deactivated), and leave the delta link
where it was, so the next good run still sees every change.
"""

from __future__ import annotations

import subprocess

import ldap3
import pytest

from halointegrator.app import cli
from sandbox.graph_server import GraphServer
from tests.e2e_world import APP_ID, APP_SECRET, TENANT_ID, World, own_logger, small_tenant


@pytest.fixture
def paged_graph():
    """Delta rounds of 20 users a page, so a round of changes spans several pages."""
    with GraphServer(small_tenant(), tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_SECRET,
                     delta_page_size=20) as server:
        yield server


@pytest.fixture
def synced(halo, paged_graph, tmp_path) -> World:
    """Entra ID synced once, cleanly: the next run reads a delta."""
    world = World(halo, tmp_path, graph=paged_graph)
    assert world.auto().returncode == 0, world.log()
    return world


def failed_without_writing(world: World, run, words: str, table: str = "azureadconnections") -> None:
    """``run()`` fails, says ``words`` in Last Error and the log, and leaves users and assets as they were."""
    before = world.snapshot()
    result = run()
    assert result.returncode == 1, world.run_log()
    assert words in world.last_error(table), world.last_error(table)
    assert words in world.run_log()
    assert world.record_writes() == 0
    after = world.snapshot()
    assert after["users"] == before["users"] and after["assets"] == before["assets"]  # nobody deactivated
    assert "Traceback" not in world.run_log()


def test_a_delta_page_failing_mid_round_writes_nothing_and_keeps_the_link(synced):
    world, graph = synced, synced.graph
    changed = graph.change_users(50)  # three delta pages of 20
    graph.fail_page("delta", 2, status=500)
    failed_without_writing(world, world.auto, "page 2 of user changes")
    graph.clear_failures()
    assert world.auto().returncode == 0
    titles = {user["azureoid"]: user["title"] for user in world.halo.records("users")}
    assert all(titles[user_id] == graph.tenant.users[user_id]["jobTitle"] for user_id in changed)


@pytest.mark.parametrize("listing, words", [
    ("members", "page 1 of members of"),
    ("devices", "page 1 of Intune managed devices"),
])
def test_a_failing_membership_or_device_listing_deactivates_nobody(synced, listing, words):
    world = synced
    world.graph.fail_page(listing, 1, status=500)
    failed_without_writing(world, world.auto, words)


def test_an_expired_delta_link_brings_a_full_read_that_misses_nothing(synced):
    world, graph = synced, synced.graph
    graph.expire_delta_links()
    changed = graph.change_users(5)
    leaver = next(user_id for user_id in graph.tenant.users if user_id not in changed)
    graph.remove(leaver)
    inactive_before = world.inactive_users()
    result = world.auto()
    assert result.returncode == 0, world.run_log()
    assert "Microsoft Graph expired the delta link" in world.run_log()
    users = {user["azureoid"]: user for user in world.halo.records("users")}
    assert all(users[user_id]["title"] == graph.tenant.users[user_id]["jobTitle"] for user_id in changed)
    assert world.inactive_users() - inactive_before == {leaver}
    assert world.last_error() == ""


# ---- LDAP ---------------------------------------------------------------------------------------------

@pytest.fixture
def ldap_world(halo, fresh_slapd, tmp_path) -> World:
    """slapd synced once, cleanly; the connection pages by 5, so reading one OU takes several requests."""
    world = World(halo, tmp_path, directory=fresh_slapd)
    with halo.lock:
        halo.state["ldapconnections"][1]["pagesize"] = 5
    assert world.auto().returncode == 0, world.log()
    assert len(world.halo.records("users")) == len(fresh_slapd.users)
    return world


def auto_in_process(world: World, monkeypatch):
    """AUTO in this process (so a test can stop the server between two pages of one search)."""
    monkeypatch.chdir(world.folder)
    world.halo.clear_requests()
    world._log_start = len(world.log())
    with own_logger():
        return subprocess.CompletedProcess(["AUTO"], cli.main(["AUTO", "--config", str(world.config)]))


@pytest.mark.slapd
def test_the_directory_stopped_mid_search_writes_nothing(ldap_world, monkeypatch):
    world, directory = ldap_world, ldap_world.directory
    search, calls = ldap3.Connection.search, []

    def search_then_stop(connection, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("search_base"))
        if len(calls) == 3:  # between the second and third page of the first OU
            directory.stop()
        return search(connection, *args, **kwargs)

    monkeypatch.setattr(ldap3.Connection, "search", search_then_stop)
    failed_without_writing(world, lambda: auto_in_process(world, monkeypatch), "nothing was written",
                           table="ldapconnections")
    assert len(calls) == 3 and calls[0] == calls[2]
    assert "failed after 10 entries" in world.last_error("ldapconnections")


@pytest.mark.slapd
def test_a_directory_that_is_down_writes_nothing(ldap_world):
    ldap_world.directory.stop()
    failed_without_writing(ldap_world, ldap_world.auto, "Could not connect to ldaps://", table="ldapconnections")


@pytest.mark.slapd
def test_a_bind_that_starts_failing_writes_nothing(ldap_world):
    world, directory = ldap_world, ldap_world.directory
    with directory.admin_connection() as admin:
        admin.modify(directory.bind_dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Changed.Elsewhere.9"])]})
    failed_without_writing(world, world.auto, "invalidCredentials", table="ldapconnections")
    assert "Changed.Elsewhere.9" not in world.log()


@pytest.mark.samba
def test_a_samba_bind_that_starts_failing_writes_nothing(halo, samba, tmp_path):
    world = World(halo, tmp_path, directory=samba)
    assert world.auto().returncode == 0, world.log()
    assert len(world.halo.records("users")) == len([user for user in samba.users if user.ou_dn in samba.ous])
    with halo.lock:
        halo.state["ldapconnections"][1]["integrator_password"] = "No.Longer.Valid.1"
    failed_without_writing(world, world.auto, "invalidCredentials", table="ldapconnections")
    assert "No.Longer.Valid.1" not in world.log()
