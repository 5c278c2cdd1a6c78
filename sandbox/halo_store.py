"""The sandbox's Halo data: tables of records, Halo-style listing and POST-array upserts.

Tables are plain dicts {id: record} in `HaloStore.state`, guarded by `HaloStore.lock`. Records are
replaced, never mutated in place, so a response can be serialised outside the lock from a snapshot.
Listing is one pass over a table; an upsert batch costs O(batch) dict look-ups, so 50,000 users stay fast.

Batch semantics (an assumption: Halo's real behaviour for a bad record inside an array is unknown):
the whole batch is validated first; one invalid record makes the request 400 and nothing is applied.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sandbox.halo_strict import StrictError, query_bool, query_int

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Resource:
    """One emulated list resource: its path, table, body schema, list envelope and cheap filters."""

    path: str                      # as in the OpenAPI document, e.g. "/Users"
    table: str                     # key in HaloStore.state
    schema: str                    # POST body item schema
    list_key: str | None           # envelope key, or None for a bare JSON array
    has_inactive: bool = False     # list hides inactive records unless includeinactive=true
    has_service_accounts: bool = False  # list hides service accounts unless includeserviceaccount=true
    filters: tuple[tuple[str, str], ...] = ()   # (query parameter, record field) equality filters
    search_fields: tuple[str, ...] = ()
    outstanding_flag: str | None = None  # outstandingonly=true hides records with this flag set
    asked_fields: tuple[tuple[str, str], ...] = ()  # (query parameter, field): the field only when asked
    # (query parameter, record flag): "=true" lists only records whose flag is set; absent or false lists all
    # (the document names the parameter only; listing everything for false is the cautious reading).
    flag_filters: tuple[tuple[str, str], ...] = ()


RESOURCES: tuple[Resource, ...] = (
    Resource("/Users", "users", "Users", "users", True, True, (("site_id", "site_id"), ("client_id", "client_id")),
             ("name", "emailaddress")),
    Resource("/Client", "clients", "Area", "clients", True, False, (), ("name",)),
    Resource("/Site", "sites", "Site", "sites", True, False, (("client_id", "client_id"),), ("name",)),
    Resource("/Asset", "assets", "Device", "assets", True, False,
             (("site_id", "site_id"), ("client_id", "client_id"), ("assettype_id", "assettype_id")),
             ("inventory_number", "key_field")),
    Resource("/AssetType", "assettypes", "Xtype", None),
    Resource("/LDAPConnection", "ldapconnections", "LDAPConnection", None),
    Resource("/azureadconnection", "azureadconnections", "AzureADConnection", None, False, False, (("type", "type"),)),
    Resource("/Features", "features", "ModuleSetup", None),
    # Halo's list key for IntegrationError is undocumented: the sandbox always answers the envelope
    # {"record_count": n, "errors": [...]} (the path declares pageinate, so an envelope is likely).
    Resource("/IntegrationError", "integrationerrors", "IntegrationError", "errors", False, False,
             (("module_id", "module_id"), ("detail_id", "detail_id"))),
    # The document gives GET /SQLImport and /PowerShellScript no paging parameters: bare arrays, as the
    # connection lists. /PowerShellScriptProcessing pages; its envelope key is undocumented and no public
    # client names it ("records" here). Its filters as the parameter names say; undocumented, so the
    # sandbox takes the harder case: execution_parameters only with includeparameters=true.
    Resource("/SQLImport", "sqlimports", "SQLImport", None,
             flag_filters=(("integratorenabled", "integrator_enabled"),)),
    Resource("/PowerShellScript", "powershellscripts", "PowerShellScript", None),
    Resource("/PowerShellScriptCriteria", "powershellcriteria", "PowerShellScriptCriteria", None, False, False,
             (("script_id", "pssid"),)),
    Resource("/PowerShellScriptProcessing", "powershellqueue", "PowerShellScriptProcessing", "records", False, False,
             (("script_id", "pssid"), ("ticket_id", "faultid")), outstanding_flag="processed",
             asked_fields=(("includeparameters", "execution_parameters"),)),
)
# GET /Control answers the one Control record (an object, not a list); POST /Control takes an array.
CONTROL = Resource("/Control", "control", "Control", None)
AGENTS = Resource("/Agent/me", "agents", "Uname", None)
RESOURCE_BY_PATH = {resource.path: resource for resource in RESOURCES}
TABLE_SCHEMAS = {resource.table: resource.schema for resource in (*RESOURCES, AGENTS, CONTROL)}


def table_name(name: str) -> str:
    """'users', 'Users', '/Users' or 'Device' -> 'users'."""
    lowered = name.strip("/").lower()
    for resource in (*RESOURCES, AGENTS, CONTROL):
        if lowered in (resource.table, resource.path.strip("/").lower(), resource.schema.lower()):
            return resource.table
    raise KeyError(f"No sandbox table called {name!r}; tables: {sorted(TABLE_SCHEMAS)}")


def as_id(value: Any) -> int | None:
    """A record reference (int, or a whole float as Halo's `number` site_id) -> int, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


class HaloStore:
    """All tables, the id counters and the per-resource business rules."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state: dict[str, dict[int, dict[str, Any]]] = {table: {} for table in TABLE_SCHEMAS}
        self._high: dict[str, int] = {}

    # ---- direct access (seeding and tests) -------------------------------------------------------
    def insert(self, table: str, record: dict[str, Any]) -> int:
        """Store a copy of a record as it is (id assigned when missing or <= 0); returns the id."""
        with self.lock:
            rows = self.state[table]
            record_id = as_id(record.get("id"))
            if record_id is None or record_id <= 0:
                record_id = self._next_id(table)
            self._high[table] = max(self._high.get(table, 0), record_id)
            rows[record_id] = self._with_derived(table, {**record, "id": record_id})
            return record_id

    def _next_id(self, table: str) -> int:
        # A high-water mark keeps inserts O(1); the loop also survives tests editing `state` directly.
        rows = self.state[table]
        high = max(self._high.get(table, 0), next(reversed(rows)) if rows else 0) + 1
        while high in rows:
            high += 1
        self._high[table] = high
        return high

    # ---- listing ---------------------------------------------------------------------------------
    def list_response(self, resource: Resource, params: dict[str, str]) -> Any:
        rows = self._matching(resource, params)
        if resource.outstanding_flag and query_bool(params, "outstandingonly", False):
            rows = [row for row in rows if not row.get(resource.outstanding_flag)]
        for param, name in resource.asked_fields:
            if not query_bool(params, param, False):
                rows = [{key: value for key, value in row.items() if key != name} for row in rows]
        order = params.get("order")
        if order:
            descending = query_bool(params, "orderdesc", False)
            rows.sort(key=lambda row: (row.get(order) is None, str(row.get(order))), reverse=descending)
        if resource.list_key is None:
            return rows
        total = len(rows)
        if query_bool(params, "pageinate", False):
            page_size = max(1, query_int(params, "page_size", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE)
            page_no = max(1, query_int(params, "page_no", 1) or 1)
            start = (page_no - 1) * page_size
            return {"page_no": page_no, "page_size": page_size, "record_count": total,
                    resource.list_key: rows[start:start + page_size]}
        count = query_int(params, "count")
        if count is not None and count >= 0:
            rows = rows[:count]
        return {"record_count": total, resource.list_key: rows}

    def _matching(self, resource: Resource, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            rows = list(self.state[resource.table].values())
        wanted = [(field, params[param]) for param, field in resource.filters if param in params]
        rows = self._visible_accounts(resource, rows, params)
        for param, flag in resource.flag_filters:
            if query_bool(params, param, False):
                rows = [row for row in rows if row.get(flag) is True]
        include_active = query_bool(params, "includeactive", True)
        include_inactive = query_bool(params, "includeinactive", False)
        search = (params.get("search") or "").lower()
        if not (wanted or search or resource.has_inactive):
            return rows
        if not (wanted or search):  # the common paging case, kept cheap for 50,000-user tables
            if include_active and include_inactive:
                return rows
            if not (include_active or include_inactive):
                return []
            return [row for row in rows if bool(row.get("inactive")) is include_inactive]
        return [row for row in rows
                if self._row_matches(resource, row, wanted, search, include_active, include_inactive)]

    @staticmethod
    def _visible_accounts(resource: Resource, rows: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
        """An assumption, as for inactive users: service accounts are listed only when asked for."""
        if not resource.has_service_accounts:
            return rows
        service, ordinary = query_bool(params, "includeserviceaccount", False), query_bool(params, "includenonserviceaccount", True)
        if service and ordinary:
            return rows
        return [row for row in rows if (service if row.get("isserviceaccount") else ordinary)]

    @staticmethod
    def _row_matches(resource: Resource, row: dict[str, Any], wanted: list[tuple[str, str]], search: str,
                     include_active: bool, include_inactive: bool) -> bool:
        if resource.has_inactive:
            inactive = bool(row.get("inactive"))
            if (inactive and not include_inactive) or (not inactive and not include_active):
                return False
        for field, value in wanted:
            if filter_text(row.get(field)) != value:
                return False
        if search:
            return any(search in str(row.get(field) or "").lower() for field in resource.search_fields)
        return True

    # ---- upserts ---------------------------------------------------------------------------------
    def upsert(self, resource: Resource, records: list[dict[str, Any]],
               reject: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Validate the whole batch (business rules), then apply it; StrictError applies nothing."""
        with self.lock:
            rows = self.state[resource.table]
            for index, record in enumerate(records):
                where = f"{resource.schema} record [{index}]"
                if reject is not None and reject(record):
                    raise StrictError(f"{where} ({describe(record)}) was rejected by the server")
                record_id = as_id(record.get("id"))
                if record_id is not None and record_id > 0:
                    if record_id not in rows:
                        raise StrictError(f"{where}: there is no {resource.schema} with id {record_id} to update")
                    self._check_rules(resource.table, record, where, creating=False)
                else:
                    self._check_rules(resource.table, record, where, creating=True)
            return [self._apply(resource.table, record) for record in records]

    def _apply(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        rows = self.state[table]
        record_id = as_id(record.get("id"))
        if record_id is not None and record_id > 0:
            rows[record_id] = self._with_derived(table, {**rows[record_id], **record, "id": record_id})
            return rows[record_id]
        created = {"inactive": False} if table in ("users", "clients", "sites", "assets") else {}
        new_id = self.insert(table, {**created, **record, "id": 0})
        return rows[new_id]

    def _check_rules(self, table: str, record: dict[str, Any], where: str, creating: bool) -> None:
        required = {"users": ("name", "site_id"), "assets": ("assettype_id", "site_id"),
                    "sites": ("name", "client_id"), "clients": ("name",), "assettypes": ("name",)}
        if creating:
            for field in required.get(table, ()):
                if record.get(field) in (None, ""):
                    raise StrictError(f"{where}: '{field}' is required to create a {TABLE_SCHEMAS[table]}")
        references = {"users": (("site_id", "sites"),), "sites": (("client_id", "clients"),),
                      "assets": (("site_id", "sites"), ("assettype_id", "assettypes"))}
        for field, target in references.get(table, ()):
            if field in record and as_id(record[field]) not in self.state[target]:
                raise StrictError(f"{where}: {field} {record[field]!r} does not exist "
                                  f"(no {TABLE_SCHEMAS[target]} with that id)")

    def _with_derived(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """Fill the read-only names Halo derives from references (site_name, client_name, ...)."""
        sites, clients = self.state["sites"], self.state["clients"]
        if table in ("users", "assets"):
            site = sites.get(as_id(record.get("site_id")))
            if site is not None:
                record["site_name"] = site.get("name")
                record["client_id"] = as_id(site.get("client_id"))
        if table in ("users", "assets", "sites"):
            client = clients.get(as_id(record.get("client_id")))
            if client is not None:
                record["client_name"] = client.get("name")
        if table == "assets":
            assettype = self.state["assettypes"].get(as_id(record.get("assettype_id")))
            if assettype is not None:
                record["assettype_name"] = assettype.get("name")
        return record


def filter_text(value: Any) -> str:
    """A record value as a query string would spell it (site_id 3.0 -> "3")."""
    number = as_id(value)
    return str(number) if number is not None else str(value)


def describe(record: dict[str, Any]) -> str:
    """A short, secret-free name for a record in an error message."""
    for field in ("name", "inventory_number", "emailaddress", "module_name", "id"):
        if record.get(field) not in (None, ""):
            return f"{field} {record[field]!r}"
    return "no name"


def records_of(seed_rows: Iterable[dict[str, Any]] | dict[str, Any]) -> list[dict[str, Any]]:
    """Seed tables may be a list of records or a {id: record} mapping."""
    if isinstance(seed_rows, dict):
        return [{**record, "id": int(key)} for key, record in seed_rows.items()]
    return list(seed_rows)
