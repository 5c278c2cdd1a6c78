"""A configured world for the SQL end-to-end tests: the Halo sandbox, the PostgreSQL sandbox, and the
Integrator set up through CONFIGURE in a Start-in folder of its own (tests/e2e_world.World).

    world = SqlWorld(halo, tmp_path, postgres, lansweeper=True, imports=[asset_import(postgres, table.name)])
    world.auto()                      # integrator.py AUTO
    world.assets()                    # Halo's assets by key_field

Halo gets the sites, asset types and users the seeded database names (tests/sql_helpers.py: ids as there),
and the Control record's Lansweeper and SCCM modules reach the database (sandbox.database.halo_sql_records)
when enabled. ``SilentServer`` is a database server that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any, Iterable

from sandbox.database import DatabaseHandle, halo_sql_records
from sandbox.halo_server import HaloSandbox
from tests.cli_helpers import configure
from tests.e2e_world import World
from tests.sql_helpers import ASSET_TYPES, SITES, USERS

HEAD_OFFICE, LAPTOP = 1, 1


def seed_lookups(halo: HaloSandbox) -> None:
    """Halo's sites, asset types and users as the seeded database names them (ids as in sql_helpers)."""
    with halo.lock:
        for table, records in (("sites", SITES), ("assettypes", ASSET_TYPES), ("users", USERS)):
            for record in records:
                halo.state[table].pop(record["id"], None)
                halo.add(table, {"inactive": False, **record} if table != "assettypes" else record)


class SqlWorld(World):
    """Halo and the database as the Integrator in ``folder`` sees them (see the module docstring)."""

    def __init__(self, halo: HaloSandbox, folder: Path, db: DatabaseHandle, *, lansweeper: bool = False,
                 sccm: bool = False, imports: Iterable[dict[str, Any]] = ()) -> None:
        self.db = db
        seed_lookups(halo)
        with halo.lock:
            control = halo_sql_records(db, site_id=HEAD_OFFICE, assettype_id=LAPTOP)["control"][0]
            control.update(halointegrator_lansweeper=lansweeper, halointegrator_sccm=sccm)
            halo.state["control"][1].update(control)
            halo.state["sqlimports"].clear()
            for record in imports:
                halo.add("sqlimports", record)
        super().__init__(halo, folder)

    def set_local(self, connection: str, *settings: str, secrets: dict[str, str] | None = None) -> None:
        """CONFIGURE --connection ``connection`` --set each of ``settings`` (and secrets through the environment)."""
        extra: tuple[str, ...] = ("--connection", connection)
        for setting in settings:
            extra += ("--set", setting)
        for name in secrets or {}:
            extra += ("--secret-env", f"{name}=HALO_TEST_SECRET")
        secret = next(iter((secrets or {}).values()), "sandbox-secret")
        configure(self.config, self.halo.url, cwd=self.folder, secret=secret, extra=extra)

    def assets(self) -> dict[str, dict]:
        return {str(asset.get("key_field")): asset for asset in self.halo.records("assets")}

    def control(self) -> dict:
        return self.halo.records("control")[0]

    def sql_import(self, record_id: int) -> dict:
        return self.halo.get("sqlimports", record_id) or {}

    def state_file(self) -> Path:
        return self.config.with_name("HaloIntegrator.state")


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a hung database server)."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def __enter__(self) -> "SilentServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()
