"""The Halo sandbox's SQL records: GET /SQLImport?integratorenabled=true, and seeds that reach the database."""

from __future__ import annotations

import requests

from tests.test_sandbox_halo import get_token

from integrations.sql import lansweeper_settings, sccm_settings, sql_import_settings
from integrations.sql.fields import SQL_IMPORT_LIST_PARAMS
from sandbox.database import DatabaseHandle, halo_sql_records
from sandbox.halo_server import HaloSandbox


def _session(halo: HaloSandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + get_token(halo).json()["access_token"]
    return session


def test_integratorenabled_lists_only_the_imports_enabled_for_the_integrator() -> None:
    with HaloSandbox() as halo:
        on = halo.add("sqlimports", {"name": "On", "table": "Users", "integrator_enabled": True})
        session = _session(halo)
        everything = session.get(halo.api_url + "/SQLImport", timeout=5).json()
        enabled = session.get(halo.api_url + "/SQLImport", params={"integratorenabled": "true"}, timeout=5).json()
        control = session.get(halo.api_url + "/Control", timeout=5).json()
    assert {r["name"] for r in everything} == {"Warehouse scanners", "HR people", "On"}  # the seed's two are off
    assert [r["id"] for r in enabled] == [on]
    assert control["halointegrator_lansweeper"] is False and control["halointegrator_sccm"] is False
    assert SQL_IMPORT_LIST_PARAMS == {"integratorenabled": "true"}  # what the SQL imports' listing asks


def test_the_seed_examples_and_the_database_seed_parse_as_settings() -> None:
    handle = DatabaseHandle("127.0.0.1", 5432, "inventory", "halo_reader", "pw")
    records = halo_sql_records(handle)
    with HaloSandbox(seed=records) as halo:
        control = halo.get("control", 1)
        imports = halo.records("sqlimports")
    assert lansweeper_settings(control).target.port == 5432 and sccm_settings(control).enabled
    assert [sql_import_settings(record).entity for record in imports] == ["asset", "user"]
