"""Entra ID (Azure AD) over Microsoft Graph: users into Halo users, Intune managed devices into assets.

One run: every read first (Graph users in full or as a delta, group memberships, managed devices,
then Halo's users and assets), then a plan per kind, then the writes. A failed Graph page stops the
connection before any write.

Delta design. The engine plans against a complete wanted set and deactivates what this connection
owns and the set lacks. A delta run has no complete set of Graph users, and keeping a snapshot of
50,000 users in the local state would bloat the config file. Halo is the snapshot instead: every user
this connection owns in Halo and the delta did not touch is wanted "as it is" (identity only, plus the
site its current group membership gives), the changed users are mapped in full, and `@removed` users
are left out, so the engine updates only the changed, deactivates only the removed or those who left
every mapped group, and its guards still count against all owned users. Users entering scope only by
group membership (a users delta does not report memberships) are read by id. Anything that changes
how users map (the mapping's fingerprint), an expired link, or a week since the last full read
brings a full read.
"""

from __future__ import annotations

import re
import time
from typing import Any, Mapping

from halointegrator.engine import Policy, apply, plan
from halointegrator.errors import ConfigError, IntegratorError
from halointegrator.values import as_bool
from halointegrator.engine.model import DEACTIVATE, Check, Integration, LocalSetting, Report, Wanted
from halointegrator.engine.runner import enabled_for
from integrations.entra import reads as reads
from integrations.entra.mapping import (
    DEVICE_KIND, USER_KIND, DeviceMapping, Memberships, UserMapping, as_int, device_mapping_from, map_devices,
    map_users, matching_fields, primary_user, rows_of, site_for_user, site_scope, unsent_fields, user_identity,
    user_mapping_from,
)
from integrations.entra.graph import GraphClient

NAME = "azure_ad"
INTUNE_SCOPE = "Intune managed devices"
HALO_LIST_ALL = {"includeinactive": "true", "includeactive": "true"}


def imports_of(connection: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """Which imports run ({"users", "devices"}) and notes on anything not understood."""
    words = re.split(r"[,;]", str(connection.get("halo_integrator_import_list") or ""))
    for pair in rows_of(connection.get("halo_integrator_import_types")):
        words += [str(pair.get("value") or ""), str(pair.get("label") or "")]
    chosen, notes = set(), []
    for word in (w.strip().lower() for w in words if w and w.strip()):
        if "device" in word or "intune" in word or "asset" in word:
            chosen.add("devices")
        elif "user" in word:
            chosen.add("users")
        elif not word.isdigit():
            notes.append(f"Import '{word}' is not one this Integrator runs (users, devices); skipped")
    if not chosen:
        chosen = {"users", "devices"} if connection.get("intune_enabled") else {"users"}
    return chosen, notes


def list_connections(halo: Any) -> list[dict]:
    """Every Entra ID connection in Halo, each with its details (mappings, Integrator settings)."""
    # GET /api/azureadconnection takes no paging parameters (OpenAPI): one plain GET, a bare array.
    answer = halo.get("azureadconnection") or []
    rows = answer if isinstance(answer, list) else answer.get("connections") or answer.get("records") or []
    return [halo.get(f"azureadconnection/{row['id']}", {"includedetails": "true"})
            for row in rows if row.get("id") is not None]


# ---- check ----------------------------------------------------------------------------------------

def check(ctx: Any, connection: Mapping[str, Any]) -> list[Check]:
    """The tab's ticks and crosses; no writes. After the token fails, the Graph checks are not run."""
    enabled, reason = enabled_for(dict(connection), ctx.client_id)
    checks = [Check("Enabled for the Halo Integrator", enabled, reason or "enabled")]
    imports, _ = imports_of(connection)
    try:
        client = reads.make_client(ctx, connection, quick=True)
        checks.append(Check("App secret stored locally", True, "stored"))
    except ConfigError as error:
        return checks + [Check("App secret stored locally", False, str(error))]
    try:
        client.token()
        checks.append(Check("Microsoft token obtained", True, f"tenant {client.tenant}"))
    except IntegratorError as error:
        return checks + [Check("Microsoft token obtained", False, str(error))]
    problem = reads.probe(client, "/v1.0/users?$top=1&$select=id", reads.USER_PERMISSION)
    checks.append(Check("User.Read.All granted", not problem, problem or "users can be read"))
    if "devices" in imports:
        checks += _device_checks(client, connection)
    mapping = user_mapping_from(connection)
    checks += [_group_check(client, name) for name in mapping.group_names]
    sites = {rule.site_id for rule in mapping.site_rules} | {mapping.unmatched_site}
    if "devices" in imports:
        sites.add(device_mapping_from(connection).default_site)
    checks += [_site_check(ctx.halo, site) for site in sorted(s for s in sites if s)]
    return checks


def _device_checks(client: GraphClient, connection: Mapping[str, Any]) -> list[Check]:
    problem = reads.probe(client, "/v1.0/deviceManagement/managedDevices?$top=1&$select=id", reads.DEVICE_PERMISSION)
    asset_type = as_int(connection.get("default_assettype"))
    return [Check("DeviceManagementManagedDevices.Read.All granted", not problem, problem or "devices can be read"),
            Check("Default asset type chosen", bool(asset_type),
                  f"asset type {asset_type}" if asset_type else "choose the default asset type for Intune devices in Halo")]


def _group_check(client: GraphClient, name: str) -> Check:
    label = f"Group '{name}' exists in Entra ID"
    try:
        found = reads.find_groups(client, name)
    except IntegratorError as error:
        return Check(label, False, str(error))
    return Check(label, bool(found), f"{len(found)} group(s)" if found else "no group has this name; correct the site mapping")


def _site_check(halo: Any, site_id: int) -> Check:
    label = f"Site {site_id} exists in Halo"
    try:
        site = halo.get(f"Site/{site_id}")
    except IntegratorError as error:
        return Check(label, False, str(error))
    return Check(label, True, str((site or {}).get("name") or site_id))


# ---- sync -----------------------------------------------------------------------------------------

def sync(ctx: Any, connection: Mapping[str, Any]) -> Report:
    """Read Graph and Halo completely, plan users and devices, then write (or, dry, only log)."""
    name = str(connection.get("name") or f"connection {connection.get('id')}")
    imports, notes = imports_of(connection)
    user_mapping, device_mapping = user_mapping_from(connection), device_mapping_from(connection)
    if "devices" in imports and not device_mapping.assettype_id:
        raise ConfigError(f"Entra ID connection '{name}' imports Intune devices but has no default asset type: "
                          "choose one on the connection in Halo, or remove Devices from its imports.")
    client = reads.make_client(ctx, connection)
    state = ctx.state_for(NAME, connection.get("id"))
    now = ctx.services.get("clock", time.time)()
    source = _read_everything(ctx, client, imports, user_mapping, device_mapping, state, now)
    report = Report(NAME, name, dry_run=ctx.dry_run, notes=notes + list(user_mapping.notes))
    policy = Policy(allow_mass_deactivation=ctx.allow_mass_deactivation
                    or bool(as_bool(ctx.local(NAME, connection.get("id")).get("allow_mass_deactivation"))))
    users_plan = _plan_users(source, connection, user_mapping, policy, report) if "users" in imports else None
    if "devices" in imports:
        report.notes += device_mapping.notes
    devices_plan = _plan_devices(source, user_mapping, device_mapping, policy, report) if "devices" in imports else None
    for kind_plan in (users_plan, devices_plan):
        if kind_plan is not None and not report.failure:
            applied = apply(kind_plan, ctx.halo, dry_run=ctx.dry_run, log=ctx.log, cancel=ctx.cancel,
                            integration=NAME, connection=name, progress=ctx.progress)
            report.merge(applied)
            report.failure = report.failure or applied.failure
    # A held-back deactivation keeps the link too: the next delta no longer says who left, so a run
    # allowed to deactivate them (or after the group is back) must read the same changes again.
    if users_plan is not None and not (report.errors or report.failure or ctx.dry_run or users_plan.refused):
        _remember(state, source, users_plan, user_mapping, client, now)
    return report


class _Source:
    """What the reads returned: Graph users, memberships, devices, Halo users and assets."""

    def __init__(self) -> None:
        self.users: reads.UserRead | None = None
        self.arrivals: list[dict[str, Any]] = []
        self.memberships = Memberships()
        self.devices: list[dict[str, Any]] = []
        self.halo_users: list[dict[str, Any]] = []
        self.halo_assets: list[dict[str, Any]] = []


def _read_everything(ctx: Any, client: GraphClient, imports: set[str], user_mapping: UserMapping,
                     device_mapping: DeviceMapping, state: Mapping[str, Any], now: float) -> _Source:
    source = _Source()
    if "users" in imports:
        source.users = reads.read_users(client, user_mapping, state, now=now, log=ctx.log)
    if user_mapping.site_rules:
        source.memberships = reads.read_memberships(client, user_mapping)
    if "devices" in imports:
        source.devices = reads.read_devices(client, device_mapping)
    if "users" in imports:
        source.halo_users = ctx.halo.list("Users", "users", dict(HALO_LIST_ALL))
        if source.users.delta is not None:
            _read_arrivals(ctx, client, source, user_mapping, state, now)
    if "devices" in imports:
        params = dict(HALO_LIST_ALL, **({"includeassetfields": "true"} if device_mapping.field_map else {}))
        source.halo_assets = ctx.halo.list("Asset", "assets", params)
    return source


def _read_arrivals(ctx: Any, client: GraphClient, source: _Source, mapping: UserMapping,
                   state: Mapping[str, Any], now: float) -> None:
    """Users in a mapped group whom Halo does not hold active for us and the delta did not mention:
    read them by id; too many, and a full read replaces the delta."""
    owned = {record["azureoid"]: record for record in source.halo_users if _owns_user(record, mapping)}
    left_scope = set(state.get("left_scope") or ())
    touched = set(source.users.delta.changed) | set(source.users.delta.removed)
    members = set().union(*source.memberships.by_group.values()) if source.memberships.by_group else set()
    def entering(user_id: str) -> bool:
        return user_id not in owned or (as_bool(owned[user_id].get("inactive")) and user_id in left_scope)

    arriving = sorted(user_id for user_id in members - touched if entering(user_id))
    # A partial delta item is enough to update a user Halo holds for us, not to create (or bring back) one.
    arriving += sorted(user_id for user_id, item in source.users.delta.changed.items()
                       if entering(user_id) and unsent_fields(item, mapping))
    if len(arriving) > reads.MAX_ARRIVALS:
        source.users = reads.read_users(client, mapping, {}, now=now, log=ctx.log)
        source.users.notes.append(f"{len(arriving)} users entered scope by group membership: read in full")
        return
    source.arrivals = reads.read_users_by_id(client, arriving, mapping.select)


def _owns_user(record: Mapping[str, Any], mapping: UserMapping) -> bool:
    return as_int(record.get("azure_connectionid")) == mapping.connection_id and bool(record.get("azureoid"))


def _plan_users(source: _Source, connection: Mapping[str, Any], mapping: UserMapping, policy: Policy,
                report: Report):
    read = source.users
    report.notes += read.notes
    if read.full is not None:
        wanted, skipped = map_users(read.full, source.memberships, mapping)
    else:
        wanted, skipped = _delta_wanted(source, mapping)
        deleted = sum(1 for reason in read.delta.removed.values() if reason == "deleted")
        if read.delta.removed:
            report.notes.append(f"Removed from Entra ID: {deleted} deleted, "
                                f"{len(read.delta.removed) - deleted} soft-deleted (restorable)")
    report.skipped += skipped
    if skipped:
        report.notes.append(f"{skipped} Entra user(s) are in no mapped group and unmatched users are not imported")
    return plan(USER_KIND, wanted, source.halo_users, owns=lambda record: _owns_user(record, mapping),
                match_fields=matching_fields(connection), scope_of=lambda record: site_scope(record.get("site_id")),
                empty_scopes=_empty_scopes(wanted, mapping), policy=policy)


def _delta_wanted(source: _Source, mapping: UserMapping) -> tuple[list[Wanted], int]:
    """Changed and arriving users in full; every other owned user as Halo holds it (see the module doc)."""
    delta = source.users.delta
    read_in_full = {user["id"]: user for user in source.arrivals}
    changed = {**delta.changed, **read_in_full}
    wanted, skipped = map_users(changed.values(), source.memberships, mapping)
    for record in wanted:  # a delta item's missing properties say nothing: leave those Halo fields alone
        if record.key not in read_in_full:
            for name in unsent_fields(changed[record.key], mapping):
                record.fields.pop(name, None)
    for record in source.halo_users:
        oid = record.get("azureoid")
        if not _owns_user(record, mapping) or oid in changed or oid in delta.removed:
            continue
        site = site_for_user(oid, source.memberships, mapping)
        if site is not None:  # None: left every mapped group, so not wanted: the engine deactivates it
            fields = {**user_identity(oid, mapping), "site_id": site}
            wanted.append(Wanted(key=oid, label=str(record.get("name") or oid), fields=fields, scope=site_scope(site)))
    return wanted, skipped


def _empty_scopes(wanted: list[Wanted], mapping: UserMapping) -> set[str]:
    """Mapped sites the reads gave nobody for (an empty group, or an empty user read): their users are
    protected from deactivation."""
    sites = {rule.site_id for rule in mapping.site_rules} | ({mapping.unmatched_site} if mapping.unmatched_site else set())
    return {site_scope(site) for site in sites} - {record.scope for record in wanted}


def _plan_devices(source: _Source, user_mapping: UserMapping, mapping: DeviceMapping, policy: Policy,
                  report: Report):
    owners = {primary_user(device) for device in source.devices} - {""}
    site_of_user = {user_id: site_for_user(user_id, source.memberships, user_mapping) for user_id in owners}
    wanted, skipped = map_devices(source.devices, site_of_user, mapping)
    report.skipped += skipped
    if skipped:
        report.notes.append(f"{skipped} Intune device(s) have no site: set the connection's default site in Halo")
    # An empty Intune read is rarely the truth: then every device is held back from deactivation.
    return plan(DEVICE_KIND, wanted, source.halo_assets,
                owns=lambda record: as_int(record.get("intune_connectionid")) == mapping.connection_id,
                match_fields=("key_field",), scope_of=lambda record: INTUNE_SCOPE,
                empty_scopes=() if source.devices else (INTUNE_SCOPE,), policy=policy)


def _remember(state: dict, source: _Source, users_plan, mapping: UserMapping, client: GraphClient, now: float) -> None:
    """The delta link and what the next delta run needs; the runner saves it only after success."""
    state["users_delta"] = source.users.delta_link
    state["users_fingerprint"] = reads.users_fingerprint(mapping, client.graph_url)
    if source.users.full is not None:
        state["users_full_read_at"] = now
    # Users deactivated for leaving scope: if a group takes them back, the next delta reads them by id.
    still_inactive = {record.get("azureoid") for record in source.halo_users
                      if _owns_user(record, mapping) and as_bool(record.get("inactive"))}
    left = {change.key for change in users_plan.changes if change.action == DEACTIVATE}
    back = {change.key for change in users_plan.changes
            if change.action != DEACTIVATE and change.payload.get("inactive") is False}
    state["left_scope"] = sorted(((set(state.get("left_scope") or ()) & still_inactive) - back) | left)


INTEGRATION = Integration(
    name=NAME,
    title="Entra ID",
    description="Imports Entra ID (Azure AD) users into Halo users, and Intune managed devices into Halo assets, "
                "over Microsoft Graph. In Halo, the connection's Halo Integrator section chooses which imports "
                "are included.",
    connection_path="azureadconnection",
    prerequisites=(
        "Enabled for the Halo Integrator", "App secret stored locally", "Microsoft token obtained",
        "User.Read.All granted", "DeviceManagementManagedDevices.Read.All granted (devices)",
        "Each mapped group exists in Entra ID", "Each mapped site exists in Halo",
    ),
    local_settings=(
        LocalSetting("app_secret", "App secret", "secret",
                     "The client secret's Value from the app registration (Halo does not return it)."),
        LocalSetting("login_url", "Login URL", "text",
                     "Overrides the Microsoft login host, e.g. https://login.microsoftonline.us (normally blank)."),
        LocalSetting("graph_url", "Graph URL", "text",
                     "Overrides the Microsoft Graph root, e.g. https://graph.microsoft.us (normally blank)."),
        LocalSetting("allow_mass_deactivation", "Allow mass deactivation", "bool",
                     "Let one run deactivate more users or devices than the safety guard allows."),
    ),
    list_connections=list_connections,
    check=check,
    sync=sync,
)
