"""Halo's records -> ``ImportSettings``: Lansweeper and SCCM from ``GET /Control``, each ``SQLImport``.

``lansweeper_settings(control, local)``, ``sccm_settings(control, local)`` and
``sql_import_settings(record, local)`` read every field by its name in Halo's OpenAPI document (see
fields.py) into one shape: where the database is (``target``), the query, and how rows become Halo
records. Settings Halo does not hold (a password it does not return, a driver override, trusting the
SQL Server's certificate) come from ``local``, the connection's local settings.

What the document does not say is decided here, once, and said in the docstrings: which SQL imports are
supported (assets and users; not sites, clients or custom tables) and how the Lansweeper kinds differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from halointegrator.errors import SourceError
from halointegrator.values import as_id, flag, rows_of
from integrations.sql.connstr import DEFAULT_QUERY_TIMEOUT, DbTarget, parse_server
from integrations.sql.fields import (
    CONTROL_FIELDS, CONTROL_FLAGS, GLOBAL_ASSET_IDENTIFIER, LANSWEEPER_CLOUD_FIELDS, LANSWEEPER_KIND_FIELDS,
    text_of,
)
from integrations.sql.queries import DEFAULT_KEYS, DEFAULT_NAME_COLUMN, DEFAULT_QUERIES

LANSWEEPER, SCCM, SQL_IMPORT = "lansweeper", "sccm", "sql_import"
ASSETS, USERS = "asset", "user"
MAX_QUERY_TIMEOUT = 3600
_TABLE_WORDS = {  # SQLImport.table (a name; the document lists no values) -> what is imported
    "asset": ASSETS, "assets": ASSETS, "device": ASSETS, "devices": ASSETS,
    "user": USERS, "users": USERS,
}
_REFUSED_TABLES = {
    "site": "sites", "sites": "sites", "client": "clients", "clients": "clients", "area": "clients",
    "customer": "clients", "customers": "clients", "supplier": "suppliers", "suppliers": "suppliers",
}


@dataclass(frozen=True)
class FieldMapping:
    """One SQLImportField: a query column (thirdpartyname) into a Halo field (nhdname) or field id."""

    column: str
    halo_field: str = ""
    field_id: int | None = None
    is_site_field: bool = False


@dataclass(frozen=True)
class SiteRule:
    """An IntegrationSiteMapping: rows whose site column (or criteria columns) match go to ``site_id``."""

    site_id: int
    names: tuple[str, ...] = ()  # third_party_name / third_party_id, compared with the site column
    criteria: tuple[tuple[str, str], ...] = ()  # (column, value): every one must equal


@dataclass(frozen=True)
class TypeRule:
    """An XTypeMapping: a type column value (thirdpartyname / value) -> Halo asset type id."""

    type_id: int
    names: tuple[str, ...]


@dataclass(frozen=True)
class ImportSettings:
    source: str  # LANSWEEPER, SCCM, SQL_IMPORT
    connection_id: int
    name: str
    entity: str  # ASSETS or USERS
    enabled: bool
    allowed_client_ids: frozenset[str]
    target: DbTarget  # server "" when a UDL file describes the connection (see ``udl_path``)
    udl_path: str
    query: str
    key_column: str
    type_column: str = ""
    site_column: str = ""
    user_column: str = ""
    user_match_field: str = ""  # a Halo Users field name (as written in Halo; see mapping)
    identifier: int | None = None  # the asset import identifier (a Halo asset field id)
    identity_field: str = ""  # users: the Halo field the key column matches (entity_match_field)
    default_site: int | None = None
    default_type: int | None = None
    default_type_name: str = ""  # local setting default_asset_type when it is a name
    update_only: bool = False
    dont_update_site: bool = False
    dont_update_type: bool = False
    dont_remove_users: bool = False
    use_users_site: bool = False
    field_mappings: tuple[FieldMapping, ...] = ()
    site_rules: tuple[SiteRule, ...] = ()
    type_rules: tuple[TypeRule, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)


def allowed_ids(record: Mapping[str, Any], *fields: str) -> frozenset[str]:
    """Client ids from a comma/semicolon text and/or a KeyPair2 list ({"value", "label"})."""
    ids: set[str] = set()
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            ids |= {part.strip() for part in value.replace(";", ",").split(",") if part.strip()}
        for pair in rows_of(value):
            text = text_of(pair.get("value"))
            if text:
                ids.add(text)
    return frozenset(ids)


def _target(server: Any, port: Any, database: Any, user: Any, password: str, driver: Any, timeout: Any,
            local: Mapping[str, Any]) -> DbTarget:
    """Halo's fields (server may be empty when a UDL file describes the connection) and the local ones."""
    host, port_number = parse_server(text_of(server), text_of(port))
    seconds = as_id(timeout) or DEFAULT_QUERY_TIMEOUT
    return DbTarget(server=host, port=port_number, database=text_of(database), user=text_of(user),
                    password=password or text_of(local.get("password")),
                    local_secret=not password and bool(text_of(local.get("password"))),
                    driver=text_of(local.get("odbc_driver")) or text_of(driver),
                    query_timeout=min(seconds, MAX_QUERY_TIMEOUT),
                    trust_server_certificate=flag(local.get("trust_server_certificate")),
                    ca_file=text_of(local.get("ca_file")))


def lansweeper_kind(control: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether Halo's Lansweeper module is the on-premise SQL kind (ours), and why not.

    The document gives ``lansweeper_instance_type`` and ``lansweeper_databasetype`` as bare integers with
    no values listed, so they cannot tell the kinds apart. What does: the SQL kind has its SQL Server
    details (``lansweeper_sqlserver``); the cloud kind (Lansweeper Sites, run by Halo's hosted
    integrator through ``/IntegrationData/.../Lansweeper``) has an authorised API connection and site
    mappings instead (``lansweeper_authorized``, ``lansweeper_sitemappings``, ``lansweeper_exports``).
    """
    if text_of(control.get(CONTROL_FIELDS["server"][0])):
        return True, ""
    kinds = ", ".join(f"{name}={control.get(name)}" for name in LANSWEEPER_KIND_FIELDS if control.get(name) is not None)
    if any(control.get(name) for name in LANSWEEPER_CLOUD_FIELDS):
        return False, ("Halo's Lansweeper module is connected to Lansweeper's cloud API (Lansweeper Sites), "
                       f"which Halo's hosted integrator imports{f' ({kinds})' if kinds else ''}; this "
                       "Integrator reads the on-premise Lansweeper SQL Server database: enter its SQL "
                       "Server details in Halo's Lansweeper module to use it.")
    return False, ("Halo's Lansweeper module names no SQL Server (lansweeper_sqlserver is empty): enter the "
                   "Lansweeper database's SQL connection in Halo.")


def _control_value(control: Mapping[str, Any], source: str, meaning: str) -> Any:
    name = CONTROL_FIELDS[meaning][0 if source == LANSWEEPER else 1]
    return control.get(name) if name else None


def _control_flag(control: Mapping[str, Any], source: str, meaning: str) -> bool:
    names = CONTROL_FLAGS[meaning][0 if source == LANSWEEPER else 1]
    return any(flag(control.get(name)) for name in names)


def _control_settings(control: Mapping[str, Any], source: str, local: Mapping[str, Any]) -> ImportSettings:
    get = lambda meaning: _control_value(control, source, meaning)  # noqa: E731 - a short local reader
    query = text_of(get("query"))
    defaults = DEFAULT_KEYS[source] if not query else {}
    column = lambda meaning: text_of(get(meaning)) or defaults.get(meaning, "")  # noqa: E731
    notes = [] if query else [f"Halo holds no {source} query: the Integrator's default query is used."]
    local_type = text_of(local.get("default_asset_type"))
    return ImportSettings(
        source=source, connection_id=as_id(control.get("id")) or 1,
        name="Lansweeper" if source == LANSWEEPER else "SCCM", entity=ASSETS,
        enabled=flag(get("enabled")), allowed_client_ids=allowed_ids(control, CONTROL_FIELDS["allowed"][0 if source == LANSWEEPER else 1]),
        target=_target(get("server"), get("port"), get("database"), get("user"), text_of(get("password")),
                       get("driver"), get("timeout"), local),
        udl_path=text_of(get("udl")), query=query or DEFAULT_QUERIES[source],
        key_column=column("idfield"), type_column=column("typefield"), site_column=column("sitefield"),
        user_column=column("userfield"), user_match_field=column("usermatchingfield"),
        identifier=as_id(get("assetimportidentifier")) or as_id(control.get(GLOBAL_ASSET_IDENTIFIER)),
        default_site=as_id(get("defaultsite")),
        default_type=as_id(get("default_assettype")) or as_id(local_type),
        default_type_name="" if as_id(local_type) else local_type,
        update_only=_control_flag(control, source, "updateonly"),
        dont_update_site=_control_flag(control, source, "dontupdatesite"),
        dont_update_type=_control_flag(control, source, "dontupdatetype"),
        dont_remove_users=_control_flag(control, source, "dontremoveusers"),
        use_users_site=_control_flag(control, source, "useuserssite"),
        field_mappings=_with_default_name(field_mappings(get("fieldmappings")), source, default_query=not query),
        site_rules=() if flag(get("override_site_rules")) else site_rules(get("site_rules")),
        type_rules=type_rules(get("type_rules")), notes=tuple(notes),
    )


def lansweeper_settings(control: Mapping[str, Any], local: Mapping[str, Any] | None = None) -> ImportSettings:
    """Lansweeper on premises from the Control record; SourceError when Halo's module is the cloud kind."""
    ours, reason = lansweeper_kind(control)
    if not ours:
        raise SourceError(reason)
    return _control_settings(control, LANSWEEPER, local or {})


def sccm_settings(control: Mapping[str, Any], local: Mapping[str, Any] | None = None) -> ImportSettings:
    """SCCM / MECM from the Control record (its SQL Server fields, or the UDL file ``sccm_udl``)."""
    settings = _control_settings(control, SCCM, local or {})
    if not settings.target.server and not settings.udl_path:
        raise SourceError("Halo's SCCM module names neither a SQL Server (sccm_sqlserver) nor a UDL file "
                          "(sccm_udl): enter the ConfigMgr database's SQL connection in Halo.")
    return settings


def import_entity(record: Mapping[str, Any]) -> str:
    """What an SQLImport imports: ASSETS or USERS, else a SourceError saying plainly why not.

    The document types ``table`` as a string and ``import_table`` as an integer with ``import_table_name``
    and lists no values. Read here: ``table`` names the Halo entity (asset/device, user; site and client
    are refused), and an ``import_table`` set means a Halo custom table, which is refused.
    """
    name = text_of(record.get("name")) or f"SQL import {record.get('id')}"
    if as_id(record.get("import_table")):
        custom = text_of(record.get("import_table_name")) or f"number {record.get('import_table')}"
        raise SourceError(f"SQL import '{name}' imports into the Halo custom table {custom}: this Integrator "
                          "imports SQL rows into assets and users only.")
    table = text_of(record.get("table")).casefold()
    if table in _TABLE_WORDS:
        return _TABLE_WORDS[table]
    if table in _REFUSED_TABLES:
        raise SourceError(f"SQL import '{name}' imports {_REFUSED_TABLES[table]}: this Integrator imports SQL "
                          "rows into assets and users only (a site or client name alone does not identify "
                          "one record in Halo's lists).")
    raise SourceError(f"SQL import '{name}' names the table '{record.get('table') or ''}', which this "
                      "Integrator does not import: it imports assets and users.")


def sql_import_settings(record: Mapping[str, Any], local: Mapping[str, Any] | None = None) -> ImportSettings:
    """One SQLImport record (read with includedetails=true, for its ``fields``)."""
    local = local or {}
    entity = import_entity(record)
    password = text_of(record.get("sisqlpassword")) or text_of(record.get("new_sql_password"))
    local_type = text_of(local.get("default_asset_type"))
    mappings = field_mappings(record.get("fields"))
    return ImportSettings(
        source=SQL_IMPORT, connection_id=as_id(record.get("id")) or 0,
        name=text_of(record.get("name")) or f"SQL import {record.get('id')}", entity=entity,
        enabled=flag(record.get("integrator_enabled")),
        allowed_client_ids=allowed_ids(record, "halointegrator_allowed_clientids", "halointegrator_allowed_clientids_list"),
        target=_target(record.get("sqlserver"), record.get("sql_port"), record.get("sqldatabase"),
                       record.get("sqlusername"), password, record.get("sql_driver"), record.get("sql_timeout"), local),
        udl_path=text_of(record.get("udlpath")), query=text_of(record.get("sql")),
        key_column=text_of(record.get("keyfield")),
        site_column=next((m.column for m in mappings if m.is_site_field), ""),
        identifier=as_id(record.get("assetimportidentifier")),
        identity_field=text_of(record.get("entity_match_field")),
        default_site=as_id(record.get("defaultsite")),
        default_type=as_id(local_type), default_type_name="" if as_id(local_type) else local_type,
        update_only=flag(record.get("updateonly")), dont_update_site=flag(record.get("dontupdatesite")),
        dont_update_type=flag(record.get("dontupdatetype")), dont_remove_users=flag(record.get("dontremoveusers")),
        use_users_site=flag(record.get("useusers_site")),
        field_mappings=tuple(m for m in mappings if not m.is_site_field),
    )


def _with_default_name(mappings: tuple[FieldMapping, ...], source: str, default_query: bool) -> tuple[FieldMapping, ...]:
    """With the default query and no mapping to the asset's name, its name column names the asset."""
    if not default_query or any(m.halo_field.casefold() == "inventory_number" for m in mappings):
        return mappings
    return (FieldMapping(DEFAULT_NAME_COLUMN[source], "inventory_number"), *mappings)


def field_mappings(rows: Any) -> tuple[FieldMapping, ...]:
    out = []
    for row in rows_of(rows):
        column = text_of(row.get("thirdpartyname"))
        if column:
            out.append(FieldMapping(column, text_of(row.get("nhdname")), as_id(row.get("field_id")),
                                    flag(row.get("is_site_field"))))
    return tuple(out)


def site_rules(rows: Any) -> tuple[SiteRule, ...]:
    rules = []
    for row in sorted(rows_of(rows), key=lambda r: as_id(r.get("seq")) or 0):
        site_id = as_id(row.get("halo_id"))
        names = tuple(n for n in (text_of(row.get("third_party_name")), text_of(row.get("third_party_id"))) if n)
        criteria = tuple((text_of(c.get("fieldname")), text_of(c.get("value_string") or c.get("value_int")))
                         for c in rows_of(row.get("criteria")) if text_of(c.get("fieldname")))
        if site_id and (names or (flag(row.get("userules")) and criteria)):
            rules.append(SiteRule(site_id, names, criteria if flag(row.get("userules")) else ()))
    return tuple(rules)


def type_rules(rows: Any) -> tuple[TypeRule, ...]:
    rules = []
    for row in sorted(rows_of(rows), key=lambda r: as_id(r.get("seq")) or 0):
        type_id = as_id(row.get("typeid"))
        names = tuple(n for n in (text_of(row.get("thirdpartyname")), text_of(row.get("value"))) if n)
        if type_id and names:
            rules.append(TypeRule(type_id, names))
    return tuple(rules)


def with_target(settings: ImportSettings, target: DbTarget) -> ImportSettings:
    """The settings with the target a UDL file gave (see odbc.resolve_target)."""
    return replace(settings, target=target)
