"""The three SQL declarations as the core uses them: registry names, where their connections are in Halo,
the one "may this Integrator run it" rule, Last Sync / Last Error written back, and the checks that need
no database (settings Halo cannot give, a driver that is not installed)."""

from __future__ import annotations

import logging

import pytest

from halointegrator.engine.checking import check_all
from halointegrator.engine.model import Report
from halointegrator.engine.runner import discover, write_back
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings
from integrations import REGISTRY
from integrations.sql.declarations import LANSWEEPER_INTEGRATION, SCCM_INTEGRATION, SQL_IMPORT_INTEGRATION
from integrations.sql.prerequisites import PREREQUISITES
from sandbox.halo_server import HaloSandbox
from tests.core_helpers import context_for
from tests.fake_halo import FakeHalo
from tests.sql_helpers import ASSET_TYPES, SITES

LOG = logging.getLogger("test.sql")
CLIENT_ID = "halo-integrator"


@pytest.fixture
def sandbox():
    with HaloSandbox() as halo:
        client = HaloClient(HaloSettings(web_app_url=halo.url, client_id=CLIENT_ID, client_secret="sandbox-secret",
                                         request_budget=0))
        yield halo, client
        client.close()


def test_the_registry_names_the_three_sql_integrations_after_the_directories() -> None:
    assert list(REGISTRY) == ["active_directory", "azure_ad", "lansweeper", "sccm", "sql_import", "powershell"]
    assert [REGISTRY[name].title for name in ("lansweeper", "sccm", "sql_import")] == [
        "Lansweeper (on premises)", "SCCM / MECM", "SQL imports"]
    for integration in (LANSWEEPER_INTEGRATION, SCCM_INTEGRATION, SQL_IMPORT_INTEGRATION):
        assert integration.read is not None and integration.work is None
        assert [p.key for p in integration.prerequisites] == ["settings", "driver", "server", "login", "query", "halo"]
        assert {s.key for s in integration.local_settings} >= {"password", "deactivate_missing", "allow_mass_deactivation"}
        assert next(s for s in integration.local_settings if s.key == "password").kind == "secret"


def test_lansweeper_and_sccm_are_the_control_record_and_off_until_halo_enables_them(sandbox) -> None:
    halo, client = sandbox
    (lansweeper,) = discover(client, CLIENT_ID, REGISTRY, "lansweeper")
    (sccm,) = discover(client, CLIENT_ID, REGISTRY, "sccm")
    assert (lansweeper.name, lansweeper.key, lansweeper.enabled) == ("Lansweeper", "lansweeper:1", False)
    assert lansweeper.reason == "not enabled for the Halo Integrator in Halo" and sccm.name == "SCCM"
    with halo.lock:
        halo.state["control"][1].update(halointegrator_sccm=True, sccm_allowed_clientids_list=[
            {"value": "another-integrator", "label": "Branch"}])
        halo.state["control"][1]["halointegrator_lansweeper"] = True
    (lansweeper,) = discover(client, CLIENT_ID, REGISTRY, "lansweeper")
    (sccm,) = discover(client, CLIENT_ID, REGISTRY, "sccm")
    assert lansweeper.enabled and not sccm.enabled
    assert sccm.reason == f"Halo allows only other Integrator client ids to run it (ours is {CLIENT_ID})"


def test_sql_imports_are_the_enabled_records_each_read_with_its_details(sandbox) -> None:
    halo, client = sandbox
    assert discover(client, CLIENT_ID, REGISTRY, "sql_import") == []  # the seed's two are not enabled
    with halo.lock:
        halo.state["sqlimports"][2]["integrator_enabled"] = True
    halo.clear_requests()
    (people,) = discover(client, CLIENT_ID, REGISTRY, "sql_import")
    assert (people.name, people.key, people.enabled) == ("HR people", "sql_import:2", True)
    assert people.record["fields"][0]["thirdpartyname"] == "FullName"
    asked = [(entry["path"], entry["params"]) for entry in halo.requests if entry["path"].startswith("/api/SQLImport")]
    assert asked == [("/api/SQLImport", {"integratorenabled": "true"}), ("/api/SQLImport/2", {"includedetails": "true"})]
    with halo.lock:  # allowed only for another Integrator: listed, but its details are not read
        halo.state["sqlimports"][2]["halointegrator_allowed_clientids"] = "another-integrator"
    halo.clear_requests()
    (other,) = discover(client, CLIENT_ID, REGISTRY, "sql_import")
    assert not other.enabled and "only other Integrator client ids" in other.reason
    assert [entry["path"] for entry in halo.requests if entry["path"].startswith("/api/SQLImport")] == ["/api/SQLImport"]


@pytest.mark.parametrize("integration,table,fields", [
    (LANSWEEPER_INTEGRATION, "control", ("halointegrator_lansweeper_lastsync", "halointegrator_lansweeper_lasterror")),
    (SCCM_INTEGRATION, "control", ("halointegrator_sccm_lastsync", "halointegrator_sccm_lasterror")),
    (SQL_IMPORT_INTEGRATION, "sqlimports", ("halointegrator_lastsync", "halointegrator_lasterror")),
])
def test_last_sync_and_last_error_go_back_where_halo_keeps_them(sandbox, integration, table, fields) -> None:
    halo, client = sandbox
    with halo.lock:
        halo.state["control"][1].update(halointegrator_lansweeper=True, halointegrator_sccm=True)
        halo.state["sqlimports"][1]["integrator_enabled"] = True
    connection = discover(client, CLIENT_ID, REGISTRY, integration.name)[0]
    write_back(client, connection, Report(integration.name, connection.name), LOG)
    lastsync, lasterror = fields
    stored = halo.records(table)[0]
    assert stored[lastsync] and stored[lasterror] == ""
    write_back(client, connection, Report(integration.name, connection.name, failure="The query failed"), LOG)
    stored = halo.records(table)[0]
    assert stored[lasterror] == "The query failed"


def checks_of(integration, record, local=None, fake=None):
    ctx = context_for(fake or FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES}), local=local)
    return {check.prerequisite: check for check in integration.check(ctx, record)}


def test_the_cloud_kind_of_lansweeper_is_refused_in_the_first_step() -> None:
    checks = checks_of(LANSWEEPER_INTEGRATION, {"id": 1, "halointegrator_lansweeper": True,
                                                "lansweeper_authorized": True})
    assert not checks["settings"].ok and "Lansweeper's cloud API" in checks["settings"].detail
    assert [checks[p.key].detail for p in PREREQUISITES[1:]] == [
        "not run: the import's settings are incomplete or not supported"] * 5


@pytest.mark.parametrize("table,words", [("Site", "imports sites"), ("Client", "imports clients"),
                                         ("Invoice", "names the table 'Invoice'")])
def test_sql_imports_of_what_this_integrator_does_not_import_say_so(table, words) -> None:
    checks = checks_of(SQL_IMPORT_INTEGRATION, {"id": 3, "name": "Other", "table": table, "sqlserver": "db"})
    assert not checks["settings"].ok and words in checks["settings"].detail
    assert "assets and users only" in checks["settings"].detail or "assets and users" in checks["settings"].detail


def test_a_driver_that_is_not_installed_is_a_cross_and_the_steps_after_it_do_not_run() -> None:
    record = {"id": 4, "name": "Scanners", "table": "Device", "sqlserver": "sql01", "sqldatabase": "W",
              "sqlusername": "r", "sql_driver": "ODBC Driver 18 for SQL Server", "sql": "SELECT 1 AS k",
              "keyfield": "k", "defaultsite": 99}
    checks = checks_of(SQL_IMPORT_INTEGRATION, record)
    assert checks["settings"].ok and not checks["driver"].ok
    assert "'ODBC Driver 18 for SQL Server' is not installed on this computer" in checks["driver"].detail
    assert checks["login"].detail == "not run: odbc driver installed failed"
    halo = [check for check in SQL_IMPORT_INTEGRATION.check(context_for(FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES})),
                                                              record) if check.prerequisite == "halo"]
    assert [(c.label, c.ok) for c in halo] == [("Default site exists in Halo", False),
                                               ("Default asset type exists in Halo", False)]
    assert "site 99 does not exist in Halo" in halo[0].detail


def test_check_all_logs_each_sql_connection_halo_lists(sandbox, caplog) -> None:
    halo, client = sandbox
    with halo.lock:
        halo.state["control"][1]["halointegrator_sccm"] = True
    caplog.set_level(logging.INFO)
    (result,) = check_all(client, REGISTRY, client_id=CLIENT_ID, local_settings={}, log=LOG, only="sccm")
    assert [check.prerequisite for check in result.checks][:3] == ["enabled", "allowed", "settings"]
    assert not result.ok and "Check SCCM / MECM: SCCM: ODBC driver installed: FAILED" in caplog.text
