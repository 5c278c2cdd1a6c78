"""The prerequisites of an SQL import, as the tab and CHECK show them: ticks and crosses with reasons.

Each ``check_*`` returns the tick's detail or raises ``SourceError`` with the cross's reason (no writes
anywhere; the query runs in a rolled-back transaction and only its first row is read).
``database_checks(settings)`` runs them in order and marks the steps after a failure "not run";
``halo_checks(settings, lookups)`` says whether the sites and types the settings name exist in Halo.
"""

from __future__ import annotations

import socket
from typing import Callable

from halointegrator.engine.model import Check
from halointegrator.errors import IntegratorError, SourceError
from integrations.sql.connstr import DEFAULT_SQL_SERVER_PORT, DRIVER_18, LEGACY_DRIVER, POSTGRESQL, \
    OdbcConnection, choose_driver, connection_for, driver_family
from integrations.sql.approval import Approve
from integrations.sql.lookups import HaloLookups
from integrations.sql.mapping import resolve_columns
from integrations.sql.odbc import connect, installed_drivers, read_rows, resolve_target
from integrations.sql.settings import ImportSettings

LABELS = ("Connection settings", "ODBC driver installed", "Database server answers", "Login accepted",
          "Query runs and returns the key column")
HALO_LABELS = ("Default site exists in Halo", "Default asset type exists in Halo", "Mapped sites exist in Halo",
               "Mapped asset types exist in Halo")
PROBE_SECONDS = 5.0


def check_driver(settings: ImportSettings, installed: list[str] | None = None) -> str:
    installed = installed_drivers() if installed is None else installed
    driver = choose_driver(settings.target.driver, installed)
    advice = {LEGACY_DRIVER.casefold(): "; the legacy driver has old TLS and, with 'Trust the server certificate' "
                                        "ticked, encrypts only where the SQL Server forces it: install "
                                        f"'{DRIVER_18}'"}.get(driver.casefold(), "")
    return f"'{driver}'{advice}"


def check_server_answers(settings: ImportSettings, timeout: float = PROBE_SECONDS) -> str:
    """The server's TCP port accepts a connection (a named instance without a port: SQL Browser decides)."""
    target = settings.target
    host, _, instance = target.server.partition("\\")
    family = driver_family(target.driver) or "sqlserver"
    port = target.port or (5432 if family == POSTGRESQL else (None if instance else DEFAULT_SQL_SERVER_PORT))
    if port is None:
        return f"named instance {instance}: its port comes from SQL Browser, checked by the login"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except socket.gaierror:
        raise SourceError(f"The database server's name '{host}' does not resolve on this computer: check it in Halo.") from None
    except OSError as error:
        raise SourceError(f"The database server {host} does not answer on port {port} ({error.strerror or error}): "
                          "check the server and port in Halo, that SQL Server accepts TCP connections, and "
                          "that no firewall blocks this computer.") from None
    return f"{host} port {port}"


def check_login(connection: OdbcConnection, settings: ImportSettings | None = None,
                approve: Approve | None = None) -> str:
    if approve is not None and settings is not None:
        approve(settings.target, connection.driver)
    connect(connection).close()
    return connection.description


def check_query(connection: OdbcConnection, settings: ImportSettings) -> str:
    """The query passes the guard, runs, and returns the key column (and the other named columns)."""
    with read_rows(connection, settings.query, chunk_rows=1) as rows:
        rows.require(settings.key_column, settings.type_column, settings.site_column, settings.user_column)
        first = next(iter(rows), None)
        columns = ", ".join(rows.columns[:12]) + (", ..." if len(rows.columns) > 12 else "")
    return f"columns {columns}; {'a first row read' if first else 'no rows returned'}"


def _not_run(label: str, reason: str) -> Check:
    return Check(label, False, f"not run: {reason}")


def _step(label: str, action: Callable[[], str]) -> Check:
    try:
        return Check(label, True, action() or "")
    except IntegratorError as error:
        return Check(label, False, str(error))


def database_checks(settings: ImportSettings, installed: list[str] | None = None,
                    approve: Approve | None = None) -> list[Check]:
    """The database prerequisites in order; a failed step marks the ones after it "not run". ``approve``
    (approval.py) may refuse the endpoint before the login step sends anything."""
    try:
        settings = resolve_target(settings)
        if not settings.key_column:
            raise SourceError("Halo names no key column (idfield / keyfield) for this import: set it in Halo.")
    except SourceError as error:
        return [Check(LABELS[0], False, str(error))] + [_not_run(label, "the settings are incomplete") for label in LABELS[1:]]
    checks = [Check(LABELS[0], True, settings.target.describe())]
    holder: dict[str, OdbcConnection] = {}

    def driver() -> str:
        detail = check_driver(settings, installed)
        holder["connection"] = connection_for(settings.target, choose_driver(settings.target.driver,
                                                                            installed or installed_drivers()))
        return detail

    steps = ((LABELS[1], driver), (LABELS[2], lambda: check_server_answers(settings)),
             (LABELS[3], lambda: check_login(holder["connection"], settings, approve)),
             (LABELS[4], lambda: check_query(holder["connection"], settings)))
    for index, (label, action) in enumerate(steps):
        checks.append(_step(label, action))
        if not checks[-1].ok:
            return checks + [_not_run(later, f"{label.lower()} failed") for later, _ in steps[index + 1:]]
    return checks


def halo_checks(settings: ImportSettings, lookups: HaloLookups) -> list[Check]:
    """Whether the sites and asset types the settings name by id exist in Halo (the lists already read)."""
    checks = []
    if settings.default_site:
        ok = settings.default_site in lookups.site_ids
        checks.append(Check(HALO_LABELS[0], ok, f"site {settings.default_site}" if ok else
                            f"site {settings.default_site} does not exist in Halo: choose another default site"))
    if settings.entity == "asset":
        checks.append(_default_type_check(settings, lookups))
    missing_sites = sorted({rule.site_id for rule in settings.site_rules} - lookups.site_ids)
    if settings.site_rules:
        checks.append(Check(HALO_LABELS[2], not missing_sites, "" if not missing_sites else
                            f"site rules name sites Halo does not have: {', '.join(map(str, missing_sites))}"))
    missing_types = sorted({rule.type_id for rule in settings.type_rules} - lookups.type_ids)
    if settings.type_rules:
        checks.append(Check(HALO_LABELS[3], not missing_types, "" if not missing_types else
                            f"type mappings name asset types Halo does not have: {', '.join(map(str, missing_types))}"))
    return checks


def _default_type_check(settings: ImportSettings, lookups: HaloLookups) -> Check:
    """A default asset type must exist when it is named; without one, rows need a type column (else every
    row is skipped), and rows whose type Halo lacks are skipped."""
    default = settings.default_type or (lookups.type_named(settings.default_type_name)[0]
                                        if settings.default_type_name else None)
    if default and default in lookups.type_ids:
        return Check(HALO_LABELS[1], True, f"asset type {default}")
    named = settings.default_type or settings.default_type_name
    if named:
        return Check(HALO_LABELS[1], False, f"the default asset type {named} does not exist in Halo: choose another")
    if resolve_columns(settings).type_column:
        return Check(HALO_LABELS[1], True, "none: rows whose type Halo lacks are skipped")
    return Check(HALO_LABELS[1], False, "no default asset type and no type column: every row would be skipped; set "
                 "the connection's local setting default_asset_type, or map a column to the asset type")
