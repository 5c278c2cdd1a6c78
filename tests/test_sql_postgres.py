"""The database side against a real PostgreSQL over unixODBC: reads, streaming, the read-only locks,
failures as sentences, checks, and the default queries run on Lansweeper-like and SCCM-like data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal

import pytest

from halointegrator.errors import SourceError
from integrations.sql import HaloLookups, database_checks, read_records, sccm_settings, sql_import_settings
from integrations.sql.connstr import DbTarget, connection_for
from integrations.sql.guard import QueryRefused
from integrations.sql.odbc import connect, finish, read_rows
from integrations.sql.settings import lansweeper_settings
from sandbox.database import READER
from sandbox.database_data import PLACEHOLDER_SERIAL
from tests.sql_helpers import literal

pytestmark = pytest.mark.postgres

LOOKUPS = HaloLookups(
    sites=[{"id": 1, "name": "London"}, {"id": 2, "name": "Paris"}, {"id": 3, "name": "Zürich"},
           {"id": 4, "name": "New York"}],
    asset_types=[{"id": 10, "name": "Windows"}, {"id": 11, "name": "Linux"}, {"id": 12, "name": "Printer"},
                 {"id": 13, "name": "Monitor"}, {"id": 14, "name": "Workstation"}, {"id": 15, "name": "Server"}],
    users=[{"id": 1000 + n, "login": f"user{n:03d}", "site_id": 1} for n in range(400)])


def target(db, **overrides) -> DbTarget:
    return dataclasses.replace(DbTarget(server=db.host, port=db.port, database=db.database, user=db.user,
                                        password=db.password, driver=db.driver), **overrides)


def connection(db, **overrides):
    return connection_for(target(db, **overrides), db.driver)


def lansweeper_control(db, **overrides) -> dict:
    return {"id": 1, "halointegrator_lansweeper": True, "lansweeper_sqlserver": db.host,
            "lansweeper_sql_port": str(db.port), "lansweeper_sqldatabase": db.database,
            "lansweeper_sqlusername": db.user, "lansweeper_new_sql_password": db.password,
            "lansweeper_sqldriver": db.driver, "lansweeper_defaultsite": 1, "lansweeper_default_assettype": 10,
            "lansweeper_fieldmappings": [
                {"thirdpartyname": "AssetName", "nhdname": "inventory_number"},
                {"thirdpartyname": "PurchaseDate", "nhdname": "warranty_start"},
                {"thirdpartyname": "WarrantyDate", "nhdname": "warranty_end"},
                {"thirdpartyname": "Memory", "field_id": 144}, {"thirdpartyname": "LastSeen", "field_id": 145}],
            **overrides}


def test_the_lansweeper_default_query_maps_every_active_asset(postgres) -> None:
    mapped = read_records(lansweeper_settings(lansweeper_control(postgres)), LOOKUPS)
    active = [a for a in postgres.assets if a.state == 1]
    assert mapped.rows == len(active)
    serials = [a.serial.strip() for a in active if a.serial and a.serial.strip()]
    unique = {s for s in serials if serials.count(s) == 1}
    assert {w.key for w in mapped.wanted} == unique
    assert sum("is empty" in s for s in mapped.skipped) == sum(1 for a in active if not (a.serial or "").strip())
    assert any(f"'{PLACEHOLDER_SERIAL}' is on" in s for s in mapped.skipped)
    by_key = {w.key: w for w in mapped.wanted}
    unicode_asset = next(a for a in active if a.name.startswith("Zürich") and a.serial in unique)
    fields = by_key[unicode_asset.serial].fields
    assert fields["inventory_number"] == unicode_asset.name
    assert fields["warranty_start"] == (f"{unicode_asset.purchase_date.isoformat()}T00:00:00"
                                        if unicode_asset.purchase_date else None)
    assert {"id": 145, "value": unicode_asset.last_seen.isoformat(timespec="seconds")} in fields["fields"]
    assert all(w.fields["assettype_id"] in LOOKUPS.type_ids for w in mapped.wanted)  # Toaster -> the default


def test_decimals_dates_nulls_and_unicode_arrive_as_python_values(postgres) -> None:
    query = ("SELECT a.AssetID, a.AssetName, c.PurchasePrice, c.PurchaseDate, c.Warrantydate, a.Memory "
             "FROM tblAssets a JOIN tblAssetCustom c ON c.AssetID = a.AssetID WHERE a.AssetID IN (211, 333, 143)")
    with read_rows(connection(postgres), query) as rows:
        got = {row["assetid"]: row for row in rows}
    expected = {a.asset_id: a for a in postgres.assets if a.asset_id in (211, 333, 143)}
    for asset_id, asset in expected.items():
        assert got[asset_id]["assetname"] == asset.name
        assert got[asset_id]["purchaseprice"] == asset.price
        assert got[asset_id]["purchasedate"] == asset.purchase_date
        assert got[asset_id]["warrantydate"] == asset.warranty and got[asset_id]["memory"] == asset.memory
    assert isinstance(got[333]["purchaseprice"], decimal.Decimal) and "💻" in got[333]["assetname"]
    assert got[143]["memory"] is None and isinstance(got[211]["warrantydate"], dt.datetime)


def test_a_query_whose_last_line_is_a_comment_is_read(postgres) -> None:
    """An admin's query often ends with a -- note; psqlODBC wraps the query, and without a line break
    after it the comment swallowed what the driver appends ("Error while executing the query")."""
    with read_rows(connection(postgres), "SELECT a.AssetID FROM tblAssets a WHERE a.AssetID = 211 -- one PC") as rows:
        assert [row["assetid"] for row in rows] == [211]


def test_the_sccm_default_query_leaves_obsolete_twins_and_clientless_machines_out(postgres) -> None:
    settings = sccm_settings({"id": 1, "halointegrator_sccm": True, "sccm_sqlserver": postgres.host,
                              "sccm_sql_port": str(postgres.port), "sccm_sqldatabase": postgres.database,
                              "sccm_sqlusername": postgres.user, "sccm_new_sql_password": postgres.password,
                              "sccm_sqldriver": postgres.driver, "sccm_defaultsite": 1})
    mapped = read_records(settings, LOOKUPS)
    current = [m for m in postgres.machines if m.client == 1 and m.obsolete == 0]
    assert mapped.rows == len(current)
    assert {w.key for w in mapped.wanted} == {m.serial for m in current if m.serial}
    servers = [w for w in mapped.wanted if w.fields["inventory_number"].startswith("SRV")]
    assert servers and all(w.fields["assettype_id"] == 15 for w in servers)  # the query's CASE, by name
    assert not any("is on" in s for s in mapped.skipped)  # twins are obsolete: no duplicate serials


def test_a_users_sql_import_from_a_table(postgres) -> None:
    record = {"id": 5, "name": "HR", "table": "Users", "integrator_enabled": True, "sqlserver": postgres.host,
              "sql_port": str(postgres.port), "sqldatabase": postgres.database, "sqlusername": postgres.user,
              "sisqlpassword": postgres.password, "sql_driver": postgres.driver, "defaultsite": 1,
              "sql": "SELECT Email, FullName, Office, Phone FROM hr_people", "keyfield": "EMAIL",
              "entity_match_field": "emailaddress",
              "fields": [{"thirdpartyname": "fullname", "nhdname": "name"}, {"thirdpartyname": "Phone", "nhdname": "phonenumber"},
                         {"thirdpartyname": "Office", "is_site_field": True}]}
    mapped = read_records(sql_import_settings(record), LOOKUPS)
    zoe = next(w for w in mapped.wanted if w.fields["name"] == "Zoë Ødegård")
    assert zoe.fields["site_id"] == 3 and zoe.fields["emailaddress"] == "person0007@example.com"
    assert any("'person0002@example.com' is on 2 rows" in s for s in mapped.skipped)
    assert len(mapped.wanted) == len({p.email for p in postgres.people if p.email}) - 1


def test_a_key_column_missing_from_the_result_is_an_error_naming_it(postgres) -> None:
    settings = lansweeper_settings(lansweeper_control(postgres, lansweeper_query="SELECT AssetID, AssetName FROM tblAssets",
                                                      lansweeper_idfield="SerialNumber", lansweeper_typefield="",
                                                      lansweeper_sitefield="", lansweeper_userfield=""))
    settings = dataclasses.replace(settings, field_mappings=())
    with pytest.raises(SourceError) as missing:
        read_records(settings, LOOKUPS)
    assert "no column 'SerialNumber'" in str(missing.value) and "assetid, assetname" in str(missing.value)


def test_rows_stream_in_chunks_with_bounded_memory_at_50000(postgres) -> None:
    query = "SELECT n, repeat('x', 2000) AS filler FROM generate_series(1, 50000) AS n"
    before = _rss_kb()
    count = peak = 0
    with read_rows(connection(postgres), query, chunk_rows=500) as rows:
        for row in rows:
            count += 1
            if count % 5000 == 0:
                peak = max(peak, _rss_kb() - before)
    assert count == 50000
    assert peak < 60_000  # the whole result is ~100 MB: held at once, it would show here


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def test_a_write_hidden_in_a_select_is_stopped_by_the_read_only_transaction(postgres) -> None:
    before = int(postgres.admin_sql("SELECT count(*) FROM halo_audit"))
    with pytest.raises(SourceError, match="read-only transaction"):
        with read_rows(connection(postgres), "SELECT halo_sandbox_touch()") as rows:
            list(rows)
    assert int(postgres.admin_sql("SELECT count(*) FROM halo_audit")) == before


def test_and_the_rollback_undoes_it_where_there_is_no_read_only_transaction(postgres) -> None:
    before = int(postgres.admin_sql("SELECT count(*) FROM halo_audit"))
    handle = connect(connection(postgres))  # what SQL Server gets: no read-only transaction, only the rollback
    cursor = handle.cursor()
    cursor.execute("SELECT halo_sandbox_touch()")
    assert cursor.fetchall()[0][0] == 1
    finish(handle)  # how every read ends
    assert int(postgres.admin_sql("SELECT count(*) FROM halo_audit")) == before


def test_a_statement_that_is_not_a_read_never_reaches_the_database(postgres) -> None:
    with pytest.raises(QueryRefused):
        read_rows(connection(postgres), "SELECT 1; INSERT INTO halo_audit DEFAULT VALUES")
    with pytest.raises(QueryRefused):
        read_rows(connection(postgres), "WITH x AS (INSERT INTO halo_audit DEFAULT VALUES RETURNING 1) SELECT * FROM x")


@pytest.fixture
def dblink(postgres):
    """The dblink extension, and a table the reader may write to (as a login that is not read-only may)."""
    postgres.admin_sql(f"CREATE EXTENSION IF NOT EXISTS dblink; CREATE TABLE dblink_log (note text); "
                       f"GRANT INSERT, SELECT ON dblink_log TO {READER}")
    yield
    postgres.admin_sql("DROP TABLE IF EXISTS dblink_log; DROP EXTENSION IF EXISTS dblink")


def dblink_write(postgres, spelling: str) -> str:
    """A SELECT that has dblink's own connection (to this database, as the reader) insert a row."""
    password = postgres.password.replace("\\", "\\\\").replace("'", "\\'")
    where = (f"host={postgres.host} port={postgres.port} dbname={postgres.database} user={postgres.user} "
             f"password='{password}'")
    insert = literal("written through the Integrator").join(["INSERT INTO dblink_log VALUES (", ")"])
    return f"SELECT 'SN-1' AS serial, {spelling}({literal(where)}, {literal(insert)}) AS x"


def test_a_write_through_a_quoted_dblink_exec_never_reaches_the_database(postgres, dblink) -> None:
    """For a login that may write, the read-only transaction and the rollback are no lock against dblink
    (the test below shows it): the guard refuses the call however the name is spelt, before connecting."""
    for spelling in ('"dblink_exec"', "pg_catalog . dblink_exec", "public.\"dblink_exec\"", "DBLINK_EXEC"):
        with pytest.raises(QueryRefused, match="calls dblink_exec"):
            with read_rows(connection(postgres), dblink_write(postgres, spelling)) as rows:
                list(rows)
    assert postgres.admin_sql("SELECT count(*) FROM dblink_log") == "0", "the write was committed"


def test_dblink_commits_past_the_read_only_transaction_which_is_why_the_guard_refuses_it(postgres, dblink) -> None:
    """The premise of the deny-list: the same call, run past the guard in a read-only transaction that is
    then rolled back, still writes, because dblink commits on a second connection of its own."""
    handle = connect(connection(postgres))
    cursor = handle.cursor()
    cursor.execute("SET TRANSACTION READ ONLY")
    cursor.execute(dblink_write(postgres, "dblink_exec"))
    cursor.fetchall()
    finish(handle)
    assert postgres.admin_sql("SELECT count(*) FROM dblink_log") == "1"


def test_a_wrong_password_says_so_without_the_password(postgres) -> None:
    with pytest.raises(SourceError) as refused:
        connect(connection(postgres, password="Wrong;Pass}word"))
    message = str(refused.value)
    assert "refused the SQL login" in message and "Wrong;Pass}word" not in message and postgres.password not in message


def test_a_server_that_does_not_answer_says_so(postgres) -> None:
    with pytest.raises(SourceError, match="does not answer"):
        connect(connection(postgres, port=1, login_timeout=3))


def test_a_slow_query_is_stopped_at_the_timeout(postgres) -> None:
    with pytest.raises(SourceError, match="did not finish within 1 s"):
        with read_rows(connection(postgres, query_timeout=1), "SELECT count(*) FROM generate_series(1, 2000000000)") as rows:
            list(rows)


def test_a_failing_query_says_what_the_database_said(postgres) -> None:
    with pytest.raises(SourceError, match="tblassetz"):
        with read_rows(connection(postgres), "SELECT * FROM tblAssetz"):
            pass


def test_the_prerequisite_checks_pass_step_by_step(postgres) -> None:
    checks = database_checks(lansweeper_settings(lansweeper_control(postgres)))
    assert [c.ok for c in checks] == [True] * 5, checks
    assert "serialnumber" in checks[-1].detail


def test_a_failed_step_marks_the_later_steps_not_run(postgres) -> None:
    checks = database_checks(lansweeper_settings(lansweeper_control(postgres, lansweeper_new_sql_password="nope")))
    assert [c.ok for c in checks] == [True, True, True, False, False]
    assert checks[-1].detail == "not run: login accepted failed"
    missing = database_checks(lansweeper_settings(lansweeper_control(postgres, lansweeper_sqldriver="ODBC Driver 18 for SQL Server")))
    assert not missing[1].ok and "is not installed" in missing[1].detail
