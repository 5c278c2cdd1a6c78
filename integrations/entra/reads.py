"""Everything the Entra ID integration reads from Microsoft Graph, before anything is written.

Users come either in full (`/users`, $top=999) or as a delta round from the stored deltaLink; group
memberships and Intune devices are read in full every run. Any failed page raises GraphError (a
SourceError), so the sync stops before the first write.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from halointegrator.errors import ConfigError, SourceError
from halointegrator.http import RetryPolicy, make_session
from integrations.entra.mapping import DeviceMapping, Memberships, UserMapping, excluded_device
from integrations.entra.graph import DeltaExpired, DeltaResult, GraphClient, GraphError, cloud_urls, quote_odata

FULL_READ_EVERY = 7 * 24 * 3600  # a full read at least weekly corrects drift a delta cannot see
MAX_ARRIVALS = 200  # more users entering scope by group membership than this: a full read is cheaper
USER_PERMISSION = ("User.Read.All", "grant the application permission User.Read.All and admin consent "
                   "in the app registration (API permissions > Microsoft Graph > Application)")
GROUP_PERMISSION = ("Group.Read.All", "grant the application permission Group.Read.All (or "
                    "GroupMember.Read.All) and admin consent in the app registration")
DEVICE_PERMISSION = ("DeviceManagementManagedDevices.Read.All", "grant the application permission "
                     "DeviceManagementManagedDevices.Read.All and admin consent; the tenant needs an Intune licence")


@dataclass
class UserRead:
    """Users as Graph gave them this run: in full, or as changes since the stored delta link."""

    full: list[dict[str, Any]] | None = None  # every user (full read)
    delta: DeltaResult | None = None  # the changes (delta read)
    delta_link: str = ""  # where the next run starts
    notes: list[str] = field(default_factory=list)


def explain(error: GraphError, permission: tuple[str, str]) -> GraphError:
    """A 403 made into advice naming the missing permission; other errors unchanged."""
    if error.status == 403:
        return GraphError(f"Microsoft Graph refused the app ({permission[0]} missing?): {permission[1]}. "
                          f"({error})", error.status, error.code)
    return error


def make_client(ctx: Any, connection: Mapping[str, Any], *, quick: bool = False) -> GraphClient:
    """A Graph client for one connection: tenant and app from Halo, the secret and URL overrides local."""
    local = ctx.local_settings
    secret = str(local.get("app_secret") or "")
    if not secret:
        raise ConfigError(f"No app secret is stored for Entra ID connection '{connection.get('name')}': Halo does "
                          "not return it. Enter the app registration's client secret in the Entra ID tab.")
    login, graph = cloud_urls(connection, local)
    settings = getattr(ctx.halo, "settings", None)
    session = ctx.services.get("graph_session") or make_session(
        ca_bundle=getattr(settings, "ca_bundle", "") or "", proxy=getattr(settings, "proxy", "") or "",
        verify_tls=getattr(settings, "verify_tls", True))
    sleep = ctx.services.get("sleep", time.sleep)
    retry = (RetryPolicy(max_attempts=2, max_total=15.0, sleep=sleep, timeout=(10.0, 30.0)) if quick
             else RetryPolicy(sleep=sleep))
    return GraphClient(tenant=str(connection.get("directoryid") or ""), client_id=str(connection.get("applicationid") or ""),
                       client_secret=secret, login_url=login, graph_url=graph, session=session, retry=retry)


def users_fingerprint(mapping: UserMapping, graph_url: str) -> str:
    """Changes when anything that shapes a mapped user changes: then a delta cannot be trusted."""
    text = json.dumps([mapping.select, mapping.field_map, [(r.group_name, r.site_id) for r in mapping.site_rules],
                       mapping.unmatched_site, mapping.deactivate_disabled, mapping.tenant_id, graph_url])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_users(client: GraphClient, mapping: UserMapping, state: Mapping[str, Any], *,
               now: float, log: Any) -> UserRead:
    """A delta round when the stored link is usable, else a full read (with a fresh "from now" link
    taken before it, so nothing changed during the read is missed)."""
    fingerprint = users_fingerprint(mapping, client.graph_url)
    link = str(state.get("users_delta") or "")
    reason = ""
    if not link:
        reason = "no delta link stored yet"
    elif state.get("users_fingerprint") != fingerprint:
        reason = "the user or site mapping changed since the last run"
    elif now - float(state.get("users_full_read_at") or 0) > FULL_READ_EVERY:
        reason = "the last full read is more than 7 days old"
    if not reason:
        try:
            delta = client.delta(link, "user changes")
            return UserRead(delta=delta, delta_link=delta.delta_link, notes=[
                f"Delta read: {len(delta.changed)} changed, {len(delta.removed)} removed user(s)"])
        except DeltaExpired as error:
            reason = f"Microsoft Graph expired the delta link ({error.code or error.status})"
        except GraphError as error:
            raise explain(error, USER_PERMISSION) from None
    log.info("Reading every Entra user: %s", reason)
    notes = []
    try:
        latest = client.latest_delta_link(mapping.select)
    except GraphError as error:  # a cloud without users delta: every run reads everyone
        if error.status in (401, 403):
            raise explain(error, USER_PERMISSION) from None
        latest = ""
        notes.append(f"Delta queries are not available ({error}): every run reads all users")
    try:
        users = client.list_all("/v1.0/users", {"$select": ",".join(mapping.select), "$top": 999}, "users")
    except GraphError as error:
        raise explain(error, USER_PERMISSION) from None
    return UserRead(full=users, delta_link=latest, notes=[f"Full read ({reason}): {len(users)} user(s)", *notes])


def find_groups(client: GraphClient, name: str) -> list[dict[str, Any]]:
    params = {"$filter": f"displayName eq {quote_odata(name)}", "$select": "id,displayName"}
    try:
        return client.list_all("/v1.0/groups", params, f"groups named {name!r}")
    except GraphError as error:
        raise explain(error, GROUP_PERMISSION) from None


def read_memberships(client: GraphClient, mapping: UserMapping) -> Memberships:
    """The user ids in each mapped group (nested groups included), each group read once."""
    memberships = Memberships()
    for name in mapping.group_names:
        groups = find_groups(client, name)
        if not groups:
            raise SourceError(f"The group '{name}' named in a site mapping was not found in Entra ID; nothing was "
                              "changed. Correct the group name in the connection's site mappings in Halo.")
        member_ids: set[str] = set()
        for group in groups:
            params = {"$select": "id", "$top": 999}
            try:
                members = client.list_all(f"/v1.0/groups/{group['id']}/transitiveMembers", params, f"members of {name}")
            except GraphError as error:
                raise explain(error, GROUP_PERMISSION) from None
            member_ids.update(item["id"] for item in members
                              if item.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user")
        memberships.by_group[name.casefold()] = frozenset(member_ids)
    return memberships


def read_users_by_id(client: GraphClient, user_ids: list[str], select: tuple[str, ...]) -> list[dict[str, Any]]:
    """Users entering scope through a group (a delta does not report membership changes)."""
    users = []
    for user_id in user_ids:
        try:
            users.append(client.get_json(f"/v1.0/users/{user_id}?$select={','.join(select)}"))
        except GraphError as error:
            if error.status != 404:  # 404: deleted since the membership was read; the next delta says so
                raise explain(error, USER_PERMISSION) from None
    return users


def read_devices(client: GraphClient, mapping: DeviceMapping) -> list[dict[str, Any]]:
    """Every Intune managed device the connection imports (msSense ones left out when Halo says so)."""
    params = {"$select": ",".join(mapping.select), "$top": 1000}
    try:
        devices = client.list_all("/v1.0/deviceManagement/managedDevices", params, "Intune managed devices")
    except GraphError as error:
        raise explain(error, DEVICE_PERMISSION) from None
    return [device for device in devices if not excluded_device(device, mapping)]


def probe(client: GraphClient, path: str, permission: tuple[str, str]) -> str:
    """A one-record read proving a permission: "" when it works, else the advice."""
    try:
        client.get_json(path)
    except GraphError as error:
        return str(explain(error, permission))
    return ""

