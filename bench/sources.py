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


SOURCES = {"azure": EntraSource, "ldap": LdapSource}


def make_source(name: str, users: int, workdir: Path):
    return SOURCES[name](users, workdir)


def source_secrets(source: Any) -> dict[str, str]:
    return {**SECRETS, **(source.secrets() if hasattr(source, "secrets") else {})}
