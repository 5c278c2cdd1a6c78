"""The sync status, end to end through `integrator.py AUTO`: Halo's lean list answers, a real OpenLDAP (and
Samba AD DC) directory and the Graph emulator, AD, Entra ID and Intune in one run.

Halo's list items carry only their *_List fields (no third_party_guid, azureoid, department,
intune_connectionid), so identity, ownership and change detection stand on the list and on what the
Integrator remembers in its state file. What it must never do, whatever happened to that file:
create a duplicate, or miss a leaver.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from halointegrator.engine.status import StatusStore
from halointegrator.local.paths import state_path_for
from sandbox.graph_server import GraphServer
from sandbox.halo_server import HaloSandbox
from tests.e2e_world import APP_ID, APP_SECRET, TENANT_ID, World, duplicates, small_tenant

pytestmark = pytest.mark.slapd
RECORD_PATHS = ("/api/users", "/api/asset")


@pytest.fixture
def world(tmp_path, fresh_slapd):
    with HaloSandbox() as halo, GraphServer(small_tenant(), tenant_id=TENANT_ID, client_id=APP_ID,
                                            client_secret=APP_SECRET) as graph:
        yield World(halo, tmp_path, graph=graph, directory=fresh_slapd)


def auto(world: World) -> None:
    result = world.auto()
    assert result.returncode == 0, world.run_log()
    assert duplicates(world.halo) == []


def reads_by_id(world: World) -> list[str]:
    return [entry["path"] for entry in world.halo.requests if entry["method"] == "GET"
            and entry["path"].lower().startswith(RECORD_PATHS) and entry["path"].rsplit("/", 1)[-1].isdigit()]


def ad_user(world: World, person) -> dict:
    guid = str(uuid.UUID(bytes_le=person.guid))
    (user,) = [user for user in world.halo.records("users") if user.get("third_party_guid") == guid]
    return user


def entra_user(world: World, oid: str) -> dict:
    (user,) = [user for user in world.halo.records("users") if user.get("azureoid") == oid]
    return user


def in_scope_oids(world: World) -> list[str]:
    return sorted({oid for members in world.graph.tenant.members.values() for oid in members})


def test_the_lists_are_lean_and_an_unchanged_resync_posts_nothing_and_reads_no_record(world):
    auto(world)
    assert world.record_writes() > 0
    ad = StatusStore(state_path_for(world.config)).load()["active_directory:1"].kinds["user"].entries
    assert len(ad) == len(world.directory.users)
    # a record just created is remembered by what its list item will not show: no fingerprint of a DN
    # or a name (Users_List has them), the GUID is the key, samaccountname and department are not listed
    fingerprinted = set().union(*(entry.fields for entry in ad.values()))
    assert {"samaccountname", "department"} <= fingerprinted
    assert fingerprinted.isdisjoint({"activedirectory_dn", "name", "third_party_guid"})
    listed = next(entry for entry in world.halo.requests if entry["path"].lower() == "/api/users")
    assert {"includeserviceaccount", "includenonserviceaccount", "includeinactive"} <= set(listed["params"])
    auto(world)
    assert world.record_writes() == 0
    assert reads_by_id(world) == []


def test_a_leaver_is_deactivated_and_a_mover_keeps_its_halo_id(world):
    auto(world)
    people = [person for person in world.directory.users if not person.disabled]
    leaver, mover = people[0], next(person for person in people[1:] if person.ou_dn != people[0].ou_dn)
    moved_from = ad_user(world, mover)
    other_ou = next(ou for ou in world.directory.ous if ou != mover.ou_dn)
    world.directory.delete_user(leaver.dn)
    world.directory.move_user(mover.dn, other_ou)
    oid_leaver, oid_mover = in_scope_oids(world)[:2]
    world.graph.remove(oid_leaver)
    mover_before = entra_user(world, oid_mover)
    world.graph.update_user(oid_mover, jobTitle="Moved on")
    devices_before = {asset["intune_id"] for asset in world.halo.records("assets") if not asset.get("inactive")}
    gone_device = sorted(devices_before)[0]
    world.graph.tenant.devices.pop(gone_device)
    auto(world)
    assert ad_user(world, leaver)["inactive"] is True
    moved = ad_user(world, mover)
    assert moved["id"] == moved_from["id"] and moved["activedirectory_dn"].lower().endswith(other_ou.lower())
    assert moved["site_id"] != moved_from["site_id"]
    assert entra_user(world, oid_leaver)["inactive"] is True
    assert entra_user(world, oid_mover)["id"] == mover_before["id"]
    assert entra_user(world, oid_mover)["title"] == "Moved on"
    assert next(asset for asset in world.halo.records("assets") if asset["intune_id"] == gone_device)["inactive"]


def test_a_user_without_email_is_not_duplicated_over_three_runs(world):
    person = next(person for person in world.directory.users if not person.disabled)
    world.directory.clear_attribute(person.dn, "mail")
    for _ in range(3):
        auto(world)
    user = ad_user(world, person)
    assert not user.get("emailaddress") and not user["inactive"]
    assert world.record_writes() == 0  # the third run found it again without writing


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_a_lost_status_makes_no_duplicate_and_misses_no_leaver(world, damage):
    auto(world)
    users_before, assets_before = len(world.halo.records("users")), len(world.halo.records("assets"))
    leaver = next(person for person in world.directory.users if not person.disabled)
    world.directory.delete_user(leaver.dn)
    oid_leaver = in_scope_oids(world)[0]
    world.graph.remove(oid_leaver)
    state = state_path_for(world.config)
    if damage == "deleted":
        state.unlink()
    else:
        state.write_bytes(b"\x00garbage{[")
    auto(world)
    assert len(world.halo.records("users")) == users_before and len(world.halo.records("assets")) == assets_before
    assert ad_user(world, leaver)["inactive"] is True
    assert entra_user(world, oid_leaver)["inactive"] is True
    auto(world)
    assert world.record_writes() == 0  # rebuilt: the status knows everything again


def test_a_halo_user_flagged_as_a_service_account_is_not_taken_for_missing(world):
    auto(world)
    person = next(person for person in world.directory.users if not person.disabled)
    with world.halo.lock:
        world.halo.state["users"][ad_user(world, person)["id"]]["isserviceaccount"] = True
    count = len(world.halo.records("users"))
    auto(world)
    assert len(world.halo.records("users")) == count
    assert world.record_writes() == 0


def test_drift_in_a_field_the_list_does_not_show_is_found_by_the_rolling_check(tmp_path, fresh_slapd):
    with HaloSandbox() as halo:
        world = World(halo, tmp_path, directory=fresh_slapd, settings=("drift_checks_per_run=1000",))
        auto(world)
        person = next(person for person in fresh_slapd.users if not person.disabled and person.department)
        with halo.lock:
            halo.state["users"][ad_user(world, person)["id"]]["department"] = "Edited by hand"
        auto(world)
        assert ad_user(world, person)["department"] == person.department
        assert world.record_writes() == 1


@pytest.mark.samba
def test_samba_lost_status_makes_no_duplicate(tmp_path: Path, samba_ou):
    with HaloSandbox() as halo:
        world = World(halo, tmp_path, directory=samba_ou)
        auto(world)
        first = len(halo.records("users"))
        auto(world)
        assert world.record_writes() == 0
        state_path_for(world.config).unlink()
        leaver = next(person for person in samba_ou.users if not person.disabled)
        samba_ou.delete_user(leaver.dn)
        auto(world)
        assert len(halo.records("users")) == first
        assert ad_user(world, leaver)["inactive"] is True
