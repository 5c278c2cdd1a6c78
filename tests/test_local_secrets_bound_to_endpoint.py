"""A secret kept on this computer (an SQL import's password, an LDAP bind password, the Windows login of
integrated authentication) goes only to the endpoint it was approved for (engine/endpoint_approval.py).

Halo does not return these passwords, so the admin keeps them locally; but Halo says where they go, and
whoever may edit the connection in Halo could point it at a server they run. The first use after the
secret is stored approves the endpoint Halo names then; a later change in Halo sends nothing and says how
to approve the new endpoint. Real PostgreSQL over unixODBC and a hostile PostgreSQL server; for LDAP a
TLS server whose certificate this computer trusts (an attacker's own domain, a public CA).
"""

from __future__ import annotations

import json
import logging
import os
import ssl

import pytest

from halointegrator.engine.endpoint_approval import APPROVED_ENDPOINT, after_store, keep_approvals, require_approved
from halointegrator.errors import SourceError
from halointegrator.local.config import ConfigStore
from integrations.sql.approval import approver, sql_endpoint
from integrations.sql.connstr import DRIVER_17, DRIVER_18, LEGACY_DRIVER, DbTarget
from sandbox.directory_tls import make_ca, make_server_cert
from sandbox.halo_server import HaloSandbox
from tests.e2e_sql import SqlWorld
from tests.hostile_ldap import BASE_DN, HostileLdap
from tests.hostile_postgres import HostilePostgres
from tests.hostile_world import HALO_SECRET, IntegratorFolder, run_bounded
from tests.sql_helpers import DeviceTable, asset_import, devices

LOCAL_PASSWORD = "Local-Only-Secret-7fQ2pL9xWm4Z"
LOCAL_BIND_PASSWORD = "kept-on-the-integrator-only-9Rt"


class Ctx:
    def __init__(self, local: dict, config_path=None, dry_run: bool = False) -> None:
        self.local_settings, self.config_path, self.connection_key = local, config_path, "sql_import:21"
        self.log, self.dry_run = logging.getLogger("test"), dry_run


@pytest.mark.parametrize("approved,named,sent", [
    ("", "SQL server=db1, port=1433", True),  # first use (stored anew, or by an older version): approves
    ("SQL server=db1, port=1433", "SQL server=db1, port=1433", True),
    ("SQL server=db1, port=1433", "SQL server=evil, port=1433", False),
])
def test_a_local_secret_is_used_only_at_the_endpoint_it_was_approved_for(approved, named, sent) -> None:
    ctx = Ctx({APPROVED_ENDPOINT: approved} if approved else {})
    if sent:
        require_approved(ctx, named, "SQL password", "store the SQL password again (CONFIGURE ...)")
        assert ctx.local_settings[APPROVED_ENDPOINT] == named
    else:
        with pytest.raises(SourceError, match="changed in Halo since the SQL password was stored") as raised:
            require_approved(ctx, named, "SQL password", "store the SQL password again (CONFIGURE ...)")
        assert f"store the SQL password again (CONFIGURE ...) to approve {named}" in str(raised.value)
        assert ctx.local_settings[APPROVED_ENDPOINT] == approved


def saved_config(tmp_path, local: dict):
    store = ConfigStore(tmp_path / "HaloIntegrator.config")
    config = store.load()
    config.connections["sql_import:21"] = local
    store.save(config)
    return store


def test_the_approval_is_read_from_the_config_file_not_from_the_settings_the_run_started_with(tmp_path) -> None:
    """The window's runs start from its config in memory, loaded before an earlier run approved db1."""
    store = saved_config(tmp_path, {"password": "p", APPROVED_ENDPOINT: "SQL server=db1"})
    stale = Ctx({"password": "p"}, config_path=store.path)
    with pytest.raises(SourceError, match="changed in Halo"):
        require_approved(stale, "SQL server=evil", "SQL password", "store the SQL password again")
    assert store.load().connections["sql_import:21"][APPROVED_ENDPOINT] == "SQL server=db1"


def test_a_dry_run_uses_a_never_approved_secret_without_approving_it(tmp_path, caplog) -> None:
    store = saved_config(tmp_path, {"password": "p"})
    with caplog.at_level(logging.WARNING, logger="test"):
        require_approved(Ctx({"password": "p"}, store.path, dry_run=True), "SQL server=db1", "SQL password", "...")
    assert APPROVED_ENDPOINT not in store.load().connections["sql_import:21"]
    assert "the first real run approves that server" in caplog.text
    require_approved(Ctx({"password": "p"}, store.path), "SQL server=db1", "SQL password", "...")
    assert store.load().connections["sql_import:21"][APPROVED_ENDPOINT] == "SQL server=db1"


WINDOWS_LOGIN = DbTarget("db1", "lansweeperdb", user="", local_secret=False)  # integrated: the Integrator's login


@pytest.mark.parametrize("halo_names", ["", "SQLOLEDB.1", "MSOLEDBSQL"])
def test_a_driver_the_integrator_chose_is_no_part_of_the_approved_endpoint(halo_names) -> None:
    """Halo names no ODBC driver: the newest installed is used. Installing ODBC Driver 18 beside 17 (as
    README.txt tells the admin) changes nothing in Halo and must not stop the import."""
    target = DbTarget("db1", "lansweeperdb", user="", driver=halo_names, local_secret=False)
    ctx = Ctx({APPROVED_ENDPOINT: sql_endpoint(target, DRIVER_17)})  # the admin approved it
    assert "driver=newest sql server driver installed" in ctx.local_settings[APPROVED_ENDPOINT]
    approver(ctx)(target, DRIVER_18)
    approver(ctx)(target, LEGACY_DRIVER)


def test_a_windows_login_is_never_approved_by_its_first_use() -> None:
    """No secret was stored for the Windows login: a Halo editor who adds an SQL import (a new id, nothing
    approved) with an empty user and their own server would otherwise get the Integrator account's NTLM
    answer on its first run. The admin approves the server by name; the message gives the command."""
    ctx = Ctx({})
    attacker = DbTarget(server="sql.attacker.example", database="x", user="", local_secret=False)
    with pytest.raises(SourceError, match="none is approved for this connection, so nothing was sent") as raised:
        approver(ctx)(attacker, DRIVER_18)
    endpoint = sql_endpoint(attacker, DRIVER_18)
    assert f'--set "{APPROVED_ENDPOINT}={endpoint}"' in str(raised.value)
    assert APPROVED_ENDPOINT not in ctx.local_settings
    approver(Ctx({APPROVED_ENDPOINT: endpoint}))(attacker, DRIVER_18)  # once the admin approved exactly that


def test_a_look_alike_host_name_is_not_the_approved_one() -> None:
    """casefold() makes 'aßets.example' 'assets.example'; the endpoint compares by lower()."""
    ctx = Ctx({APPROVED_ENDPOINT: sql_endpoint(DbTarget("assets.example", "x", user=""), DRIVER_18)})
    with pytest.raises(SourceError, match="changed in Halo"):
        approver(ctx)(DbTarget("aßets.example", "x", user="", local_secret=False), DRIVER_18)


@pytest.mark.parametrize("stored_driver", ["odbc driver 17 for sql server", "sql server native client 11.0"])
def test_an_approval_stored_with_the_chosen_drivers_name_keeps_working_after_another_driver_is_installed(
        stored_driver) -> None:
    """Approvals stored before the endpoint held only the driver's family (they name the driver chosen then)."""
    stored = f"SQL driver={stored_driver}, server=db1, port=-, database=lansweeperdb, user=windows integrated"
    ctx = Ctx({APPROVED_ENDPOINT: stored})
    approver(ctx)(WINDOWS_LOGIN, DRIVER_18)
    assert ctx.local_settings[APPROVED_ENDPOINT] == stored
    with pytest.raises(SourceError, match="changed in Halo"):
        approver(ctx)(DbTarget("evil.example", "lansweeperdb", user="", local_secret=False), DRIVER_18)


def test_a_driver_halo_names_stays_part_of_the_approved_endpoint() -> None:
    """A driver Halo names is Halo's choice: another one (the legacy driver's old TLS) is a change in Halo."""
    named = DbTarget("db1", "inventory", user="", driver=DRIVER_18, local_secret=False)
    ctx = Ctx({APPROVED_ENDPOINT: sql_endpoint(named, DRIVER_18)})
    assert "driver=odbc driver 18 for sql server" in ctx.local_settings[APPROVED_ENDPOINT]
    approver(ctx)(named, DRIVER_18)
    with pytest.raises(SourceError, match="changed in Halo"):
        approver(ctx)(DbTarget("db1", "inventory", user="", driver=LEGACY_DRIVER, local_secret=False), LEGACY_DRIVER)


A = {APPROVED_ENDPOINT: "SQL a"}


@pytest.mark.parametrize("shown,loaded,on_disk,saved", [
    ({}, {}, {"c:1": A}, {"c:1": A}),  # a run approved while the window was open
    ({"c:1": {"password": "p"}}, {"c:1": {"password": "p"}}, {"c:1": {"password": "p", **A}},
     {"c:1": {"password": "p", **A}}),
    ({"c:1": {}}, {"c:1": A}, {"c:1": A}, {"c:1": {}}),  # cleared in the window: re-approve at the next run
    ({"c:1": {"password": "new"}}, {"c:1": {"password": "old"}}, {"c:1": {"password": "old", **A}},
     {"c:1": {"password": "new"}}),  # a secret typed anew in the window is approved at its first use
    ({"c:1": {"password": "old"}}, {"c:1": {"password": "old"}}, {"c:1": {"password": "new", **A}},
     {"c:1": {"password": "old"}}),  # the file's approval was made for another secret (CONFIGURE meanwhile)
    ({"c:1": {"x": "1"}}, {}, {}, {"c:1": {"x": "1"}}),
])
def test_save_in_the_window_keeps_the_approvals_runs_wrote_to_the_file(shown, loaded, on_disk, saved) -> None:
    assert keep_approvals(shown, loaded, on_disk) == saved


@pytest.mark.parametrize("kept,updated,approval_kept", [
    ({"password": "old", APPROVED_ENDPOINT: "SQL a"}, {"password": "new", APPROVED_ENDPOINT: "SQL a"}, False),
    ({"password": "old", APPROVED_ENDPOINT: "SQL a"}, {"password": "old", APPROVED_ENDPOINT: "SQL a",
                                                       "odbc_driver": "x"}, True),
    ({"password": "old", APPROVED_ENDPOINT: "SQL a"}, {"password": "new", APPROVED_ENDPOINT: "SQL b"}, True),
])
def test_storing_a_secret_anew_drops_the_endpoint_the_old_one_was_approved_for(kept, updated, approval_kept) -> None:
    assert (APPROVED_ENDPOINT in after_store(kept, updated)) is approval_kept


@pytest.fixture
def table(postgres):
    made = DeviceTable.create(postgres, devices(3))
    yield made
    made.drop()


@pytest.mark.postgres
def test_a_locally_kept_sql_password_is_not_sent_to_a_server_halo_changed_to(postgres, table, tmp_path) -> None:
    """The admin keeps the SQL password on the Integrator; the first run approves the database Halo names.
    A Halo editor then changes the import's port to a server they run: the next run sends nothing there,
    imports nothing, and Last Error says how to approve the new server."""
    record = asset_import(postgres, table.name, record_id=21)
    del record["sisqlpassword"]  # Halo does not return it: the connection's local secret is used
    with HaloSandbox() as halo, HostilePostgres() as hostile:
        world = SqlWorld(halo, tmp_path, postgres, imports=[record])
        world.set_local("sql_import:21", secrets={"password": postgres.password})
        world.auto()
        assert len(world.assets()) == 3, world.log()[-2000:]
        stored = json.loads(world.config.read_text(encoding="utf-8"))["connections"]["sql_import:21"]
        assert f"port={postgres.port}" in stored[APPROVED_ENDPOINT]
        with halo.lock:
            halo.state["sqlimports"][21]["sql_port"] = str(hostile.port)
        world.auto()
        assert hostile.passwords == [], "the local SQL password was sent to a server Halo named"
        last_error = world.sql_import(21).get("halointegrator_lasterror") or ""
        assert "changed in Halo since the SQL password was stored" in last_error, last_error
        assert f"port={hostile.port}" in last_error and "--connection sql_import:21 --secret-stdin password" in last_error


class HostileLdaps(HostileLdap):
    """HostileLdap behind TLS with a certificate for 'localhost'."""

    def __init__(self, cert_file, key_file, **kwargs) -> None:
        super().__init__(**kwargs)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)

    def _serve(self, sock) -> None:
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super()._serve(wrapped)


def _point_ldap_at(halo, port: int) -> None:
    with halo.lock:  # what the Halo editor sets: host, port, SSL ticked; the password stays local
        halo.state["ldapconnections"][1].update({
            "hostname": "localhost", "port": str(port), "use_ssl": True, "integrator_password": "",
            "username": "CN=svc,DC=corp,DC=example", "halointegratorenabled": True,
            "halointegrator_allowedclientids": "",
            "ldap_strings": [{"id": 101, "connection_id": 1, "name": "Staff", "dn": BASE_DN, "filter": "",
                              "isrecursive": True, "site_id": 2}]})


@pytest.mark.skipif(os.name == "nt", reason="POSIX test harness")
def test_a_locally_kept_bind_password_is_not_sent_to_a_host_halo_changed_to(tmp_path) -> None:
    """The bind password is kept on the Integrator; its first run approves the directory Halo names. The
    Halo editor then names another host (TLS verified: a certificate for their own name from a public CA,
    here a CA given as the system store): nothing is sent there, and Last Error says how to approve it."""
    ca = make_ca(tmp_path)
    cert, key = make_server_cert(ca, tmp_path, "directory", ["localhost"], [])
    env = {"SSL_CERT_FILE": str(ca.cert_file)}
    with HaloSandbox(client_secret=HALO_SECRET) as halo, \
            HostileLdaps(cert, key, bind="ok", search="people") as directory, \
            HostileLdaps(cert, key, bind="ok", search="people") as attacker:
        folder = IntegratorFolder(tmp_path / "integrator", halo.url)
        folder.connection("active_directory:1", "--secret-env", "bind_password=HOSTILE_SECRET",
                          secret=LOCAL_BIND_PASSWORD)
        _point_ldap_at(halo, directory.port)
        run_bounded(["AUTO", "--config", str(folder.config)], cwd=folder.folder, env=env, timeout=60)
        assert LOCAL_BIND_PASSWORD in directory.binds, folder.log()[-2000:]
        _point_ldap_at(halo, attacker.port)
        run_bounded(["AUTO", "--config", str(folder.config)], cwd=folder.folder, env=env, timeout=60)
        assert LOCAL_BIND_PASSWORD not in attacker.binds, "the locally kept bind password was sent to the new host"
        last_error = str(halo.state["ldapconnections"][1].get("halointegrator_lasterror") or "")
        assert "changed in Halo since the bind password was stored" in last_error, last_error
        assert "--connection active_directory:1 --secret-stdin bind_password" in last_error


def test_storing_the_password_again_with_configure_approves_the_server_halo_names_next(tmp_path) -> None:
    """The message tells the admin to store the password again: CONFIGURE --secret-env does that, and
    drops the old approval (the next run approves what Halo names then); another setting keeps it."""
    from halointegrator.local.config import ConfigStore
    from tests.cli_helpers import configure

    config = tmp_path / "HaloIntegrator.config"
    configure(config, "https://acme.halopsa.com", cwd=tmp_path)
    store = ConfigStore(config)
    saved = store.load()
    saved.connections["sql_import:21"] = {"password": "old-password-1", APPROVED_ENDPOINT: "SQL server=db1"}
    store.save(saved)
    configure(config, "https://acme.halopsa.com", cwd=tmp_path,
              extra=("--connection", "sql_import:21", "--set", "max_rows=5000"))
    assert ConfigStore(config).load().connections["sql_import:21"][APPROVED_ENDPOINT] == "SQL server=db1"
    configure(config, "https://acme.halopsa.com", cwd=tmp_path, secret="new-password-2",
              extra=("--connection", "sql_import:21", "--secret-env", "password=HALO_TEST_SECRET"))
    local = ConfigStore(config).load().connections["sql_import:21"]
    assert local["password"] == "new-password-2" and APPROVED_ENDPOINT not in local
