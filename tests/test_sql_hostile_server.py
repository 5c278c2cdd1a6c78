"""What a hostile or hung database server, or a Halo editor who names one, can make an SQL read do: it
stays bounded in time (the run's time limit) and memory (max_rows), and nothing it says puts a secret or
a local file's text into Last Error or the log. Real PostgreSQL over unixODBC, the Halo sandbox, and a
hostile PostgreSQL server on 127.0.0.1 (tests/hostile_postgres.py) behind TLS with a certificate this
computer trusts (issued by the sandbox's CA): the Integrator verifies TLS, so a hostile server it
talks to at all is one with a trusted certificate."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from halointegrator.errors import SourceError
from integrations.sql import odbc
from integrations.sql.declarations import SQL_IMPORT_INTEGRATION
from integrations.sql.udl import read_udl
from tests.cli_helpers import configure
from tests.contract_standins import DroppingCursor
from tests.core_helpers import context_for
from tests.e2e_sql import SqlWorld
from tests.fake_halo import FakeHalo
from tests.hostile_postgres import HostilePostgres, certificate_from
from tests.sql_helpers import ASSET_TYPES, SITES, USERS, DeviceTable, asset_import, connection_fields, devices

pytestmark = pytest.mark.postgres
LOCAL_PASSWORD = "Local-Only-Secret-7fQ2pL9xWm4Z"  # kept on this computer because Halo does not return it
RUN_LIMIT = "run_time_limit_minutes=0.05"  # 3 s


@pytest.fixture
def trusted_tls(postgres, tmp_path):
    return certificate_from(postgres.ca, tmp_path)


@pytest.fixture
def table(postgres):
    made = DeviceTable.create(postgres, devices(3))
    yield made
    made.drop()


def hostile_import(postgres, table, port: int, **fields) -> dict:
    record = asset_import(postgres, table.name, record_id=21, sql_port=str(port), **fields)
    del record["sisqlpassword"]  # Halo does not return it: the connection's local secret is used
    return record


def assert_stopped_by_the_run_time_limit(world) -> None:
    last_error = world.sql_import(21).get("halointegrator_lasterror") or ""
    assert "reached its time limit of 0.05 minutes" in last_error, last_error or world.log()[-2000:]
    assert "run_time_limit_minutes" in last_error
    assert world.assets() == {}, "rows of a stopped read were imported"


def test_a_password_the_server_echoes_after_hundreds_of_characters_is_masked_before_the_text_is_cut(
        halo, postgres, table, tmp_path, trusted_tls) -> None:
    """A server's error is quoted in Last Error cut to 500 characters; a password it echoes after 450 is
    masked first (whole, or any 8-character piece of it), so the cut leaves none of it behind."""
    with HostilePostgres(filler=380, tls=trusted_tls) as hostile:
        world = SqlWorld(halo, tmp_path, postgres, imports=[hostile_import(postgres, table, hostile.port)])
        world.set_local("sql_import:21", secrets={"password": LOCAL_PASSWORD})
        world.auto()
        assert hostile.passwords == [LOCAL_PASSWORD]  # first use: this test is about what it says back
        places = {"Last Error": world.sql_import(21).get("halointegrator_lasterror") or "", "log": world.log(),
                  "last-run.json": json.dumps(world.summary())}
        assert "password authentication failed" in places["Last Error"], places["Last Error"]
        leaked = [where for where, text in places.items() if LOCAL_PASSWORD[:8] in text]
        assert not leaked, f"the password's first characters are in {leaked}: ...{places['Last Error'][-60:]!r}"


def test_a_udl_path_from_halo_never_puts_a_local_files_text_into_last_error(halo, postgres, table, tmp_path) -> None:
    """udlpath (SCCM: sccm_udl) is a path Halo names; the file may be any file the Integrator's account
    reads. A file that is not a UDL file is named in Last Error, never quoted."""
    private = tmp_path / "private" / "notes.txt"
    private.parent.mkdir()
    private.write_text("root password: Tr0ub4dor-and-3\n", encoding="utf-8")
    private.chmod(0o600)
    record = asset_import(postgres, table.name, record_id=21, sqlserver="", udlpath=str(private))
    world = SqlWorld(halo, tmp_path / "w", postgres, imports=[record])
    world.auto()
    last_error = world.sql_import(21).get("halointegrator_lasterror") or ""
    assert "Tr0ub4dor" not in last_error and "root password" not in last_error, last_error
    assert str(private) in last_error and "cannot be used" in last_error, last_error


@pytest.mark.parametrize("path", ["\\\\attacker\\share\\sccm.udl", "//attacker/share/sccm.udl",
                                  "\\\\?\\C:\\sccm.udl", "\\\\.\\pipe\\x", " \\\\attacker\\x",
                                  # NT object paths, which Windows passes through to the share
                                  "\\??\\UNC\\attacker\\share\\sccm.udl",
                                  "\\??\\GLOBALROOT\\Device\\Mup\\attacker\\share\\sccm.udl",
                                  "/\\attacker\\share\\sccm.udl"])
def test_a_udl_path_on_a_network_share_or_device_is_refused_before_it_is_opened(path) -> None:
    """Opening \\\\host\\share makes Windows log in to that host with the Integrator's account."""
    with pytest.raises(SourceError, match="network share or a device.*local path"):
        read_udl(path)


def test_a_slow_query_is_stopped_by_the_run_time_limit(halo, postgres, table, tmp_path) -> None:
    """The SQL timeout in Halo is 300 s, the run's time limit 3 s: the run's deadline bounds the read (the
    statement timeout and the watchdog both end at it), the run stops with the run-time-limit message and
    imports nothing. (The hard timeout only catches a hang.)"""
    slow = ("SELECT serial, name, site, kind, ram, owner, c.n AS work "
            f"FROM {table.name} CROSS JOIN (SELECT count(*) AS n FROM generate_series(1, 2000000000)) AS c")
    world = SqlWorld(halo, tmp_path, postgres, imports=[asset_import(postgres, table.name, record_id=21, sql=slow)])
    configure(world.config, halo.url, cwd=world.folder, extra=("--set", RUN_LIMIT))
    world.auto(timeout=100)
    assert_stopped_by_the_run_time_limit(world)


def test_a_database_server_that_stops_answering_after_login_is_left_at_the_run_time_limit(
        halo, postgres, table, tmp_path, trusted_tls) -> None:
    """A server that takes the login and never answers a query (psqlODBC's connect waits for its answer
    for ever, and no ODBC timeout covers it): the run's deadline ends the wait, the run stops with the
    run-time-limit message, nothing is imported, and the next scheduled run is not locked out."""
    with HostilePostgres(hang_after_login=True, tls=trusted_tls) as hostile:
        world = SqlWorld(halo, tmp_path, postgres,
                         imports=[hostile_import(postgres, table, hostile.port, sql_timeout=60)])
        world.set_local("sql_import:21", secrets={"password": LOCAL_PASSWORD})
        configure(world.config, halo.url, cwd=world.folder, extra=("--set", RUN_LIMIT))
        try:
            world.auto(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run was still waiting after 60 s (3 s run time limit); the server got "
                        f"{hostile.queries} message(s) and answered none")
        assert_stopped_by_the_run_time_limit(world)


ROWS_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
from halointegrator.errors import SourceError
from integrations.sql import HaloLookups, read_records, sql_import_settings
record = dict(id=1, name='big', table='Device', integrator_enabled=True, keyfield='serial', defaultsite=1,
              sql="SELECT 'SN-' || g AS serial FROM generate_series(1, 3000000) g", **{k: v for k, v in
              zip(('sqlserver', 'sql_port', 'sqldatabase', 'sqlusername', 'sisqlpassword', 'sql_driver'), sys.argv[1:])})
try:
    read_records(sql_import_settings(record, {'default_asset_type': '1'}),
                 HaloLookups(sites=[{'id': 1, 'name': 'HQ'}], asset_types=[{'id': 1, 'name': 'PC'}]))
except SourceError as error:
    print('REFUSED', error)
"""


@pytest.mark.slow
def test_a_query_of_millions_of_rows_is_refused_not_held_in_memory(postgres) -> None:
    """A one-line query (generate_series here, a CROSS JOIN of sys.all_objects on SQL Server) returns
    millions of rows; each mapped row is kept until the run is planned. Past max_rows (200,000 by default)
    the read is refused, naming the setting, within a 768 MB address-space limit."""
    done = subprocess.run([sys.executable, "-c", ROWS_CHILD, postgres.host, str(postgres.port), postgres.database,
                           postgres.user, postgres.password, postgres.driver],
                          capture_output=True, text=True, timeout=600)
    assert "REFUSED" in done.stdout, f"exit {done.returncode}: {done.stderr[-600:]}"
    assert "more than 200,000 rows" in done.stdout and "max_rows" in done.stdout, done.stdout


def test_a_query_past_max_rows_is_refused_and_says_how_to_raise_the_limit(postgres) -> None:
    record = {"id": 30, "name": "Numbers", "table": "Device", "integrator_enabled": True,
              **connection_fields(postgres), "keyfield": "n", "defaultsite": 1,
              "sql": "SELECT n FROM generate_series(1, 2500) AS n"}
    ctx = context_for(FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES, "Users": USERS}),
                      local={"default_asset_type": "Laptop", "max_rows": 2000})
    with pytest.raises(SourceError) as raised:
        SQL_IMPORT_INTEGRATION.read(ctx, record)
    message = str(raised.value)
    assert "more than 2,000 rows" in message and "nothing was imported" in message, message
    assert "--connection sql_import:30 --set max_rows=" in message, message


def test_a_connection_lost_part_way_through_the_rows_is_reported_as_lost_during_the_read(
        postgres, monkeypatch) -> None:
    """SQLSTATE 08S01 on a fetch: the server did answer (the settings are right), the connection dropped
    while the rows were read. The message says so, and that nothing was imported, instead of sending the
    admin to check the server name and port."""
    record = {"id": 30, "name": "Numbers", "table": "Device", "integrator_enabled": True,
              **connection_fields(postgres), "keyfield": "n", "defaultsite": 1,
              "sql": "SELECT n FROM generate_series(1, 500) AS n"}
    real_enter = odbc.RowStream.__enter__

    def enter(stream):
        opened = real_enter(stream)
        stream._cursor = DroppingCursor(stream._cursor)  # 50 rows arrive, then the connection drops
        return opened

    monkeypatch.setattr(odbc.RowStream, "__enter__", enter)
    ctx = context_for(FakeHalo({"Site": SITES, "AssetType": ASSET_TYPES, "Users": USERS}),
                      local={"default_asset_type": "Laptop"})
    with pytest.raises(SourceError) as raised:
        SQL_IMPORT_INTEGRATION.read(ctx, record)
    message = str(raised.value)
    assert "does not answer" not in message and "check the server name and port" not in message
    assert "lost while the rows were read" in message, message
    assert re.search(r"nothing was (imported|written|changed)", message), message
