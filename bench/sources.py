"""The two sources the benchmark drives: Entra ID through the Graph emulator, AD through a real slapd.

Each builds its directory with N users, puts an enabled connection record into a Halo sandbox, says
which local settings the Integrator needs (CONFIGURE --connection ...), changes a share of its users
between runs, and counts the requests it received. The Graph emulator runs as threads of the
benchmark process; slapd is its own process, reached through the counting relay in ldap_relay.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

SECRETS = {"BENCH_GRAPH_SECRET": "bench-graph-secret"}
ENTRA_TENANT = "00000000-0000-4000-8000-000000000001"  # the seed connection's directoryid ...
ENTRA_APP = "00000000-0000-4000-8000-000000000002"  # ... and applicationid
ENTRA_GROUP_SITES = (("Sales Staff", 1), ("Engineering Staff", 2), ("Support Staff", 3))
FOREIGN_MEMBERS = 5  # devices, service principals and contacts of each kind in every Entra group
LDAP_SITES = (1, 2, 3)
BATCH = 100  # the connection's halointegrator_batch (Halo's default)
LDAP_PAGE_SIZE = 1000  # the LDAPConnection's pagesize (AD's MaxPageSize)


class SourceUnavailable(RuntimeError):
    """The source cannot be built here (a module not landed yet, slapd missing); the message says why."""


def spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items``."""
    if count <= 0 or not items:
        return []
    step = max(1, len(items) // count)
    return items[::step][:count]


class EntraSource:
    """Entra ID: a generated tenant served by sandbox.graph_server; users only (no Intune devices).

    The tenant is shaped like a real one: one mapped group holds a nested group, and each group has a
    few devices, service principals and contacts among its members. The emulator's delta items are
    Graph's (partial items for updates, never-set properties left out)."""

    name, integration = "azure", "azure_ad"

    def __init__(self, users: int, workdir: Path) -> None:
        self.users, self.workdir = users, workdir
        self.graph: Any = None
        self.setup_seconds = 0.0
        self.workarounds: list[str] = []

    def start(self) -> None:
        try:
            from sandbox.graph_server import GraphServer, generate_tenant
        except ImportError as error:
            raise SourceUnavailable(f"the Graph emulator is not available ({error})") from None
        began = time.monotonic()
        tenant = generate_tenant(users=self.users, groups=len(ENTRA_GROUP_SITES), devices=0, seed=7,
                                 nested_groups=1, foreign_members=FOREIGN_MEMBERS)
        self.graph = GraphServer(tenant, tenant_id=ENTRA_TENANT, client_id=ENTRA_APP,
                                 client_secret=SECRETS["BENCH_GRAPH_SECRET"]).start()
        self.setup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.graph is not None:
            self.graph.stop()

    def seed_halo(self, halo: Any) -> None:
        record = halo.get("azureadconnections", 1) or {}
        mappings = [{"id": number, "connectionid": 1, "group_name": group, "siteid": site, "sequenceid": number}
                    for number, (group, site) in enumerate(ENTRA_GROUP_SITES, start=1)]
        halo.add("azureadconnections", {**record, "id": 1, "halointegratorenabled": True, "directoryid": ENTRA_TENANT,
                                        "applicationid": ENTRA_APP, "mappings_site": mappings,
                                        "createunmatchedusers": True, "unmatchedusersite": 4})

    def configure_args(self) -> list[str]:
        return ["--connection", f"{self.integration}:1", "--set", f"login_url={self.graph.url}",
                "--set", f"graph_url={self.graph.url}", "--secret-env", "app_secret=BENCH_GRAPH_SECRET"]

    def naive_spec(self) -> dict[str, Any]:
        return {"source": "azure", "login_url": self.graph.url, "graph_url": self.graph.url, "tenant": ENTRA_TENANT,
                "client_id": ENTRA_APP, "secret_env": "BENCH_GRAPH_SECRET",
                "group_sites": [list(pair) for pair in ENTRA_GROUP_SITES], "unmatched_site": 4}

    def change(self, fraction: float) -> int:
        """Change the job title of ``fraction`` of the users (spread over the tenant)."""
        count = max(1, round(self.users * fraction))
        with self.graph.lock:
            chosen = spread(list(self.graph.tenant.users), count)
        for user_id in chosen:
            user = self.graph.tenant.users[user_id]
            self.graph.update_user(user_id, jobTitle=f"{user.get('jobTitle') or ''} (changed)".strip())
        return len(chosen)

    def requests(self) -> dict[str, int]:
        with self.graph.lock:
            return dict(self.graph.counts)

    def reset_counts(self) -> None:
        with self.graph.lock:
            self.graph.counts.clear()
            self.graph.request_log.clear()


class LdapSource:
    """Active Directory: sandbox.directory's slapd (loaded offline with slapadd), read over LDAPS."""

    name, integration = "ldap", "active_directory"

    def __init__(self, users: int, workdir: Path) -> None:
        self.users, self.workdir = users, workdir
        self.handle: Any = None
        self.relay: Any = None
        self.setup_seconds = 0.0
        self.workarounds: list[str] = []

    def start(self) -> None:
        try:
            from sandbox.directory import slapd_available, start_slapd
        except ImportError as error:
            raise SourceUnavailable(f"sandbox.directory is not available ({error})") from None
        if reason := slapd_available():
            raise SourceUnavailable(reason)
        from bench.ldap_relay import LdapRelay

        began = time.monotonic()
        try:
            self.handle = start_slapd(self.workdir / "slapd", users=self.users)
        except Exception as error:  # DirectoryUnavailable and friends: report, do not crash the benchmark
            raise SourceUnavailable(f"slapd with {self.users} users did not start: {str(error)[:300]}") from None
        directory = self.workdir / "slapd"
        self.relay = LdapRelay(self.handle.port, directory / "server.crt", directory / "server.key").start()
        self.setup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.handle is not None:
            self.handle.stop()

    def seed_halo(self, halo: Any) -> None:
        from sandbox.directory import connection_record

        record = connection_record(self.handle, LDAP_SITES, use_ssl=True, page_size=LDAP_PAGE_SIZE, batch=BATCH)
        record["port"] = str(self.relay.port)  # through the counting relay (LDAPS, the same certificate)
        halo.add("ldapconnections", record)

    def configure_args(self) -> list[str]:
        return ["--connection", f"{self.integration}:1", "--set", f"ca_file={self.handle.ca_file}"]

    def naive_spec(self) -> dict[str, Any]:
        return {"source": "ldap", "host": self.handle.host, "port": self.relay.port, "ca_file": self.handle.ca_file,
                "bind_dn": self.handle.bind_dn, "password_env": "BENCH_LDAP_PASSWORD", "page_size": LDAP_PAGE_SIZE,
                "ou_sites": [[dn, site] for dn, site in zip(self.handle.ous, LDAP_SITES)]}

    def secrets(self) -> dict[str, str]:
        return {"BENCH_LDAP_PASSWORD": self.handle.password}

    def change(self, fraction: float) -> int:
        """Change the title of ``fraction`` of the people (spread over the OUs), as an administrator."""
        import ldap3

        chosen = spread(list(self.handle.users), max(1, round(self.users * fraction)))
        with self.handle.admin_connection() as conn:
            for user in chosen:
                conn.modify(user.dn, {"title": [(ldap3.MODIFY_REPLACE, [f"{user.title} (changed)"])]})
        return len(chosen)

    def requests(self) -> dict[str, int]:
        return self.relay.snapshot()

    def reset_counts(self) -> None:
        self.relay.reset()


class SqlSource:
    """Halo's SQL imports: one assets import over a table of N tidy rows in sandbox.database's PostgreSQL,
    read through unixODBC and the PostgreSQL ODBC driver as the read-only login (its password a local
    secret, as when Halo does not return it). No naive baseline: it is one Halo request per record, as
    for the other sources, and says nothing more about this one."""

    name, integration = "sql", "sql_import"
    naive = False
    TABLE = "bench_devices"
    IMPORT_ID = 1

    def __init__(self, users: int, workdir: Path) -> None:
        self.users, self.workdir = users, workdir
        self.handle: Any = None
        self.setup_seconds = 0.0
        self.workarounds: list[str] = []
        self._transactions = 0

    def start(self) -> None:
        try:
            from sandbox.database import postgres_available, start_postgres
        except ImportError as error:
            raise SourceUnavailable(f"sandbox.database is not available ({error})") from None
        if reason := postgres_available():
            raise SourceUnavailable(reason)
        began = time.monotonic()
        try:
            self.handle = start_postgres(self.workdir / "postgres", assets=0, machines=0, people=0)
        except Exception as error:  # DatabaseUnavailable and friends: report, do not crash the benchmark
            raise SourceUnavailable(f"PostgreSQL did not start: {str(error)[:300]}") from None
        self.handle.admin_sql(
            f"CREATE TABLE {self.TABLE} AS SELECT n, 'BN' || lpad(n::text, 8, '0') AS serial, "
            f"'PC-' || lpad(n::text, 6, '0') AS name, (ARRAY['Head Office', 'London', 'New York'])[n % 3 + 1] AS site, "
            f"1 AS typeid, (n % 4 + 1) * 4096 AS ram, timestamp '2026-01-01' + n * interval '1 minute' AS lastseen "
            f"FROM generate_series(1, {int(self.users)}) AS n; GRANT SELECT ON {self.TABLE} TO {self.handle.user}")
        self.setup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()

    def seed_halo(self, halo: Any) -> None:
        db = self.handle
        halo.state["sqlimports"].clear()
        halo.add("sqlimports", {
            "id": self.IMPORT_ID, "name": "Bench devices", "table": "Device", "integrator_enabled": True,
            "sqlserver": db.host, "sql_port": str(db.port), "sqldatabase": db.database, "sqlusername": db.user,
            "sql_driver": db.driver, "keyfield": "serial", "defaultsite": 1,
            "sql": f"SELECT serial, name, site, typeid, ram, lastseen FROM {self.TABLE}",
            "fields": [{"id": 1, "thirdpartyname": "name", "nhdname": "inventory_number"},
                       {"id": 2, "thirdpartyname": "site", "is_site_field": True},
                       {"id": 3, "thirdpartyname": "typeid", "nhdname": "assettype_id"},
                       {"id": 4, "thirdpartyname": "ram", "field_id": 144},
                       {"id": 5, "thirdpartyname": "lastseen", "nhdname": "warranty_start"}]})

    def configure_args(self) -> list[str]:
        # The sandbox PostgreSQL speaks TLS only; the Integrator verifies it against the sandbox's CA.
        return ["--connection", f"{self.integration}:{self.IMPORT_ID}", "--secret-env", "password=BENCH_SQL_PASSWORD",
                "--set", f"ca_file={self.handle.ca_file}"]

    def secrets(self) -> dict[str, str]:
        return {"BENCH_SQL_PASSWORD": self.handle.password}

    def naive_spec(self) -> dict[str, Any]:
        raise SourceUnavailable("the naive baseline reads Entra ID and AD only")

    def change(self, fraction: float) -> int:
        """Rename ``fraction`` of the rows (spread over the table), as the administrator."""
        count = max(1, round(self.users * fraction))
        step = max(1, self.users // count)
        self.handle.admin_sql(f"UPDATE {self.TABLE} SET name = name || ' (changed)' WHERE n % {step} = 0 "
                              f"AND n <= {step * count}")
        return count

    def _reader_transactions(self) -> int:
        """Transactions in the database so far (the administrator's own count query excluded below)."""
        return int(self.handle.admin_sql(
            f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{self.handle.database}'"))

    def requests(self) -> dict[str, int]:
        # pg_stat_database is updated when a session ends (the run's have), plus our own count query.
        return {"transactions": max(0, self._reader_transactions() - self._transactions - 1)}

    def reset_counts(self) -> None:
        self._transactions = self._reader_transactions()

    @staticmethod
    def read_details(workdir: Path) -> dict[str, float]:
        """Rows, seconds and rows per second of the run's database read, from its log line."""
        import re

        pattern = re.compile(r"Read ([\d,]+) row\(s\) from the database in ([\d.]+) s(?:, ([\d,]+) rows/s)?")
        found = None
        for log in sorted(workdir.glob("logs/HaloIntegrator-*.log")):
            for match in pattern.finditer(log.read_text(encoding="utf-8", errors="replace")):
                found = match
        if found is None:
            return {}
        rows, seconds = int(found.group(1).replace(",", "")), float(found.group(2))
        rate = int(found.group(3).replace(",", "")) if found.group(3) else 0
        return {"rows": rows, "seconds": seconds, "rows_per_s": rate}


SOURCES = {"azure": EntraSource, "ldap": LdapSource, "sql": SqlSource}


def make_source(name: str, users: int, workdir: Path):
    return SOURCES[name](users, workdir)


def source_secrets(source: Any) -> dict[str, str]:
    return {**SECRETS, **(source.secrets() if hasattr(source, "secrets") else {})}
