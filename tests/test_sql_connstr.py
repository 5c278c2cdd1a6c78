"""SQL Server specifics that cannot run here, as strings and units: connection strings, integrated
authentication, Driver 18's encryption, driver choice, UDL files, and the messages driver errors become."""

from __future__ import annotations

import codecs

import pytest

from halointegrator.errors import SourceError
from integrations.sql.connstr import (
    DRIVER_17, DRIVER_18, LEGACY_DRIVER, DbTarget, OdbcConnection, braced, choose_driver, connection_for,
    parse_server,
)
from integrations.sql.guard import POSTGRESQL, TSQL
from integrations.sql.odbc import dialect_of, explain
from integrations.sql.udl import decode_udl, parse_oledb_string, parse_udl_text, read_udl, target_from_udl

LOGIN = DbTarget(server="sql01", database="lansweeperdb", user="halo_reader", password="S3cret")


@pytest.mark.parametrize("target,driver,expected", [
    (LOGIN, DRIVER_18,
     "DRIVER={ODBC Driver 18 for SQL Server};SERVER={sql01};DATABASE={lansweeperdb};UID={halo_reader};PWD={S3cret};Encrypt=yes"),
    (LOGIN, DRIVER_17,
     "DRIVER={ODBC Driver 17 for SQL Server};SERVER={sql01};DATABASE={lansweeperdb};UID={halo_reader};PWD={S3cret};"
     "Encrypt=yes"),
    (LOGIN, LEGACY_DRIVER,
     "DRIVER={SQL Server};SERVER={sql01};DATABASE={lansweeperdb};UID={halo_reader};PWD={S3cret};Encrypt=yes"),
    (DbTarget(server="sql01\\LANSWEEPER", database="lansweeperdb"), DRIVER_18,
     "DRIVER={ODBC Driver 18 for SQL Server};SERVER={sql01\\LANSWEEPER};DATABASE={lansweeperdb};Trusted_Connection=yes;Encrypt=yes"),
    (DbTarget(server="sql01", port=14330, database="CM_P01", user="u", password="p",
              trust_server_certificate=True), DRIVER_18,
     "DRIVER={ODBC Driver 18 for SQL Server};SERVER={sql01,14330};DATABASE={CM_P01};UID={u};PWD={p};Encrypt=yes;"
     "TrustServerCertificate=yes"),
    # The legacy driver verifies whenever it encrypts: trusting any certificate can only leave Encrypt out.
    (DbTarget(server="sql01", database="db", user="u", password="p", trust_server_certificate=True), LEGACY_DRIVER,
     "DRIVER={SQL Server};SERVER={sql01};DATABASE={db};UID={u};PWD={p}"),
    (DbTarget(server="sql01", database="db", user="u", password="p", encrypt="no"), DRIVER_17,
     "DRIVER={ODBC Driver 17 for SQL Server};SERVER={sql01};DATABASE={db};UID={u};PWD={p};Encrypt=no"),  # a UDL's
    (DbTarget(server="sql01", database="db", user="u", password="p", encrypt="strict"), DRIVER_18,
     "DRIVER={ODBC Driver 18 for SQL Server};SERVER={sql01};DATABASE={db};UID={u};PWD={p};Encrypt=strict"),
])
def test_sql_server_connection_strings(target: DbTarget, driver: str, expected: str) -> None:
    connection = connection_for(target, driver)
    assert connection.connection_string == expected
    assert connection.family == "sqlserver"


@pytest.mark.parametrize("named,driver", [("", DRIVER_18), ("", DRIVER_17), ("", LEGACY_DRIVER),
                                          ("SQL Server Native Client 11.0",) * 2,
                                          ("ODBC Driver 13.1 for SQL Server",) * 2])
def test_every_sql_server_driver_encrypts_and_verifies_by_default(named: str, driver: str) -> None:
    """TLS verified by default: without Encrypt=yes, Driver 17 (and the legacy driver, the only one a fresh
    Windows Server has) encrypt only when the server insists, so an attacker on the path answers "no
    encryption" and reads the SQL login. Encrypt=yes with Microsoft's drivers also verifies the
    certificate; only the local setting "Trust the server certificate" relaxes it."""
    target = DbTarget(server="lansweeper01", database="lansweeperdb", user="halo", password="pw")
    assert choose_driver(named, [driver]) == driver  # "": chosen as a fallback, the only one installed
    text = connection_for(target, driver).connection_string
    assert text.endswith(";Encrypt=yes") and "TrustServerCertificate" not in text


@pytest.mark.parametrize("driver", ["MySQL ODBC 8.0 Unicode Driver", "MariaDB Unicode", "SQLite3",
                                    "Oracle in OraDB19Home1", "FreeTDS", "Devart ODBC Driver for PostgreSQL"])
def test_a_driver_of_another_database_is_refused_naming_the_supported_ones(driver: str) -> None:
    """Halo's sql_driver (or the local odbc_driver) may name any installed driver. The guard reads a query
    in T-SQL or PostgreSQL's SQL; MySQL would end a '#' comment at the line's end and take backslash
    escapes, so the guard would see INTO inside a string. A driver is therefore used only when its name
    says which of the two databases (and which connection keywords and TLS rules) it has."""
    target = DbTarget(server="db", database="d", user="u", password="p")
    with pytest.raises(SourceError) as refused:
        connection_for(target, choose_driver(driver, [driver, DRIVER_18]))
    message = str(refused.value)
    assert f"'{driver}' is not one the Integrator can use" in message
    assert DRIVER_18 in message and "PostgreSQL Unicode" in message and "odbc_driver" in message


@pytest.mark.parametrize("driver,dialect", [
    (DRIVER_18, TSQL), (LEGACY_DRIVER, TSQL), ("SQLOLEDB.1", TSQL), ("PostgreSQL Unicode", POSTGRESQL),
    ("PostgreSQL ANSI(x64)", POSTGRESQL),
])
def test_the_driver_decides_which_sql_the_guard_reads(driver: str, dialect: str) -> None:
    target = DbTarget(server="db", database="d", user="u", password="p")
    assert dialect_of(connection_for(target, driver)) == dialect
    with pytest.raises(SourceError, match="not one the Integrator can use"):
        dialect_of(OdbcConnection("DRIVER={x}", "x", "", 15, 300, "d"))


def test_values_are_braced_so_a_password_cannot_add_keywords() -> None:
    target = DbTarget(server="sql01", database="db", user="u", password="a;Trusted_Connection=yes;}b{")
    text = connection_for(target, DRIVER_18).connection_string
    assert "PWD={a;Trusted_Connection=yes;}}b{}" in text
    assert text.count("Trusted_Connection") == 1  # only inside the braced password
    assert braced("x}y}") == "{x}}y}}}"
    with pytest.raises(SourceError, match="NUL"):
        braced("a\0b")


def test_postgresql_values_that_would_need_braces_are_refused() -> None:
    ok = connection_for(DbTarget(server="db", port=5433, database="inv", user="r", password="p;}"), "PostgreSQL Unicode")
    assert ok.connection_string == ("DRIVER={PostgreSQL Unicode};SERVER=db;PORT=5433;DATABASE=inv;UID=r;"
                                    "PWD={p;}}};UseDeclareFetch=1;Fetch=1000;SSLmode=verify-full")
    with pytest.raises(SourceError, match="';', a brace"):
        connection_for(DbTarget(server="db", database="a;b", user="r", password="p"), "PostgreSQL Unicode")
    with pytest.raises(SourceError, match="integrated authentication reaches SQL Server only"):
        connection_for(DbTarget(server="db", database="inv"), "PostgreSQL Unicode")


def test_the_password_is_never_in_the_targets_or_connections_repr() -> None:
    connection = connection_for(LOGIN, DRIVER_18)
    assert "S3cret" not in repr(LOGIN) and "S3cret" not in repr(connection)
    assert "S3cret" not in connection.description and "halo_reader" in connection.description


@pytest.mark.parametrize("named,installed,chosen", [
    ("", [LEGACY_DRIVER, DRIVER_17, DRIVER_18], DRIVER_18),
    ("", [LEGACY_DRIVER, DRIVER_17], DRIVER_17),
    ("", [LEGACY_DRIVER], LEGACY_DRIVER),
    ("{ODBC Driver 17 for SQL Server}", [DRIVER_17, DRIVER_18], DRIVER_17),
    ("odbc driver 18 for sql server", [DRIVER_18], DRIVER_18),
    ("SQLOLEDB.1", [DRIVER_17, DRIVER_18], DRIVER_18),  # an OLE DB provider means "SQL Server"
    ("MSOLEDBSQL", [DRIVER_17], DRIVER_17),
    ("SQLNCLI11", [LEGACY_DRIVER], LEGACY_DRIVER),
])
def test_the_driver_is_the_named_one_or_the_newest_sql_server_driver(named, installed, chosen) -> None:
    assert choose_driver(named, installed) == chosen


def test_a_driver_that_is_not_installed_is_named_with_what_is() -> None:
    with pytest.raises(SourceError) as missing:
        choose_driver("ODBC Driver 18 for SQL Server", ["PostgreSQL Unicode"])
    assert "'ODBC Driver 18 for SQL Server' is not installed" in str(missing.value)
    assert "installed: PostgreSQL Unicode" in str(missing.value)
    with pytest.raises(SourceError, match="No SQL Server ODBC driver is installed"):
        choose_driver("", [])


@pytest.mark.parametrize("server,port,expected", [
    ("sql01", "", ("sql01", None)), ("sql01,1500", None, ("sql01", 1500)), ("tcp:sql01", "1433", ("sql01", 1433)),
    ("sql01\\INST", "", ("sql01\\INST", None)), (" sql01 ", 1444, ("sql01", 1444)),
])
def test_server_and_port_fields(server, port, expected) -> None:
    assert parse_server(server, port) == expected


def test_a_port_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(SourceError, match="'14x' is not a port number"):
        parse_server("sql01", "14x")


UDL_TEXT = ("[oledb]\r\n; Everything after this line is an OLE DB initstring\r\n"
            "Provider=SQLOLEDB.1;Persist Security Info=False;User ID=halo_ro;Password=\"p;w\"\"d\";"
            "Initial Catalog=CM_P01;Data Source=sccm01\\CM,1450;Connect Timeout=20;Application Name=Halo\r\n")


def test_a_utf16_udl_file_becomes_an_odbc_target(tmp_path) -> None:
    path = tmp_path / "sccm.udl"
    path.write_bytes(codecs.BOM_UTF16_LE + UDL_TEXT.encode("utf-16-le"))
    target = target_from_udl(read_udl(path))
    assert (target.server, target.port, target.database, target.user) == ("sccm01\\CM", 1450, "CM_P01", "halo_ro")
    assert target.password == 'p;w"d' and target.login_timeout == 20
    assert connection_for(target, DRIVER_18).connection_string == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER={sccm01\\CM,1450};DATABASE={CM_P01};UID={halo_ro};"
        "PWD={p;w\"d};Encrypt=yes;APP={Halo}")


def test_udl_integrated_security_encryption_and_trust_are_mapped() -> None:
    keywords = parse_oledb_string("Provider=MSOLEDBSQL.1;Integrated Security=SSPI;Initial Catalog=Lansweeper;"
                                  "Data Source=lsdb;Use Encryption for Data=Mandatory;Trust Server Certificate=True")
    target = target_from_udl(keywords, password="from-halo")
    assert target.integrated and target.password == ""  # Windows authentication sends no password
    assert connection_for(target, DRIVER_17).connection_string == (
        "DRIVER={ODBC Driver 17 for SQL Server};SERVER={lsdb};DATABASE={Lansweeper};Trusted_Connection=yes;"
        "Encrypt=yes;TrustServerCertificate=yes")
    keeps_none = target_from_udl(parse_oledb_string("Provider=SQLOLEDB;User ID=u;Data Source=s"), password="from-halo")
    assert keeps_none.password == "from-halo"


@pytest.mark.parametrize("initstring,reason", [
    ("Provider=Microsoft.ACE.OLEDB.12.0;Data Source=C:\\x.accdb", "an OLE DB provider other than SQL Server's"),
    ("Provider=MSDASQL.1;Data Source=MyDsn", "an OLE DB provider other than SQL Server's"),
    ("Provider=SQLOLEDB;Data Source=s;Initial File Name=C:\\db.mdf", "attaches a database file"),
    ("Provider=SQLOLEDB;Data Source=s;Frobnicate=1", "a keyword the Integrator cannot map to ODBC"),
    ("Provider=SQLOLEDB;Initial Catalog=db", "names no server"),
])
def test_what_odbc_cannot_take_is_refused_saying_why_without_quoting_the_file(initstring: str, reason: str) -> None:
    """The path comes from Halo and the message goes back to Halo's Last Error: a value or name from the
    file (which may be any local file) is never quoted, only the keywords the Integrator knows."""
    with pytest.raises(SourceError, match=reason.replace("\\", "\\\\").replace(".", "\\.").replace("(", "\\(")) as raised:
        target_from_udl(parse_oledb_string(initstring))
    assert not any(word in str(raised.value) for word in ("ACE", "MSDASQL", "robnicate", "MyDsn"))


def test_udl_files_that_are_missing_empty_or_not_text_say_so(tmp_path) -> None:
    with pytest.raises(SourceError, match="does not exist on this computer"):
        read_udl(tmp_path / "missing.udl")
    with pytest.raises(SourceError, match="holds no connection"):
        parse_udl_text("[oledb]\n; Everything after this line is an OLE DB initstring\n")
    with pytest.raises(SourceError, match="not a UDL file"):
        decode_udl(b"\xff\xfe\x00\xd8", "x.udl")  # a lone surrogate: not UTF-16 text
    big = tmp_path / "big.udl"
    big.write_bytes(b"x" * 70000)
    with pytest.raises(SourceError, match="a UDL file is a few hundred"):
        read_udl(big)


def _connection(password: str = "S3cret") -> OdbcConnection:
    return connection_for(DbTarget(server="sql01", database="db", user="halo_reader", password=password), DRIVER_18)


@pytest.mark.parametrize("state,text,stage,expected", [
    ("08001", "[Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: [error:0A000086:SSL routines::certificate "
     "verify failed:unable to get local issuer certificate] (-1) (SQLDriverConnect)", "connect",
     "TLS certificate is not trusted"),
    ("08001", "[Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: The certificate chain was issued by an "
     "authority that is not trusted.", "connect", "'Trust the server certificate'"),
    ("28000", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'halo_reader'. (18456) "
     "(SQLDriverConnect)", "connect", "refused the SQL login"),
    ("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired (0) (SQLDriverConnect)", "connect",
     "does not answer"),
    ("08001", "[Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: No such host is known.", "connect",
     "does not answer"),
    ("01000", "[unixODBC][Driver Manager]Can't open lib 'ODBC Driver 18 for SQL Server' : file not found (0) "
     "(SQLDriverConnect)", "connect", "cannot be loaded"),
    ("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired (0) (SQLExecDirectW)", "query",
     "did not finish within 300 s"),
    ("42S02", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name 'tblAssetz'. (208) "
     "(SQLExecDirectW)", "query", "Invalid object name 'tblAssetz'"),
])
def test_driver_errors_become_sentences_that_say_what_to_fix(state, text, stage, expected) -> None:
    message = explain(Exception(state, text), _connection(), stage)
    assert expected in message
    assert "[Microsoft]" not in message and "(SQLDriverConnect)" not in message


def test_a_driver_message_that_echoes_the_password_is_blanked() -> None:
    message = explain(Exception("42000", "syntax error near 'Pa55;word'"), _connection("Pa55;word"), "query")
    assert "Pa55;word" not in message and "***" in message
