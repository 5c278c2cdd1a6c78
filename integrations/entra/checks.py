"""The Entra ID tab's prerequisites; no writes. After a step fails, the steps that need it are "not run"."""

from __future__ import annotations

from typing import Any, Mapping

from halointegrator.engine.model import Check, Prerequisite
from halointegrator.errors import ConfigError, IntegratorError
from halointegrator.values import as_id
from integrations.entra import reads
from integrations.entra.graph import GraphClient
from integrations.entra.imports import imports_of
from integrations.entra.mapping import device_mapping_from, user_mapping_from

SECRET = Prerequisite("secret", "App secret stored locally")
TOKEN = Prerequisite("token", "Microsoft token obtained")
USERS = Prerequisite("users", "User.Read.All granted")
DEVICES = Prerequisite("devices", "DeviceManagementManagedDevices.Read.All granted (devices)")
ASSET_TYPE = Prerequisite("assettype", "Default asset type chosen (devices)")
GROUPS = Prerequisite("groups", "Each mapped group exists in Entra ID")
SITES = Prerequisite("sites", "Each mapped site exists in Halo")
PREREQUISITES = (SECRET, TOKEN, USERS, DEVICES, ASSET_TYPE, GROUPS, SITES)


def check(ctx: Any, connection: Mapping[str, Any]) -> list[Check]:
    imports, _ = imports_of(connection)
    try:
        client = reads.make_client(ctx, connection, quick=True)
    except ConfigError as error:
        return [Check(SECRET.label, False, str(error), SECRET.key)] + _not_run(
            (TOKEN, USERS, DEVICES, GROUPS), "no app secret") + _halo_checks(ctx, connection, imports)
    checks = [Check(SECRET.label, True, "stored", SECRET.key)]
    try:
        client.token()
        checks.append(Check(TOKEN.label, True, f"tenant {client.tenant}", TOKEN.key))
    except IntegratorError as error:
        checks.append(Check(TOKEN.label, False, str(error), TOKEN.key))
        return checks + _not_run((USERS, DEVICES, GROUPS), "no Microsoft token") + _halo_checks(ctx, connection, imports)
    return checks + _graph_checks(client, connection, imports) + _halo_checks(ctx, connection, imports)


def _not_run(prerequisites: tuple[Prerequisite, ...], reason: str) -> list[Check]:
    return [Check(item.label, False, f"not run: {reason}", item.key) for item in prerequisites]


def _graph_checks(client: GraphClient, connection: Mapping[str, Any], imports: set[str]) -> list[Check]:
    problem = reads.probe(client, "/v1.0/users?$top=1&$select=id", reads.USER_PERMISSION)
    checks = [Check(USERS.label, not problem, problem or "users can be read", USERS.key)]
    if "devices" in imports:
        problem = reads.probe(client, "/v1.0/deviceManagement/managedDevices?$top=1&$select=id",
                              reads.DEVICE_PERMISSION)
        checks.append(Check(DEVICES.label, not problem, problem or "devices can be read", DEVICES.key))
    else:
        checks.append(Check(DEVICES.label, True, "not needed: Intune devices are not imported", DEVICES.key))
    names = user_mapping_from(connection).group_names
    return checks + ([_group_check(client, name) for name in names]
                     or [Check(GROUPS.label, True, "no group mapping: users go to the unmatched-users site", GROUPS.key)])


def _group_check(client: GraphClient, name: str) -> Check:
    label = f"Group '{name}' exists in Entra ID"
    try:
        found = reads.find_groups(client, name)
    except IntegratorError as error:
        return Check(label, False, str(error), GROUPS.key)
    return Check(label, bool(found), f"{len(found)} group(s)" if found else
                 "no group has this name; correct the site mapping", GROUPS.key)


def _halo_checks(ctx: Any, connection: Mapping[str, Any], imports: set[str]) -> list[Check]:
    checks = []
    if "devices" in imports:
        asset_type = as_id(connection.get("default_assettype"))
        checks.append(Check(ASSET_TYPE.label, bool(asset_type), f"asset type {asset_type}" if asset_type else
                            "choose the default asset type for Intune devices in Halo", ASSET_TYPE.key))
    else:
        checks.append(Check(ASSET_TYPE.label, True, "not needed: Intune devices are not imported", ASSET_TYPE.key))
    mapping = user_mapping_from(connection)
    sites = {rule.site_id for rule in mapping.site_rules} | {mapping.unmatched_site}
    if "devices" in imports:
        sites.add(device_mapping_from(connection).default_site)
    mapped = sorted(site for site in sites if site)
    # Halo places every imported user and device in a site: with none mapped nothing can be imported.
    return checks + ([_site_check(ctx.halo, site) for site in mapped] or [Check(
        SITES.label, False, "no site mapped: map groups to sites or choose the site for unmatched users in Halo",
        SITES.key)])


def _site_check(halo: Any, site_id: int) -> Check:
    label = f"Site {site_id} exists in Halo"
    try:
        site = halo.get(f"Site/{site_id}")
    except IntegratorError as error:
        return Check(label, False, str(error), SITES.key)
    return Check(label, True, str((site or {}).get("name") or site_id), SITES.key)
