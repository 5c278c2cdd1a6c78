"""SQL imports over ODBC: Lansweeper on premises, SCCM / MECM, and Halo's SQL imports (pyodbc).

The parts the core's declarative contract calls (this package posts nothing to Halo and plans nothing):

- where the connections are (``SOURCES``): Lansweeper and SCCM in the one ``GET /Control`` record,
  each SQL import in ``GET /SQLImport?integratorenabled=true`` (then ``/SQLImport/{id}?includedetails=true``);
- settings: ``lansweeper_settings(control, local)``, ``sccm_settings(control, local)``,
  ``sql_import_settings(record, local)`` -> ``ImportSettings`` (settings.py);
- the source reader: ``read_records(settings, lookups)`` -> ``Mapped`` (the ``Wanted`` records, a
  sentence per skipped row, notes, create-only fields, whether creates are allowed);
- identity: ``asset_identity(identifier, asset_types)`` -> ``AssetIdentity`` (its ``field`` and
  ``value_of(device_list_item)``); users by ``ImportSettings.identity_field`` (default emailaddress);
- checks: ``database_checks(settings)`` and ``halo_checks(settings, lookups)`` -> ``Check`` lists;
- ``LOCAL_SETTINGS``: what the connection keeps locally.

The three integrations the core runs (``lansweeper``, ``sccm``, ``sql_import``) are declared in
declarations.py from these parts: connections.py (where they are in Halo), source.py (the read and the
identity rules), prerequisites.py (the tab's checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from halointegrator.engine.endpoint_approval import APPROVED_ENDPOINT_SETTING
from halointegrator.engine.model import LocalSetting
from integrations.sql.approval import Approve
from integrations.sql.checks import database_checks, halo_checks
from integrations.sql.fields import CONTROL_FIELDS
from integrations.sql.lookups import AssetIdentity, HaloLookups, asset_identity
from integrations.sql.mapping import Mapped, map_rows, resolve_columns
from integrations.sql.odbc import odbc_connection, read_rows, resolve_target
from integrations.sql.settings import (
    ASSETS, LANSWEEPER, SCCM, SQL_IMPORT, USERS, ImportSettings, lansweeper_kind, lansweeper_settings,
    sccm_settings, sql_import_settings,
)


@dataclass(frozen=True)
class Source:
    """Where one kind of SQL connection lives in Halo and where its status goes back."""

    name: str
    title: str
    list_path: str
    enabled_field: str
    allowed_fields: tuple[str, ...]
    lastsync_field: str
    lasterror_field: str


WATCH_ROWS = 1000  # how often a long read reports progress and looks for Stop
# The most rows one read may return: each mapped row is kept until the core has planned the run, so a
# one-line query returning millions (a CROSS JOIN) would exhaust memory. Raise it per connection.
DEFAULT_MAX_ROWS = 200_000
MAX_ROWS_SETTING = "max_rows"

SOURCES = (
    Source(LANSWEEPER, "Lansweeper (on premises)", "Control", CONTROL_FIELDS["enabled"][0],
           (CONTROL_FIELDS["allowed"][0],), CONTROL_FIELDS["lastsync"][0], CONTROL_FIELDS["lasterror"][0]),
    Source(SCCM, "SCCM / MECM", "Control", CONTROL_FIELDS["enabled"][1],
           (CONTROL_FIELDS["allowed"][1],), CONTROL_FIELDS["lastsync"][1], CONTROL_FIELDS["lasterror"][1]),
    Source(SQL_IMPORT, "SQL imports", "SQLImport", "integrator_enabled",
           ("halointegrator_allowed_clientids", "halointegrator_allowed_clientids_list"),
           "halointegrator_lastsync", "halointegrator_lasterror"),
)

LOCAL_SETTINGS = (
    LocalSetting("password", "SQL password", "secret",
                 "Used when Halo does not return the import's SQL password to the Integrator."),
    LocalSetting("odbc_driver", "ODBC driver", "text",
                 "An installed ODBC driver to use instead of the one Halo names (e.g. ODBC Driver 18 for SQL Server)."),
    LocalSetting("trust_server_certificate", "Trust the server certificate", "bool",
                 "Off by default: the SQL Server ODBC drivers then refuse a SQL Server whose certificate this "
                 "computer does not trust, and PostgreSQL is reached with SSLmode=verify-full (TLS required, its "
                 "certificate and name checked). On keeps the connection encrypted but unverified (PostgreSQL: "
                 "SSLmode=require, the name not checked; the legacy 'SQL Server' driver: encrypted only where the "
                 "server forces it).", default=False),
    LocalSetting("ca_file", "CA certificate file (PEM, PostgreSQL)", "path",
                 "PostgreSQL only: the CA that issued the server's certificate. Empty: libpq's own place "
                 "(PGSSLROOTCERT, or %APPDATA%\\postgresql\\root.crt). SQL Server uses the Windows certificate store."),
    LocalSetting("default_asset_type", "Default asset type (SCCM, SQL imports)", "text",
                 "A Halo asset type id or name for rows whose type Halo lacks (Halo's SCCM module has no default type)."),
    LocalSetting("deactivate_missing", "Deactivate records the query no longer returns", "bool",
                 "Off by default: Halo has no such setting for SQL imports, so nothing is deactivated unless you "
                 "tick this. Then only records this Integrator wrote are deactivated, under the safety guard.",
                 default=False),
    LocalSetting("allow_mass_deactivation", "Allow mass deactivation", "bool",
                 "Let a run deactivate more assets or users than the safety guard allows.", default=False),
    LocalSetting(MAX_ROWS_SETTING, "Most rows one read may return", "int",
                 "A query that returns more is refused and nothing is imported (the rows are held in memory "
                 "while the run is planned).", default=DEFAULT_MAX_ROWS),
    APPROVED_ENDPOINT_SETTING,
)


def read_records(settings: ImportSettings, lookups: HaloLookups, installed: list[str] | None = None,
                 watch: Callable[[int], None] | None = None, approve: Approve | None = None,
                 max_rows: int = DEFAULT_MAX_ROWS) -> Mapped:
    """Read the import's database completely (guarded, rolled back, in chunks) and map every row.

    Raises SourceError (nothing read counts) when the driver, server, login or query fails, when the
    result lacks a column the settings name, or has more than ``max_rows`` rows; ``approve(target, driver)``
    may refuse the endpoint before anything is sent (approval.py); RunTimedOut when the run's deadline
    comes first. ``watch(rows read so far)`` is called every ``WATCH_ROWS`` rows (progress; it may raise
    Cancelled to stop the read).
    """
    settings = resolve_target(settings)
    connection = odbc_connection(settings.target, installed)
    if approve is not None:
        approve(settings.target, connection.driver)
    identity = asset_identity(settings.identifier, lookups.asset_types) if settings.entity == ASSETS else None
    columns = resolve_columns(settings, identity)
    with read_rows(connection, settings.query, max_rows=max_rows, refusal=too_many_rows(max_rows, settings)) as rows:
        rows.require(settings.key_column, columns.type_column, columns.site_column, columns.user_column,
                     *(column for column, _ in columns.plain), *(column for column, _ in columns.by_field_id))
        return map_rows(_watched(rows, watch) if watch else rows, settings, lookups, identity)


def too_many_rows(max_rows: int, settings: ImportSettings) -> str:
    return (f"The query returned more than {max_rows:,} rows (the connection's local setting {MAX_ROWS_SETTING}), "
            "so it was stopped and nothing was imported: narrow the query in Halo (a WHERE clause, or fewer "
            "joins), or raise the limit: HaloIntegrator CONFIGURE --connection "
            f"{settings.source}:{settings.connection_id} --set "
            f"{MAX_ROWS_SETTING}=ROWS (or the connection's tab, 'Settings kept on this computer').")


def _watched(rows: Iterable[dict], watch: Callable[[int], None]) -> Iterator[dict]:
    for number, row in enumerate(rows, start=1):
        if number % WATCH_ROWS == 0:
            watch(number)
        yield row


__all__ = [
    "ASSETS", "USERS", "LANSWEEPER", "SCCM", "SQL_IMPORT", "SOURCES", "LOCAL_SETTINGS", "Source",
    "AssetIdentity", "HaloLookups", "ImportSettings", "Mapped", "asset_identity", "database_checks",
    "halo_checks", "lansweeper_kind", "lansweeper_settings", "map_rows", "read_records", "sccm_settings",
    "sql_import_settings",
]
