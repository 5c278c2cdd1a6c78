"""End to end through `integrator.py AUTO`: the SQL integrations against the Halo sandbox (lean lists) and
a real PostgreSQL over unixODBC, as Task Scheduler runs the Integrator."""

from __future__ import annotations

import pytest

from tests.e2e_sql import HEAD_OFFICE, SilentServer, SqlWorld
from tests.sql_helpers import DeviceTable, asset_import, devices, user_import

pytestmark = pytest.mark.postgres
LONDON, PARIS = 2, 5


@pytest.fixture
def table(postgres):
    made = DeviceTable.create(postgres, devices(40))
    yield made
    made.drop()


def unique_serials(rows) -> set[str]:
    serials = [row.strip() for row in rows if row and row.strip()]
    return {serial for serial in serials if serials.count(serial) == 1}


def test_first_sync_an_unchanged_one_a_change_and_a_row_gone(halo, postgres, table, tmp_path) -> None:
    devices_import = asset_import(postgres, table.name, record_id=21)
    del devices_import["sisqlpassword"]  # Halo does not return it: the local secret stands in
    world = SqlWorld(halo, tmp_path, postgres, lansweeper=True, sccm=True,
                     imports=[devices_import, user_import(postgres, record_id=22)])
    world.set_local("sql_import:21", secrets={"password": postgres.password})

    first = world.auto()
    assert first.returncode == 0, world.run_log()
    control_reads = [e for e in halo.requests if e["method"] == "GET" and e["path"] == "/api/Control"]
    assert len(control_reads) == 1  # Lansweeper and SCCM are both in it: one discovery reads it once
    lansweeper = unique_serials(a.serial for a in postgres.assets if a.state == 1)
    sccm = unique_serials(m.serial for m in postgres.machines if m.client == 1 and not m.obsolete)
    assert set(world.assets()) == lansweeper | sccm | {f"SN-{n:04d}" for n in range(1, 41)}
    people = {p.email for p in postgres.people if p.email} - {"person0002@example.com"}
    assert {u["emailaddress"] for u in halo.records("users") if u.get("emailaddress", "").startswith("person")} == people
    control = world.control()
    for module in ("lansweeper", "sccm"):
        assert control[f"halointegrator_{module}_lastsync"] and control[f"halointegrator_{module}_lasterror"] == ""
    assert world.sql_import(21)["halointegrator_lastsync"] and world.sql_import(22)["halointegrator_lasterror"] == ""
    log = world.run_log()
    assert "the key column 'SerialNumber' is empty: skipped." in log
    assert "SerialNumber 'To be filled by O.E.M.' is on" in log and "'person0002@example.com' is on 2 rows" in log
    assert postgres.password not in world.log()

    assert world.auto().returncode == 0
    assert world.record_writes() == 0, world.run_log()

    table.sql("UPDATE {table} SET name = 'Renamed', site = 'Paris' WHERE serial = 'SN-0004'")
    table.sql("DELETE FROM {table} WHERE serial = 'SN-0007'")
    assert world.auto().returncode == 0
    assert world.record_writes() == 1
    assert "Update asset Renamed (SN-0004): inventory_number 'PC-0004' -> 'Renamed', site_id 2 -> 5" in world.run_log()
    assert world.assets()["SN-0007"]["inactive"] is False  # gone from the query, but nothing asks to deactivate

    world.set_local("sql_import:21", "deactivate_missing=true")
    assert world.auto().returncode == 0
    assert "Deactivate asset PC-0007 (no longer in the source)" in world.run_log()
    assert world.assets()["SN-0007"]["inactive"] is True and world.record_writes() == 1


def test_update_only_creates_nothing_and_dont_update_site_keeps_the_site(halo, postgres, table, tmp_path) -> None:
    other = DeviceTable.create(postgres, devices(5, start=101))
    try:
        imports = [asset_import(postgres, table.name, record_id=31, updateonly=True),
                   asset_import(postgres, other.name, record_id=32, dontupdatesite=True)]
        world = SqlWorld(halo, tmp_path, postgres, lansweeper=True, imports=imports)
        halo.add("assets", {"key_field": "SN-0010", "inventory_number": "Typed by hand", "site_id": HEAD_OFFICE,
                            "assettype_id": 1, "inactive": False})
        assert world.auto("--only", "sql_import").returncode == 0, world.run_log()
        assert not world.control().get("halointegrator_lansweeper_lastsync")  # --only: Lansweeper did not run
        assert set(world.assets()) == {"SN-0010"} | {f"SN-{n:04d}" for n in range(101, 106)}
        assert world.assets()["SN-0010"]["inventory_number"] == "PC-0010"
        assert "39 asset(s) not in Halo were not created: the import is set to update only." in world.run_log()
        other.sql("UPDATE {table} SET site = 'Paris', name = 'Moved' WHERE serial = 'SN-0101'")
        assert world.auto("--only", "sql_import").returncode == 0
        moved = world.assets()["SN-0101"]
        assert (moved["inventory_number"], moved["site_id"]) == ("Moved", LONDON)
    finally:
        other.drop()


def test_a_deleted_or_damaged_state_file_makes_no_duplicate(halo, postgres, table, tmp_path) -> None:
    world = SqlWorld(halo, tmp_path, postgres, imports=[asset_import(postgres, table.name),
                                                        user_import(postgres)])
    assert world.auto().returncode == 0, world.run_log()
    before = (len(halo.records("assets")), len(halo.records("users")))
    world.state_file().unlink()
    assert world.auto().returncode == 0, world.run_log()
    world.state_file().write_bytes(b"\x00garbage{{{ not json")
    assert world.auto().returncode == 0, world.run_log()
    assert "The state file" in world.run_log() and "set aside" in world.run_log()
    assert (len(halo.records("assets")), len(halo.records("users"))) == before
    keys = [asset["key_field"] for asset in halo.records("assets")]
    assert len(keys) == len(set(keys)) == 40
    assert world.auto().returncode == 0 and world.record_writes() == 0


def test_bad_input_fails_that_import_alone_with_a_clear_last_error(halo, postgres, table, tmp_path) -> None:
    before = postgres.admin_sql("SELECT count(*) FROM halo_audit")
    with SilentServer() as silent:
        bad = {
            41: ("SELECT serial, name FROM no_such_table", {}, "The query failed in the database"),
            42: (None, {"sisqlpassword": "Wrong;Pass}word"}, "The database refused the SQL login"),
            43: (None, {"sql_driver": "No Such Driver"}, "The ODBC driver 'No Such Driver' is not installed"),
            44: (None, {"sql_port": str(silent.port)}, "The database server does not answer"),
            45: (f"DELETE FROM {table.name}", {}, "the Integrator runs only a SELECT"),
            46: ("SELECT halo_sandbox_touch() AS serial", {}, "read-only transaction"),
        }
        imports = [asset_import(postgres, table.name, record_id=number, **({"sql": sql} if sql else {}), **fields)
                   for number, (sql, fields, _message) in bad.items()]
        good = asset_import(postgres, table.name, record_id=47, sql=f"SELECT serial, name FROM {table.name}",
                            fields=[{"id": 1, "thirdpartyname": "name", "nhdname": "inventory_number"}])
        world = SqlWorld(halo, tmp_path, postgres, lansweeper=True, imports=[*imports, good])
        world.set_local("sql_import:47", "default_asset_type=Windows")
        result = world.auto(timeout=180)
    assert result.returncode == 1, world.run_log()
    log = world.run_log()
    for number, (_sql, _fields, message) in bad.items():
        error = world.sql_import(number)["halointegrator_lasterror"]
        assert message in error, (number, error)
        assert f"SQL imports: Devices {number} failed: {error[:60]}" in log
        assert not world.sql_import(number).get("halointegrator_lastsync")
    assert "Wrong;Pass}word" not in world.log() and postgres.password not in world.log()
    lansweeper = unique_serials(a.serial for a in postgres.assets if a.state == 1)
    assert set(world.assets()) == lansweeper | {f"SN-{n:04d}" for n in range(1, 41)}  # the good ones ran
    assert world.sql_import(47)["halointegrator_lasterror"] == "" and world.sql_import(47)["halointegrator_lastsync"]
    assert world.control()["halointegrator_lansweeper_lastsync"] and world.control()["halointegrator_lansweeper_lasterror"] == ""
    assert postgres.admin_sql("SELECT count(*) FROM halo_audit") == before
    assert postgres.admin_sql(f"SELECT count(*) FROM {table.name}") == "40"
    assert "2 of 8 integration run(s) succeeded." in log  # the good import and Lansweeper
