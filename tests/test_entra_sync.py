"""Entra ID sync end to end: the Graph emulator as Microsoft, the Halo sandbox as Halo, real HTTP both ways;
CHECK; and reads that give less than a full read (partial delta items, empty listings) deactivate nobody."""

from __future__ import annotations

import logging

import pytest

from halointegrator.engine.status import ConnectionState
from halointegrator.errors import ConfigError, SourceError
from halointegrator.halo.client import HaloClient
from halointegrator.http import RetryPolicy
from halointegrator.local.settings import HaloSettings
from integrations import entra as azure_ad
from integrations.entra import graph as graph_module
from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox
from tests.core_helpers import context_for, run_connection

TENANT_ID = "00000000-0000-4000-8000-000000000001"  # the seeded connection's directoryid and applicationid
APP_ID = "00000000-0000-4000-8000-000000000002"
SALES, ENGINEERING, SUPPORT, UNMATCHED, HEAD_OFFICE = 2, 3, 1, 4, 1
CONNECTION = {
    "halointegratorenabled": True, "intune_enabled": True, "deactivate_users": True,
    "createunmatchedusers": False, "unmatchedusersite": UNMATCHED, "defaultsite": HEAD_OFFICE, "default_assettype": 1,
    "user_matching_fields": "email",
    "mappings_site": [{"group_name": "Sales Staff", "siteid": SALES, "sequenceid": 1},
                      {"group_name": "Engineering Staff", "siteid": ENGINEERING, "sequenceid": 2},
                      {"group_name": "Support Staff", "siteid": SUPPORT, "sequenceid": 3}],
    "mappings_user": [{"thirdpartyname": "employeeId", "name": "other1"}],
    "mappings_device": [{"thirdpartyname": "model", "fiid": 101}, {"thirdpartyname": "operatingSystemWithVersion", "fiid": 102}],
}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class World:
    """Graph, Halo, a Halo client and the state that outlives a run."""

    def __init__(self, graph: GraphServer, halo: HaloSandbox):
        self.graph, self.halo, self.state, self.sleeps = graph, halo, ConnectionState(), Sleeps()
        self.local = {"app_secret": "graph-secret", "login_url": graph.url, "graph_url": graph.url}
        settings = HaloSettings(web_app_url=halo.url, client_id="halo-integrator", client_secret="sandbox-secret",
                                tenant="sandbox", request_budget=0)
        self.client = HaloClient(settings, retry=RetryPolicy(sleep=self.sleeps), sleep=self.sleeps)

    def configure(self, **fields) -> None:
        with self.halo.lock:
            record = self.halo.state["azureadconnections"][1]
            self.halo.state["azureadconnections"][1] = {**record, **fields}

    def context(self, **options):
        return context_for(self.client, local=self.local, state=self.state, services={"sleep": self.sleeps},
                           log=logging.getLogger("test.azure"), **options)

    def check(self) -> list:
        """Check Configuration for the connection, as CHECK and the window run it."""
        from halointegrator.engine.checking import check_all
        results = check_all(self.client, {azure_ad.NAME: azure_ad.INTEGRATION}, client_id="halo-integrator",
                            local_settings={"azure_ad:1": self.local}, log=logging.getLogger("test.azure"))
        return results[0].checks

    def connection(self) -> dict:
        return azure_ad.connection_details(self.client, azure_ad.list_connections(self.client)[0])

    def sync(self, *, dry_run: bool = False, allow_mass_deactivation: bool = False):
        """One run through the core; a dry run works on a copy of the state, as the runner's does."""
        state = ConnectionState.decode(self.state.encode()) if dry_run else self.state
        return run_connection(azure_ad.INTEGRATION, self.connection(), self.client, state=state, local=self.local,
                              dry_run=dry_run, allow_mass_deactivation=allow_mass_deactivation,
                              services={"sleep": self.sleeps}, log=logging.getLogger("test.azure"))

    def users(self) -> dict[str, dict]:
        return {user["azureoid"]: user for user in self.halo.records("users") if user.get("azureoid")}

    def assets(self) -> dict[str, dict]:
        return {asset["intune_id"]: asset for asset in self.halo.records("assets") if asset.get("intune_id")}

    def writes(self) -> int:
        return sum(1 for entry in self.halo.requests if entry["method"] == "POST" and "/auth" not in entry["path"])


@pytest.fixture
def world():
    tenant = generate_tenant(users=120, groups=3, devices=30, disabled_ratio=0.05, seed=11)
    with GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID, client_secret="graph-secret") as graph, \
            HaloSandbox(rate_limit=None) as halo:
        world = World(graph, halo)
        world.configure(**CONNECTION)
        yield world
        world.client.close()


def in_scope(world) -> dict[str, int]:
    """Graph user id -> the site its first mapped group gives (users of the 4th share are in no group)."""
    sites = {"Sales Staff": SALES, "Engineering Staff": ENGINEERING, "Support Staff": SUPPORT}
    scope = {}
    for group_id, members in world.graph.tenant.members.items():
        for user_id in members:
            scope.setdefault(user_id, sites[world.graph.tenant.groups[group_id]["displayName"]])
    return scope


def test_users_and_devices_land_as_mapped(world):
    report = world.sync()
    assert report.ok, report
    scope, graph_users = in_scope(world), world.graph.tenant.users
    users = world.users()
    assert set(users) == set(scope)
    assert report.counts["create"] == len(scope) + 30 and report.skipped == 120 - len(scope)
    some_id = next(iter(scope))
    user, source = users[some_id], graph_users[some_id]
    assert user["name"] == source["displayName"] and user["login"] == source["userPrincipalName"]
    assert user["emailaddress"] == (source["mail"] or source["userPrincipalName"])
    assert user["other1"] == source["employeeId"] and user["site_id"] == scope[some_id]
    assert user["azure_connectionid"] == 1 and user["azure_tenant_id"] == TENANT_ID
    disabled = [oid for oid in scope if not graph_users[oid]["accountEnabled"]]
    assert disabled and all(users[oid]["inactive"] for oid in disabled)
    device = next(d for d in world.graph.tenant.devices.values() if d["userId"] in scope and d["serialNumber"])
    asset = world.assets()[device["id"]]
    assert asset["inventory_number"] == device["deviceName"] and asset["key_field"] == device["serialNumber"]
    assert asset["site_id"] == scope[device["userId"]] and asset["assettype_id"] == 1
    assert {field["id"]: field["value"] for field in asset["fields"]} == {
        101: device["model"], 102: f"{device['operatingSystem']} {device['osVersion']}"}


def test_a_second_run_writes_nothing_and_reads_a_delta(world):
    world.sync()
    writes, full_reads = world.writes(), world.graph.counts["users"]
    report = world.sync()
    assert report.summary() == "nothing to change"  # a delta run knows nothing of out-of-scope users
    assert world.writes() == writes
    assert world.graph.counts["users"] == full_reads  # no second full read: the stored delta link was used


def test_a_delta_run_touches_only_the_changed_users(world):
    world.sync()
    before = world.users()
    scope = in_scope(world)
    changed = [oid for oid in world.graph.tenant.users if oid in scope][:10]
    for oid in changed:
        world.graph.update_user(oid, jobTitle="Chief Tester")
    users_listed = world.graph.counts["users"]
    report = world.sync()
    assert report.counts["update"] == 10 and report.counts["create"] == report.counts["deactivate"] == 0
    after = world.users()
    assert {oid for oid in after if after[oid] != before[oid]} == set(changed)
    assert all(after[oid]["title"] == "Chief Tester" for oid in changed)
    assert world.graph.counts["users"] == users_listed


def test_a_disabled_user_becomes_inactive_and_a_deleted_one_is_deactivated(world):
    world.sync()
    scope = in_scope(world)
    active = [oid for oid, user in world.users().items() if not user["inactive"]]
    world.graph.disable(active[0])
    world.graph.remove(active[1], reason="deleted")
    report = world.sync()
    users = world.users()
    assert users[active[0]]["inactive"] and users[active[1]]["inactive"]
    assert report.counts["deactivate"] == 1 and report.counts["update"] >= 1
    assert any("1 deleted, 0 soft-deleted" in note for note in report.notes)
    assert len(scope) > 2


def test_a_failing_graph_page_aborts_before_any_write(world):
    world.sync()
    world.state.source.clear()  # the next run reads every user again
    before, writes = world.users(), world.writes()
    world.graph.remove(next(iter(in_scope(world))))
    world.graph.fail_page("users", 1, status=500)  # 200 users: one page of 999; it fails
    with pytest.raises(SourceError, match=r"failed on page 1 of users.*nothing was changed"):
        world.sync()
    assert world.writes() == writes and world.users() == before


def test_a_delta_page_failing_mid_round_aborts_and_keeps_the_link(world):
    world.graph.delta_page_size = 5
    world.sync()
    link = world.state.source["users_delta"]
    world.graph.change_users(12)
    world.graph.fail_page("delta", 2, status=503)  # retried 8 times, then the round fails
    with pytest.raises(SourceError, match="page 2 of user changes"):
        world.sync()
    assert world.state.source["users_delta"] == link
    world.graph.clear_failures()
    assert world.sync().ok


def test_a_429_storm_is_ridden_out(world):
    world.graph.throttle(7, retry_after=3)
    report = world.sync()
    assert report.ok and report.counts["create"] > 0
    assert world.sleeps.count(3.0) == 7


def test_a_dry_run_writes_nothing_and_stores_no_state(world):
    report = world.sync(dry_run=True)
    assert report.dry_run and report.counts["create"] > 0
    assert world.writes() == 0 and world.state.source == {} and world.state.kinds == {}


def test_mass_removal_is_refused_unless_allowed(world):
    world.sync()
    scope = list(in_scope(world))
    for oid in scope[::3][:20]:  # from every group, so that no group comes back empty
        world.graph.remove(oid)
    report = world.sync()
    assert report.counts["deactivate"] == 0 and "Refused to deactivate 20" in report.refused[0]
    world.local["allow_mass_deactivation"] = True
    world.state.source.clear()  # the refused run kept its link; a full read sees the same 30 gone
    report = world.sync()
    assert report.counts["deactivate"] == 20


def test_an_empty_group_protects_its_site(world):
    world.sync()
    sales = world.graph.tenant.group_named("Sales Staff")["id"]
    world.graph.tenant.members[sales] = []
    report = world.sync()
    assert report.counts["deactivate"] == 0
    assert any("site 2" in reason for reason in report.refused)


def test_users_entering_and_leaving_a_group_without_a_user_change(world):
    world.sync()
    tenant = world.graph.tenant
    owners = {device["userId"] for device in tenant.devices.values()}
    outsider = next(oid for oid, user in tenant.users.items()
                    if oid not in in_scope(world) and user["accountEnabled"] and oid not in owners)
    sales = tenant.group_named("Sales Staff")["id"]
    tenant.members[sales].append(outsider)  # membership only: the users delta says nothing
    report = world.sync()
    assert report.counts["create"] == 1 and world.users()[outsider]["site_id"] == SALES
    tenant.members[sales].remove(outsider)
    assert world.sync().counts["deactivate"] == 1 and world.users()[outsider]["inactive"]
    tenant.members[sales].append(outsider)
    report = world.sync()
    assert report.counts["update"] == 1 and not world.users()[outsider]["inactive"]


def test_moving_a_user_to_another_group_moves_their_site(world):
    world.sync()
    tenant = world.graph.tenant
    sales, engineering = (tenant.group_named(name)["id"] for name in ("Sales Staff", "Engineering Staff"))
    mover = tenant.members[sales][0]
    tenant.members[sales].remove(mover)
    tenant.members[engineering].append(mover)
    report = world.sync()
    assert world.users()[mover]["site_id"] == ENGINEERING and report.counts["deactivate"] == 0


def test_a_changed_mapping_brings_a_full_read(world):
    world.sync()
    listed = world.graph.counts["users"]
    world.configure(mappings_user=[{"thirdpartyname": "employeeId", "name": "other2"}])
    report = world.sync()
    assert world.graph.counts["users"] == listed + 1
    assert report.counts["update"] == len(in_scope(world))


def test_an_expired_delta_link_brings_a_full_read(world):
    world.sync()
    world.graph.expire_delta_links()
    listed = world.graph.counts["users"]
    assert world.sync().ok and world.graph.counts["users"] == listed + 1


def test_only_the_chosen_imports_run(world):
    world.configure(halo_integrator_import_list="devices")
    world.sync()
    assert world.users() == {} and len(world.assets()) == 30
    assert world.graph.counts["users"] == 0


def test_missing_device_permission_stops_before_any_write(world):
    world.graph.deny("devices")
    with pytest.raises(SourceError, match="DeviceManagementManagedDevices.Read.All"):
        world.sync()
    assert world.writes() == 0


def test_devices_need_an_asset_type(world):
    world.configure(default_assettype=0)
    with pytest.raises(ConfigError, match="default asset type"):
        world.sync()


def test_an_unknown_group_stops_the_run(world):
    world.configure(mappings_site=[{"group_name": "No Such Group", "siteid": SALES}])
    with pytest.raises(SourceError, match="'No Such Group'.*not found"):
        world.sync()


def test_existing_unowned_users_are_linked_by_email(world):
    target = next(user for oid, user in world.graph.tenant.users.items() if oid in in_scope(world) and user["mail"])
    world.halo.add("users", {"name": "Hand made", "emailaddress": target["mail"].upper(), "site_id": 1})
    report = world.sync()
    assert report.counts["link"] == 1
    linked = world.users()[target["id"]]
    assert linked["name"] == target["displayName"]


def labels(checks):
    return {check.label: check for check in checks}


def test_check_passes_on_a_good_configuration(world):
    checks = world.check()
    assert all(check.ok for check in checks), [c for c in checks if not c.ok]
    found = labels(checks)
    assert "Group 'Sales Staff' exists in Entra ID" in found and "Site 4 exists in Halo" not in found
    assert "DeviceManagementManagedDevices.Read.All granted (devices)" in found


def test_check_explains_what_is_wrong(world):
    world.graph.deny("users")
    world.configure(mappings_site=[{"group_name": "Nobody's Group", "siteid": 77}])
    found = labels(world.check())
    assert found["Enabled for the Halo Integrator in Halo"].ok
    assert "User.Read.All and admin consent" in found["User.Read.All granted"].detail
    assert not found["Group 'Nobody's Group' exists in Entra ID"].ok
    assert not found["Site 77 exists in Halo"].ok


def test_a_connection_allowed_only_for_other_integrators_is_checked_without_contacting_microsoft(world):
    world.configure(halointegrator_allowedclientids="someone-else;another")
    found = labels(world.check())
    assert not found["Allows this Integrator's client id"].ok
    assert "someone-else" in found["Allows this Integrator's client id"].detail
    assert found["Microsoft token obtained"].detail.startswith("skipped")
    assert sum(world.graph.counts.values()) == 0


def test_check_stops_at_a_refused_secret(world):
    world.local["app_secret"] = "wrong-secret-value"
    token = labels(world.check())["Microsoft token obtained"]
    assert not token.ok and "client secret is wrong" in token.detail
    assert "wrong-secret-value" not in token.detail
    assert labels(world.check())["User.Read.All granted"].detail.startswith("not run")
    world.local["app_secret"] = ""
    assert "No app secret" in labels(world.check())["App secret stored locally"].detail


# ---- a delta round is not a full read; a short read deactivates nobody ------------------------------------

KEPT = {"id", "jobTitle"}


def _partial_deltas(monkeypatch) -> None:
    """Graph's documented delta shape: an updated user carries its id and at least the changed properties."""
    real_delta = graph_module.GraphClient.delta

    def delta(self, url, what="user changes"):
        result = real_delta(self, url, what)
        result.changed = {oid: {k: v for k, v in item.items() if k in KEPT} for oid, item in result.changed.items()}
        return result

    monkeypatch.setattr(graph_module.GraphClient, "delta", delta)


def test_a_partial_delta_item_changes_only_what_it_carries(world, monkeypatch):
    world.sync()
    scope = in_scope(world)
    before = world.users()
    disabled = next(oid for oid in scope if before[oid]["inactive"])
    enabled = next(oid for oid in scope if not before[oid]["inactive"])
    for oid in (disabled, enabled):
        world.graph.update_user(oid, jobTitle="Chief Tester")
    _partial_deltas(monkeypatch)
    report = world.sync()
    assert report.ok, report
    after = world.users()
    for oid in (disabled, enabled):
        assert after[oid]["title"] == "Chief Tester"
        changed = {name for name in after[oid] if after[oid].get(name) != before[oid].get(name)}
        assert changed <= {"title"}, (oid, {name: (before[oid].get(name), after[oid].get(name)) for name in changed})
    assert after[disabled]["inactive"], "a disabled user was reactivated by a delta item without accountEnabled"


def test_a_partial_delta_item_for_a_user_halo_lacks_is_read_in_full(world, monkeypatch):
    world.sync()
    outsider = next(oid for oid in world.graph.tenant.users if oid not in in_scope(world))
    world.configure(createunmatchedusers=True)
    world.sync()  # the mapping changed: a full read brings the outsider in at the unmatched site
    world.halo.state["users"] = {k: v for k, v in world.halo.state["users"].items() if v.get("azureoid") != outsider}
    world.graph.update_user(outsider, jobTitle="Chief Tester")
    _partial_deltas(monkeypatch)
    report = world.sync()
    assert report.ok, report
    created = world.users()[outsider]
    source = world.graph.tenant.users[outsider]
    assert created["name"] == source["displayName"] and created["login"] == source["userPrincipalName"]


def _empty_listing(monkeypatch, path: str) -> None:
    """Graph answers `path` with a well-formed, empty listing: the extreme short read."""
    real_list_all = graph_module.GraphClient.list_all

    def list_all(self, listing, params, what):
        return [] if listing == path else real_list_all(self, listing, params, what)

    monkeypatch.setattr(graph_module.GraphClient, "list_all", list_all)


def test_an_empty_user_read_deactivates_nobody_even_when_mass_deactivation_is_allowed(world, monkeypatch):
    world.configure(createunmatchedusers=True)
    world.sync()
    world.local["allow_mass_deactivation"] = True  # left on after a real mass departure once
    world.state.source.clear()  # a full read
    _empty_listing(monkeypatch, "/v1.0/users")
    report = world.sync()
    assert report.counts.get("deactivate", 0) == 0
    assert all(not user["inactive"] or world.graph.tenant.users[oid]["accountEnabled"] is False
               for oid, user in world.users().items())


def test_an_empty_intune_read_deactivates_no_device(world, monkeypatch):
    world.sync()
    world.local["allow_mass_deactivation"] = True
    _empty_listing(monkeypatch, "/v1.0/deviceManagement/managedDevices")
    report = world.sync()
    assert report.counts.get("deactivate", 0) == 0
    assert not any(asset["inactive"] for asset in world.assets().values())
    assert any("Intune" in reason for reason in report.refused)


def test_a_refused_mass_deactivation_goes_through_once_allowed_on_the_next_delta_run(world):
    world.configure(createunmatchedusers=True)
    world.sync()
    scope = list(in_scope(world))
    removed = scope[::3][:20]  # from every group, so that no group comes back empty
    for oid in removed:
        world.graph.remove(oid)
    report = world.sync()
    assert report.counts["deactivate"] == 0 and "Refused to deactivate 20" in report.refused[0]
    world.local["allow_mass_deactivation"] = True  # what the refusal tells the admin to do; no state cleared
    report = world.sync()
    users = world.users()
    assert report.counts["deactivate"] == 20
    assert all(users[oid]["inactive"] for oid in removed)
