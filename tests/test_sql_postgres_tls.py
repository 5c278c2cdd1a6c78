"""PostgreSQL's TLS: the Integrator asks psqlODBC for SSLmode=verify-full (require with "Trust the server
certificate"), so a server that declines TLS never gets the password, and each TLS refusal says what
to fix. Units for the connection string and the messages; the real sandbox PostgreSQL (TLS only, its
own CA) and hostile servers on 127.0.0.1 for what libpq really does.

The attack this answers (attack2): without SSLmode psqlODBC uses libpq's "prefer", so whoever answers
for the approved host name declines SSL, asks for the password in clear and gets the local SQL password.
"""

from __future__ import annotations

import dataclasses

import pytest

from halointegrator.errors import SourceError
from integrations.sql import sql_import_settings
from integrations.sql.connstr import DbTarget, OdbcConnection, connection_for
from integrations.sql.odbc import connect, explain, read_rows
from sandbox.directory_tls import make_ca
from sandbox.halo_server import HaloSandbox
from tests.e2e_sql import SqlWorld
from tests.hostile_postgres import HostilePostgres, certificate_from
from tests.sql_helpers import DeviceTable, asset_import, devices

PG = "PostgreSQL Unicode"
LOCAL_PASSWORD = "Local-Only-Secret-7fQ2pL9xWm4Z"
REMOTE = DbTarget(server="db.corp.example", port=5432, database="inventory", user="halo_reader",
                  password="Local-Only-Secret", local_secret=True)


def string_for(**overrides) -> str:
    return connection_for(dataclasses.replace(REMOTE, **overrides), PG).connection_string


def test_a_postgresql_login_asks_for_verified_tls() -> None:
    """attack2: no SSLmode meant libpq's "prefer", which falls back to a login in clear."""
    text = string_for()
    assert text.endswith(";SSLmode=verify-full"), text
    assert text.casefold().count("sslmode") == 1


def test_trusting_the_server_certificate_still_requires_tls() -> None:
    text = string_for(trust_server_certificate=True)
    assert text.endswith(";SSLmode=require"), text
    for weaker in ("prefer", "allow", "disable"):
        assert f"sslmode={weaker}" not in text.casefold()


@pytest.mark.parametrize("path,pqopt", [
    ("/etc/ssl/corp-ca.pem", "pqopt={sslrootcert='/etc/ssl/corp-ca.pem'}"),
    ("C:\\Program Files\\Halo\\corp ca.pem", "pqopt={sslrootcert='C:\\\\Program Files\\\\Halo\\\\corp ca.pem'}"),
    ("/srv/o'brien/ca.pem", "pqopt={sslrootcert='/srv/o\\'brien/ca.pem'}"),
])
def test_the_ca_file_setting_becomes_libpqs_sslrootcert_quoted(path, pqopt) -> None:
    text = string_for(ca_file=path)
    assert text.endswith(f";SSLmode=verify-full;{pqopt}"), text


@pytest.mark.parametrize("path", ["/srv/a;b/ca.pem", "/srv/{x}/ca.pem", "/srv/a}/ca.pem", "/srv/a\nb"])
def test_a_ca_file_path_psqlodbc_cannot_carry_is_refused_naming_the_setting(path) -> None:
    with pytest.raises(SourceError, match="local setting ca_file"):
        string_for(ca_file=path)


def test_the_local_settings_reach_the_target() -> None:
    record = {"id": 3, "name": "PG", "table": "Device", "integrator_enabled": True, "keyfield": "serial",
              "sqlserver": "db", "sqldatabase": "inv", "sqlusername": "r", "sisqlpassword": "p", "sql_driver": PG,
              "sql": "SELECT serial FROM t"}
    settings = sql_import_settings(record, {"ca_file": " /etc/ssl/ca.pem ", "trust_server_certificate": True})
    assert settings.target.ca_file == "/etc/ssl/ca.pem" and settings.target.trust_server_certificate
    assert "sslrootcert='/etc/ssl/ca.pem'" in connection_for(settings.target, PG).connection_string


PG_CONNECTION = OdbcConnection("DRIVER={PostgreSQL Unicode}", PG, "postgresql", 15, 300, "database 'inv' on db",
                               ("S3cret",))
FAILED = 'connection to server at "db" (10.0.0.5), port 5432 failed: '


@pytest.mark.parametrize("said,expected", [
    (FAILED + "server does not support SSL, but SSL was required",
     ["does not offer TLS", "never sends the SQL password unencrypted", "ssl in the server's postgresql.conf"]),
    (FAILED + 'root certificate file "/root/.postgresql/root.crt" does not exist\nEither provide the file or change '
              "sslmode to disable server certificate verification.",
     ["No CA certificate", "local setting ca_file", "PGSSLROOTCERT", "Trust the server certificate"]),
    (FAILED + 'server certificate for "pg.other.example" does not match host name "db"',
     ["not for the name", "subject alternative names", "Trust the server certificate"]),
    (FAILED + "SSL error: certificate verify failed",
     ["not trusted", "not signed by a CA in libpq's root certificate file (the file the PGSSLROOTCERT",
      "Set the local setting ca_file"]),
])
def test_each_tls_refusal_says_what_is_wrong_and_the_fix(said, expected) -> None:
    message = explain(Exception("08001", f"[08001] {said} (101) (SQLDriverConnect)"), PG_CONNECTION, "connect")
    for part in expected:
        assert part in message, message
    assert "SQL Server" not in message.split("The driver said")[0]


def test_an_untrusted_certificate_names_the_ca_file_the_connection_uses() -> None:
    connection = dataclasses.replace(PG_CONNECTION, ca_file="/etc/ssl/old-ca.pem")
    message = explain(Exception("08001", "SSL error: certificate verify failed"), connection, "connect")
    assert "not signed by the CA file /etc/ssl/old-ca.pem (local setting ca_file)" in message, message


# ---- the real server and hostile ones ---------------------------------------------------------------

def real(db, **overrides) -> DbTarget:
    return dataclasses.replace(DbTarget(server=db.host, port=db.port, database=db.database, user=db.user,
                                        password=db.password, driver=db.driver, login_timeout=5), **overrides)


def refusal(target: DbTarget) -> str:
    with pytest.raises(SourceError) as refused:
        connect(connection_for(target, target.driver)).close()
    return str(refused.value)


def uses_tls(target: DbTarget) -> str:
    with read_rows(connection_for(target, target.driver),
                   "SELECT ssl::text AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") as rows:
        return [row["ssl"] for row in rows][0]


@pytest.fixture
def no_ca_anywhere(monkeypatch, tmp_path):
    """libpq finds no root certificate: no PGSSLROOTCERT, a HOME without ~/.postgresql/root.crt."""
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.mark.postgres
def test_the_integrators_connection_to_the_sandbox_is_encrypted(postgres) -> None:
    assert uses_tls(real(postgres)) == "true"


@pytest.mark.postgres
def test_without_a_ca_the_server_is_refused_and_the_ca_file_setting_or_trust_fixes_it(postgres, no_ca_anywhere) -> None:
    message = refusal(real(postgres))
    assert "No CA certificate" in message and "local setting ca_file" in message, message
    assert postgres.password not in message
    assert uses_tls(real(postgres, ca_file=postgres.ca_file)) == "true"
    assert uses_tls(real(postgres, trust_server_certificate=True)) == "true"  # encrypted, not verified


@pytest.mark.postgres
def test_a_certificate_from_another_ca_is_refused_naming_the_ca_file(postgres, tmp_path) -> None:
    stranger = make_ca(tmp_path, "Someone Else's CA", "stranger.crt")
    message = refusal(real(postgres, ca_file=str(stranger.cert_file)))
    assert f"not signed by the CA file {stranger.cert_file}" in message, message


@pytest.mark.postgres
@pytest.mark.parametrize("trust", [False, True], ids=["verify-full", "trust-require"])
def test_a_server_that_declines_tls_never_gets_the_password(postgres, trust) -> None:
    """What attack2 did: decline SSL, ask for the password in clear. Now the client gives up first."""
    with HostilePostgres() as hostile:
        message = refusal(real(postgres, port=hostile.port, password=LOCAL_PASSWORD, trust_server_certificate=trust))
    assert hostile.ssl_requests >= 1, "the client did not even ask for TLS"
    assert hostile.startups == [] and hostile.passwords == [], "a login went out without TLS"
    assert "does not offer TLS" in message and "nothing was sent" in message, message


@pytest.mark.postgres
def test_a_certificate_for_another_name_is_refused_before_the_login(postgres, tmp_path) -> None:
    tls = certificate_from(postgres.ca, tmp_path, dns_names=("pg.other.example",), ip_addresses=())
    with HostilePostgres(tls=tls) as hostile:
        message = refusal(real(postgres, port=hostile.port, password=LOCAL_PASSWORD))
    assert hostile.passwords == [] and hostile.startups == []
    assert "not for the name the Integrator connects to" in message, message


@pytest.mark.postgres
def test_a_scheduled_run_against_a_server_without_tls_says_so_in_last_error(postgres, tmp_path) -> None:
    """End to end, as attack2 ran it: the local SQL password, an approved endpoint, a server that
    declines TLS on it. (The approval binds host and port, so the hostile server is the endpoint the
    administrator approved: an attacker answering for that address.)"""
    table = DeviceTable.create(postgres, devices(2))
    try:
        with HaloSandbox() as halo, HostilePostgres() as hostile:
            record = asset_import(postgres, table.name, record_id=21, sql_port=str(hostile.port))
            del record["sisqlpassword"]
            world = SqlWorld(halo, tmp_path, postgres, imports=[record])
            world.set_local("sql_import:21", secrets={"password": LOCAL_PASSWORD})
            world.auto()
            assert hostile.passwords == [] and hostile.startups == []
            last_error = world.sql_import(21).get("halointegrator_lasterror") or ""
            assert "does not offer TLS" in last_error, last_error or world.log()[-2000:]
            assert world.assets() == {}
    finally:
        table.drop()
