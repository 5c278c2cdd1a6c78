"""Ownership and identity in hard cases (found in review): each test names the harm it guards against."""

from __future__ import annotations

from halointegrator.engine.status import ConnectionState
from integrations import active_directory
from tests.core_helpers import run_connection
from tests.fake_halo import FakeHalo
from tests.test_ad_sync import STAFF, FakeDirectory, guid, person, record


def _ad(halo, connection, state):
    return run_connection(active_directory.INTEGRATION, connection, halo, state=state)


def test_ad_does_not_deactivate_users_its_mapping_filter_never_selected(monkeypatch):
    """Connection A maps OU=Staff for department IT only. Halo also holds three Sales people under OU=Staff
    with an objectGUID (written by another connection with a Sales filter, or by an earlier import):
    A never wrote them, yet A reads them whole, 'owns' them (GUID set, DN under a mapped OU) and
    deactivates them - with its sync status intact."""
    FakeDirectory(monkeypatch, {STAFF: [person(n, department="IT") for n in range(1, 31)]})
    sales = [{"id": 500 + n, "name": f"Sales {n}", "third_party_guid": guid(900 + n), "site_id": 7,
              "activedirectory_dn": f"CN=Sales {n},{STAFF}", "emailaddress": f"s{n}@corp.com"} for n in range(3)]
    halo = FakeHalo({"Users": sales})
    connection = record(ldap_strings=[{"name": "Staff IT", "dn": STAFF, "site_id": 2, "isrecursive": True,
                                       "filter": "(department=IT)"}])
    state = ConnectionState()
    _ad(halo, connection, state)          # first run: creates the 30 IT people
    report = _ad(halo, connection, state)  # steady state
    deactivated = [user["id"] for user in halo.records("Users") if user["id"] >= 500 and user.get("inactive")]
    assert deactivated == [], f"deactivated users this connection never wrote: {deactivated}; {report.summary()}"


def test_ad_non_recursive_mapping_does_not_claim_users_in_sub_ous(monkeypatch):
    """A non-recursive mapping of OU=Staff reads only its direct children, but the claim test treats the whole
    subtree as in scope: a GUID-carrying user in OU=Old,OU=Staff (someone else's) is deactivated."""
    FakeDirectory(monkeypatch, {STAFF: [person(n) for n in range(1, 31)]})
    sub = f"OU=Old,{STAFF}"
    other = {"id": 600, "name": "Sub OU person", "third_party_guid": guid(990), "activedirectory_dn": f"CN=X,{sub}"}
    halo = FakeHalo({"Users": [other]})
    connection = record(ldap_strings=[{"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": False}])
    state = ConnectionState()
    _ad(halo, connection, state)
    assert not halo.record("Users", 600).get("inactive")


def test_ad_recognition_by_dn_never_takes_over_a_record_that_carries_another_guid(monkeypatch):
    """The state file is lost. Halo #5 is a leaver (GUID OLD, deactivated, tickets of its own); AD now has a
    different account (GUID NEW) at the same DN (a new 'John Smith' in the same OU). Binding by DN skips
    the whole-record read that a match would do ('never linked to another') and rewrites #5's GUID,
    reactivating the leaver's record for a different person."""
    new = person(2, mail="john.smith2@corp.com")
    new = type(new)(f"CN=John Smith,{STAFF}", new.attributes)
    FakeDirectory(monkeypatch, {STAFF: [new]})
    halo = FakeHalo({"Users": [{"id": 5, "name": "John Smith", "third_party_guid": guid(1), "inactive": True,
                                "activedirectory_dn": f"CN=John Smith,{STAFF}", "emailaddress": "john.smith@corp.com"}]})
    connection = record(ldap_strings=[{"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": True}])
    _ad(halo, connection, ConnectionState())
    assert halo.record("Users", 5)["third_party_guid"] == guid(1), "another person's record was taken over"


def test_unsettled_claims_past_the_read_bound_do_not_let_their_people_be_created_again(monkeypatch):
    """The state file is lost. Three AD people were renamed (CN changed) since Halo last saw them and have no
    mail or UPN, so neither the DN nor a match field finds them. Their Halo records (GUID set, old DN under
    the mapped OU) are claims that need a whole read; with the bound at 1 read a run, two stay unread and
    the people they are get created anew: two duplicates with the same objectGUID."""
    from halointegrator.engine.pipeline import Limits
    renamed = []
    for n in range(1, 4):
        entry = person(n, mail="")
        renamed.append(type(entry)(f"CN=Renamed {n},{STAFF}", entry.attributes))
    FakeDirectory(monkeypatch, {STAFF: renamed})
    halo = FakeHalo({"Users": [{"id": 70 + n, "name": f"Old {n}", "third_party_guid": guid(n), "site_id": 2,
                                "activedirectory_dn": f"CN=Old {n},{STAFF}"} for n in range(1, 4)]})
    connection = record(ldap_strings=[{"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": True}])
    run_connection(active_directory.INTEGRATION, connection, halo, state=ConnectionState(),
                   limits=Limits(record_reads=1))
    guids = [user.get("third_party_guid") for user in halo.records("Users")]
    assert len(guids) == len(set(guids)), f"duplicate objectGUIDs in Halo: {sorted(guids)}"


def test_entra_delta_link_does_not_move_past_a_user_left_waiting_for_a_whole_read():
    """A user U waits for a whole-record read (its e-mail matches Halo user #50, whose azure_id names another
    object: U was deleted and created anew in Entra) and the per-run bound is spent. The run is 'clean', so
    the delta link moves on; U is in no group (the connection puts every user in one site), so no later
    delta run mentions U or reads it by id: U is not imported until the weekly full read."""
    import logging

    from halointegrator.engine.pipeline import Limits
    from integrations import entra
    from sandbox.graph_server import GraphServer, generate_tenant
    from tests.test_entra_sync import APP_ID, CONNECTION, TENANT_ID

    tenant = generate_tenant(users=12, groups=3, devices=0, disabled_ratio=0.0, seed=3)
    with GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID, client_secret="graph-secret") as graph:
        connection = {**CONNECTION, "id": 1, "name": "Tenant", "directoryid": TENANT_ID, "applicationid": APP_ID,
                      "halo_integrator_import_list": "users", "intune_enabled": False,
                      "mappings_site": [], "createunmatchedusers": True}  # every user to one site, no groups
        local = {"app_secret": "graph-secret", "login_url": graph.url, "graph_url": graph.url}
        user_id, user = next(iter(tenant.users.items()))
        email = user.get("mail") or user["userPrincipalName"]
        halo = FakeHalo({"Users": [{"id": 50, "name": "Old account", "emailaddress": email, "site_id": 9,
                                    "azure_id": "0ld-object-id", "azureoid": "0ld-object-id"}]})
        state = ConnectionState()
        for reads in (0, 100, 100):  # the first run's bound is spent (0 here, 100 in a big first sync)
            run_connection(entra.INTEGRATION, connection, halo, state=state, local=local, limits=Limits(record_reads=reads),
                           services={"sleep": lambda seconds: None}, log=logging.getLogger("test.review"))
    assert user_id in {u.get("azureoid") for u in halo.records("Users")}, "U was never imported"


def test_a_person_moving_from_one_ad_connections_ou_to_anothers_is_not_deactivated_every_run(monkeypatch):
    """Two AD connections of one domain (Staff -> site 2, Labs -> site 3). Person 1 moves from Staff to Labs.
    Connection 1 deactivates the record (its leaver). Connection 2 finds it, but a record it did not
    deactivate is never reactivated by a match (README, Ownership): it is left with a warning saying to
    reactivate it in Halo. Once someone has, connection 1 lets it go and connection 2 takes it: no run
    after that flips it (before, connection 1 deactivated it and connection 2 reactivated it every run)."""
    from tests.test_ad_sync import LABS
    directory = FakeDirectory(monkeypatch, {STAFF: [person(1), *[person(n) for n in range(10, 30)]],
                                            LABS: [person(2, LABS), *[person(n, LABS) for n in range(30, 50)]]})
    halo = FakeHalo({"Users": []})
    first = record(id=1, ldap_strings=[{"name": "Staff", "dn": STAFF, "site_id": 2, "isrecursive": True}])
    second = record(id=2, ldap_strings=[{"name": "Labs", "dn": LABS, "site_id": 3, "isrecursive": True}])
    states = {1: ConnectionState(), 2: ConnectionState()}

    def cycle():
        return [_ad(halo, first, states[1]), _ad(halo, second, states[2])]

    cycle()
    directory.entries[STAFF] = [person(n) for n in range(10, 30)]
    directory.entries[LABS] = [person(1, LABS), person(2, LABS), *[person(n, LABS) for n in range(30, 50)]]
    cycle()
    third = cycle()
    moved = next(user for user in halo.records("Users") if user.get("third_party_guid") == guid(1))
    assert [report.summary() for report in third] == ["nothing to change", "nothing to change, 1 skipped"]
    assert moved.get("inactive") and f"matches inactive Halo user #{moved['id']}" in " ".join(third[1].warnings)
    halo.post("Users", [{"id": moved["id"], "inactive": False}])  # someone reactivates it, as the warning says
    cycle()
    assert [report.summary() for report in cycle()] == ["nothing to change", "nothing to change"]
    moved = halo.record("Users", moved["id"])
    assert not moved.get("inactive") and moved["site_id"] == 3


def test_after_upgrading_from_1_0_0_entra_makes_no_duplicate_and_misses_no_leaver():
    """1.0.0 (e2cb67c) wrote azureoid and azure_connectionid but never azure_id, and its state file has no
    sync status. After the upgrade the first run can find those users only by e-mail: one whose mail
    changed since the last 1.0.0 run is created again (two Halo users with one azureoid), and one who left
    Entra is never claimed (claims need azure_id) and keeps portal access."""
    import logging

    from integrations import entra
    from sandbox.graph_server import GraphServer, generate_tenant
    from tests.test_entra_sync import APP_ID, CONNECTION, TENANT_ID

    tenant = generate_tenant(users=12, groups=3, devices=0, disabled_ratio=0.0, seed=3)
    as_1_0_0_wrote = [{"id": 100 + n, "name": user["displayName"], "azureoid": oid, "azure_connectionid": 1,
                       "emailaddress": user.get("mail") or user["userPrincipalName"],
                       "login": user["userPrincipalName"], "site_id": 4, "inactive": False}
                      for n, (oid, user) in enumerate(tenant.users.items())]
    as_1_0_0_wrote[0]["emailaddress"] = "before.the.rename@contoso.example"  # mail changed since
    as_1_0_0_wrote.append({"id": 900, "name": "Left meanwhile", "azureoid": "5e1f0000-0000-4000-8000-000000000099",
                           "azure_connectionid": 1, "emailaddress": "left@contoso.example", "site_id": 4,
                           "inactive": False})
    with GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID, client_secret="graph-secret") as graph:
        connection = {**CONNECTION, "id": 1, "name": "Tenant", "directoryid": TENANT_ID, "applicationid": APP_ID,
                      "halo_integrator_import_list": "users", "intune_enabled": False,
                      "mappings_site": [], "createunmatchedusers": True}
        local = {"app_secret": "graph-secret", "login_url": graph.url, "graph_url": graph.url}
        halo = FakeHalo({"Users": as_1_0_0_wrote})
        run_connection(entra.INTEGRATION, connection, halo, state=ConnectionState(), local=local,
                       services={"sleep": lambda seconds: None}, log=logging.getLogger("test.review"))
    oids = [user.get("azureoid") for user in halo.records("Users")]
    assert len(oids) == len(set(oids)), "a user 1.0.0 imported was created again"
    assert halo.record("Users", 900).get("inactive"), "a leaver 1.0.0 imported was never deactivated"


def test_a_value_in_a_whole_record_read_does_not_mangle_what_is_written_to_halo(monkeypatch):
    """A whole-record read of an asset (claims, links, drift checks: GET /Asset/{id}) shows its
    teamviewerpassword (Device schema). Were that learnt as a secret, a device whose TeamViewer password is
    'Windows' would turn every asset's OS field into '*** 10.0.19045' in Halo, and a rewrite on every run.
    Secrets are learnt from connection records only, and a source's data is posted as it is."""
    from halointegrator import redaction
    from halointegrator.halo.client import HaloClient
    from halointegrator.local.settings import HaloSettings
    from sandbox.halo_server import HaloSandbox

    monkeypatch.setattr(redaction, "SECRETS", redaction.SecretRegistry())
    with HaloSandbox() as sandbox:
        sandbox.add("assets", {"id": 5, "inventory_number": "PC-5", "site_id": 2, "assettype_id": 1,
                               "teamviewerpassword": "Windows"})
        client = HaloClient(HaloSettings(web_app_url=sandbox.url, client_id=sandbox.client_id,
                                         client_secret="sandbox-secret", tenant="sandbox", request_budget=0))
        client.get("Asset/5")
        client.post("Asset", [{"id": 5, "inventory_number": "Windows 10.0.19045"}], idempotent=True)
        client.close()
        assert sandbox.get("assets", 5)["inventory_number"] == "Windows 10.0.19045"


def test_a_returning_user_whose_halo_record_carries_this_connections_mark_is_reactivated_after_a_status_rebuild():
    """The state file was set aside (signature mismatch, a lost file, or 1.0.0's schema 1 with no records):
    the status is rebuilt, so it cannot say this connection deactivated the user. A user it made inactive
    comes back; Halo's record carries this connection's identity value and owner mark, so it is provably
    this connection's: it is reactivated (as 1.0.0 did), not left with a warning every run."""
    from halointegrator.engine.model import EntityKind, UPDATE, Wanted
    from tests.core_helpers import plan_records

    kind = EntityKind("user", "Users", "users", "azureoid")
    halo = [{"id": 7, "name": "Ada Lovelace", "azureoid": "oid-ada", "inactive": True, "azure_connectionid": 1}]
    back = Wanted("oid-ada", "Ada Lovelace", {"azureoid": "oid-ada", "name": "Ada Lovelace", "inactive": False,
                                               "azure_connectionid": 1})
    result = plan_records(kind, [back], halo, owns=lambda record: record.get("azure_connectionid") == 1)
    assert [(change.action, change.halo_id) for change in result.changes] == [(UPDATE, 7)], result
    other = [{**halo[0], "azure_connectionid": 2}]  # another connection's mark: still left as it is
    result = plan_records(kind, [back], other, owns=lambda record: record.get("azure_connectionid") == 1)
    assert result.changes == [], result
