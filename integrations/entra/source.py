"""Reading Entra ID for one connection: Graph users (in full or as a delta) and Intune devices, as Wanted records.

Every read happens here, before the core writes anything: Graph users, group memberships, managed
devices. A failed Graph page raises (a SourceError) and nothing is written.

Delta design. The core deactivates what this connection owns and the wanted set lacks, so a delta run
must still say which users are wanted. The sync status is the snapshot: every user this connection
owns in Halo (and left active) that the delta did not touch is wanted "as it is" (identity and the
site its group membership gives, a partial record that never creates), the changed users are mapped
in full, and `@removed` users are left out. Users entering scope only by group membership (a users
delta does not report memberships) are read by id. With no sync status for users (the first run, or
the state file was lost), a changed mapping, an expired link or a week since the last full read, all
users are read in full.

Finding the records in Halo's lean lists: users carry their object id in azure_id (Users_List shows
it; azureoid it does not) and their UPN in login, devices their id in intune_id (Device_List shows
it). Ownership is in the status; while it is rebuilt (a first run, a lost state file), an active user
in one of the connection's sites, or a device with an intune_id, that it does not know is read in
full to see whether its azure_connectionid / intune_connectionid is this connection's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from halointegrator.engine.context import RunContext
from halointegrator.engine.model import EntityKind, Identity, KindRead, SourceRead, Wanted
from halointegrator.errors import ConfigError
from halointegrator.halo.resources import assets, users
from halointegrator.values import as_int, identity_key
from integrations.entra import reads
from integrations.entra.graph import GraphClient
from integrations.entra.imports import imports_of
from integrations.entra.mapping import (
    DeviceMapping, Memberships, UserMapping, device_mapping_from, map_devices, map_users, matching_fields,
    primary_user, site_for_user, site_scope, unsent_fields, user_identity, user_mapping_from,
)

INTUNE_SCOPE = "Intune managed devices"
USER_KIND = users("azureoid")


def device_kind(mapping: DeviceMapping) -> EntityKind:
    return assets("intune_id", with_fields=bool(mapping.field_map))


@dataclass
class _Read:
    """What the Graph reads returned."""

    users: reads.UserRead | None = None
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    memberships: Memberships = field(default_factory=Memberships)
    devices: list[dict[str, Any]] = field(default_factory=list)


def read(ctx: RunContext, connection: Mapping[str, Any]) -> SourceRead:
    """Read Graph completely for the connection's imports and map it; nothing is written here."""
    name = str(connection.get("name") or f"connection {connection.get('id')}")
    imports, notes = imports_of(connection)
    user_mapping, device_mapping = user_mapping_from(connection), device_mapping_from(connection)
    if "devices" in imports and not device_mapping.assettype_id:
        raise ConfigError(f"Entra ID connection '{name}' imports Intune devices but has no default asset type: "
                          "choose one on the connection in Halo, or remove Devices from its imports.")
    client = reads.make_client(ctx, connection)
    now = ctx.services.get("clock", time.time)()
    state = ctx.state if ctx.status is not None and ctx.status.known(USER_KIND) else {}
    graph = _read_graph(ctx, client, imports, user_mapping, device_mapping, state, now)
    kinds, notes = [], notes + list(user_mapping.notes)
    if "users" in imports:
        kinds.append(_user_read(ctx, graph, connection, user_mapping))
    if "devices" in imports:
        kinds.append(_device_read(graph, user_mapping, device_mapping))
        notes += device_mapping.notes
    next_state = _next_state(graph, user_mapping, client, state, now) if "users" in imports else None
    return SourceRead(kinds, state=next_state, notes=notes)


def _read_graph(ctx: RunContext, client: GraphClient, imports: set[str], user_mapping: UserMapping,
                device_mapping: DeviceMapping, state: Mapping[str, Any], now: float) -> _Read:
    graph = _Read()
    if "users" in imports:
        graph.users = reads.read_users(client, user_mapping, state, now=now, log=ctx.log)
    if user_mapping.site_rules:
        graph.memberships = reads.read_memberships(client, user_mapping)
    if "devices" in imports:
        graph.devices = reads.read_devices(client, device_mapping)
    if "users" in imports and graph.users.delta is not None:
        _read_arrivals(ctx, client, graph, user_mapping, now)
    return graph


def _read_arrivals(ctx: RunContext, client: GraphClient, graph: _Read, mapping: UserMapping, now: float) -> None:
    """Users in a mapped group whom this connection does not hold active in Halo and the delta did not
    mention: read them by id; too many, and a full read replaces the delta."""
    live = ctx.status.live(USER_KIND)
    delta = graph.users.delta

    def entering(user_id: str) -> bool:
        entry = live.get(identity_key(user_id))
        return entry is None or entry.gone

    touched = set(delta.changed) | set(delta.removed)
    members = set().union(*graph.memberships.by_group.values()) if graph.memberships.by_group else set()
    arriving = sorted(user_id for user_id in members - touched if entering(user_id))
    # A partial delta item is enough to update a user Halo holds for us, not to create (or bring back) one;
    # a user the mapping gives no site is skipped anyway, so reading it in full would be a request for nothing.
    arriving += sorted(user_id for user_id, item in delta.changed.items()
                       if entering(user_id) and unsent_fields(item, mapping)
                       and site_for_user(user_id, graph.memberships, mapping) is not None)
    if len(arriving) > reads.MAX_ARRIVALS:
        graph.users = reads.read_users(client, mapping, {}, now=now, log=ctx.log)
        graph.users.notes.append(f"{len(arriving)} users entered scope by group membership: read in full")
        return
    graph.arrivals = reads.read_users_by_id(client, arriving, mapping.select)


def _user_read(ctx: RunContext, graph: _Read, connection: Mapping[str, Any], mapping: UserMapping) -> KindRead:
    users_read = graph.users
    notes = list(users_read.notes)
    if users_read.full is not None:
        wanted, skipped = map_users(users_read.full, graph.memberships, mapping)
    else:
        wanted, skipped = _delta_wanted(ctx, graph, mapping)
        removed = users_read.delta.removed
        deleted = sum(1 for reason in removed.values() if reason == "deleted")
        if removed:
            notes.append(f"Removed from Entra ID: {deleted} deleted, {len(removed) - deleted} soft-deleted (restorable)")
    if skipped:
        notes.append(f"{skipped} Entra user(s) are in no mapped group and unmatched users are not imported")
    return KindRead(USER_KIND, wanted, _user_identity(connection, mapping), empty_scopes=_empty_scopes(wanted, mapping),
                    notes=tuple(notes), skipped=skipped)


def _delta_wanted(ctx: RunContext, graph: _Read, mapping: UserMapping) -> tuple[list[Wanted], int]:
    """Changed and arriving users in full; every other owned user as Halo holds it (see the module doc)."""
    delta = graph.users.delta
    read_in_full = {user["id"]: user for user in graph.arrivals}
    changed = {**delta.changed, **read_in_full}
    wanted, skipped = map_users(changed.values(), graph.memberships, mapping)
    partial = []
    for record in wanted:  # a delta item's missing properties say nothing: leave those Halo fields alone
        unsent = unsent_fields(changed[record.key], mapping) if record.key not in read_in_full else set()
        for name in unsent:
            record.fields.pop(name, None)
        partial.append(Wanted(record.key, record.label, record.fields, record.scope, complete=not unsent))
    untouched = {identity_key(key) for key in changed} | {identity_key(key) for key in delta.removed}
    for key, entry in ctx.status.live(USER_KIND).items():
        if entry.gone or key in untouched:
            continue
        site = site_for_user(key, graph.memberships, mapping)
        if site is not None:  # None: left every mapped group, so not wanted: the core deactivates it
            fields = {**user_identity(key, mapping), "site_id": site}
            partial.append(Wanted(key=key, label="", fields=fields, scope=site_scope(site), complete=False))
    return partial, skipped


def _user_identity(connection: Mapping[str, Any], mapping: UserMapping) -> Identity:
    scopes = _mapped_scopes(mapping)

    def owns(record: dict) -> bool | None:
        if "azure_connectionid" not in record:
            return None  # a lean list item: only a whole read shows whose it is
        return as_int(record.get("azure_connectionid")) == mapping.connection_id and bool(record.get("azureoid"))

    return Identity(
        # azure_id names the object; the login (the UPN, unique in a tenant) finds a user written before
        # azure_id was (by version 1.0.0) whose e-mail changed since
        recognise=("azure_id", "login"), match=matching_fields(connection),
        hints=("azure_id",),  # a Halo user whose azure_id is blank was imported from no Entra tenant
        # while the status is rebuilt: any active user in one of the connection's sites may be one it wrote
        claims=lambda record: site_scope(record.get("site_id")) in scopes,
        owns=owns, scope_of=lambda record: site_scope(record.get("site_id")))


def _mapped_scopes(mapping: UserMapping) -> set[str]:
    sites = {rule.site_id for rule in mapping.site_rules} | ({mapping.unmatched_site} if mapping.unmatched_site else set())
    return {site_scope(site) for site in sites}


def _empty_scopes(wanted: list[Wanted], mapping: UserMapping) -> frozenset[str]:
    """Mapped sites the reads gave nobody for (an empty group, or an empty user read): their users are
    protected from deactivation."""
    return frozenset(_mapped_scopes(mapping) - {record.scope for record in wanted})


def _device_read(graph: _Read, user_mapping: UserMapping, mapping: DeviceMapping) -> KindRead:
    owners = {primary_user(device) for device in graph.devices} - {""}
    site_of_user = {user_id: site_for_user(user_id, graph.memberships, user_mapping) for user_id in owners}
    wanted, skipped = map_devices(graph.devices, site_of_user, mapping)
    notes = (f"{skipped} Intune device(s) have no site: set the connection's default site in Halo",) if skipped else ()

    def owns(record: dict) -> bool | None:
        if "intune_connectionid" not in record:
            return None
        return as_int(record.get("intune_connectionid")) == mapping.connection_id

    identity = Identity(match=("key_field",), hints=("intune_id",),
                        claims=lambda record: bool(identity_key(record.get("intune_id"))), owns=owns,
                        scope_of=lambda record: INTUNE_SCOPE)
    # An empty Intune read is rarely the truth: then every device is held back from deactivation.
    return KindRead(device_kind(mapping), wanted, identity, notes=notes, skipped=skipped,
                    empty_scopes=frozenset() if graph.devices else frozenset({INTUNE_SCOPE}))


def _next_state(graph: _Read, mapping: UserMapping, client: GraphClient, state: Mapping[str, Any],
                now: float) -> dict[str, Any]:
    """The delta link and what the next delta run needs; the core keeps it only after a clean real run."""
    kept = {"users_delta": graph.users.delta_link,
            "users_fingerprint": reads.users_fingerprint(mapping, client.graph_url),
            "users_full_read_at": state.get("users_full_read_at")}
    if graph.users.full is not None:
        kept["users_full_read_at"] = now
    return kept
