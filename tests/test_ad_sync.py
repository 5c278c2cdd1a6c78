"""Active Directory sync end to end: a stand-in directory with the in-memory Halo, then real slapd and
Samba directories with the Halo sandbox and the real HaloClient."""

from __future__ import annotations

import logging
import uuid

import pytest

import weakref

from halointegrator.engine.model import Report
from halointegrator.engine.status import ConnectionState
from halointegrator.errors import SourceError
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings
from integrations import active_directory
from integrations.active_directory import directory as ldap_source
from integrations.active_directory.mapping import SourceEntry
from sandbox.directory import connection_record
from sandbox.halo_server import HaloSandbox
from tests.core_helpers import run_connection
from tests.fake_halo import FakeHalo

STAFF, LABS = "OU=Staff,DC=corp,DC=com", "OU=Labs,DC=corp,DC=com"
LOG = logging.getLogger("test.active_directory")


def person(number: int, ou: str = STAFF, disabled: bool = False, **attributes: str) -> SourceEntry:
    values = {"givenName": f"Given{number}", "sn": f"Surname{number}", "mail": f"p{number}@corp.com",
              "sAMAccountName": f"p{number}", "userAccountControl": "514" if disabled else "512", **attributes}
    raw = {name.lower(): [value.encode()] for name, value in values.items()}
    raw["objectguid"] = [uuid.UUID(int=number).bytes_le]
    return SourceEntry(f"CN=Person {number},{ou}", raw)


def guid(number: int) -> str:
    return str(uuid.UUID(int=number))


def record(**fields) -> dict:
    base = {"id": 1, "name": "Corp AD", "hostname": "dc1.corp.com", "port": "", "use_ssl": True,
            "username": "svc@corp.com", "integrator_password": "Bind.Secret.1", "halointegratorenabled": True,
            "ldap_strings": [{"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": True},
                             {"name": "Labs", "dn": LABS, "site_id": 3, "isrecursive": True}]}
    return {**base, **fields}


STATES: "weakref.WeakKeyDictionary[object, ConnectionState]" = weakref.WeakKeyDictionary()


def sync(halo, connection: dict, *, local: dict | None = None, dry_run: bool = False) -> Report:
    """One run of the connection through the core; runs against the same Halo share a state, as they
    share the state file beside one Integrator's config."""
    state = STATES.setdefault(halo, ConnectionState())
    return run_connection(active_directory.INTEGRATION, connection, halo, state=state, local=local,
                          dry_run=dry_run, log=LOG)


class FakeDirectory:
    """Stands in for the LDAP server: entries by mapping DN, or an error for one DN."""

    def __init__(self, monkeypatch, entries: dict[str, list[SourceEntry]], fail_on: str = ""):
        self.entries, self.fail_on = entries, fail_on
        self.opened: list[ldap_source.LdapSettings] = []
        self.searches: list[tuple[str, str, bool, int]] = []
        monkeypatch.setattr(ldap_source, "open_bound", lambda settings: self.opened.append(settings) or object())
        monkeypatch.setattr(ldap_source, "search_pages", self.search)
        monkeypatch.setattr(ldap_source, "close", lambda conn: None)

    def search(self, conn, base_dn, ldap_filter, *, recursive=True, attributes=(), page_size=1000, cancel=None):
        """Pages of two entries; a failing DN fails after its first page, as a dropped connection would."""
        self.searches.append((base_dn, ldap_filter, recursive, page_size))
        entries = list(self.entries.get(base_dn, []))
        for start in range(0, len(entries), 2):
            yield entries[start:start + 2]
            if base_dn == self.fail_on:
                break
        if base_dn == self.fail_on:
            raise SourceError(f"Reading {base_dn} failed after 2 entries (socket closed); nothing was written.")


def users_by_guid(halo: FakeHalo) -> dict[str, dict]:
    return {user.get("third_party_guid"): user for user in halo.records("Users")}


def test_first_sync_creates_users_in_their_sites(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1), person(2, disabled=True)], LABS: [person(3, LABS)]})
    halo = FakeHalo({"Users": []})
    report = sync(halo, record())
    assert report.counts["create"] == 3 and report.ok
    users = users_by_guid(halo)
    assert users[guid(1)] | {"id": 0} == {
        "id": 0, "third_party_guid": guid(1), "name": "Given1 Surname1", "firstname": "Given1", "surname": "Surname1",
        "emailaddress": "p1@corp.com", "samaccountname": "p1", "login": "", "phonenumber": "", "mobilenumber": "",
        "title": "", "department": "", "activedirectory_dn": f"CN=Person 1,{STAFF}", "inactive": False, "site_id": 2}
    assert users[guid(2)]["inactive"] is True and users[guid(3)]["site_id"] == 3
    listed = [call for call in halo.calls if call.method == "list"]
    assert [(call.path, dict(call.params)) for call in listed] == [
        ("Users", {"includeinactive": "true", "includeactive": "true", "includeserviceaccount": "true",
                   "includenonserviceaccount": "true"})]


def test_second_run_writes_nothing(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1), person(2, disabled=True)], LABS: [person(3, LABS)]})
    halo = FakeHalo({"Users": []})
    sync(halo, record())
    posts = len(halo.posts)
    report = sync(halo, record())
    assert sum(report.counts.values()) == 0 and len(halo.posts) == posts


def test_a_failed_read_writes_nothing(monkeypatch):
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1)]}, fail_on=LABS)
    halo = FakeHalo({"Users": [{"id": 5, "name": "Old", "third_party_guid": guid(9),
                                "activedirectory_dn": f"CN=Old,{STAFF}"}]})
    with pytest.raises(SourceError, match="nothing was written"):
        sync(halo, record())
    assert halo.calls == [] and len(directory.searches) == 2


def test_a_read_that_fails_after_a_mapped_page_writes_nothing(monkeypatch):
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1), person(2), person(3)], LABS: [person(4, LABS)]},
                              fail_on=STAFF)
    halo = FakeHalo({"Users": []})
    with pytest.raises(SourceError, match="failed after 2 entries"):
        sync(halo, record())
    assert halo.calls == [] and [search[0] for search in directory.searches] == [STAFF]


def test_leavers_are_deactivated_only_when_owned(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1)], LABS: [person(3, LABS)]})
    halo = FakeHalo({"Users": [
        {"id": 10, "name": "Left", "third_party_guid": guid(7), "activedirectory_dn": f"CN=Left,{STAFF}", "site_id": 2},
        {"id": 11, "name": "Elsewhere", "third_party_guid": guid(8), "activedirectory_dn": "CN=E,OU=Other,DC=corp,DC=com"},
        {"id": 12, "name": "Manual", "emailaddress": "manual@corp.com", "activedirectory_dn": f"CN=Manual,{STAFF}"},
    ]})
    report = sync(halo, record())
    assert report.counts["deactivate"] == 1 and halo.record("Users", 10)["inactive"] is True
    assert "inactive" not in halo.record("Users", 11) and "inactive" not in halo.record("Users", 12)


def test_a_mapping_that_returned_nobody_protects_its_users(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1)], LABS: []})
    halo = FakeHalo({"Users": [
        {"id": 20, "name": "Lab Person", "third_party_guid": guid(3), "activedirectory_dn": f"CN=Person 3,{LABS}"}]})
    report = sync(halo, record())
    assert report.counts["deactivate"] == 0 and "inactive" not in halo.record("Users", 20)
    assert any(LABS in reason for reason in report.refused)


def test_dry_run_changes_nothing(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1), person(2)]})
    halo = FakeHalo({"Users": [{"id": 30, "name": "Left", "third_party_guid": guid(7),
                                "activedirectory_dn": f"CN=Left,{STAFF}"}]})
    report = sync(halo, record(), dry_run=True)
    assert report.dry_run and report.counts["create"] == 2 and report.counts["deactivate"] == 1
    assert halo.posts == [] and len(halo.records("Users")) == 1


def test_existing_user_is_linked_by_email_then_kept(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    halo = FakeHalo({"Users": [{"id": 40, "name": "Given1 Surname1", "emailaddress": "P1@corp.com", "site_id": 2}]})
    report = sync(halo, record(ldap_strings=record()["ldap_strings"][:1]))
    assert report.counts["link"] == 1 and halo.record("Users", 40)["third_party_guid"] == guid(1)
    assert len(halo.records("Users")) == 1


def test_moving_between_mapped_ous_moves_the_site(monkeypatch):
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    halo = FakeHalo({"Users": []})
    sync(halo, record())
    directory.entries = {LABS: [person(1, LABS)], STAFF: [person(2)]}
    report = sync(halo, record())
    moved = users_by_guid(halo)[guid(1)]
    assert report.counts["update"] == 1 and moved["site_id"] == 3 and moved["activedirectory_dn"].endswith(LABS)
    assert moved.get("inactive") is False


def test_mass_deactivation_is_refused_unless_the_local_setting_allows_it(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    owned = [{"id": 100 + n, "name": f"P{n}", "third_party_guid": guid(100 + n),
              "activedirectory_dn": f"CN=P{n},{STAFF}"} for n in range(20)]
    halo = FakeHalo({"Users": owned})
    report = sync(halo, record())
    assert report.counts["deactivate"] == 0 and "Refused to deactivate 20" in report.refused[0]
    report = sync(halo, record(), local={"allow_mass_deactivation": "true"})
    assert report.counts["deactivate"] == 20


def test_batches_follow_the_connection(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(n) for n in range(1, 6)]})
    halo = FakeHalo({"Users": []})
    sync(halo, record(halointegrator_batch=2))
    assert [len(call.payloads) for call in halo.posts] == [2, 2, 1]


def test_plain_ldap_is_warned_about_on_every_run(monkeypatch, caplog):
    FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    local = {"starttls": False, "allow_plain_ldap": True}
    halo = FakeHalo({"Users": []})
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for _ in range(2):
            sync(halo, record(use_ssl=False), local=local)
    assert sum("plain LDAP" in message for message in caplog.messages) == 2


def test_settings_reach_the_directory(monkeypatch):
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    connection = record(integrator_password="", pagesize=250, ldap_strings=[
        {"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": False, "filter": "department=IT"}])
    sync(FakeHalo({"Users": []}), connection, local={"bind_password": "Local.Secret.1"})
    settings = directory.opened[0]
    assert (settings.password, settings.port, settings.ldaps, settings.page_size) == ("Local.Secret.1", 636, True, 250)
    assert "Local.Secret.1" not in repr(settings)
    assert directory.searches == [(STAFF, "(&(&(objectCategory=person)(objectClass=user))(department=IT))", False, 250)]


def test_guid_field_from_the_connection(monkeypatch):
    FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    halo = FakeHalo({"Users": []})
    sync(halo, record(uactguidmappingfield="other5"))
    assert halo.records("Users")[0]["other5"] == guid(1)


@pytest.mark.parametrize("fields, message", [
    ({"uactguidmappingfield": "emailaddress"}, "cannot hold the GUID"),
    ({"ldap_strings": [{"name": "No site", "dn": STAFF}]}, "no usable OU mapping"),
    ({"hostname": ""}, "no host name"),
])
def test_bad_configuration_fails_before_reading(monkeypatch, fields, message):
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1)]})
    with pytest.raises(SourceError, match=message):
        sync(FakeHalo({"Users": []}), record(**fields))
    assert directory.opened == []


# --- real directories, the Halo sandbox and the real HaloClient ---------------------------------------

@pytest.fixture
def halo_sandbox():
    with HaloSandbox() as sandbox:
        client = HaloClient(HaloSettings(web_app_url=sandbox.url, client_id="halo-integrator",
                                         client_secret="sandbox-secret", request_budget=0))
        yield sandbox, client
        client.close()


def sandbox_users(sandbox: HaloSandbox) -> dict[str, dict]:
    return {user["third_party_guid"]: user for user in sandbox.records("users") if user.get("third_party_guid")}


def writes(sandbox: HaloSandbox) -> int:
    return sandbox.counts()["write"]


def test_list_connections_reads_the_details(halo_sandbox, tmp_path):
    sandbox, client = halo_sandbox
    handle = type("Handle", (), {"kind": "slapd", "host": "127.0.0.1", "port": 389, "ldaps_port": 636,
                                 "bind_dn": "CN=svc", "password": "x", "base_dn": "DC=example,DC=com",
                                 "ous": [STAFF, LABS]})()
    sandbox.add("ldapconnections", connection_record(handle, [2, 3], connection_id=7))
    listed = {record["id"]: record for record in active_directory.list_connections(client)}
    connections = {key: active_directory.connection_details(client, record) for key, record in listed.items()}
    assert [mapping["dn"] for mapping in connections[7]["ldap_strings"]] == [STAFF, LABS]


@pytest.mark.slapd
def test_slapd_to_halo_sandbox(fresh_slapd, halo_sandbox):
    sandbox, client = halo_sandbox
    connection = connection_record(fresh_slapd, [1, 2, 3], use_ssl=False)
    local = {"ca_file": fresh_slapd.ca_file}
    report = sync(client, connection, local=local)
    users = sandbox_users(sandbox)
    assert report.ok and report.counts["create"] == len(fresh_slapd.users) == len(users)
    site_of_ou = dict(zip(fresh_slapd.ous, [1, 2, 3]))
    for person_ in fresh_slapd.users:
        user = users[str(uuid.UUID(bytes_le=person_.guid))]
        assert (user["name"], user["emailaddress"], user["samaccountname"], user["title"]) == (
            person_.display_name, person_.mail, person_.sam, person_.title)
        assert user["site_id"] == site_of_ou[person_.ou_dn] and user["inactive"] is person_.disabled

    before = writes(sandbox)
    assert sum(sync(client, connection, local=local).counts.values()) == 0 and writes(sandbox) == before

    leaver, disabled = [p for p in fresh_slapd.users if not p.disabled][:2]
    fresh_slapd.delete_user(leaver.dn)
    fresh_slapd.disable_user(disabled.dn)
    preview = sync(client, connection, local=local, dry_run=True)
    assert (preview.counts["deactivate"], preview.counts["update"]) == (1, 1)
    assert sandbox_users(sandbox) == users and writes(sandbox) == before
    report = sync(client, connection, local=local)
    assert (report.counts["deactivate"], report.counts["update"]) == (1, 1)
    after = sandbox_users(sandbox)
    assert after[str(uuid.UUID(bytes_le=leaver.guid))]["inactive"] is True
    assert after[str(uuid.UUID(bytes_le=disabled.guid))]["inactive"] is True


@pytest.mark.samba
def test_samba_to_halo_sandbox(samba_ou, halo_sandbox):
    sandbox, client = halo_sandbox
    connection = connection_record(samba_ou, [2])
    local = {"ca_file": samba_ou.ca_file}
    report = sync(client, connection, local=local)
    users = sandbox_users(sandbox)
    assert report.ok and report.counts["create"] == 8 == len(users)
    for person_ in samba_ou.users:
        user = users[str(uuid.UUID(bytes_le=person_.guid))]
        assert user["inactive"] is person_.disabled and user["login"] == person_.upn and user["site_id"] == 2
    assert sum(sync(client, connection, local=local).counts.values()) == 0

    enabled = [p for p in samba_ou.users if not p.disabled]
    samba_ou.disable_user(enabled[0].dn)
    samba_ou.delete_user(enabled[1].dn)
    report = sync(client, connection, local=local)
    assert (report.counts["update"], report.counts["deactivate"]) == (1, 1)
    after = sandbox_users(sandbox)
    assert all(after[str(uuid.UUID(bytes_le=p.guid))]["inactive"] for p in enabled[:2])
