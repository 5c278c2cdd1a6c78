"""A configured world for end-to-end tests: the Halo sandbox, the Graph emulator and, when given, a real
directory, with the Integrator set up through CONFIGURE in a Start-in folder of its own.

Used by the reliability suites (faults, crash consistency, concurrency, secrets). The fixtures built
from it (``halo``, ``graph``, ``graph_world``, ``clean_graph_snapshot``) are in conftest.py.

    with HaloSandbox() as halo, GraphServer(tenant, ...) as graph:
        world = World(halo, tmp_path, graph=graph)
        assert world.auto().returncode == 0
        world.snapshot()        # Halo's users, assets and connections without ids and timestamps
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from sandbox.directory import connection_record
from sandbox.graph_server import GraphServer, generate_tenant
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import HALO_SECRET, INTEGRATOR, configure, integrator, log_text

TENANT_ID = "00000000-0000-4000-8000-000000000001"
APP_ID = "00000000-0000-4000-8000-000000000002"
APP_SECRET = "graph-app-secret-e2e-7Q"
LONDON, NEW_YORK, HEAD_OFFICE, UNMATCHED = 2, 3, 1, 4
ENTRA = {
    "halointegratorenabled": True, "intune_enabled": True, "deactivate_users": True,
    "createunmatchedusers": True, "unmatchedusersite": UNMATCHED, "defaultsite": HEAD_OFFICE, "default_assettype": 1,
    "mappings_site": [{"group_name": "Sales Staff", "siteid": LONDON, "sequenceid": 1},
                      {"group_name": "Engineering Staff", "siteid": NEW_YORK, "sequenceid": 2}],
}
# Fields Halo assigns or stamps: two runs that did the same work differ in these only.
VOLATILE_FIELDS = frozenset({"id", "halointegrator_lastsync", "date"})
SNAPSHOT_TABLES = ("users", "assets", "ldapconnections", "azureadconnections")


def small_tenant(users: int = 60, devices: int = 12, seed: int = 5):
    return generate_tenant(users=users, groups=3, devices=devices, seed=seed)


class World:
    """One Halo (and sources) as the Integrator in ``folder`` sees it; ``config`` lives in that folder."""

    def __init__(self, halo: HaloSandbox, folder: Path, *, graph: GraphServer | None = None, directory: Any = None,
                 ldap_batch: int = 100, settings: tuple[str, ...] = ()) -> None:
        self.halo, self.graph, self.directory, self.folder = halo, graph, directory, Path(folder)
        self.config = self.folder / "HaloIntegrator.config"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log_start = 0
        with halo.lock:
            if graph is not None:
                halo.state["azureadconnections"][1].update(ENTRA)
            if directory is not None:
                record = connection_record(directory, [LONDON, NEW_YORK, HEAD_OFFICE], name="E2E directory",
                                           batch=ldap_batch)
                halo.state["ldapconnections"][1].update(record)
        extra: tuple[str, ...] = ()
        for setting in settings:
            extra += ("--set", setting)
        configure(self.config, halo.url, cwd=self.folder, extra=extra)
        if graph is not None:
            configure(self.config, halo.url, cwd=self.folder, secret=APP_SECRET, extra=(
                "--connection", "azure_ad:1", "--set", f"login_url={graph.url}", "--set", f"graph_url={graph.url}",
                "--secret-env", "app_secret=HALO_TEST_SECRET"))
        if directory is not None:
            configure(self.config, halo.url, cwd=self.folder, extra=(
                "--connection", "active_directory:1", "--set", f"ca_file={directory.ca_file}"))

    # ---- running the Integrator ----------------------------------------------------------------------
    def auto(self, *options: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """``integrator.py AUTO`` to its end; the sandbox's request log and ``run_log()`` start afresh."""
        self.halo.clear_requests()
        self._log_start = len(self.log())
        return integrator("AUTO", "--config", str(self.config), *options, cwd=self.folder, timeout=timeout)

    def spawn_auto(self, *options: str) -> subprocess.Popen:
        """``integrator.py AUTO`` started, not waited for (to kill it, or to race it)."""
        self.halo.clear_requests()
        self._log_start = len(self.log())
        return subprocess.Popen([sys.executable, str(INTEGRATOR), "AUTO", "--config", str(self.config), *options],
                                cwd=self.folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def log(self) -> str:
        """Every log line the Integrator wrote in this Start-in folder."""
        return log_text(self.folder)

    def run_log(self) -> str:
        """The log lines of the latest run."""
        return self.log()[self._log_start:]

    def summary(self) -> dict[str, Any]:
        return json.loads((self.folder / "logs" / "last-run.json").read_text(encoding="utf-8"))

    # ---- what Halo holds -----------------------------------------------------------------------------
    def last_error(self, table: str = "azureadconnections") -> str:
        return str(self.halo.records(table)[0].get("halointegrator_lasterror") or "")

    def last_sync(self, table: str = "azureadconnections") -> str:
        return str(self.halo.records(table)[0].get("halointegrator_lastsync") or "")

    def record_writes(self) -> int:
        """POSTs that changed users or assets (write-backs and error records are not counted)."""
        return sum(1 for entry in self.halo.requests
                   if entry["method"] == "POST" and entry["path"].lower() in ("/api/users", "/api/asset"))

    def inactive_users(self) -> set[str]:
        return {user_key(user) for user in self.halo.records("users") if user.get("inactive")}

    def snapshot(self) -> dict[str, list[str]]:
        return snapshot(self.halo)


@contextlib.contextmanager
def own_logger() -> Iterator[None]:
    """For running the Integrator in this process: whatever it does to the "halointegrator" logger (its
    file handler, propagate off) is undone afterwards, so other tests keep theirs."""
    logger = logging.getLogger("halointegrator")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    try:
        yield
    finally:
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.propagate, logger.level = propagate, level


def user_key(user: dict[str, Any]) -> str:
    return str(user.get("azureoid") or user.get("third_party_guid") or user.get("name"))


def normalised(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in VOLATILE_FIELDS}, sort_keys=True, default=str)


def snapshot(halo: HaloSandbox) -> dict[str, list[str]]:
    """Halo's users, assets and connections as sorted text, ids and timestamps left out."""
    return {table: sorted(normalised(record) for record in halo.records(table)) for table in SNAPSHOT_TABLES}


def duplicates(halo: HaloSandbox) -> list[str]:
    """Identities held by more than one user or asset (there must be none)."""
    seen: dict[str, int] = {}
    for user in halo.records("users"):
        for key in ("azureoid", "third_party_guid"):
            if user.get(key):
                seen[f"user {key}={user[key]}"] = seen.get(f"user {key}={user[key]}", 0) + 1
    for asset in halo.records("assets"):
        if asset.get("intune_id"):
            seen[f"asset {asset['intune_id']}"] = seen.get(f"asset {asset['intune_id']}", 0) + 1
    return sorted(key for key, count in seen.items() if count > 1)


class RequestHooks:
    """Runs a test's action inside the Halo sandbox when the n-th matching request is handled.

    ``before`` actions run after the sandbox's own faults and before the API answers (the request's token
    is checked after them); one that returns a sandbox Reply answers instead, and the request is not
    processed. ``after`` actions run once the API has answered (a write is applied by then).
    Matching is by method and a case-insensitive path prefix, e.g. ("POST", "/api/users").
    """

    def __init__(self, halo: HaloSandbox) -> None:
        self._handle = halo.api.handle
        self._lock = threading.Lock()
        self._hooks: list[dict[str, Any]] = []
        self.done = threading.Event()  # set once every hook's request has been answered
        halo.api.handle = self._hooked  # an instance attribute shadows the method

    def add(self, method: str, path_prefix: str, action: Callable[[], None], *, nth: int = 1,
            when: str = "before") -> "RequestHooks":
        with self._lock:
            self._hooks.append({"method": method.upper(), "prefix": path_prefix.lower(), "nth": nth,
                                "when": when, "action": action, "seen": 0, "ran": False})
            self.done.clear()
        return self

    def _due(self, method: str, path: str) -> list[dict[str, Any]]:
        due = []
        with self._lock:
            for hook in self._hooks:
                if hook["method"] == method and path.lower().startswith(hook["prefix"]) and not hook["ran"]:
                    hook["seen"] += 1
                    if hook["seen"] == hook["nth"]:
                        hook["ran"] = True
                        due.append(hook)
        return due

    def _hooked(self, method: str, path: str, params, headers, body):
        due = self._due(method, path)
        try:
            for hook in (h for h in due if h["when"] == "before"):
                answer = hook["action"]()
                if answer is not None:  # the action answered instead of Halo: the request is not processed
                    return answer
            return self._handle(method, path, params, headers, body)
        finally:
            for hook in (h for h in due if h["when"] == "after"):
                hook["action"]()
            with self._lock:
                for hook in due:
                    hook["finished"] = True
                if all(hook.get("finished") for hook in self._hooks):
                    self.done.set()


def clean_snapshot_of(folder: Path, tenant: Any = None, **world_options: Any) -> dict[str, list[str]]:
    """What one clean AUTO run leaves in a fresh Halo (fresh sandboxes, the same seeded data)."""
    with HaloSandbox() as halo, GraphServer(tenant or small_tenant(), tenant_id=TENANT_ID, client_id=APP_ID,
                                            client_secret=APP_SECRET) as graph:
        world = World(halo, folder, graph=graph, **world_options)
        result = world.auto()
        assert result.returncode == 0, world.log()
        return world.snapshot()


__all__ = ["World", "RequestHooks", "own_logger", "snapshot", "duplicates", "small_tenant", "clean_snapshot_of",
           "HALO_SECRET", "APP_SECRET", "TENANT_ID", "APP_ID"]
