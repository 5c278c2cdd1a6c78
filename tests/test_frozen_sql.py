"""The frozen executable runs SQL imports: pyodbc and unixODBC's driver manager are inside it, the system's
ODBC drivers are found, and a run against the PostgreSQL sandbox lands in the Halo sandbox.

Markers ``frozen`` and ``postgres``; HALO_FROZEN_BINARY=/path/to/HaloIntegrator tests a binary already built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sandbox.database import halo_sql_records
from tests.fixtures_frozen import archive_contents, configure, install_binary, log_text, run_unattended
from tests.sql_helpers import ASSET_TYPES, SITES

pytestmark = [pytest.mark.frozen, pytest.mark.postgres]


def test_pyodbc_and_the_driver_manager_are_bundled(frozen_binary: Path) -> None:
    names = [name.replace("\\", "/").split("/")[-1] for name in archive_contents(frozen_binary)]
    assert any(name.startswith("pyodbc") for name in names)
    if sys.platform.startswith("linux"):
        assert "libodbc.so.2" in names


def test_the_binary_runs_sql_imports_against_postgresql(frozen_binary: Path, tmp_path: Path, halo, postgres) -> None:
    installed = install_binary(frozen_binary, tmp_path / "HaloIntegrator")
    records = halo_sql_records(postgres)
    printers, people = records["sqlimports"]
    with halo.lock:
        for table, rows in (("sites", SITES), ("assettypes", ASSET_TYPES)):
            for row in rows:
                halo.state[table].pop(row["id"], None)
                halo.add(table, row)
        halo.state["sqlimports"].clear()
        halo.add("sqlimports", printers)
        halo.add("sqlimports", people)
        halo.add("sqlimports", {**printers, "id": 13, "name": "Wrong driver", "sql_driver": "No Such Driver"})
    configure(installed, tmp_path, "--url", halo.url, "--client-id", "halo-integrator")

    assert run_unattended(installed, "AUTO", cwd=installed.parent) == 1  # the wrong driver's import failed

    log = log_text(installed.parent)
    printer_rows = [a for a in postgres.assets if a.asset_type == 16 and a.serial and a.serial.strip()]
    serials = [a.serial.strip() for a in printer_rows]
    assert {asset["key_field"] for asset in halo.records("assets")} == {s for s in serials if serials.count(s) == 1}
    assert len([u for u in halo.records("users") if u.get("emailaddress")]) > 300
    assert halo.get("sqlimports", 11)["halointegrator_lasterror"] == "" and halo.get("sqlimports", 11)["halointegrator_lastsync"]
    wrong = halo.get("sqlimports", 13)["halointegrator_lasterror"]
    assert "The ODBC driver 'No Such Driver' is not installed on this computer (installed: " in wrong
    assert "PostgreSQL Unicode" in wrong  # the frozen driver manager read the system's odbcinst.ini
    assert "Read " in log and "row(s) from the database" in log and postgres.password not in log
