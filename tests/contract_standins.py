"""The stand-in source of every registered integration, for the contract suite (tests/test_contract.py).

A new integration is covered by the contract by adding its ``StandIn`` to ``STANDINS`` under its registry
name: how to stand its source up (the real server or emulator its own tests use), its connection record
in the Halo sandbox, its local settings, how to make a read fail part way (as a dropped connection
would), and which Halo records are its own. The contract suite runs every case against each of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ldap3.core.exceptions import LDAPSessionTerminatedByServerError

from integrations.active_directory import directory
from integrations.sql import odbc
from sandbox.database import halo_sql_records
from sandbox.directory import connection_record
from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox
from tests.e2e_sql import HEAD_OFFICE, LAPTOP, seed_lookups
from tests.e2e_world import APP_ID, APP_SECRET, ENTRA, TENANT_ID
from tests.powershell_standin import install, script_text

CLIENT_ID = "halo-integrator"  # the Halo sandbox's Integrator client id
LONDON, NEW_YORK = 2, 3  # sites of the sandbox's default seed
AD_FILTER = "(mobile=+44 7700 9000*)"  # 99 of slapd's 1,200 people, a third in each of its three OUs
SQL_CONNECTION = {"lansweeper": 1, "sccm": 1}  # both live on Halo's one Control record


class StandIn:
    """One integration's source for the contract: ``setup`` stands it up and enables its connections in
    the Halo sandbox; ``break_read`` makes the next read fail part way through (after some of the
    source was read), as a dropped connection does.

    ``EARLY`` is the input a ``check`` is given to fail at its first step without any I/O:
    (FakeHalo records, the connection record, local settings). A job integration's stand-in queues two
    entries and says how many ran (``runs``) and how many Halo holds as answered (``answered``).
    """

    fixtures: ClassVar[tuple[str, ...]] = ()  # the pytest fixtures it stands on
    marks: ClassVar[tuple[Any, ...]] = ()
    EARLY: ClassVar[tuple[dict, dict, dict]] = ({}, {"id": 1}, {})

    def __init__(self, name: str, halo: HaloSandbox, folder: Path, monkeypatch: pytest.MonkeyPatch,
                 fixtures: dict[str, Any]) -> None:
        self.name, self.halo, self.folder, self.monkeypatch, self.fixtures_ = name, halo, folder, monkeypatch, fixtures
        self.connection_ids: list[int] = [1]
        self.local: dict[str, Any] = {}
        self.shared: dict[str, Any] = {}  # the integration's settings kept once for all its connections
        self.services: dict[str, Any] = {}

    def setup(self) -> None:
        raise NotImplementedError

    def break_read(self) -> None:
        raise NotImplementedError

    def identity(self, table: str, record: dict[str, Any]) -> str | None:
        """The source identity a Halo user or asset carries when this integration wrote it, else None."""
        raise NotImplementedError

    def runs(self) -> int:
        """A job integration's stand-in: how many jobs ran."""
        raise NotImplementedError

    def answered(self) -> int:
        """A job integration's stand-in: how many queued entries Halo holds as answered."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---- Active Directory: the session's slapd -------------------------------------------------------------

class DirectoryStandIn(StandIn):
    """slapd (1,200 people): three OU mappings narrowed to 99 people, read ten to a page."""

    fixtures = ("slapd",)
    marks = (pytest.mark.slapd,)
    EARLY = ({}, {"id": 1, "name": "Corp AD", "halointegratorenabled": True}, {})

    def setup(self) -> None:
        slapd = self.fixtures_["slapd"]
        record = connection_record(slapd, [LONDON, NEW_YORK, HEAD_OFFICE], name="Contract directory", page_size=10)
        for mapping in record["ldap_strings"]:
            mapping["filter"] = AD_FILTER
        with self.halo.lock:
            self.halo.state["ldapconnections"][1].update(record)
        self.local = {"ca_file": slapd.ca_file, "allow_mass_deactivation": True}

    def break_read(self) -> None:
        """The server ends the session at the sixth page: the first OU was read (four pages), the second one
        page far."""
        real_open = directory.open_bound

        def open_bound(settings, deadline=None):
            conn = real_open(settings, deadline)
            real_search, calls = conn.search, []

            def search(*args, **kwargs):
                calls.append(args[0])
                if len(calls) == 6:
                    raise LDAPSessionTerminatedByServerError("session terminated by server")
                return real_search(*args, **kwargs)

            conn.search = search
            return conn

        self.monkeypatch.setattr(directory, "open_bound", open_bound)

    def identity(self, table: str, record: dict[str, Any]) -> str | None:
        return record.get("third_party_guid") if table == "users" else None


# ---- Entra ID: the Graph emulator ----------------------------------------------------------------------

class EntraStandIn(StandIn):
    """The Graph emulator with 40 users in three groups (two mapped to sites) and 10 Intune devices."""

    EARLY = ({"Site": [{"id": 2, "name": "London"}]},
             {"id": 1, "name": "Entra", "halointegratorenabled": True,
              "mappings_site": [{"group_name": "Sales Staff", "siteid": 2, "sequenceid": 1}]}, {})

    def setup(self) -> None:
        tenant = generate_tenant(users=40, groups=3, devices=10, seed=7)
        self.graph = GraphServer(tenant, tenant_id=TENANT_ID, client_id=APP_ID, client_secret=APP_SECRET).start()
        with self.halo.lock:
            self.halo.state["azureadconnections"][1].update(ENTRA)
        self.local = {"app_secret": APP_SECRET, "login_url": self.graph.url, "graph_url": self.graph.url,
                      "allow_mass_deactivation": True}
        self.services = {"sleep": lambda seconds: None}  # Graph's retries wait for nobody here

    def break_read(self) -> None:
        """Users and memberships read; the device listing fails on every attempt (HTTP 500)."""
        self.graph.fail_page("devices", 1, status=500)

    def identity(self, table: str, record: dict[str, Any]) -> str | None:
        return record.get("azureoid") if table == "users" else record.get("intune_id")

    def close(self) -> None:
        self.graph.stop()


# ---- the SQL integrations: the PostgreSQL sandbox ------------------------------------------------------

class DroppingCursor:
    """A cursor whose connection drops after the first 50 rows, as the driver reports it (SQLSTATE 08S01)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor, self._fetched = cursor, False

    def fetchmany(self, size: int) -> list:
        if self._fetched:
            import pyodbc
            raise pyodbc.OperationalError("08S01", "[08S01] server closed the connection unexpectedly")
        self._fetched = True
        return self._cursor.fetchmany(min(size, 50))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class SqlStandIn(StandIn):
    """PostgreSQL seeded as Lansweeper, SCCM and an HR database (shared: read only), reached over unixODBC.

    Lansweeper and SCCM run their default queries from Halo's Control record; the SQL imports are the
    sandbox's assets import (Lansweeper's printers) and users import (HR people).
    """

    fixtures = ("postgres",)
    marks = (pytest.mark.postgres,)
    EARLY = ({}, {"id": 1, "name": "Empty import", "integrator_enabled": True}, {})

    def setup(self) -> None:
        seeded = halo_sql_records(self.fixtures_["postgres"], site_id=HEAD_OFFICE, assettype_id=LAPTOP)
        seed_lookups(self.halo)
        control = seeded["control"][0]
        control.update(halointegrator_lansweeper=self.name == "lansweeper", halointegrator_sccm=self.name == "sccm")
        with self.halo.lock:
            self.halo.state["control"][1].update(control)
            self.halo.state["sqlimports"].clear()
            for record in seeded["sqlimports"] if self.name == "sql_import" else ():
                self.halo.add("sqlimports", record)
        self.connection_ids = [record["id"] for record in seeded["sqlimports"]] if self.name == "sql_import" else [1]
        # deactivate_missing and allow_mass_deactivation: a short read taken as the truth would show
        self.local = {"deactivate_missing": True, "allow_mass_deactivation": True}

    def break_read(self) -> None:
        real_enter = odbc.RowStream.__enter__

        def enter(stream):
            opened = real_enter(stream)
            stream._cursor = DroppingCursor(stream._cursor)
            return opened

        self.monkeypatch.setattr(odbc.RowStream, "__enter__", enter)

    def identity(self, table: str, record: dict[str, Any]) -> str | None:
        if table == "users":
            return record.get("emailaddress") if str(record.get("emailaddress", "")).startswith("person") else None
        return record.get("key_field")


# ---- PowerShell scripts: the stand-in interpreter ------------------------------------------------------

class PowerShellStandIn(StandIn):
    """The stand-in powershell / pwsh on PATH (it records each run); script 3 with two queued runs."""

    marks = (pytest.mark.skipif(os.name == "nt", reason="the stand-in interpreter is a POSIX script"),)
    EARLY = ({"PowerShellScript": [{"id": 3, "name": "Missing", "location": "/nowhere/task.ps1"}]},
             {"id": 3, "name": "Missing", "location": "/nowhere/task.ps1"}, {"powershell_path": "/nowhere/pwsh"})
    SCRIPT_ID = 3

    def setup(self) -> None:
        self.monkeypatch.setenv("PATH", str(install(self.folder / "bin")))
        self.monkeypatch.setenv("PS_STANDIN_RECORD", str(self.folder / "calls.jsonl"))
        script = self.folder / "task.ps1"
        script.write_text(script_text(stdout="done\n"), encoding="utf-8")
        self.shared = {"script_folder": str(self.folder)}  # the one folder scripts run from
        self.halo.add("powershellscripts", {"id": self.SCRIPT_ID, "name": "Contract task", "location": str(script),
                                            "fieldmappings_powershell": [],
                                            "halointegrator_allowedclientids": CLIENT_ID})
        for entry_id in (1, 2):
            self.halo.add("powershellqueue", {"id": entry_id, "pssid": self.SCRIPT_ID, "faultid": 1000 + entry_id,
                                              "processed": False, "requeued": False, "execution_parameters": {}})
        self.connection_ids = [self.SCRIPT_ID]

    def runs(self) -> int:
        """How many times the stand-in interpreter ran a script (``-File``; version probes aside)."""
        record = self.folder / "calls.jsonl"
        lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
        return sum(1 for line in lines if '"bound"' in line)

    def answered(self) -> int:
        """How many of the queued runs Halo now holds as processed."""
        return sum(1 for entry in self.halo.records("powershellqueue") if entry.get("processed"))

    def identity(self, table: str, record: dict[str, Any]) -> str | None:
        return None


STANDINS: dict[str, type[StandIn]] = {
    "active_directory": DirectoryStandIn,
    "azure_ad": EntraStandIn,
    "lansweeper": SqlStandIn,
    "sccm": SqlStandIn,
    "sql_import": SqlStandIn,
    "powershell": PowerShellStandIn,
}


def missing_standin(name: str) -> str:
    return (f"Integration '{name}' is in integrations/__init__.py's REGISTRY but has no stand-in source for the "
            f"contract suite: add a StandIn for it to STANDINS in tests/contract_standins.py (how to stand its source "
            f"up, its connection record in the Halo sandbox, and how to make its read fail part way).")
