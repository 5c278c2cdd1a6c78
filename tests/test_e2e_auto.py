"""End to end through `integrator.py AUTO`, as Task Scheduler runs it: a real OpenLDAP directory and the
Microsoft Graph emulator as sources, the strict Halo sandbox as Halo, the Integrator as a subprocess."""

from __future__ import annotations

import uuid

import pytest

from sandbox.directory import connection_record
from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import configure, integrator, log_text
from tests.e2e_world import APP_ID, APP_SECRET, ENTRA, HEAD_OFFICE, LONDON, NEW_YORK, TENANT_ID

pytestmark = pytest.mark.slapd


class World:
    def __init__(self, halo, graph, directory, folder):
        self.halo, self.graph, self.directory, self.folder = halo, graph, directory, folder
        self.config = folder / "HaloIntegrator.config"
        with halo.lock:
            halo.state["azureadconnections"][1].update(ENTRA)
            record = connection_record(directory, [LONDON, NEW_YORK, HEAD_OFFICE], name="E2E OpenLDAP")
            halo.state["ldapconnections"][1].update(record)
        configure(self.config, halo.url, cwd=folder)
        configure(self.config, halo.url, cwd=folder, extra=(
            "--connection", "azure_ad:1", "--set", f"login_url={graph.url}", "--set", f"graph_url={graph.url}",
            "--secret-env", "app_secret=HALO_TEST_SECRET"), secret=APP_SECRET)
        configure(self.config, halo.url, cwd=folder, extra=(
            "--connection", "active_directory:1", "--set", f"ca_file={directory.ca_file}"))

    def auto(self, *options):
        self.halo.clear_requests()
        return integrator("AUTO", "--config", str(self.config), *options, cwd=self.folder)

    def record_writes(self) -> int:
        """POSTs that changed users or assets (the Last Sync write-back is not counted)."""
        return sum(1 for entry in self.halo.requests
                   if entry["method"] == "POST" and entry["path"].lower() in ("/api/users", "/api/asset"))

    def ad_users(self) -> dict[str, dict]:
        return {user["samaccountname"]: user for user in self.halo.records("users") if user.get("activedirectory_dn")}

    def entra_users(self) -> dict[str, dict]:
        return {user["azureoid"]: user for user in self.halo.records("users") if user.get("azureoid")}


@pytest.fixture
def world(tmp_path, fresh_slapd):
    tenant = generate_tenant(users=150, groups=3, devices=30, seed=5)
    with HaloSandbox() as halo, GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID,
                                            client_secret=APP_SECRET) as graph:
        yield World(halo, graph, fresh_slapd, tmp_path)


def test_first_run_lands_everything_and_a_second_run_writes_nothing(world):
    first = world.auto()
    assert first.returncode == 0, log_text(world.folder)
    ad_users = world.ad_users()
    assert len(ad_users) == len(world.directory.users)
    site_of_ou = dict(zip(world.directory.ous, [LONDON, NEW_YORK, HEAD_OFFICE]))
    for person in world.directory.users:
        halo_user = ad_users[person.sam]
        assert halo_user["site_id"] == site_of_ou[person.ou_dn]
        assert halo_user["inactive"] is person.disabled
        assert halo_user["surname"] == person.surname
    assert len(world.entra_users()) == len(world.graph.tenant.users)
    assert len(world.halo.records("assets")) == len(world.graph.tenant.devices)
    for connection in world.halo.records("ldapconnections") + world.halo.records("azureadconnections"):
        assert connection["halointegrator_lastsync"] and connection["halointegrator_lasterror"] == ""

    second = world.auto()
    assert second.returncode == 0
    assert world.record_writes() == 0
    assert "nothing to change" in log_text(world.folder)


def test_changes_between_runs_reach_halo_and_nothing_else_is_written(world):
    assert world.auto().returncode == 0
    enabled = [person for person in world.directory.users if not person.disabled]
    disabled_person, removed_person = enabled[0], enabled[1]
    world.directory.disable_user(dn_of(world.directory, disabled_person))
    world.directory.delete_user(dn_of(world.directory, removed_person))
    changed = world.graph.change_users(10)
    result = world.auto()
    assert result.returncode == 0, log_text(world.folder)
    ad_users = world.ad_users()
    assert ad_users[disabled_person.sam]["inactive"] is True
    assert ad_users[removed_person.sam]["inactive"] is True
    assert set(changed) <= set(world.entra_users())
    assert world.record_writes() <= 2  # the AD batch and the Entra batch: one request each
    assert log_text(world.folder).count("Update user") == 10 + 1  # ten Graph users, one disabled AD user


def test_dry_run_changes_nothing_and_lists_what_it_would_do(world):
    before = {table: world.halo.records(table) for table in ("users", "assets", "ldapconnections", "azureadconnections")}
    result = world.auto("--dry-run")
    assert result.returncode == 0
    after = {table: world.halo.records(table) for table in before}
    assert after == before
    assert world.record_writes() == 0
    log = log_text(world.folder)
    assert "Would create user" in log and "Would create asset" in log


def dn_of(directory, person) -> str:
    with directory.admin_connection() as connection:
        connection.search(directory.base_dn, f"(sAMAccountName={person.sam})", attributes=["distinguishedName"])
        return connection.entries[0].entry_dn


@pytest.mark.samba
def test_samba_ad_through_auto(tmp_path, samba_ou):
    """A real AD (Samba): objectGUID identity, userAccountControl, StartTLS; disabled and removed between runs."""
    with HaloSandbox() as halo:
        with halo.lock:
            record = connection_record(samba_ou, [LONDON], name="Samba AD", use_ssl=False)  # StartTLS on 389
            halo.state["ldapconnections"][1].update(record)
        config = tmp_path / "HaloIntegrator.config"
        configure(config, halo.url, cwd=tmp_path)
        configure(config, halo.url, cwd=tmp_path, extra=(
            "--connection", "active_directory:1", "--set", f"ca_file={samba_ou.ca_file}"))
        run = lambda: integrator("AUTO", "--config", str(config), cwd=tmp_path)  # noqa: E731
        assert run().returncode == 0, log_text(tmp_path)
        users = {user["third_party_guid"]: user for user in halo.records("users")}
        assert len(users) == len(samba_ou.users)
        for person in samba_ou.users:
            user = users[str(uuid.UUID(bytes_le=person.guid))]
            assert (user["inactive"], user["site_id"], user["login"]) == (person.disabled, LONDON, person.upn)
        halo.clear_requests()
        assert run().returncode == 0
        assert not [r for r in halo.requests if r["method"] == "POST" and r["path"].lower() == "/api/users"]
        enabled = [person for person in samba_ou.users if not person.disabled]
        samba_ou.disable_user(enabled[0].dn)
        samba_ou.delete_user(enabled[1].dn)
        assert run().returncode == 0
        users = {user["third_party_guid"]: user for user in halo.records("users")}
        for person in enabled[:2]:
            assert users[str(uuid.UUID(bytes_le=person.guid))]["inactive"] is True
