"""A database table of one's own in the shared PostgreSQL, and Halo records that import it.

The session's PostgreSQL (the fixture ``postgres``) is shared, so a test that changes rows
between runs makes a table of its own (``DeviceTable``), changes it with the administrator's login and
drops it at the end; the Integrator reads it as the read-only login, through the SQL import that
``asset_import`` / ``user_import`` describe.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sandbox.database import ADMIN, READER, DatabaseHandle

_NUMBERS = itertools.count(1)
DEVICE_COLUMNS = ("serial", "name", "site", "kind", "ram", "owner")
# Halo's look-up records the imports resolve names against (ids as in the sandbox's default seed, plus more).
SITES = [{"id": 1, "name": "Head Office", "client_id": 1}, {"id": 2, "name": "London", "client_id": 1},
         {"id": 3, "name": "New York", "client_id": 1}, {"id": 5, "name": "Paris", "client_id": 1},
         {"id": 6, "name": "Zürich", "client_id": 1}]
ASSET_TYPES = [{"id": 1, "name": "Laptop", "keyfield_id": 1}, {"id": 3, "name": "Windows", "keyfield_id": 1},
               {"id": 4, "name": "Printer", "keyfield_id": 1}, {"id": 5, "name": "Workstation", "keyfield_id": 1},
               {"id": 6, "name": "Server", "keyfield_id": 1}, {"id": 7, "name": "Linux", "keyfield_id": 1},
               {"id": 8, "name": "Monitor", "keyfield_id": 1}]
USERS = [{"id": 100 + n, "name": f"User {n:03d}", "login": f"user{n:03d}", "emailaddress": f"user{n:03d}@example.com",
          "site_id": 2} for n in range(1, 11)]


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class DeviceTable:
    """A table ``serial, name, site, kind, ram, owner`` that the administrator changes between runs."""

    db: DatabaseHandle
    name: str

    @classmethod
    def create(cls, db: DatabaseHandle, rows: Iterable[Sequence[Any]]) -> "DeviceTable":
        table = cls(db, f"test_devices_{next(_NUMBERS)}")
        db.admin_sql(f"CREATE TABLE {table.name} (serial text, name text, site text, kind text, ram integer, "
                     f"owner text); GRANT SELECT ON {table.name} TO {READER}")
        table.insert(rows)
        return table

    def insert(self, rows: Iterable[Sequence[Any]]) -> None:
        values = ", ".join("(" + ", ".join(literal(value) for value in row) + ")" for row in rows)
        if values:
            self.db.admin_sql(f"INSERT INTO {self.name} ({', '.join(DEVICE_COLUMNS)}) VALUES {values}")

    def sql(self, statement: str) -> str:
        return self.db.admin_sql(statement.replace("{table}", self.name))

    def drop(self) -> None:
        self.db.admin_sql(f"DROP TABLE IF EXISTS {self.name}")


def devices(count: int, start: int = 1) -> list[tuple]:
    """``count`` tidy rows: serial SN-0001 ..., name PC-0001 ..., at London, of kind Windows."""
    return [(f"SN-{n:04d}", f"PC-{n:04d}", "London", "Windows", 8192, None) for n in range(start, start + count)]


def connection_fields(db: DatabaseHandle, *, password: bool = True) -> dict[str, Any]:
    fields = {"sqlserver": db.host, "sql_port": str(db.port), "sqldatabase": db.database, "sqlusername": db.user,
              "sql_driver": db.driver, "sql_timeout": 30}
    if password:
        fields["sisqlpassword"] = db.password
    return fields


def asset_import(db: DatabaseHandle, table: str, record_id: int = 21, **overrides: Any) -> dict[str, Any]:
    """An enabled SQLImport of assets from a DeviceTable: key serial, name, site by name, type by name, RAM
    into asset field 144, the owner matched on users' login."""
    record = {
        "id": record_id, "name": f"Devices {record_id}", "table": "Device", "integrator_enabled": True,
        **connection_fields(db), "keyfield": "serial", "defaultsite": 1,
        "sql": f"SELECT serial, name, site, kind, ram, owner FROM {table}",
        "fields": [{"id": 1, "thirdpartyname": "name", "nhdname": "inventory_number"},
                   {"id": 2, "thirdpartyname": "site", "is_site_field": True},
                   {"id": 3, "thirdpartyname": "kind", "nhdname": "assettype_name"},
                   {"id": 4, "thirdpartyname": "ram", "field_id": 144},
                   {"id": 5, "thirdpartyname": "owner", "nhdname": "user_email"}],
    }
    return {**record, **overrides}


def user_import(db: DatabaseHandle, record_id: int = 22, **overrides: Any) -> dict[str, Any]:
    """An enabled SQLImport of users from the seeded hr_people table, keyed by e-mail."""
    record = {
        "id": record_id, "name": f"People {record_id}", "table": "Users", "integrator_enabled": True,
        **connection_fields(db), "keyfield": "Email", "defaultsite": 1, "entity_match_field": "emailaddress",
        "sql": "SELECT Email, FullName, Office, Phone FROM hr_people",
        "fields": [{"id": 6, "thirdpartyname": "FullName", "nhdname": "name"},
                   {"id": 7, "thirdpartyname": "Phone", "nhdname": "phonenumber"},
                   {"id": 8, "thirdpartyname": "Office", "is_site_field": True}],
    }
    return {**record, **overrides}


__all__ = ["ADMIN", "ASSET_TYPES", "DeviceTable", "SITES", "USERS", "asset_import", "connection_fields", "devices",
           "user_import"]
