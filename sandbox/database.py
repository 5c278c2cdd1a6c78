"""A real database server on loopback for the SQL tests and the demo: PostgreSQL, reached over ODBC.

``start_postgres(workdir, assets=N)`` makes a throw-away cluster (initdb), starts it on 127.0.0.1 on a
free port (no Unix socket), and seeds it (sandbox/database_data.py): Lansweeper-like tables, SCCM-like
views and an HR table. The Integrator logs in as ``halo_reader`` (password authentication, SCRAM)
through unixODBC and the "PostgreSQL Unicode" driver (Debian: postgresql, odbc-postgresql, unixodbc).
The server speaks TLS only (``hostssl`` lines: a plain TCP login is refused), with a certificate for
127.0.0.1 and localhost from a CA of its own (``handle.ca_file``); the Integrator verifies it
(SSLmode=verify-full), so whoever connects must trust that CA: ``handle.client_env()`` is the
environment (PGSSLROOTCERT, libpq's) that does it, for this process and the ones it starts.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user and lives in
a folder of its own under the system temp folder (pytest's are private to root).

``python -m sandbox.database [--assets N]`` starts one and waits for Ctrl+C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sandbox.database_data import hr_people, lansweeper_assets, sccm_machines, seed_sql
from sandbox.directory_base import DirectoryUnavailable as DatabaseUnavailable
from sandbox.directory_base import free_port, wait_for_port
from sandbox.directory_tls import CertificateAuthority, make_ca, make_server_cert

ODBC_DRIVER = "PostgreSQL Unicode"
DATABASE = "inventory"
ADMIN, READER = "halo_admin", "halo_reader"
# A password with every character an ODBC connection string or a log could trip over.
READER_PASSWORD = "Rd;{pw}=x '\"é"
ADMIN_PASSWORD = "Sandbox.Admin.1"
# Every TCP login over TLS, with SCRAM; no plain "host" line, so a client that skips TLS is refused.
HBA = "hostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n"


def postgres_bin() -> Path | None:
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    return roots[-1] if roots else None


def postgres_available() -> str:
    """'' when PostgreSQL and its ODBC driver can run here, else why not."""
    binaries = postgres_bin()
    if binaries is None or not (binaries / "initdb").exists() or not shutil.which("psql"):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    try:
        import pyodbc
    except ImportError as error:
        return f"pyodbc cannot load ({error}); apt-get install unixodbc"
    if ODBC_DRIVER not in pyodbc.drivers():
        return f"the ODBC driver '{ODBC_DRIVER}' is not installed (apt-get install odbc-postgresql)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "running as root needs setpriv (util-linux) to start PostgreSQL as the postgres user"
    return ""


@dataclass
class DatabaseHandle:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    driver: str = ODBC_DRIVER
    assets: list = field(default_factory=list, repr=False)
    machines: list = field(default_factory=list, repr=False)
    people: list = field(default_factory=list, repr=False)
    datadir: Path = Path(".")
    process: subprocess.Popen | None = field(default=None, repr=False)
    owned_dir: Path | None = None  # removed by stop()
    ca_file: str = ""  # the PEM of the CA that issued the server's certificate
    ca: CertificateAuthority | None = field(default=None, repr=False)  # to issue more (hostile test servers)

    def client_env(self) -> dict[str, str]:
        """What libpq (and so psqlODBC) needs in the environment to trust this server's certificate."""
        return {"PGSSLROOTCERT": self.ca_file}

    def admin_sql(self, sql: str) -> str:
        """Run SQL as the administrator (psql); returns its output (tab-separated, no headers)."""
        result = subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", ADMIN, "-d", self.database, "-X", "-q",
             "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=60, env=_admin_env(self))
        if result.returncode != 0:
            raise DatabaseUnavailable(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.owned_dir is not None:
            shutil.rmtree(self.owned_dir, ignore_errors=True)

    def __enter__(self) -> "DatabaseHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *command]


def _cluster_dir(workdir: Path) -> tuple[Path, Path | None]:
    if os.geteuid() != 0:
        return workdir / "pgdata", None
    owned = Path(tempfile.mkdtemp(prefix="halo-sandbox-pg-"))
    shutil.chown(owned, "postgres", "postgres")
    return owned / "pgdata", owned


def _admin_env(handle: DatabaseHandle) -> dict[str, str]:
    return {**os.environ, **handle.client_env(), "PGPASSWORD": ADMIN_PASSWORD, "PGSSLMODE": "verify-full"}


def _server_env(home: Path) -> dict[str, str]:
    """The server's own environment: a HOME of its own, so that libpq in the server (dblink) does not
    look for client certificates in root's ~/.postgresql (as the postgres user: "Permission denied")."""
    return {**os.environ, "HOME": str(home)}


def _tls_files(folder: Path, owned: Path | None) -> tuple[CertificateAuthority, Path, Path]:
    """The sandbox CA and the server's certificate and key (PostgreSQL wants the key its own, 0600)."""
    ca = make_ca(folder, "Halo Integrator Sandbox PostgreSQL CA", "postgres-ca.crt")
    cert, key = make_server_cert(ca, folder, "postgres-server", ["localhost"], ["127.0.0.1"])
    if owned is not None:
        for path in (cert, key):
            shutil.chown(path, "postgres", "postgres")
    return ca, cert, key


def _run(command: list[str], what: str, env: dict | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0:
        raise DatabaseUnavailable(f"{what} failed ({result.returncode}): {(result.stderr or result.stdout)[-2000:]}")


def start_postgres(workdir: str | Path, assets: int = 3000, machines: int = 1500, people: int = 400) -> DatabaseHandle:
    """A seeded PostgreSQL on 127.0.0.1; the handle's user is the Integrator's login (halo_reader)."""
    if reason := postgres_available():
        raise DatabaseUnavailable(reason)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    datadir, owned = _cluster_dir(workdir)
    binaries = postgres_bin()
    pwfile = datadir.parent / "admin.pw"
    pwfile.write_text(ADMIN_PASSWORD)
    if owned is not None:
        shutil.chown(pwfile, "postgres", "postgres")
    _run(_as_postgres([str(binaries / "initdb"), "-D", str(datadir), "-U", ADMIN, f"--pwfile={pwfile}",
                       "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]), "initdb")
    (datadir / "pg_hba.conf").write_text(HBA)
    ca, cert, key = _tls_files(datadir.parent, owned)
    port = free_port()
    log_file = datadir.parent / "postgres.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            _as_postgres([str(binaries / "postgres"), "-D", str(datadir), "-p", str(port), "-c",
                          "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off",
                          "-c", "full_page_writes=off", "-c", "synchronous_commit=off", "-c", "ssl=on",
                          "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_server_env(datadir.parent))
    handle = DatabaseHandle("127.0.0.1", port, DATABASE, READER, READER_PASSWORD, datadir=datadir,
                            process=process, owned_dir=owned, ca_file=str(ca.cert_file), ca=ca)
    try:
        wait_for_port("127.0.0.1", port, process, log_file)
        _seed(handle, workdir, assets, machines, people)
    except BaseException:
        handle.stop()
        raise
    return handle


def _seed(handle: DatabaseHandle, workdir: Path, assets: int, machines: int, people: int) -> None:
    handle.assets, handle.machines = lansweeper_assets(assets), sccm_machines(machines)
    handle.people = hr_people(people)
    env = _admin_env(handle)
    base = ["psql", "-h", handle.host, "-p", str(handle.port), "-U", ADMIN, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    quoted_password = READER_PASSWORD.replace("'", "''")
    _run([*base, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE} ENCODING 'UTF8'",
          "-c", f"CREATE ROLE {READER} LOGIN PASSWORD '{quoted_password}'"], "creating the database", env)
    script = workdir / "seed.sql"
    script.write_text(seed_sql(handle.assets, handle.machines, handle.people, READER), encoding="utf-8")
    _run([*base, "-d", DATABASE, "-f", str(script)], "seeding the database", env)


def halo_sql_records(handle: DatabaseHandle, site_id: int = 1, assettype_id: int = 1) -> dict[str, list[dict]]:
    """A Halo sandbox seed ({table: records}) whose Lansweeper, SCCM and two SQL imports reach ``handle``:
    Control with both modules enabled (default queries), an assets and a users SQLImport."""
    connection = {"sqlserver": handle.host, "sql_port": str(handle.port), "sqldatabase": handle.database,
                  "sqlusername": handle.user, "sql_driver": handle.driver}
    control = {"id": 1, "halointegrator_lansweeper": True, "halointegrator_sccm": True,
               "lansweeper_defaultsite": site_id, "lansweeper_default_assettype": assettype_id,
               "sccm_defaultsite": site_id, "lansweeper_new_sql_password": handle.password,
               "sccm_new_sql_password": handle.password}
    for prefix in ("lansweeper", "sccm"):
        control.update({f"{prefix}_sqlserver": handle.host, f"{prefix}_sql_port": str(handle.port),
                        f"{prefix}_sqldatabase": handle.database, f"{prefix}_sqlusername": handle.user,
                        f"{prefix}_sqldriver": handle.driver})
    assets = {"id": 11, "name": "Lansweeper printers", "table": "Device", "integrator_enabled": True, **connection,
              "sisqlpassword": handle.password, "keyfield": "Serialnumber", "defaultsite": site_id,
              "sql": f"SELECT c.Serialnumber, a.AssetName, c.Location, {int(assettype_id)} AS HaloType FROM tblAssets a "
                     "JOIN tblAssetCustom c ON c.AssetID = a.AssetID WHERE a.AssetType = 16",
              # An SQLImport has no default asset type in Halo: a column mapped to the type id stands in.
              "fields": [{"id": 1, "thirdpartyname": "AssetName", "nhdname": "inventory_number"},
                         {"id": 2, "thirdpartyname": "Location", "is_site_field": True},
                         {"id": 9, "thirdpartyname": "HaloType", "nhdname": "assettype_id"}]}
    users = {"id": 12, "name": "HR people", "table": "Users", "integrator_enabled": True, **connection,
             "sisqlpassword": handle.password, "keyfield": "Email", "defaultsite": site_id,
             "entity_match_field": "emailaddress", "sql": "SELECT Email, FullName, Office, Phone FROM hr_people",
             "fields": [{"id": 3, "thirdpartyname": "FullName", "nhdname": "name"},
                        {"id": 4, "thirdpartyname": "Phone", "nhdname": "phonenumber"},
                        {"id": 5, "thirdpartyname": "Office", "is_site_field": True}]}
    return {"control": [control], "sqlimports": [assets, users]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.database", description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=3000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-postgres-"))
    handle = start_postgres(workdir, assets=args.assets)
    print(f"PostgreSQL on {handle.host}:{handle.port}, database {handle.database}, ODBC driver '{handle.driver}'")
    print(f"  login {handle.user}  password {handle.password!r}   Ctrl+C stops it")
    print(f"  TLS only; trust its CA with PGSSLROOTCERT={handle.ca_file}")
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
