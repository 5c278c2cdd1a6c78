"""The Entra ID sync against the stricter Graph emulator: what real Graph sends that the old emulator
never did (nested groups and non-user members, partial and repeated delta items, never-set properties
left out, replays, lag, empty pages, other expiry codes, a throttled login, msSense devices)."""

from __future__ import annotations

import pytest

from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox
from tests.test_entra_sync import APP_ID, CONNECTION, SALES, TENANT_ID, World

SITES = {"Sales Staff": 2, "Engineering Staff": 3, "Support Staff": 1}


def make_world(**tenant_options):
    tenant = generate_tenant(users=90, groups=3, devices=24, disabled_ratio=0.05, seed=13, **tenant_options)
    graph = GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID, client_secret="graph-secret").start()
    halo = HaloSandbox(rate_limit=None).start()
    world = World(graph, halo)
    world.configure(**CONNECTION)
    return world


@pytest.fixture
def world():
    world = make_world(nested_groups=2, foreign_members=2)
    yield world
    world.client.close()
    world.halo.stop()
    world.graph.stop()


def transitive_scope(world) -> dict[str, int]:
    """User id -> site, from what transitiveMembers gives for each mapped group (first rule wins)."""
    scope: dict[str, int] = {}
    for name, site in sorted(SITES.items(), key=lambda pair: CONNECTION_ORDER.index(pair[0])):
        group_id = world.graph.tenant.group_named(name)["id"]
        for member in world.graph.transitive_member_ids(group_id):
            if member in world.graph.tenant.users:
                scope.setdefault(member, site)
    return scope


CONNECTION_ORDER = [row["group_name"] for row in CONNECTION["mappings_site"]]


def test_nested_group_members_land_at_the_parents_site_and_other_kinds_are_not_users(world):
    report = world.sync()
    assert report.ok, report
    scope = transitive_scope(world)
    nested = world.graph.tenant.group_named("Sales Staff Contractors")["id"]
    contractors = set(world.graph.tenant.members[nested])
    users = world.users()
    assert set(users) == set(scope) and contractors <= set(users)
    assert all(users[oid]["site_id"] == SALES for oid in contractors)
    assert not set(users) & set(world.graph.tenant.objects)  # devices, service principals, contacts
    assert world.graph.unsupported == []


def test_a_new_user_whose_unset_properties_delta_leaves_out_is_read_once_by_id(world):
    world.sync()
    newcomer = world.graph.add_user(groups=("Sales Staff",), mobilePhone=None, jobTitle="New starter")
    report = world.sync()
    assert report.counts["create"] == 1, report
    assert world.graph.counts["user"] == 1  # the delta item lacked mobilePhone: read in full by id
    created = world.users()[newcomer]
    assert created["title"] == "New starter" and created["mobilenumber"] == "" and created["site_id"] == SALES


def test_repeated_and_replayed_items_converge(world):
    world.sync()
    target = next(iter(transitive_scope(world)))
    world.graph.update_user(target, jobTitle="First")
    world.graph.update_user(target, jobTitle="Second")
    world.graph.update_user(target, department="Audit")
    report = world.sync()
    assert report.counts["update"] == 1 and world.users()[target]["title"] == "Second"
    assert world.users()[target]["department"] == "Audit"
    writes = world.writes()
    world.graph.replay()
    assert world.sync().summary() == "nothing to change" and world.writes() == writes


def test_a_lagging_change_is_applied_by_the_run_that_sees_it(world):
    world.sync()
    first, second = list(transitive_scope(world))[:2]
    world.graph.update_user(first, jobTitle="Seen now")
    world.graph.update_user(second, jobTitle="Seen later")
    world.graph.hold_back(1)
    world.sync()
    assert world.users()[first]["title"] == "Seen now" and world.users()[second]["title"] != "Seen later"
    world.graph.hold_back(0)
    world.sync()
    assert world.users()[second]["title"] == "Seen later"


def test_empty_delta_pages_are_followed(world):
    world.sync()
    target = next(iter(transitive_scope(world)))
    world.graph.update_user(target, jobTitle="Behind empty pages")
    world.graph.empty_pages(3)
    world.sync()
    assert world.users()[target]["title"] == "Behind empty pages"


def test_a_soft_deleted_user_is_deactivated_and_comes_back_when_restored(world):
    world.sync()
    target = next(oid for oid in transitive_scope(world) if world.graph.tenant.users[oid]["accountEnabled"])
    world.graph.remove(target, reason="changed")
    report = world.sync()
    assert world.users()[target]["inactive"] and any("1 soft-deleted" in note for note in report.notes)
    world.graph.restore(target)
    world.sync()
    assert not world.users()[target]["inactive"]


def test_another_documented_expiry_code_brings_a_full_read(world):
    world.sync()
    listed = world.graph.counts["users"]
    world.graph.expire_delta_links(status=400, code="syncStateInvalid")
    assert world.sync().ok and world.graph.counts["users"] == listed + 1


def test_a_throttled_login_with_an_http_date_is_waited_for(world):
    world.graph.throttle(2, retry_after=20, as_date=True, only=("token",))
    report = world.sync()
    assert report.ok and world.graph.counts["token"] == 3
    assert len(world.sleeps) == 2 and all(15 <= seconds <= 21 for seconds in world.sleeps)


def test_msSense_devices_are_not_imported_when_the_connection_excludes_them(world):
    world.configure(exclude_mssense_devices=True)
    report = world.sync()
    defender = {d["id"] for d in world.graph.tenant.devices.values() if d["managementAgent"] == "msSense"}
    assert defender and not defender & set(world.assets())
    assert len(world.assets()) == len(world.graph.tenant.devices) - len(defender)
    assert any("msSense" in note for note in report.notes)


def test_msSense_devices_are_imported_when_the_connection_does_not_exclude_them(world):
    world.sync()
    assert len(world.assets()) == len(world.graph.tenant.devices)


def test_a_memory_mapping_is_refused_in_words_and_writes_nothing_blank(world):
    world.configure(mappings_device=[{"thirdpartyname": "physicalMemoryInBytes", "fiid": 101}])
    report = world.sync()
    assert any("physicalMemoryInBytes" in note and "read by id" in note for note in report.notes)
    assert all(not asset.get("fields") for asset in world.assets().values())
    assert world.graph.counts["device"] == 0  # no per-device reads


def test_full_delta_items_work_too():
    world = make_world()
    try:
        world.graph.delta_items = "full"
        world.sync()
        target = next(iter(transitive_scope(world)))
        world.graph.update_user(target, employeeId="E-NEW")
        report = world.sync()
        assert report.counts["update"] == 1 and world.users()[target]["other1"] == "E-NEW"
    finally:
        world.client.close()
        world.halo.stop()
        world.graph.stop()
